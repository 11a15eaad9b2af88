"""An offline stand-in for the Hugging Face Hub, so that tests run xta's real Hub code paths.

* **Repositories** (encoders, adapters) are written into a real Hub cache layout (:func:`hf_cache`) that
  huggingface_hub's own ``snapshot_download`` reads in offline mode; :class:`FakeHfApi` stands in for
  ``huggingface_hub.HfApi`` and commits a push into that same cache, so a later pull finds it.
* **Datasets**: :class:`FakeDatasets` replaces ``datasets.load_dataset``. It serves a few Hub datasets
  in their Hub schema, built from real English files in ../shared/data through xta's own local readers
  (first ``rows`` rows); a dataset it does not serve fails the way the offline Hub does. Some are
  stand-ins of the same shape (HellaSwag and CommonsenseQA rows come from CosmosQA and SocialIQa; SNLI
  and MNLI rows from XNLI's English dev set; the translate-train sets of XNLI and PAWS-X from the dev set
  of the same language): they exercise loading and training code, never results.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NLI = ["entailment", "neutral", "contradiction"]


def hf_cache(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> Path:
    """Write a repository into a Hugging Face cache as huggingface_hub does: content in
    ``blobs/<sha256>``, ``snapshots/<commit>/<path>`` relative symlinks to it, ``refs/main`` = commit."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    for rel, data in files.items():
        blob = storage / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = storage / "snapshots" / commit / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (storage / "refs").mkdir(exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    return storage


def directory_files(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` as {relative path: bytes} (a repository's content for :func:`hf_cache`)."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class FakeHfApi:
    """``huggingface_hub.HfApi`` for push: create_repo, list_repo_files and create_commit, the commit
    landing in the Hub cache ``cache`` (what a later ``snapshot_download`` of the repo then sees)."""

    commits: list[tuple[str, list[str]]] = []

    def __init__(self, cache: Path):
        self.cache = cache

    def __call__(self, **kwargs) -> "FakeHfApi":  # used as the HfApi class: HfApi(library_name=...)
        return self

    def create_repo(self, repo_id, **kwargs):
        return repo_id

    def list_repo_files(self, repo_id, **kwargs):
        storage = self.cache / ("models--" + repo_id.replace("/", "--")) / "snapshots" / COMMIT
        return sorted(p.relative_to(storage).as_posix() for p in storage.rglob("*")) if storage.is_dir() else []

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        from huggingface_hub import CommitOperationAdd

        files = {}
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                src = op.path_or_fileobj
                files[op.path_in_repo] = Path(src).read_bytes() if isinstance(src, (str, Path)) else bytes(src)
        hf_cache(self.cache, repo_id, files)
        self.commits.append((repo_id, sorted(files)))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/{COMMIT}"})()


# ------------------------------------------------------------------------------------------ datasets


def _local(task: str, split: str, data_dir: Path, rows: int, lang: str = "en") -> list[dict]:
    from toolkit.data import load

    return load(task, split, lang, data_dir=data_dir, max_examples=rows)


def _nli(task: str, split: str) -> Callable[[Path, int], list[dict]]:
    def build(data_dir: Path, rows: int) -> list[dict]:
        return [{"premise": e["text"], "hypothesis": e["text_pair"], "label": NLI.index(e["label"]), "idx": i}
                for i, e in enumerate(_local(task, split, data_dir, rows))]
    return build


def _qqp(data_dir: Path, rows: int) -> list[dict]:
    return [{"question1": e["text"], "question2": e["text_pair"], "label": int(e["label"]), "idx": i}
            for i, e in enumerate(_local("pawsx", "dev", data_dir, rows))]


def _squad(data_dir: Path, rows: int) -> list[dict]:
    return [{"id": e["id"], "title": e.get("title", ""), "context": e["context"], "question": e["question"],
             "answers": {"text": list(e["answers"]["text"]), "answer_start": list(e["answers"]["answer_start"])}}
            for e in _local("xquad", "test", data_dir, rows)]


def _cosmos(data_dir: Path, rows: int) -> list[dict]:
    return [{"id": e["id"], "context": e["context"], "question": e["question"],
             **{f"answer{k}": c for k, c in enumerate(e["choices"])}, "label": e["label"]}
            for e in _local("cosmosqa", "dev", data_dir, rows)]


def _hellaswag(data_dir: Path, rows: int) -> list[dict]:  # stand-in: CosmosQA rows in HellaSwag's schema
    return [{"ind": i, "ctx": f"{e['context']} {e['question']}", "endings": list(e["choices"]), "label": str(e["label"])}
            for i, e in enumerate(_local("cosmosqa", "dev", data_dir, rows))]


def _siqa(data_dir: Path, rows: int) -> list[dict]:
    return [{"context": e["context"], "question": e["question"], **{f"answer{k}": c for k, c in zip("ABC", e["choices"])},
             "label": str(e["label"] + 1)} for e in _local("siqa", "dev", data_dir, rows)]


def _commonsenseqa(data_dir: Path, rows: int) -> list[dict]:  # stand-in: SocialIQa rows in CSQA's schema
    return [{"id": str(e["id"]), "question": f"{e['context']} {e['question']}",
             "choices": {"label": list("ABC"), "text": list(e["choices"])}, "answerKey": "ABC"[e["label"]]}
            for e in _local("siqa", "dev", data_dir, rows)]


def _copa(data_dir: Path, rows: int) -> list[dict]:
    return [{"premise": e["context"], "choice1": e["choices"][0], "choice2": e["choices"][1],
             "question": e["question"], "label": e["label"], "idx": i}
            for i, e in enumerate(_local("copa", "train", data_dir, rows))]


#: (path, config) -> builder(data_dir, rows); every split of the dataset gets the same rows
SERVED: dict[tuple[str, str | None], Callable[[Path, int], list[dict]]] = {
    ("nyu-mll/glue", "mnli"): _nli("xnli", "dev"),
    ("stanfordnlp/snli", None): _nli("xnli", "dev"),
    ("facebook/anli", None): _nli("anli", "dev"),
    ("nyu-mll/glue", "qqp"): _qqp,
    ("rajpurkar/squad", None): _squad,
    ("rajpurkar/squad_v2", None): _squad,
    ("allenai/cosmos_qa", None): _cosmos,
    ("Rowan/hellaswag", None): _hellaswag,
    ("allenai/social_i_qa", None): _siqa,
    ("tau/commonsense_qa", None): _commonsenseqa,
    ("aps/super_glue", "copa"): _copa,
}


def _translated(task: str, columns: tuple[str, str], label: Callable[[str], int]):
    """Translated training rows (``train`` split, a non-English config) in the Hub schema, from the local
    dev set of that language: stand-ins of the right language and shape, not the machine translations."""
    def build(data_dir: Path, rows: int, lang: str) -> list[dict]:
        return [{columns[0]: e["text"], columns[1]: e["text_pair"], "label": label(e["label"])}
                for e in _local(task, "dev", data_dir, rows, lang)]
    return build


#: path -> builder(data_dir, rows, config): the translate-train sets (train split of a non-English config)
TRANSLATED: dict[str, Callable[[Path, int, str], list[dict]]] = {
    "facebook/xnli": _translated("xnli", ("premise", "hypothesis"), NLI.index),
    "google-research-datasets/paws-x": _translated("pawsx", ("sentence1", "sentence2"), int),
}


class FakeDatasets:
    """``datasets.load_dataset`` serving :data:`SERVED` (first ``rows`` rows); anything else raises
    ``ConnectionError`` as an unreachable Hub does. ``calls`` records every request."""

    def __init__(self, data_dir: Path, rows: int = 48):
        self.data_dir, self.rows, self.calls = Path(data_dir), rows, []

    def __call__(self, path, name=None, split=None, **kwargs):
        import datasets

        self.calls.append((path, name, split))
        if path in TRANSLATED and split == "train" and name not in (None, "en"):
            return datasets.Dataset.from_list(TRANSLATED[path](self.data_dir, self.rows, name))
        build = SERVED.get((path, name))
        if build is None:
            raise ConnectionError(f"fake Hub: dataset {path} ({name}) is not served offline")
        return datasets.Dataset.from_list(build(self.data_dir, self.rows))
