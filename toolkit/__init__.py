"""xta: English intermediate-task adapters and zero-shot cross-lingual transfer on XTREME-R."""

__version__ = "0.1.0"

import logging as _logging


def _not_the_inactive_adapters_notice(record: _logging.LogRecord) -> bool:
    """Drop the ``adapters`` library's "adapters available but none are activated" warning: xta runs the
    bare encoder on purpose (baselines, retrieval, dataset embeddings) while trained adapters stay loaded."""
    return "none are activated for the forward pass" not in record.getMessage()


_logging.getLogger("adapters.model_mixin").addFilter(_not_the_inactive_adapters_notice)
