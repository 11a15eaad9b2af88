"""xta: English intermediate-task adapters and zero-shot cross-lingual transfer on XTREME-R."""

__version__ = "0.1.0"
