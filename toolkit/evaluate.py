"""Zero-shot evaluation: the (task x language) loop, resumable, one result record per (encoder, setup, task).

Data flow (ARCHITECTURE.md): ``evaluate(cfg)`` -> for each task: its TaskSpec -> the encoder, loaded once
and only if some language is still missing -> the adapter setup, activated once (per language only when
the setup names ``{lang}``) -> for each language not yet in the store: load -> family.featurize ->
family.predict -> family.score -> ``store.put_language``. A language that fails is recorded as failed
with its reason and retried on the next run; nothing is averaged here (see ``toolkit.report``).

Zero-shot: a target adapter is trained on English only (its task's English training source) and applied
unchanged to every language.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from .artifacts import (
    CARD_NAME,
    activate_setup,
    adapter_dir,
    adapter_weights_hash,
    adapters_root,
    encoder_slug,
    read_card,
    read_card_file,
    refuse_non_finite,
    setup_artifacts,
)
from .config import EvalConfig, TrainConfig, config_hash, to_dict
from .errors import ConfigError, DataError, DataUnavailable, SetupError, XtaError
from .families import get_family
# the XTREME-R protocol's constants and main score live with the aggregation that reads them (report.py);
# encoder_slug with the adapter names (artifacts.py): both re-exported here, where they were first defined
from .report import XTREME_R_RETRIEVAL_ADAPTER, XTREME_R_TRAINED_RETRIEVAL, main_score
from .results import LangResult, RecordKey, ResultStore, RunInfo, encoder_id
from .setups import NO_SETUP, parse_setup, setup_id
from .tasks import TaskSpec, get_task, target_tasks

log = logging.getLogger(__name__)

#: What a caller may watch: (task, lang, status) after each language.
Callback = Callable[[str, str, str], None]


def auto_adapter_name(task: str, model: str, artifacts_dir=None) -> str:
    """The target adapter ``--setup auto`` uses for ``task`` on encoder ``model``: ``task`` itself, unless an
    adapter of that name exists for *another* encoder (another weights fingerprint) in the artifacts;
    then ``<task>__<encoder>`` (e.g. ``xnli__xlm_roberta_large``), so that encoders sharing an
    artifacts directory never load each other's adapters."""
    from .encoders import encoder_fingerprint

    card = adapter_dir(task, artifacts_dir) / CARD_NAME
    if not card.is_file():
        return task
    try:
        theirs = (read_card_file(card).get("encoder") or {}).get("fingerprint")
    except XtaError:
        return task  # a damaged card is reported where the adapter is loaded
    return task if theirs in (None, encoder_fingerprint(model)) else f"{task}__{encoder_slug(model)}"


@dataclass
class TaskRun:
    """What happened to one task in one ``evaluate`` call."""

    task: str
    setup: str
    split: str | None
    languages: tuple[str, ...]
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # the whole task could not run (e.g. its target adapter could not be trained)


@dataclass
class EvalRun:
    config: EvalConfig
    encoder_id: str
    tasks: list[TaskRun]
    store: ResultStore

    @property
    def model_work(self) -> bool:
        return any(t.computed or t.failed for t in self.tasks)


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------


def evaluate(cfg: EvalConfig, *, store: ResultStore | None = None, encoder=None,
             on_language: Callback | None = None, progress: bool = False) -> EvalRun:
    """Evaluate ``cfg.setup`` zero-shot on ``cfg.tasks`` (default: every task of ``cfg.benchmark``)."""
    cfg.validate()
    store = store or ResultStore(cfg.results_dir)
    specs = [get_task(t) for t in cfg.tasks] if cfg.tasks else target_tasks(cfg.benchmark)
    for spec in specs:
        if not spec.is_target:
            raise ConfigError(f"{spec.name!r} is an intermediate task; evaluate target tasks (xta tasks --benchmark xtreme-r)")
    if cfg.max_length is not None:  # longer than the encoder's positions: one error, before any work
        from .encoders import check_max_length

        try:
            loaded = encoder is not None and "model" in vars(encoder)  # a stand-in (matrix.LazyEncoder) stays unloaded
            check_max_length(encoder if loaded else cfg.model, cfg.max_length)
        except ConfigError:
            raise
        except XtaError:
            pass  # an encoder that cannot be resolved is reported where it is loaded
    from .io import clean_stale_temps
    # an adapter whose replacement a kill interrupted is restored before anything looks for it
    clean_stale_temps(adapters_root(cfg.artifacts_dir))
    ctx = _Context(cfg, store, encoder, on_language or (lambda *_: None), progress)
    runs = [ctx.run_task(spec) for spec in specs]
    return EvalRun(cfg, ctx.encoder_id, runs, store)


class _Context:
    """State shared by the tasks of one ``evaluate`` call: the lazily loaded encoder, hashes."""

    def __init__(self, cfg: EvalConfig, store: ResultStore, encoder, on_language: Callback, progress: bool):
        self.cfg, self.store, self._encoder, self.on_language, self.progress = cfg, store, encoder, on_language, progress
        self.encoder_id = encoder_id(cfg.model)
        self._fingerprint: str | None = encoder.fingerprint if encoder is not None else None
        self.retrieval_cache: dict = {}
        self.foreign: dict[str, str] = {}  # adapters evaluated under --force although made for another encoder
        self._checked: set[tuple[str, str]] = set()

    @property
    def encoder(self):
        if self._encoder is None:
            from .encoders import load_encoder

            self._encoder = load_encoder(self.cfg.model)
        return self._encoder

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            from .encoders import encoder_fingerprint

            self._fingerprint = encoder_fingerprint(self.cfg.model)
        return self._fingerprint

    # one task ------------------------------------------------------------------------------------

    def run_task(self, spec: TaskSpec) -> TaskRun:
        self.retrieval_cache.clear()  # cached candidate embeddings belong to one task's setup
        langs = self.cfg.languages_for(spec.langs(self.cfg.benchmark))
        try:
            setup_text = self.setup_for(spec)
            split = self.split_for(spec, langs)
        except XtaError as exc:
            return self._task_failed(spec, langs, "?", None, exc)
        run = TaskRun(spec.name, setup_text, split, langs)
        setup = parse_setup(setup_text)
        key = RecordKey(self.encoder_id, setup_id(setup), spec.name)
        hashes, unresolved = {}, {}
        for lang in langs:  # a setup with {lang} may lack one language's adapter: only that language fails
            try:
                hashes[lang] = self.adapter_hashes(setup.resolve(lang))
            except XtaError as exc:
                unresolved[lang] = exc
        if unresolved and len(unresolved) == len(langs) and not setup.has_placeholder:
            return self._task_failed(spec, langs, setup_text, split, next(iter(unresolved.values())))
        ready = [lang for lang in langs if lang in hashes]
        cfg_hashes = {lang: self.lang_hash(spec, split, hashes[lang]) for lang in ready}
        missing = self.store.missing_languages(key, ready, cfg_hashes) if ready else []
        run.reused = [lang for lang in ready if lang not in missing]
        if not self.cfg.overwrite:  # a finished result of another configuration is kept, not replaced (issue 18)
            for lang, why in self.store.conflicts(key, missing, cfg_hashes).items():
                run.failed[lang] = f"ResultConflict: {why}; pass --overwrite to replace it, or use another --results-dir"
                self.on_language(spec.name, lang, "failed")
            missing = [lang for lang in missing if lang not in run.failed]
        for lang in run.reused:
            self.on_language(spec.name, lang, "stored")
        for lang, exc in unresolved.items():
            log.warning("%s/%s: %s", spec.name, lang, exc)
            run.failed[lang] = f"{type(exc).__name__}: {exc}"
            self.on_language(spec.name, lang, "failed")
        for lang in missing:
            if setup.has_placeholder:  # adapters change per language: cached candidate embeddings do not carry over
                self.retrieval_cache.clear()
            entry = self.run_language(key, spec, setup, split, lang, hashes[lang])
            info = self.run_info(spec, setup_text, cfg_hashes[lang], hashes[lang])
            self.store.put_language(key, lang, entry, info, overwrite=self.cfg.overwrite)
            if entry.status == "ok":
                run.computed.append(lang)
            else:
                run.failed[lang] = cast(str, entry.error)  # a failed LangResult always says why (its __post_init__)
            self.on_language(spec.name, lang, entry.status)
        return run

    def _task_failed(self, spec, langs, setup_text, split, exc) -> TaskRun:
        log.warning("%s: %s", spec.name, exc)
        error = f"{type(exc).__name__}: {exc}"
        run = TaskRun(spec.name, setup_text, split, langs, error=error)
        for lang in langs:
            run.failed[lang] = error
            self.on_language(spec.name, lang, "failed")
        return run

    def run_info(self, spec: TaskSpec, setup_text: str, cfg_hash: str, adapter_hashes: dict[str, str]) -> RunInfo:
        return RunInfo(
            task_version=spec.version, encoder_name=self.cfg.model, setup=setup_text, config=to_dict(self.cfg),
            config_hash=cfg_hash, main_metric=spec.main_metric, encoder_fingerprint=self.fingerprint,
            adapter_hashes=adapter_hashes, seed=self.cfg.seed,
        )

    def lang_hash(self, spec: TaskSpec, split: str, adapter_hashes: dict[str, str]) -> str:
        extra: dict[str, Any] = {}
        if spec.retrieval_rule is not None:  # the protocol's defaults (layer, lengths, cosine): older records do not mix
            from .retrieval import RETRIEVAL_PROTOCOL_VERSION

            extra["retrieval_protocol"] = RETRIEVAL_PROTOCOL_VERSION
        if self.precision != "fp32":  # fp32 records keep their hashes; bf16 ones never mix with them
            extra["precision"] = self.precision
        return config_hash(self.cfg, encoder=self.fingerprint, adapters=adapter_hashes, task=spec.name,
                           task_version=spec.version, split=split, **extra)

    @property
    def precision(self) -> str:
        """``fp32`` or ``bf16``: the evaluation precision on the device encoders run on (recorded and hashed)."""
        from .encoders import default_device
        from .families.base import eval_precision

        return eval_precision(default_device())

    # one language --------------------------------------------------------------------------------

    def run_language(self, key: RecordKey, spec: TaskSpec, setup, split: str, lang: str,
                     adapter_hashes: dict[str, str]) -> LangResult:
        from . import data

        t0 = time.perf_counter()
        common: dict[str, Any] = {"split": split, "adapters": adapter_hashes}
        try:
            common["data_files"] = _data_hashes(data.provenance(spec, split, lang, self.cfg.data_dir))
            rule = self.bucc_threshold_rule(spec, split)
            if rule is not None:  # how the BUCC threshold was chosen is part of what the score means
                common["protocol"] = {"bucc_threshold": rule}
                if rule == _bucc_rules()[0]:  # the dev files that chose it belong to the score's provenance
                    common["data_files"].update(_data_hashes(data.provenance(spec, "dev", lang, self.cfg.data_dir)))
            examples = data.load(spec, split, lang, data_dir=self.cfg.data_dir, max_examples=self.cfg.max_eval_examples)
            _check_gold(spec, split, lang, examples, files=list(common["data_files"]))
            self.check_head(spec, setup.resolve(lang))
            model = self.activate(setup.resolve(lang))
            evaluation: dict[str, Any] = {"precision": self.precision}
            common["evaluation"] = evaluation
            lang_adapters = self.language_adapters(setup.resolve(lang))
            if lang_adapters:
                common["evaluation"]["language_adapters"] = lang_adapters
            translated = self.translated_adapters(setup.resolve(lang))
            if translated:  # issue 21: trained beyond English, so not zero-shot: reports say translate-train
                common["evaluation"]["train_langs"] = translated
            foreign = {n: fp for n, fp in self.foreign.items() if n in adapter_hashes}
            if foreign:  # --force: the record says which adapters were made for another encoder
                common["evaluation"]["adapters_for_other_encoder"] = foreign
            metrics, n, predictions = self.predict_and_score(spec, model, setup, lang, examples,
                                                             record=common["evaluation"], split=split)
            main = main_score(spec.name, metrics)
            rows, ci = None, None
            if predictions is not None:
                ids, answers = predictions
                rows, ci = self.uncertainty(spec, examples, ids, answers, lang, main)
                self.store.put_predictions(key, lang, split, ids, answers,
                                           example_scores=rows.to_json() if rows is not None else None)
        except XtaError as exc:
            return LangResult.failed(exc, seconds=time.perf_counter() - t0, **common)
        return LangResult.ok(metrics, main, n_examples=n, seconds=round(time.perf_counter() - t0, 3), ci=ci, **common)

    def uncertainty(self, spec: TaskSpec, examples, ids, answers, lang: str, main: float):
        """``(rows, ci)``: the per-example rows of the main metric and its bootstrap CI (``toolkit.stats``;
        ``ci`` None with ``bootstrap_resamples`` 0). Rows that do not reproduce the main score are a bug:
        logged and left out rather than stored with a wrong interval."""
        from .stats import ci_entry, example_rows

        try:
            rows = example_rows(spec, examples, ids, answers, lang=lang)
        except (XtaError, KeyError, TypeError, ValueError) as exc:  # the score stands; only its interval is lost
            log.warning("%s/%s: no per-example rows (%s: %s); no CI stored", spec.name, lang, type(exc).__name__, exc)
            return None, None
        if rows is None:
            return None, None
        if abs(rows.value() - main) > 1e-6 * max(1.0, abs(main)):
            log.warning("%s/%s: per-example rows give %.6f, not the score %.6f; no CI stored", spec.name, lang,
                        rows.value(), main)
            return None, None
        resamples = self.cfg.bootstrap_resamples
        return rows, (ci_entry(rows, resamples, self.cfg.seed) if resamples else None)

    def predict_and_score(self, spec: TaskSpec, model, setup, lang: str, examples, record: dict | None = None,
                          split: str | None = None):
        """``(metrics, n_examples, (ids, predictions))``: what each prediction answers and the predictions
        (retrieval: see :class:`toolkit.retrieval.RetrievalOutput`). ``record`` receives how a retrieval
        task was scored (``retrieval``: layer, pooling, lengths, candidate text, scorer). ``split``: the
        scored split (BUCC tunes its threshold on dev when it scores another split)."""
        family = get_family(spec)
        if spec.retrieval_rule is not None:  # scored by its official rule (toolkit.retrieval), not a head's predictions
            head = setup.resolve(lang).head
            if self.is_dual_encoder(head) and spec.retrieval_rule == "lareqa":
                out, how = self.retrieval_dual_encoder(spec, model, head, examples)
            else:  # sentence representations (the setup's adapters active) at the protocol layer, faiss search
                out, how = self.retrieval_baseline(spec, examples, lang=lang, split=split)
            if record is not None:
                record["retrieval"] = how
            return {k: float(v) for k, v in out.metrics.items() if not k.startswith("n_")}, len(examples), \
                (out.ids, out.predictions)
        features = family.featurize(examples, self.encoder.tokenizer, spec, self.max_length(spec))
        predictions = family.predict(model, features, batch_size=self.cfg.batch_size, head=setup.head)
        ids = [str(ex.get("id", i)) for i, ex in enumerate(examples)]
        return family.score(predictions, examples, spec, lang=lang), len(examples), (ids, predictions)

    def retrieval_config(self, spec: TaskSpec):
        """The task's official retrieval settings (:func:`toolkit.retrieval.protocol_config`) for this
        encoder, under ``retrieval_layer``/``retrieval_pooling``/``max_length`` when given."""
        from .retrieval import encoder_layers, protocol_config

        return protocol_config(spec.name, encoder_layers(self.encoder), layer=self.cfg.retrieval_layer,
                               pooling=self.cfg.retrieval_pooling, max_length=self.cfg.max_length,
                               batch_size=self.cfg.batch_size)

    def retrieval_baseline(self, spec: TaskSpec, data, lang: str | None = None, split: str | None = None):
        """Sentence representations (pooled hidden layer ``retrieval_layer``, by default the protocol's layer
        of this encoder), faiss search: a :class:`toolkit.retrieval.RetrievalOutput` and what was used.

        BUCC: scoring any split but dev mines ``lang``'s dev split first and applies its F1-optimal
        threshold (:func:`toolkit.retrieval.bucc_tune_threshold`); scoring dev tunes on dev's own gold,
        an oracle, recorded as such (:meth:`bucc_threshold_rule`). Both record ``bucc_threshold`` and
        ``bucc_threshold_dev_f1``."""
        from dataclasses import replace

        from .retrieval import bucc_tune_threshold, encoder_layers, retrieve

        rcfg = self.retrieval_config(spec)
        how = {"scorer": "sentence_representations", "encoder_layers": encoder_layers(self.encoder), **rcfg.to_record()}
        if spec.retrieval_rule != "lareqa":
            how.pop("lareqa_candidate_text", None)
        dev_f1 = None
        if self.bucc_threshold_rule(spec, split) == _bucc_rules()[0]:
            from . import data as data_mod

            # predict_and_score always passes the language (None would fail in load as an unknown language);
            # a BUCC task loads as RetrievalData
            dev_lang = cast(str, lang)
            dev = cast(data_mod.RetrievalData, data_mod.load(spec, "dev", dev_lang, data_dir=self.cfg.data_dir,
                                                            max_examples=self.cfg.max_eval_examples))
            _check_gold(spec, "dev", dev_lang, dev)
            threshold, dev_f1 = bucc_tune_threshold(dev, self.encoder, rcfg)
            rcfg = replace(rcfg, bucc_threshold=threshold)
        out = retrieve(spec.name, data, self.encoder, rcfg, cache=self.retrieval_cache)
        if "bucc_threshold" in out.metrics:
            out.metrics["bucc_threshold_dev_f1"] = out.metrics["bucc_f1"] if dev_f1 is None else dev_f1
        return out, how

    def is_dual_encoder(self, head: str | None) -> bool:
        """True when ``head`` is an adapter trained as a dual encoder (a retrieval-shape card)."""
        if not head:
            return False
        card = adapter_dir(head, self.cfg.artifacts_dir) / CARD_NAME
        try:
            return card.is_file() and read_card_file(card).get("shape") == "retrieval"
        except XtaError:
            return False

    def retrieval_dual_encoder(self, spec: TaskSpec, model, head: str, data):
        """A trained dual-encoder adapter, scored the way it was trained: through the retrieval family's own
        ``featurize``/``predict``/``score`` (mean-pooled last layer, L2-normalised, cosine; candidates are the
        answer sentences it was trained on), questions and candidates truncated at the official 96 / 256
        tokens (``scripts/run_eval_lareqa.sh`` l. 32-33) unless ``max_length`` is given."""
        from .retrieval import OFFICIAL_MAX_LENGTHS, RetrievalOutput

        family = get_family(spec)
        q_len, c_len = (self.cfg.max_length,) * 2 if self.cfg.max_length else OFFICIAL_MAX_LENGTHS.get(spec.name, OFFICIAL_MAX_LENGTHS[cast(str, spec.retrieval_rule)])
        features = family.featurize(data, self.encoder.tokenizer, spec, max(q_len, c_len),
                                    query_max_length=q_len, candidate_max_length=c_len)
        predictions = family.predict(model, features, batch_size=self.cfg.batch_size, head=head, cache=self.retrieval_cache)
        metrics = family.score(predictions, data, spec)
        how = {"scorer": "dual_encoder", "adapter": head, "layer": -1, "pooling": "mean", "normalize": True,
               "query_max_length": q_len, "candidate_max_length": c_len, "lareqa_candidate_text": "sentence"}
        return RetrievalOutput(metrics, list(predictions), list(predictions.values())), how

    def bucc_threshold_rule(self, spec: TaskSpec, split: str | None) -> str | None:
        """How a BUCC-style score's threshold is chosen for ``split`` (None for other tasks): tuned on
        dev for test (the protocol), on the scored split's own gold when dev itself is scored (an
        oracle; offline only BUCC zh-en dev exists, see ../shared/data/MANIFEST.md)."""
        if spec.retrieval_rule is None or split is None:
            return None
        from .data import parse_split

        if spec.retrieval_rule != "bucc2018":
            return None
        tuned_on_dev, oracle = _bucc_rules()
        return oracle if parse_split(split)[0] == "dev" else tuned_on_dev

    def max_length(self, spec: TaskSpec) -> int:
        from .encoders import check_max_length
        length = self.cfg.max_length or get_family(spec).EVAL_MAX_LENGTH  # XTREME's 384 for QA, else 128
        check_max_length(self.encoder, length)
        return length

    # setups and adapters -------------------------------------------------------------------------

    def setup_for(self, spec: TaskSpec) -> str:
        """``auto``: the task's own target adapter (trained if missing). Retrieval: on ``xtreme-r`` the
        encoder XTREME-R scores it with (:data:`XTREME_R_RETRIEVAL_ADAPTER`: a SQuAD v1.1 adapter for
        Tatoeba, trained dual encoders for LAReQA and Mewsli-X), trained if missing; elsewhere (XTREME's
        Tatoeba and BUCC) the bare encoder's sentence representations."""
        if self.cfg.setup != "auto":
            return self.cfg.setup
        protocol = XTREME_R_RETRIEVAL_ADAPTER.get(spec.name) if self.cfg.benchmark == "xtreme-r" else None
        if get_family(spec).SCORED_UNTRAINED and protocol is None:
            name = auto_adapter_name(spec.name, self.cfg.model, self.cfg.artifacts_dir)
            return name if (adapter_dir(name, self.cfg.artifacts_dir) / CARD_NAME).is_file() else NO_SETUP
        name = auto_adapter_name(protocol or spec.name, self.cfg.model, self.cfg.artifacts_dir)
        if (adapter_dir(name, self.cfg.artifacts_dir) / CARD_NAME).is_file():
            return name
        if protocol is None:
            self.train_target(spec, name)
            return name
        try:
            self.train_target(spec, name, task=protocol if protocol != spec.name else None)
        except XtaError as exc:
            raise SetupError(f"XTREME-R scores {spec.name} with {XTREME_R_TRAINED_RETRIEVAL[spec.name]} (--setup auto "
                             f"trains adapter {name!r}), which failed: {exc} -- pass --setup none to score the bare "
                             "encoder instead (reported as not the protocol)") from None
        return name

    def train_target(self, spec: TaskSpec, name: str | None = None, task: str | None = None) -> None:
        """Train the English adapter ``name`` for ``spec`` (on ``task``'s data when given, e.g. squad_v1
        for XTREME-R's Tatoeba)."""
        from .train import train_adapter

        cfg = self.cfg
        default = (task or spec.name, cfg.train_split, cfg.train_dev_split)
        source, train_split, dev_split = default if task else cfg.train_sources.get(spec.name, default)
        if not task and source != spec.name and get_task(source).shape != spec.shape:
            raise ConfigError(f"train_from {spec.name}={source}: {source} is {get_task(source).shape}, "
                              f"{spec.name} needs {spec.shape}")
        tcfg = TrainConfig(
            task=source, adapter_name=name or spec.name, model=cfg.model, seed=cfg.seed, max_steps=cfg.train_steps,
            max_train_examples=cfg.train_examples, train_split=train_split, dev_split=dev_split,
            batch_size=cfg.train_batch_size, learning_rate=cfg.train_learning_rate,
            max_length=cfg.max_length,  # None: the card's (TrainConfig resolves card values beneath what is given)
            data_dir=cfg.data_dir,
        )
        log.info("training the English target adapter for %s on %s", spec.name, source)
        try:
            train_adapter(tcfg, encoder=self.encoder, artifacts_dir=cfg.artifacts_dir, progress=self.progress,
                          max_dev_examples=cfg.train_dev_examples)
        except DataUnavailable as exc:
            if task:  # the protocol's own source (e.g. squad_v1 for Tatoeba): the caller says what to do
                raise
            from .preflight import training_hint, training_sources

            hint = training_hint(spec, training_sources(get_task(source), train_split), train_split, "eval")
            raise DataUnavailable(f"{exc}{hint}") from None

    def adapter_hashes(self, setup) -> dict[str, str]:
        """Weights hash of every trained piece of a resolved setup: adapters and trained fusions
        (``toolkit.artifacts.setup_artifacts`` checks the setup against the artifacts first)."""
        names = setup_artifacts(setup, self.cfg.artifacts_dir)
        return {name: adapter_weights_hash(name, self.cfg.artifacts_dir) for name in names}

    def activate(self, setup):
        """The flex-head model with a resolved ``setup`` active: adapters loaded once, by name; for
        ``fuse:a,b>X`` the trained fusion layer ``X`` and its head (``toolkit.artifacts.activate_setup``)."""
        for name in setup_artifacts(setup, self.cfg.artifacts_dir):
            self.check_adapter(name)
        model, _ = activate_setup(self.encoder, setup, self.cfg.artifacts_dir)
        return model

    def language_adapters(self, setup) -> dict[str, dict]:
        """The MAD-X language adapters of a resolved setup and how they were trained (issue 23): xta-trained
        ones with their budget (steps, batch size; MAD-X trains 250k steps at batch 64), registered ones
        (AdapterHub) as such. Reports label scores that rest on xta-trained language adapters."""
        out = {}
        for name in setup_artifacts(setup, self.cfg.artifacts_dir):
            if not (adapter_dir(name, self.cfg.artifacts_dir) / CARD_NAME).is_file():
                continue
            card = read_card(name, self.cfg.artifacts_dir)
            if card.get("kind") != "language":
                continue
            raw_budget = card.get("budget")
            budget = raw_budget if isinstance(raw_budget, dict) else {}
            if card.get("objective") or budget:  # trained by xta (train_language_adapter writes both)
                out[name] = {"trained_by": "xta", "steps": card.get("steps"), "batch_size": budget.get("batch_size")}
            else:
                out[name] = {"trained_by": "registered"}
        return out

    def translated_adapters(self, setup) -> dict[str, list[str]]:
        """``{adapter: its training languages}`` for the setup's adapters trained beyond English (their
        cards' ``train_langs``, issue 21): a score that rests on one is translate-train, not zero-shot."""
        out = {}
        todo = list(setup_artifacts(setup, self.cfg.artifacts_dir))
        seen: set[str] = set()
        while todo:  # a sequential adapter's init_from carries what it started from (STILTs)
            name = todo.pop(0)
            if name in seen or not (adapter_dir(name, self.cfg.artifacts_dir) / CARD_NAME).is_file():
                continue
            seen.add(name)
            card = read_card(name, self.cfg.artifacts_dir)
            langs = card.get("train_langs")
            if isinstance(langs, list) and langs and langs != ["en"]:
                out[name] = [str(x) for x in langs]
            if isinstance(card.get("init_from"), str):
                todo.append(card["init_from"])
        return out

    def check_head(self, spec: TaskSpec, setup) -> None:
        """Refuse a setup whose prediction head cannot score ``spec`` (issue 18): the head's adapter was
        trained on a task of another shape (a multiple-choice head for XNLI) or another label set (PAWS-X's
        2 labels for XNLI's 3). Retrieval reads representations, not a head; adapters without an xta card,
        or multi-task ones, are left to the adapters library."""
        from .errors import UnknownTask

        head = getattr(setup, "head", None)
        if spec.retrieval_rule is not None or not head or not (adapter_dir(head, self.cfg.artifacts_dir) / CARD_NAME).is_file():
            return
        card = read_card(head, self.cfg.artifacts_dir)
        trained = card.get("task")
        if not isinstance(trained, str) or len(card.get("tasks") or {}) > 1:
            return
        try:
            source = get_task(trained)
        except UnknownTask:
            return
        same_shape = get_family(source) is get_family(spec)  # one head per family (pairs are classification)
        if not same_shape or tuple(source.labels or ()) != tuple(spec.labels or ()):
            what = lambda t: f"{t.shape.replace('_', ' ')}" + (f" with {len(t.labels)} labels" if t.labels else "")  # noqa: E731
            raise SetupError(f"setup {setup.text if hasattr(setup, 'text') else head!r}: its head {head!r} was trained on "
                             f"{trained} ({what(source)}) and cannot score {spec.name} ({what(spec)}); use an adapter "
                             f"trained for {spec.name} (or --setup auto)")

    def check_adapter(self, name: str) -> None:
        """Refuse a damaged or foreign adapter directory with a one-line error naming the file (pickles,
        truncated safetensors, another encoder's hidden size) before the adapters library reads it."""
        from .hub import check_adapter_dir

        path = adapter_dir(name, self.cfg.artifacts_dir)
        if (path / CARD_NAME).is_file():  # a missing adapter: load_trained_adapter says how to train it
            card = check_adapter_dir(path, self.encoder)
            self.check_encoder(name, path, card)

    def check_encoder(self, name: str, path: Path, card: dict) -> None:
        """Refuse an adapter whose card names another encoder (weights fingerprint) than the one in use
        unless ``force`` (issue 18): the same shape is not the same encoder, and the score would look
        plausible. Weights that hold inf/NaN are reported first (the more basic fault). Cards without a
        fingerprint (adapters pulled from AdapterHub) cannot be checked."""
        key = (str(path), adapter_weights_hash(name, self.cfg.artifacts_dir))
        if key not in self._checked:
            refuse_non_finite(path)
            self._checked.add(key)
        encoder = card.get("encoder")
        if not isinstance(encoder, dict):  # no encoder facts: nothing to check (as a missing fingerprint)
            encoder = {}
        theirs = encoder.get("fingerprint")
        if not theirs or theirs == self.fingerprint:
            self.foreign.pop(name, None)
            return
        made_for = f"{encoder.get('name')} ({theirs})"
        if not self.cfg.force:
            raise SetupError(f"{path / CARD_NAME}: adapter {name!r} was trained on encoder {made_for}, not on "
                             f"{self.cfg.model} ({self.fingerprint}); evaluate it with that encoder (--model), or pass "
                             "--force to evaluate it anyway (the record then says so)")
        if name not in self.foreign:
            log.warning("adapter %r was trained on encoder %s, evaluated on %s (--force)", name, made_for, self.cfg.model)
        self.foreign[name] = theirs

    # splits --------------------------------------------------------------------------------------

    def split_for(self, spec: TaskSpec, langs: tuple[str, ...]) -> str:
        """The split to evaluate: ``cfg.split``, or for ``auto`` ``test`` when its data (as found for
        the first language that loads) carries gold labels, else ``dev``."""
        wanted = self.cfg.split
        if wanted != "auto":
            from .data import parse_split

            base, _ = parse_split(wanted)  # a slice (dev[80%:]) evaluates part of a split
            if base not in spec.splits:
                raise ConfigError(f"task {spec.name!r} has no {base} split (it has: {', '.join(spec.splits)})")
            return wanted
        candidates = [s for s in ("test", "dev") if s in spec.splits]
        for split in candidates[:-1]:
            if self._labelled_somewhere(spec, split, langs):
                return split
        return candidates[-1]

    def _labelled_somewhere(self, spec: TaskSpec, split: str, langs: tuple[str, ...]) -> bool:
        from . import data

        for lang in langs:
            try:
                examples = data.load(spec, split, lang, data_dir=self.cfg.data_dir, max_examples=50)
            except XtaError:
                continue
            return _has_gold(examples)
        return False


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _bucc_rules() -> tuple[str, str]:
    """(tuned on dev, oracle): the labels recorded in ``LangResult.protocol`` (``toolkit.metrics``)."""
    from .metrics import BUCC_THRESHOLD_DEV, BUCC_THRESHOLD_ORACLE

    return BUCC_THRESHOLD_DEV, BUCC_THRESHOLD_ORACLE


def _has_gold(examples) -> bool:
    """True when the examples carry gold answers (XTREME's own test files for xnli/pawsx do not)."""
    from .data import has_gold

    return has_gold(examples)


def _check_gold(spec: TaskSpec, split: str, lang: str, examples, files: list[str] | None = None) -> None:
    """A language without examples, or without gold labels, cannot be scored (names the data file(s))."""
    where = files[0] if files and len(files) == 1 else None
    also = f" (files: {', '.join(files)})" if files and len(files) > 1 else ""
    empty = not examples if isinstance(examples, list) else not examples.query_ids
    if empty:
        raise DataError(f"task {spec.name} / {split} / {lang}: no examples{also}", where)
    if not _has_gold(examples):
        what = ("every answer is empty: a copy with the answers stripped" if spec.shape == "extractive_qa"
                else "XTREME ships these test labels separately")
        raise DataError(f"task {spec.name} / {split} / {lang}: the data has no gold labels ({what}){also}; "
                        "evaluate another split, or point xta at labelled files", where)


def _data_hashes(prov: dict[str, Any]) -> dict[str, str]:
    if prov.get("source") == "builtin":  # generated data: its items' hash and the benchmark's data version
        name = f"builtin:{prov['generator']} (babel {prov['babel_version']}, CLDR {prov['cldr_version']})"
        items = prov.get("items", {}).get("sha256")
        return {name: f"sha256:{items}" if items else prov["data_version"], "builtin:data_version": prov["data_version"]}
    if prov.get("source") == "local":
        return {str(p): h for p, h in prov.get("files", {}).items()}
    return {f"hub:{d['path']}/{d.get('config')}/{d['split']}": d.get("revision") or "default" for d in prov.get("datasets", [])}
