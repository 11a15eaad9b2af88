"""The results store: one self-describing JSON record per (encoder, setup, task), resumable.

Layout (predictable, so a user can find and share a result by hand)::

    <root>/<encoder_id>/<setup_id>/<task>.json

(beside each record an empty ``.<task>.json.lock`` serialises writers on one host.)
``root`` defaults to ``$XTA_HOME/results`` when ``XTA_HOME`` is set, else ``./xta_runs/results``.
``encoder_id`` comes from :func:`encoder_id` (``FacebookAI/xlm-roberta-large`` ->
``FacebookAI--xlm-roberta-large``), ``setup_id`` from :func:`toolkit.setups.setup_id`.

Record schema, ``schema_version`` 1 (a record with a newer version is refused, not misread)::

    {
      "schema_version": 1,
      "task": "xnli", "task_version": 1, "main_metric": "accuracy",
      "encoder": {"id": "embedded", "name": "embedded", "fingerprint": "<sha256 or null>"},
      "setup": {"text": "stack:lang_{lang},xnli", "id": "stack-lang_{lang}+xnli",
                "adapter_hashes": {"lang_de": "<sha256>", "xnli": "<sha256>"}},
      "seed": 42, "config": {...EvalConfig fields...}, "config_hash": "<sha256>",
      "versions": {"python": "3.11.7", "xta": "0.1.0", "torch": "...", "transformers": "...",
                   "adapters": "...", "datasets": "...", "safetensors": "...", ...},
      "git_commit": "<sha1 or null>", "git_dirty": false,
      "created_at": "2025-01-01T12:00:00+00:00", "updated_at": "...",
      "languages": {
        "de": {"status": "ok", "metrics": {"accuracy": 0.81}, "main": 0.81, "n_examples": 5010,
               "seconds": 12.3, "split": "test", "data_files": {"xnli/xnli.test.tsv": "<sha256>"},
               "dataset_revision": null, "adapters": {"lang_de": "<sha256>"},
               "config_hash": "<sha256>", "finished_at": "...", "error": null, "protocol": {},
               "evaluation": {"precision": "fp32"},  # retrieval: + "retrieval": {layer, pooling, lengths, ...}
               "ci": {"metric": "accuracy", "low": 0.80, "high": 0.82, "level": 0.95, "resamples": 1000,
                      "seed": 42, "method": "percentile bootstrap over examples", "n_examples": 5010}},
        "sw": {"status": "failed", "error": "DataUnavailable: ...", "metrics": {}, "main": null, ...}
      }
    }

``ci`` (issue 17) is the 95% bootstrap confidence interval of the main score over the language's test
examples (``toolkit.stats``); records written before it, or with ``--bootstrap-resamples 0``, have
``"ci": null`` or no key at all and load the same. The per-example rows it was computed from are stored in
the language's predictions file (:meth:`ResultStore.put_predictions`), so gains can be paired later.

Record-level provenance (config, versions, git commit) is that of the latest write; every language
entry keeps its own ``config_hash``, adapter and data hashes, so a record mixing runs shows it.

Resuming (principle 4 of ARCHITECTURE.md): :meth:`ResultStore.missing_languages` lists languages
that have no entry, a failed entry (failures are retried) or an entry computed under another
config hash. :meth:`ResultStore.put_language` merges one language into the record under a file lock
and writes atomically, so a run killed between languages loses nothing it finished. A record that
does not parse (cut mid-write by something other than xta, or edited by hand) is reported with a
warning naming the file, moved aside to ``*.json.corrupt``, and treated as missing: only that record
is recomputed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import DataError, ResultConflict, XtaError
from .io import atomic_write_json, safe_name, sha256_file

try:  # POSIX advisory locks; on other systems writes stay atomic but are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed")
LIBRARIES = ("torch", "transformers", "adapters", "datasets", "tokenizers", "safetensors", "numpy", "faiss-cpu",
             "scipy", "seqeval", "babel")  # babel: the built-in CLDR benchmark's data

__all__ = [
    "SCHEMA_VERSION",
    "RecordKey",
    "LangResult",
    "RunInfo",
    "Record",
    "ResultStore",
    "default_root",
    "encoder_id",
    "provenance",
    "library_versions",
    "git_info",
    "hash_files",
]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------------


def library_versions() -> dict[str, str | None]:
    """Installed versions of Python, xta and the libraries that change numbers (no heavy imports); read
    once per process (every language record asks: reading package metadata cost the demo ~4 s)."""
    return dict(_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str | None], ...]:
    from . import __version__

    out: dict[str, str | None] = {"python": platform.python_version(), "xta": __version__}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return tuple(out.items())


@functools.lru_cache(maxsize=1)
def git_info() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout xta runs from, or (None, None) outside git / without git."""
    repo = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit.stdout.strip() or None, bool(status.stdout.strip())


def provenance() -> dict[str, Any]:
    """What a record needs to say about the software that produced it: versions and git commit."""
    commit, dirty = git_info()
    return {"versions": library_versions(), "git_commit": commit, "git_dirty": dirty}


def hash_files(paths: Iterable[str | os.PathLike], base: str | os.PathLike | None = None) -> dict[str, str]:
    """``{path: sha256}`` for data files; paths relative to ``base`` when inside it (no home dirs in records)."""
    out = {}
    for p in paths:
        p = Path(p)
        key = str(p)
        if base is not None:
            with contextlib.suppress(ValueError):
                key = p.resolve().relative_to(Path(base).resolve()).as_posix()
        out[key] = sha256_file(p)
    return out


# --------------------------------------------------------------------------------------------------
# keys and records
# --------------------------------------------------------------------------------------------------


def default_root() -> Path:
    """``$XTA_HOME/results`` if XTA_HOME is set, else ``./xta_runs/results``."""
    home = os.environ.get("XTA_HOME")
    return Path(home) / "results" if home else Path("xta_runs") / "results"


def encoder_id(name: str) -> str:
    """Directory name for an encoder in the store.

    A Hub id ``ORG/NAME`` -> ``ORG--NAME`` (the Hugging Face cache convention); an alias such as
    ``embedded`` stays as it is; a local directory -> ``local--<dirname>-<8 hex of its absolute path>``
    (two checkouts of the same model in different places are kept apart; the record's encoder
    fingerprint says whether their weights are equal).
    """
    p = Path(name).expanduser()
    if name.startswith((".", "/", "~")) or (("/" in name or os.sep in name) and p.is_dir()):
        full = p.resolve()
        digest = hashlib.sha256(str(full).encode("utf-8", "surrogatepass")).hexdigest()[:8]
        # undecodable bytes in the folder's name (surrogate-escaped) would make records unwritable: '_'
        base = "".join("_" if "\ud800" <= c <= "\udfff" else c for c in full.name)
        return safe_name(f"local--{base}-{digest}", "encoder id")
    return safe_name(name.replace("/", "--"), "encoder id")


@dataclass(frozen=True)
class RecordKey:
    """Where a record lives: one per (encoder, setup, task)."""

    encoder_id: str
    setup_id: str
    task: str

    def __post_init__(self):
        safe_name(self.encoder_id, "encoder id")
        safe_name(self.setup_id, "setup id")
        safe_name(self.task, "task")

    def relpath(self) -> Path:
        return Path(self.encoder_id) / self.setup_id / f"{self.task}.json"


@dataclass
class LangResult:
    """One language of one record. ``status`` is ``ok`` (metrics and main score) or ``failed`` (error)."""

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    main: float | None = None
    n_examples: int | None = None
    seconds: float | None = None
    split: str | None = None
    data_files: dict[str, str] = field(default_factory=dict)
    dataset_revision: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    config_hash: str | None = None
    finished_at: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)  # how it was computed: precision, retrieval settings
    # protocol choices that change what the score means, e.g. {"bucc_threshold": "tuned on dev"}
    # (toolkit.metrics.BUCC_THRESHOLD_*); the report shows each one that is not the protocol's
    protocol: dict[str, str] = field(default_factory=dict)
    ci: dict[str, Any] | None = None  # the main score's bootstrap CI (toolkit.stats.ci_entry); None: not computed

    def __post_init__(self):
        if self.status not in STATUSES:
            raise XtaError(f"language result status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.status == "failed" and not self.error:
            raise XtaError("a failed language result must say why (error)")
        if self.status == "ok" and self.main is None:
            raise XtaError("an ok language result needs its main score")

    @classmethod
    def ok(cls, metrics: Mapping[str, float], main: float, **kw: Any) -> LangResult:
        return cls(status="ok", metrics={k: float(v) for k, v in metrics.items()}, main=float(main), **kw)

    @classmethod
    def failed(cls, error: BaseException | str, **kw: Any) -> LangResult:
        """A failure, with ``ExceptionType: message`` as its reason (one line)."""
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
        return cls(status="failed", error=" ".join(text.split()), **kw)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LangResult:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RunInfo:
    """The record-level facts a run writes with each language (the latest write wins).

    ``config`` is ``toolkit.config.to_dict(cfg)``; ``config_hash`` what
    ``toolkit.config.config_hash`` gives for it (stored on each language entry too).
    """

    task_version: int
    encoder_name: str
    setup: str
    config: Mapping[str, Any]
    config_hash: str
    main_metric: str | None = None
    encoder_fingerprint: str | None = None
    adapter_hashes: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    environment: Mapping[str, Any] = field(default_factory=provenance)


@dataclass
class Record:
    """A parsed record file (see the module docstring for its JSON form)."""

    task: str
    task_version: int
    encoder: dict[str, Any]
    setup: dict[str, Any]
    config: dict[str, Any]
    config_hash: str
    languages: dict[str, LangResult] = field(default_factory=dict)
    main_metric: str | None = None
    seed: int | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    git_dirty: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.encoder["id"], self.setup["id"], self.task)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        data["languages"] = {lang: asdict(r) for lang, r in sorted(self.languages.items())}
        return data

    @classmethod
    def from_json(cls, data: Any, path: Path | None = None) -> Record:
        """Parse a record; DataError (naming the file) for anything malformed or from a newer schema."""
        if not isinstance(data, dict):
            raise DataError("a result record must be a JSON object", path)
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise DataError(f"result record without a valid schema_version ({version!r})", path)
        if version > SCHEMA_VERSION:  # not corrupt: refuse, and leave the file alone
            raise XtaError(
                f"{path}: result schema_version {version} was written by a newer xta"
                f" (this one reads <= {SCHEMA_VERSION}); upgrade xta or use another results directory"
            )
        from .datafiles import check_text
        from .schemas import RECORD, check

        check(data, RECORD, path, "result record")  # types and shapes at every level (issue 18)
        check_text(data, path)  # a lone surrogate could not be written back
        known = {f.name for f in fields(cls)} - {"path", "languages"}
        langs = data.get("languages") or {}
        try:
            kwargs = {k: v for k, v in data.items() if k in known}
            rec = cls(**kwargs, languages={k: LangResult.from_dict(v) for k, v in langs.items()}, path=path)
            rec.key  # encoder.id / setup.id present and safe
        except (TypeError, KeyError, AttributeError, XtaError) as exc:
            raise DataError(f"malformed result record ({exc})", path) from None
        return rec

    # convenience views -----------------------------------------------------------------------

    def scores(self, config_hash: str | None = None) -> dict[str, float]:
        """Main score per language with status ok (and, if given, computed under ``config_hash``)."""
        return {
            lang: r.main
            for lang, r in self.languages.items()
            if r.status == "ok" and r.main is not None and (config_hash is None or r.config_hash == config_hash)
        }

    def failed(self) -> dict[str, str]:
        return {lang: r.error or "" for lang, r in self.languages.items() if r.status == "failed"}

    def is_complete(self, langs: Iterable[str], config_hash: str | None = None) -> bool:
        """True when every language in ``langs`` has an ok entry (no average over incomplete languages)."""
        done = self.scores(config_hash)
        return all(lang in done for lang in langs)


# --------------------------------------------------------------------------------------------------
# the store
# --------------------------------------------------------------------------------------------------


class ResultStore:
    """Records under ``root`` (see the module docstring). Safe to share between processes on one host."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    def path(self, key: RecordKey) -> Path:
        return self.root / key.relpath()

    # reading ---------------------------------------------------------------------------------

    def get(self, key: RecordKey) -> Record | None:
        """The record for ``key``, or None if absent or unreadable (then moved aside, with a warning)."""
        return self._read(self.path(key), quarantine=True)

    def records(self) -> Iterator[Record]:
        """Every readable record, in path order; unreadable ones are reported and skipped."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*/*/*.json")):
            rec = self._read(path, quarantine=False)
            if rec is not None:
                yield rec

    def damaged(self) -> list[tuple[Path, str]]:
        """``(path, reason)`` of every record file that cannot be read (cut mid-write, not JSON, malformed),
        without moving anything. ``xta report`` refuses to summarise a store with damaged records;
        ``evaluate`` moves such a record aside and recomputes it (see :meth:`get`)."""
        out = []
        for path in sorted(self.root.glob("*/*/*.json")) if self.root.is_dir() else []:
            try:
                Record.from_json(json.loads(path.read_text(encoding="utf-8")), path)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                why = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc.reason
                out.append((path, f"not valid JSON ({why})"))
            except RecursionError:
                out.append((path, "not valid JSON (nested too deeply)"))
            except DataError as exc:
                out.append((path, str(exc).removeprefix(f"{path}: ")))
        return out

    def _read(self, path: Path, quarantine: bool) -> Record | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Record.from_json(json.loads(text), path)
        except (json.JSONDecodeError, UnicodeDecodeError, DataError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "JSON nested too deeply"
            if quarantine:
                aside = _move_aside(path)
                log.warning("unreadable result record %s (%s); moved to %s, it will be recomputed", path, reason, aside.name)
            else:
                log.warning("unreadable result record %s (%s); skipped", path, reason)
            return None

    def missing_languages(self, key: RecordKey, langs: Iterable[str], config_hash: str | Mapping[str, str]) -> list[str]:
        """Languages of ``langs`` (in order) still to compute: no entry, a failed one, or another config hash.

        ``config_hash`` may be one hash for every language or a ``{lang: hash}`` mapping (when the
        adapters differ per language, e.g. ``stack:lang_{lang},xnli``).
        """
        rec = self.get(key)
        out = []
        for lang in langs:
            want = config_hash if isinstance(config_hash, str) else config_hash[lang]
            entry = rec.languages.get(lang) if rec else None
            if entry is None or entry.status != "ok" or entry.config_hash != want:
                out.append(lang)
        return out

    def conflicts(self, key: RecordKey, langs: Iterable[str], config_hash: str | Mapping[str, str]) -> dict[str, str]:
        """Languages of ``langs`` whose finished (``ok``) entry was computed under another configuration
        than ``config_hash``, each with a one-line description of the stored entry. Recomputing them would
        replace a good number by one of another configuration: callers refuse unless told to overwrite."""
        rec = self.get(key)
        out = {}
        for lang in langs:
            want = config_hash if isinstance(config_hash, str) else config_hash[lang]
            entry = rec.languages.get(lang) if rec else None
            if entry is not None and entry.status == "ok" and entry.config_hash != want:
                out[lang] = (f"{key.task}/{lang} already has a finished result under another configuration "
                             f"(config {str(entry.config_hash)[:12]}, split {entry.split}, {entry.n_examples} examples, "
                             f"{entry.finished_at}) in {self.path(key)}")
        return out

    # predictions (for leaderboard export) --------------------------------------------------------

    def predictions_path(self, key: RecordKey, lang: str) -> Path:
        """``<root>/<encoder>/<setup>/<task>.predictions/<lang>.json`` beside the record."""
        return self.path(key).with_suffix(".predictions") / f"{safe_name(lang, 'language')}.json"

    def put_predictions(self, key: RecordKey, lang: str, split: str, ids: list[str], predictions: Any,
                        example_scores: Mapping[str, Any] | None = None) -> Path:
        """Store one language's predictions (atomically), keyed to the example ids they answer, and the
        per-example rows of the main metric (``toolkit.stats.ExampleRows.to_json``) when given."""
        data = {"task": key.task, "lang": lang, "split": split, "ids": ids, "predictions": predictions}
        if example_scores is not None:
            data["example_scores"] = dict(example_scores)
        return atomic_write_json(self.predictions_path(key, lang), data)

    def get_example_rows(self, key: RecordKey, lang: str):
        """The stored per-example rows (:class:`toolkit.stats.ExampleRows`) of one language, or None when the
        predictions file is missing or predates them."""
        from .stats import ExampleRows

        data = self.get_predictions(key, lang)
        if not data or not data.get("example_scores"):
            return None
        return ExampleRows.from_json(data["example_scores"])

    def get_predictions(self, key: RecordKey, lang: str) -> dict[str, Any] | None:
        from .schemas import PREDICTIONS, load_json

        path = self.predictions_path(key, lang)
        try:
            return load_json(path, "predictions file", PREDICTIONS)
        except FileNotFoundError:
            return None
        except DataError as exc:
            raise DataError(f"{str(exc).removeprefix(f'{path}: ')}; re-run xta eval to recompute it", path) from None

    # writing ---------------------------------------------------------------------------------

    def put_language(self, key: RecordKey, lang: str, entry: LangResult, run: RunInfo, *, overwrite: bool = False) -> Record:
        """Merge one language into the record for ``key`` (created if needed), atomically, under a lock.

        A finished result is never silently replaced by one of another configuration: a failure never
        replaces a finished entry (the failure is logged and returned to the caller, the good number
        stays), and a finished entry under another config hash raises :class:`ResultConflict` unless
        ``overwrite``."""
        safe_name(lang, "language")
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            rec = self._read(path, quarantine=True) or _new_record(key, run)
            _apply_run(rec, key, run)
            entry = replace(entry, config_hash=entry.config_hash or run.config_hash, finished_at=entry.finished_at or _now())
            old = rec.languages.get(lang)
            if old is not None and old.status == "ok" and old.config_hash != entry.config_hash:
                if entry.status != "ok":
                    log.warning("%s / %s / %s / %s failed (%s); the finished result stored before is kept",
                                key.encoder_id, key.setup_id, key.task, lang, entry.error)
                    rec.path = path
                    return rec
                if not overwrite:
                    raise ResultConflict(f"{key.task}/{lang}: {path} holds a finished result under another "
                                         f"configuration (config {str(old.config_hash)[:12]}); pass --overwrite to "
                                         "replace it, or use another --results-dir")
            rec.languages[lang] = entry
            rec.updated_at = _now()
            atomic_write_json(path, rec.to_json())
            rec.path = path
        if entry.status == "failed":
            log.warning("%s / %s / %s / %s failed: %s", key.encoder_id, key.setup_id, key.task, lang, entry.error)
        return rec


def _new_record(key: RecordKey, run: RunInfo) -> Record:
    return Record(
        task=key.task, task_version=run.task_version, encoder={}, setup={}, config={},
        config_hash=run.config_hash, created_at=_now(),
    )  # fmt: skip


def _apply_run(rec: Record, key: RecordKey, run: RunInfo) -> None:
    """Record-level provenance: the latest run's (language entries keep their own hashes)."""
    rec.task_version = run.task_version
    rec.main_metric = run.main_metric
    rec.encoder = {"id": key.encoder_id, "name": run.encoder_name, "fingerprint": run.encoder_fingerprint}
    hashes = {**rec.setup.get("adapter_hashes", {}), **dict(run.adapter_hashes)}
    rec.setup = {"text": run.setup, "id": key.setup_id, "adapter_hashes": dict(sorted(hashes.items()))}
    rec.config = dict(run.config)
    rec.config_hash = run.config_hash
    rec.seed = run.seed
    env = dict(run.environment)
    rec.versions = dict(env.get("versions") or {})
    rec.git_commit = env.get("git_commit")
    rec.git_dirty = env.get("git_dirty")


def _move_aside(path: Path) -> Path:
    aside = path.with_name(path.name + ".corrupt")
    if aside.exists():
        aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.corrupt")
    os.replace(path, aside)
    return aside


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<record>.lock`` for a read-merge-write (POSIX only)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_path = path.with_name(f".{path.name}.lock")
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
