"""Property-based robustness (issue 18): every reader and loader of outside input either returns a valid
value or raises an :class:`~toolkit.errors.XtaError`; never another exception.

Inputs are arbitrary (random bytes, random JSON values, random text over the characters a format is
made of) and *structurally mutated*: a valid document with one node replaced by a random JSON value,
deleted, wrapped in a list, or nested very deep. Covered: every data-file reader of
:data:`toolkit.data.READERS`, safetensors headers (:func:`toolkit.io.safetensors_header`), adapter
configs (:func:`toolkit.hub.check_fits`), adapter cards (:func:`toolkit.train.read_card`), result records
(:meth:`toolkit.results.Record.from_json`, :class:`~toolkit.results.ResultStore`), stored predictions
(:meth:`~toolkit.results.ResultStore.get_predictions`), the setup parser
(:func:`toolkit.setups.parse_setup`) and config coercion (:func:`toolkit.config.from_dict`).

The example budget comes from the Hypothesis profile (tests/conftest.py): ``ci`` (the default, 30
examples per property, the whole file well under a minute) or ``--hypothesis-profile=thorough``.
"""

from __future__ import annotations

import copy
import json
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from toolkit.errors import XtaError

pytestmark = pytest.mark.filterwarnings("ignore")

# ----------------------------------------------------------------------------------------- strategies

_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
# characters that break naive code: separators of the formats, NUL, a lone surrogate, brackets, digits
NASTY = st.sampled_from(["\t", "\n", "\r", " ", "\x00", "\ud800", "[", "]", "{", "}", "|", ",", ":", ">", "-", "_", "#",
                         "0", "1", "9", "٣", "²", "a", "B-LOC", "O", "NOUN", "entailment", "e", "_", "\u200c", "\ufeff"])
NASTY_TEXT = st.lists(NASTY | st.text(max_size=3), max_size=40).map("".join)


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@st.composite
def mutated(draw, seed: Any) -> Any:
    """``seed`` with one to three nodes replaced by a random JSON value, deleted, wrapped, or nested deep."""
    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        how = draw(st.sampled_from(["replace", "delete", "wrap", "deep", "string", "surrogate"]))
        if not path:
            return draw(JSON) if how != "deep" else json.loads("[" * 50 + "]" * 50)
        parent, key = _get(doc, path[:-1]), path[-1]
        node = parent[key]
        if how == "delete":
            del parent[key]
        elif how == "wrap":
            parent[key] = [node]
        elif how == "deep":
            value: Any = node
            for _ in range(draw(st.integers(10, 60))):
                value = [value]
            parent[key] = value
        elif how == "string":
            parent[key] = draw(NASTY_TEXT)
        elif how == "surrogate":
            parent[key] = "x\ud800y"
        else:
            parent[key] = draw(JSON)
    return doc


def _dump(value: Any) -> bytes:
    """JSON as a file would hold it; lone surrogates become \\ud800 escapes, as in a hostile file."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def _deep(n: int = 100_000) -> bytes:
    return b'{"data": ' + b"[" * n + b"]" * n + b"}"


def _ok_or_xta(fn, *args, **kwargs) -> Any:
    """Call ``fn``; an XtaError is a valid answer (returns None); any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except XtaError as exc:
        assert str(exc).strip(), "an XtaError must say something"
        return None


def _encodable(value: Any) -> None:
    """Valid output must be writable: JSON-serialisable strings that encode as UTF-8."""
    json.dumps(value, default=str, ensure_ascii=False, allow_nan=True).encode("utf-8")


# ---------------------------------------------------------------------------------------- data files

SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
    {"context": "Berlin is big.", "qas": [{"id": "q1", "question": "How?", "answers": [{"text": "big", "answer_start": 10}]},
                                          {"id": "q2", "question": "No?", "is_impossible": True, "answers": []}]}]}]}
LAREQA = {"data": [{"title": "t", "paragraphs": [
    {"context": "Berlin is big. It is old.", "sentence_breaks": [[0, 14], [15, 25]],
     "qas": [{"id": "q1", "question": "How?", "answers": [{"text": "old", "answer_start": 21}]}]}]}]}
XCOPA = {"premise": "The man fell.", "choice1": "He slipped.", "choice2": "He sang.", "question": "cause", "label": 0, "idx": 1}
SIQA = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c", "correct": "A"}
BOOLQ = {"question": "q", "passage": "p", "answer": True}
CSQA = {"id": "x", "answerKey": "A", "question": {"stem": "s", "choices": [{"label": "A", "text": "a"}, {"label": "B", "text": "b"}]}}
HELLASWAG = {"ind": 1, "ctx": "c", "endings": ["a", "b", "c", "d"], "label": 2}

JSONL_READERS = {"xcopa_jsonl": XCOPA, "siqa_jsonl": SIQA, "boolq_jsonl": BOOLQ, "commonsenseqa_jsonl": CSQA,
                 "hellaswag_jsonl": HELLASWAG}
TEXT_READERS = {
    "xtreme_tsv_pair": ("a\tb\tentailment\nc\td\tneutral\n", {"labels": ("entailment", "neutral", "contradiction")}),
    "conll_tsv": ("Berlin\tB-LOC\nis\tO\n\nParis\tB-LOC\n", {"labels": ("B-LOC", "I-LOC", "O")}),
    "conllu": ("# c\n1\tHund\tHund\tNOUN\t_\t_\t0\troot\t_\t_\n2\tbellt\tb\tVERB\t_\t_\t1\tdep\t_\t_\n\n", {"labels": ("NOUN", "VERB")}),
    "cosmosqa_csv": ("id,context,question,answer0,answer1,answer2,answer3,label\n1,c,q,a,b,c,d,2\n", {}),
    "anli_csv": ("context,statement,gold_label,uid\nc,s,e,1\n", {"labels": ("entailment", "neutral", "contradiction")}),
    "glue_mnli_tsv": ("pairID\tsentence1\tsentence2\tgold_label\n1\ta\tb\tneutral\n", {"labels": ("entailment", "neutral", "contradiction")}),
    "ccg_stagged": ("The|DT|NP/N dog|NN|N\n", {}),
}


def _read(fmt: str, content: bytes, options: dict | None = None, companions: dict[str, bytes] | None = None) -> Any:
    from toolkit import data

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "main.txt"
        path.write_bytes(content)
        opts = dict(options or {})
        for key, body in (companions or {}).items():
            other = Path(tmp) / f"{key}.txt"
            other.write_bytes(body)
            opts[key] = [other]
        out = _ok_or_xta(data.READERS[fmt], [path], "xx", opts)
    if out is not None:
        assert isinstance(out, (list, data.RetrievalData))
        _encodable(out if isinstance(out, list) else out.__dict__)
        if isinstance(out, list):
            assert all(isinstance(ex, dict) for ex in out)
    return out


def test_every_reader_is_fuzzed():
    from toolkit import data

    covered = {*JSONL_READERS, *TEXT_READERS, "squad_json", "lareqa", "tatoeba", "bucc", "mewslix", "mewslix_pairs"}
    assert covered == set(data.READERS)
    assert set(HUB_SOURCES) | {"classification", "bucc", "lareqa"} == set(data.HUB_CONVERTERS)  # those two refuse


@pytest.mark.parametrize("fmt", sorted(JSONL_READERS))
@given(data=st.data())
def test_jsonl_readers_survive_mutated_lines(fmt, data):
    seed = JSONL_READERS[fmt]
    lines = data.draw(st.lists(mutated(seed) | st.just(seed) | JSON, min_size=1, max_size=4))
    _read(fmt, b"\n".join(_dump(line) for line in lines) + b"\n", {"labels": ("false", "true")})


@pytest.mark.parametrize("fmt", sorted(JSONL_READERS))
@given(raw=st.binary(max_size=200) | NASTY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_jsonl_readers_survive_arbitrary_bytes(fmt, raw):
    _read(fmt, raw)


@pytest.mark.parametrize("fmt", sorted(TEXT_READERS))
@given(data=st.data())
def test_text_readers_survive_arbitrary_and_mutated_text(fmt, data):
    valid, options = TEXT_READERS[fmt]
    lines = valid.split("\n")
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(lines)), NASTY_TEXT), max_size=4))
    for at, text in edits:
        lines.insert(at, text) if data.draw(st.booleans()) else lines.__setitem__(min(at, len(lines) - 1), text)
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        raw = data.draw(st.binary(max_size=120))
    _read(fmt, raw, options)


@pytest.mark.parametrize("fmt,seed", [("squad_json", SQUAD), ("lareqa", LAREQA)])
@given(data=st.data())
@example(data=None)
def test_squad_json_readers_survive_mutated_documents(fmt, seed, data):
    raw = _deep() if data is None else _dump(data.draw(mutated(seed) | JSON))
    _read(fmt, raw)


@given(query=NASTY_TEXT, english=NASTY_TEXT)
def test_tatoeba_reader(query, english):
    _read("tatoeba", query.encode("utf-8", "surrogatepass"), companions={"english": english.encode("utf-8", "surrogatepass")})


@given(src=NASTY_TEXT, english=NASTY_TEXT, gold=NASTY_TEXT)
@example(src="s1\tHallo\n", english="e1\tHello\n", gold="s1\te1\n")
def test_bucc_reader(src, english, gold):
    enc = lambda t: t.encode("utf-8", "surrogatepass")  # noqa: E731
    _read("bucc", enc(src), companions={"english": enc(english), "gold": enc(gold)})


MX_CONTEXT = {"document_title": "d", "document_url": "u", "document_id": "1", "language": "xx",
              "text": "Smith went home. He slept.", "sentence_spans": [{"start": 0, "end": 16}, {"start": 17, "end": 26}]}
MX_MENTIONS = {"context": MX_CONTEXT, "mentions": [{"example_id": "m1", "mention_span": {"start": 0, "end": 5, "text": "Smith"},
                                                    "entity_id": "Q1"}]}
MX_ENTITY = {"entity_id": "Q1", "title": "Smith", "description": "Smith is a name.", "sentence_spans": [{"start": 0, "end": 16}],
             "description_language": "en", "description_url": "u"}
MX_PAIR = {"contextual_mention": {"context": MX_CONTEXT, "mention": MX_MENTIONS["mentions"][0]}, "entity": MX_ENTITY}


@pytest.mark.parametrize("fmt,seed", [("mewslix", MX_MENTIONS), ("mewslix_pairs", MX_PAIR)])
@given(data=st.data())
def test_mewslix_readers_survive_mutated_mentions_pairs_and_candidates(fmt, seed, data):
    """The official schemas (utils_mewslix.py), each structurally mutated: a result or a DataError."""
    lines = data.draw(st.lists(mutated(seed) | st.just(seed), min_size=1, max_size=3))
    entities = data.draw(st.lists(mutated(MX_ENTITY) | st.just(MX_ENTITY), min_size=1, max_size=2))
    body = b"\n".join(_dump(line) for line in lines) + b"\n"
    _read(fmt, body, companions={"candidates": b"\n".join(_dump(e) for e in entities) + b"\n"})


HUB_ROW = {"id": "1", "idx": 0, "title": "t", "premise": "p", "hypothesis": "h", "label": 0, "tokens": ["Berlin", "is"],
           "tags": [0, 1], "ner_tags": [0, 1], "pos_tags": [0, 1], "upos": [0, 1], "context": "Berlin is big.", "question": "q",
           "answers": {"text": ["big"], "answer_start": [10]}, "source_sentence": "s", "target_sentence": "t",
           "choice1": "a", "choice2": "b", "choices": {"label": ["A", "B"], "text": ["a", "b"]}, "answerKey": "A", "ctx": "c",
           "endings": ["a", "b", "c", "d"], "answerA": "a", "answerB": "b", "answerC": "c", "correct": "1",
           "answer0": "a", "answer1": "b", "answer2": "c", "answer3": "d"}
#: one task per Hub converter (the source the registry names for that split and language)
HUB_SOURCES = {"pair_classification": ("xnli", "dev", "ar"), "multiple_choice": ("xcopa", "dev", "et"),
               "tagging": ("udpos", "train", "en"), "extractive_qa": ("xquad", "test", "en"), "tatoeba": ("tatoeba", "test", "ar"),
               "commonsenseqa": ("commonsenseqa", "train", "en"), "copa": ("copa", "train", "en"),
               "cosmosqa": ("cosmosqa", "train", "en"), "hellaswag": ("hellaswag", "train", "en"), "siqa": ("siqa", "train", "en"),
               "ud_tagging": ("udpos", "test", "lt")}


@pytest.mark.parametrize("fmt", sorted(HUB_SOURCES))
@given(data=st.data())
def test_hub_rows_of_any_shape(fmt, data):
    """Rows of a Hugging Face dataset that changed or is hostile: converted, or one DataError."""
    from toolkit import hub_sources as H
    from toolkit.tasks import get_task

    task, split, lang = HUB_SOURCES[fmt]
    spec = get_task(task)

    (source, *_) = H.split_hub_sources(spec.splits[split], lang)
    rows = data.draw(st.lists(mutated(HUB_ROW) | st.just(HUB_ROW), max_size=3))
    rows = [json.loads(_dump(row)) if isinstance(row, dict) else row for row in rows]  # as JSON would give them
    out = _ok_or_xta(H.convert_hub_rows, rows, H._HubContext(source, spec, lang, f"hf://{task}", {}))
    if out is not None:
        _encodable(out if isinstance(out, list) else out.__dict__)


@given(split=NASTY_TEXT | st.text(max_size=30))
@example(split="dev[" + "9" * 5000 + ":]")
@example(split="dev[٣:]")
def test_split_slices(split):
    from toolkit.data import _apply_slice, parse_split

    parsed = _ok_or_xta(parse_split, split)
    if parsed is not None:
        _ok_or_xta(_apply_slice, list(range(10)), parsed[1])


# ------------------------------------------------------------------------------------------ artifacts


def _safetensors(header: Any, payload: bytes = b"\0" * 8, length: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else _dump(header)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + payload


HEADER = {"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@given(data=st.data())
@example(data=None)
def test_safetensors_headers(data):
    from toolkit.io import safetensors_header

    if data is None:
        raw = _safetensors(b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    else:
        choice = data.draw(st.sampled_from(["mutated", "bytes", "length"]))
        if choice == "mutated":
            raw = _safetensors(data.draw(mutated(HEADER)), b"\0" * data.draw(st.integers(0, 16)))
        elif choice == "bytes":
            raw = data.draw(st.binary(max_size=64))
        else:
            raw = _safetensors(HEADER, length=data.draw(st.integers(0, 2**64 - 1)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "adapter.safetensors"
        path.write_bytes(raw)
        header = _ok_or_xta(safetensors_header, path)
    if header is not None:
        assert isinstance(header, dict)
        _encodable(header)


ADAPTER_CONFIG = {"config": {"architecture": "bottleneck", "reduction_factor": 16, "leave_out": [], "non_linearity": "relu"},
                  "hidden_size": 32, "model_class": "BertAdapterModel", "model_name": None, "model_type": "bert",
                  "name": "adp", "version": "adapters.1.3.0"}
HEAD_CONFIG = {"config": {"head_type": "tagging", "num_labels": 3, "layers": 1, "label2id": {"O": 0, "B": 1, "I": 2}},
               "hidden_size": 32, "model_type": "bert", "name": "adp", "version": "adapters.1.3.0"}


@given(data=st.data())
def test_adapter_configs(data):
    from toolkit.hub import EncoderShape, check_fits

    shape = EncoderShape("tiny", "bert", 32, 2)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "adapter_config.json").write_bytes(_dump(data.draw(mutated(ADAPTER_CONFIG) | JSON)))
        (src / "head_config.json").write_bytes(_dump(data.draw(mutated(HEAD_CONFIG))))
        header = {f"bert.encoder.layer.{i}.output.adapters.adp.weight": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
                  for i in range(2)}
        (src / "adapter.safetensors").write_bytes(_safetensors(data.draw(mutated(header) | st.just(header)), b"\0" * 8))
        _ok_or_xta(check_fits, src, shape)


CARD = {"name": "adp", "task": "panx", "task_version": 1, "shape": "tagging", "recipe": "none", "init_from": None,
        "intermediate": [], "encoder": {"name": "tiny-bert", "fingerprint": "sha256:00"}, "config_hash": "abc",
        "steps": 1, "planned_steps": 1, "best_step": 1, "dev_scores": {"panx": {"f1": 0.5}},
        "tasks": {"panx": {"version": 1, "shape": "tagging", "head": "adp", "sources": ["panx"], "labels": None}},
        "adapter": {"config": "seq_bn", "reduction_factor": 16}, "hyperparameters": {"seed": 42}}


@given(data=st.data())
@example(data=None)
def test_adapter_cards(data):
    from toolkit.train import read_card, setup_artifacts

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "adapters" / "adp"
        folder.mkdir(parents=True)
        raw = _deep() if data is None else _dump(data.draw(mutated(CARD) | JSON))
        (folder / "xta_card.json").write_bytes(raw)
        card = _ok_or_xta(read_card, "adp", tmp)
        if card is not None:
            _encodable(card)
            _ok_or_xta(setup_artifacts, "adp", tmp)


RECORD = {"schema_version": 1, "task": "xnli", "task_version": 1, "main_metric": "accuracy",
          "encoder": {"id": "embedded", "name": "embedded", "fingerprint": None},
          "setup": {"text": "none", "id": "none", "adapter_hashes": {}}, "seed": 42, "config": {"setup": "none"},
          "config_hash": "h", "versions": {"python": "3.11"}, "git_commit": None, "git_dirty": False,
          "created_at": "2025-01-01", "updated_at": "2025-01-01",
          "languages": {"de": {"status": "ok", "metrics": {"accuracy": 0.8}, "main": 0.8, "n_examples": 10, "seconds": 1.0,
                               "split": "test", "data_files": {}, "dataset_revision": None, "adapters": {},
                               "config_hash": "h", "finished_at": "x", "error": None, "evaluation": {"precision": "fp32"}},
                        "sw": {"status": "failed", "error": "DataUnavailable: x", "metrics": {}, "main": None}}}


@given(data=st.data())
def test_result_records(data):
    from toolkit.results import Record, RecordKey, ResultStore

    doc = data.draw(mutated(RECORD) | JSON)
    rec = _ok_or_xta(Record.from_json, doc, Path("x.json"))
    if rec is not None:
        _encodable(rec.to_json())
        rec.scores(), rec.failed(), rec.is_complete(["de"])
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        path = Path(tmp) / "embedded" / "none" / "xnli.json"
        path.parent.mkdir(parents=True)
        path.write_bytes(_dump(doc) if data.draw(st.booleans()) else _deep())
        key = RecordKey("embedded", "none", "xnli")
        _ok_or_xta(store.damaged)
        _ok_or_xta(lambda: list(store.records()))
        _ok_or_xta(store.missing_languages, key, ["de", "sw"], "h")
        _ok_or_xta(store.conflicts, key, ["de", "sw"], "h")


PREDICTIONS = {"task": "xnli", "lang": "de", "split": "test", "ids": ["0", "1"], "predictions": ["entailment", "neutral"]}


@given(data=st.data())
def test_prediction_files(data):
    from toolkit.results import RecordKey, ResultStore

    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        key = RecordKey("embedded", "none", "xnli")
        path = store.predictions_path(key, "de")
        path.parent.mkdir(parents=True)
        choice = data.draw(st.sampled_from(["mutated", "bytes", "deep"]))
        raw = {"mutated": lambda: _dump(data.draw(mutated(PREDICTIONS) | JSON)), "bytes": lambda: data.draw(st.binary(max_size=60)),
               "deep": _deep}[choice]()
        path.write_bytes(raw)
        stored = _ok_or_xta(store.get_predictions, key, "de")
        if stored is not None:
            assert isinstance(stored["ids"], list) and all(isinstance(i, str) for i in stored["ids"])
            _encodable(stored)


ENCODER_CONFIG = {"model_type": "xlm-roberta", "hidden_size": 32, "num_hidden_layers": 2, "max_position_embeddings": 514,
                  "pad_token_id": 1, "position_embedding_type": "absolute"}


@given(data=st.data())
def test_encoder_configs_read_without_loading(data):
    """A local encoder's config.json as the adapter checks (encoder_shape) and --max-length (max_positions) read it."""
    from toolkit.encoders import max_positions
    from toolkit.hub import encoder_shape

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_bytes(_dump(data.draw(mutated(ENCODER_CONFIG) | JSON)))
        (Path(tmp) / "model.safetensors").write_bytes(_safetensors(HEADER))
        _ok_or_xta(encoder_shape, tmp)
        limit = _ok_or_xta(max_positions, tmp)
        assert limit is None or isinstance(limit, int)


# ------------------------------------------------------------------------------------ setups, configs

SETUP_WORDS = st.sampled_from(["stack", "fuse", ":", ",", "(", ")", ">", "{lang}", "lang_{lang}", "none", "xnli", "a", "b",
                               " ", "..", "/", "\\", "[", "]", "\x00", "\ud800", "é", "-", "_", "9"])


@given(text=st.lists(SETUP_WORDS, max_size=20).map("".join) | st.text(max_size=30))
@example(text="stack:" + ",".join(f"a{i}" for i in range(5000)))
@example(text="stack(" * 500 + "a" + ")" * 500)
def test_setup_parser(text):
    from toolkit.setups import parse_setup, setup_id

    setup = _ok_or_xta(parse_setup, text)
    if setup is not None:
        str(setup).encode("utf-8")
        _ok_or_xta(setup_id, setup)
        _ok_or_xta(setup.resolve, "de")


CONFIG_VALUES = (JSON | st.sampled_from(["1e999", "nan", "-inf", "9" * 5000, "0-99999999999", "dev[:80%]", "../x", "",
                                         "stack:a,b", 10**30, -1, 0, float("inf"), float("nan"), [], {}]))


@pytest.mark.parametrize("kind", ["TrainConfig", "EvalConfig"])
@given(data=st.data())
def test_config_coercion(kind, data):
    import dataclasses

    from toolkit import config

    cls = getattr(config, kind)
    names = [f.name for f in dataclasses.fields(cls)]
    base = {"task": "xnli"} if kind == "TrainConfig" else {}
    keys = data.draw(st.lists(st.sampled_from(names) | st.text(max_size=5), max_size=4))
    doc = {**base, **{k: data.draw(CONFIG_VALUES) for k in keys}}
    cfg = _ok_or_xta(config.from_dict, cls, doc)
    if cfg is not None:
        config.config_hash(cfg)
        _ok_or_xta(cfg.validate)


@given(doc=JSON)
def test_config_from_a_non_mapping(doc):
    from toolkit.config import TrainConfig, from_dict

    _ok_or_xta(from_dict, TrainConfig, doc)


def test_the_budget_is_the_profile_s():
    """The suite runs under the registered profiles (tests/conftest.py), not Hypothesis's 100 examples."""
    assert settings().max_examples in (30, 1000) and settings().deadline is None
    assert HealthCheck.too_slow in settings().suppress_health_check


# ------------------------------------------------------------- a real saved adapter, through the library


@pytest.fixture(scope="module")
def saved_adapter(tmp_path_factory, shared_data):
    """A real panx adapter saved by train_adapter on the tiny encoder, and that encoder."""
    from toolkit.config import TrainConfig
    from toolkit.encoders import tiny_encoder
    from toolkit.train import train_adapter

    enc = tiny_encoder(seed=3)
    root = tmp_path_factory.mktemp("fuzz_adapter")
    cfg = TrainConfig(task="panx", adapter_name="adp", max_train_examples=8, max_steps=1, batch_size=8, max_length=32,
                      data_dir=str(shared_data))
    train_adapter(cfg, enc, root, progress=False, max_dev_examples=4)
    return enc, root / "adapters" / "adp"


@settings(max_examples=min(settings().max_examples, 40))
@given(data=st.data())
def test_saved_adapters_with_mutated_configs_load_or_are_refused(saved_adapter, data):
    """check_adapter_dir (what xta eval runs first), then the adapters library's own loader through
    load_trained_adapter: a mutated adapter_config.json / head_config.json / card loads or is an XtaError."""
    import shutil

    from toolkit.hub import check_adapter_dir
    from toolkit.train import evict, load_trained_adapter

    enc, src = saved_adapter
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "adapters" / "adp"
        shutil.copytree(src, dest)
        name = data.draw(st.sampled_from(["adapter_config.json", "head_config.json", "xta_card.json"]))
        original = json.loads((dest / name).read_text())
        (dest / name).write_bytes(_dump(data.draw(mutated(original))))

        def load():
            check_adapter_dir(dest, enc)
            return load_trained_adapter(enc, "adp", tmp)

        try:
            _ok_or_xta(load)
        finally:
            from toolkit.families.base import adapter_model

            evict(adapter_model(enc), "adp")
