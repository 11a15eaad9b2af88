"""Shared test setup: never touch the network; real data from ../shared/data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest-xdist worker per core: one compute thread each instead of every worker
    # (and the subprocesses it starts) oversubscribing both cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files (read-only). Tests that need them skip loudly when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def tiny(request):
    """The tiny random encoder (toolkit.encoders.tiny_encoder; its tokenizer is the embedded encoder's, converted
    once and cached on disk). One per test module, since tests add adapters and heads to it; a module picks the
    seed with ``TINY_SEED = 3`` (default 0)."""
    from toolkit.encoders import tiny_encoder

    return tiny_encoder(seed=getattr(request.module, "TINY_SEED", 0))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random encoder (toolkit.encoders.tiny_encoder, seed 3) saved as a normal local encoder
    directory (safetensors + tokenizer), for tests that address the encoder by path."""
    from toolkit import encoders

    enc = encoders.tiny_encoder(seed=3)
    path = tmp_path_factory.mktemp("tiny_encoder")
    enc.model.save_pretrained(path, safe_serialization=True)
    enc.tokenizer.save_pretrained(path)
    return path


# Hypothesis budgets (tests/test_fuzz.py): "ci" by default (small: the suite stays well under a minute);
# `pytest --hypothesis-profile=thorough` runs many more examples. The option comes with Hypothesis's
# pytest plugin, which loads the named profile after this file has registered it.
try:
    from hypothesis import HealthCheck, settings as _hsettings

    _quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    _hsettings.register_profile("ci", max_examples=30, deadline=None, suppress_health_check=_quiet, print_blob=True)
    _hsettings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=_quiet, print_blob=True)
    _hsettings.load_profile("ci")
except ImportError:  # hypothesis is a test extra; only tests/test_fuzz.py needs it
    pass


def _utf8_safe(text: str) -> str:
    """Text as UTF-8 can carry it: lone surrogates (undecodable argv/path bytes) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: The files that take longest (``make test --durations``, one thread each: test_learning ~14 min, test_readme
#: ~10 min, the others 1-3 min), run first. ``make test`` passes ``--no-loadscope-reorder``, so pytest-xdist's
#: ``--dist loadfile`` hands out files in this order: the two longest start at once on the two workers instead
#: of one of them starting last (xdist's default orders files by their number of tests).
LONGEST_FIRST = ("test_learning.py", "test_readme.py", "test_demo.py", "test_compose.py", "test_export.py",
                 "test_train.py", "test_crash_safety.py", "test_security.py", "test_matrix.py")


def pytest_collection_modifyitems(config, items):
    """Longest files first (stable: the order inside a file is kept)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Make every test report serialisable: tests of undecodable path bytes print lone surrogates, which
    pytest-xdist's channel (execnet) cannot send to the controller, so `pytest -n 2` would crash the worker.
    Captured sections (and a failure's text) get the surrogates escaped; nothing else changes."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(name, _utf8_safe(text)) for name, text in report.sections]
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if _utf8_safe(text) != text:
            report.longrepr = _utf8_safe(text)
