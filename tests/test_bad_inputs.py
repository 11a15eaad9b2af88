"""A bad-input corpus, driven through the ``xta`` CLI: one line naming the file (and line), exit code 1,
no traceback, no partial output.

Every input is written into ``tmp_path`` by the case itself (no copies of real data). Each case runs the
command a user would run (``xta eval`` / ``xta tasks show`` / ``xta train-adapter`` / ``xta report``)
through Typer's ``CliRunner`` (typer 0.29: ``result.stdout`` and ``result.stderr`` apart, ``result.output``
both) and checks:

* exit code 1 and no ``Traceback`` anywhere in the output;
* exactly one ``error:`` line on stderr, holding the expected message, the file name and, where the
  format has lines, ``<file>:<line>:``;
* no partial output: no adapter or checkpoint directory, no report, no temporary or ``.corrupt`` file;
  the results store may hold the *failure* of the language (ARCHITECTURE principle 4: failures are
  recorded, and retried by the next run), never a score.

``xta eval`` exits 1 when no requested task-language got a result (every one failed, here because of bad
input) and prints one ``error:`` line per failure; when some languages succeed it prints the tables,
lists the failures and exits 0 (tested at the end).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from toolkit.errors import XtaError

runner = CliRunner()


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random encoder (hidden 32) saved as a local encoder directory, as in test_evaluate.py."""
    from toolkit import encoders

    enc = encoders.tiny_encoder(seed=3)
    path = tmp_path_factory.mktemp("tiny_encoder")
    enc.model.save_pretrained(path, safe_serialization=True)
    enc.tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data) -> Path:
    """Two real panx adapters: ``adp`` for the tiny encoder (hidden 32), ``wide`` for one of hidden 48."""
    from toolkit.config import TrainConfig
    from toolkit.encoders import tiny_encoder
    from toolkit.train import train_adapter

    root = tmp_path_factory.mktemp("trained")
    base = dict(task="panx", max_train_examples=8, max_steps=1, batch_size=8, max_length=32, data_dir=str(shared_data))
    train_adapter(TrainConfig(**base, adapter_name="adp"), tiny_encoder(seed=3), root, progress=False, max_dev_examples=4)
    train_adapter(TrainConfig(**base, adapter_name="wide"), tiny_encoder(seed=3, hidden_size=48), root, progress=False,
                  max_dev_examples=4)
    return root / "adapters"


@pytest.fixture(autouse=True)
def _no_data_dir_env(monkeypatch):
    monkeypatch.delenv("XTA_DATA_DIR", raising=False)
    monkeypatch.delenv("XTA_HOME", raising=False)


# --------------------------------------------------------------------------------------------------
# the corpus
# --------------------------------------------------------------------------------------------------


@dataclass
class Env:
    tmp: Path
    tiny: Path
    shared: Path
    trained: Path

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    def write(self, rel: str, content: str | bytes) -> Path:
        path = self.data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def eval(self, task: str, lang: str, split: str, setup: str = "none", data: Path | None = None,
             extra: tuple[str, ...] = ()) -> list[str]:
        return ["eval", "--tasks", task, "--langs", lang, "--split", split, "--setup", setup, "--model", str(self.tiny),
                "--data-dir", str(data or self.data), "--results-dir", str(self.tmp / "results"),
                "--artifacts-dir", str(self.tmp / "artifacts"), "--report-dir", str(self.tmp / "report"),
                "--max-eval-examples", "5", *extra]

    def train(self, task: str, *extra: str) -> list[str]:
        return ["train-adapter", "--task", task, "--model", str(self.tiny), "--data-dir", str(self.data),
                "--artifacts-dir", str(self.tmp / "artifacts"), "--max-steps", "1", "--batch-size", "4", *extra]

    def adapter(self, name: str, source: str = "adp") -> Path:
        dest = self.tmp / "artifacts" / "adapters" / name
        shutil.copytree(self.trained / source, dest)
        return dest


@dataclass
class Case:
    argv: list[str]
    message: str  # a substring of the error line
    file: str | None = None  # the file the line must name (a path suffix)
    line: int | None = None
    keep: tuple[str, ...] = field(default=())  # paths (relative to tmp) the case created as input


Builder = Callable[[Env], Case]
CASES: dict[str, Builder] = {}


def case(fn: Builder) -> Builder:
    CASES[fn.__name__] = fn
    return fn


XCOPA_OK = '{"premise": "The man fell.", "choice1": "He slipped.", "choice2": "He sang.", "question": "cause", "label": 0, "idx": 1}\n'
CONLLU_OK = "# sent_id = 1\n1\tHund\tHund\tNOUN\t_\t_\t0\troot\t_\t_\n2\tbellt\tbellen\tVERB\t_\t_\t1\tdep\t_\t_\n\n"


def _squad(qa: dict) -> str:
    return json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "Berlin is big.", "qas": [qa]}]}]})


# xnli / pawsx (XTREME TSV) ------------------------------------------------------------------------


@case
def tsv_short_row(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "Ein Satz.\tNoch einer.\tentailment\nNur zwei\tSpalten\n")
    return Case(env.eval("xnli", "de", "dev"), "expected 3 tab-separated columns", "xnli/dev-de.tsv", 2)


@case
def tsv_too_many_columns(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "a\tb\tneutral\textra\n")
    return Case(env.eval("xnli", "de", "dev"), "expected 3 tab-separated columns", "xnli/dev-de.tsv", 1)


@case
def tsv_label_outside_label_set(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "a\tb\tentailment\nc\td\tmaybe\n")
    return Case(env.eval("xnli", "de", "dev"), "label 'maybe' is not one of the task's labels", "xnli/dev-de.tsv", 2)


@case
def tsv_paraphrase_label_outside(env: Env) -> Case:
    env.write("pawsx/dev-fr.tsv", "a\tb\t1\nc\td\t2\n")
    return Case(env.eval("pawsx", "fr", "dev", extra=("--benchmark", "xtreme")), "label '2' is not one of the task's labels",
                "pawsx/dev-fr.tsv", 2)


@case
def empty_file(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "")
    return Case(env.eval("xnli", "de", "dev"), "file is empty", "xnli/dev-de.tsv", 1)


@case
def whitespace_only_file(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "\n  \n\t\n")
    return Case(env.eval("xnli", "de", "dev"), "file is empty", "xnli/dev-de.tsv", 1)


@case
def non_utf8_bytes(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", b"a\tb\tneutral\na\tb\tneutral\nGr\xfc\xdfe\tb\tneutral\n")
    return Case(env.eval("xnli", "de", "dev"), "not valid UTF-8 (byte 0xfc at column 3)", "xnli/dev-de.tsv", 3)


@case
def tsv_nul_byte(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", b"a\tb\tneutral\nGro\x00e\tb\tneutral\n")
    return Case(env.eval("xnli", "de", "dev"), "holds a NUL byte (column 4)", "xnli/dev-de.tsv", 2)


# xcopa (JSON lines) -------------------------------------------------------------------------------


@case
def jsonl_escaped_nul(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", XCOPA_OK + XCOPA_OK.replace("He sang.", "He\\u0000sang."))
    return Case(env.eval("xcopa", "et", "test"), "choice2: holds a NUL character", "test.et.jsonl", 2)


@case
def jsonl_lone_surrogate(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", XCOPA_OK.replace("The man", "The \\ud800man"))
    return Case(env.eval("xcopa", "et", "test"), "premise: holds a lone surrogate U+D800", "test.et.jsonl", 1)


@case
def jsonl_truncated(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", XCOPA_OK + '{"premise": "Mees kukkus.", "choice1": "Ta libise')
    return Case(env.eval("xcopa", "et", "test"), "invalid JSON (Unterminated string", "test.et.jsonl", 2)


@case
def jsonl_label_not_a_choice(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", XCOPA_OK + XCOPA_OK.replace('"label": 0', '"label": 2'))
    return Case(env.eval("xcopa", "et", "test"), "label 2 is not a choice index (0..1)", "test.et.jsonl", 2)


@case
def jsonl_line_not_an_object(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", "[1, 2]\n")
    return Case(env.eval("xcopa", "et", "test"), "expected a JSON object, got list", "test.et.jsonl", 1)


@case
def jsonl_missing_field(env: Env) -> Case:
    env.write("xcopa/data/et/test.et.jsonl", XCOPA_OK + XCOPA_OK.replace('"choice2": "He sang.", ', ""))
    return Case(env.eval("xcopa", "et", "test"), "missing field 'choice2'", "test.et.jsonl", 2)


@case
def jsonl_bad_question_type(env: Env) -> Case:
    env.write("xcopa/data/et/val.et.jsonl", XCOPA_OK.replace('"cause"', '"why"'))
    return Case(env.eval("xcopa", "et", "dev"), "question must be 'cause' or 'effect', got 'why'", "val.et.jsonl", 1)


# udpos / panx (CoNLL-U, CoNLL TSV) -----------------------------------------------------------------


@case
def conllu_broken_token_ids(env: Env) -> Case:
    env.write("udpos/UD_German-GSD/de_gsd-ud-test.conllu",
              CONLLU_OK + "1\tDie\tder\tDET\t_\t_\t2\tdet\t_\t_\n3\tKatze\tKatze\tNOUN\t_\t_\t0\troot\t_\t_\n\n")
    return Case(env.eval("udpos", "de", "test"), "word id '3' breaks the sequence (expected 2)", "de_gsd-ud-test.conllu", 6)


@case
def conllu_non_numeric_token_id(env: Env) -> Case:
    env.write("udpos/UD_German-GSD/de_gsd-ud-test.conllu", "x\tHund\tHund\tNOUN\t_\t_\t0\troot\t_\t_\n")
    return Case(env.eval("udpos", "de", "test"), "word id 'x' breaks the sequence", "de_gsd-ud-test.conllu", 1)


@case
def conllu_wrong_column_count(env: Env) -> Case:
    env.write("udpos/UD_German-GSD/de_gsd-ud-test.conllu", CONLLU_OK + "1\tHund\tHund\tNOUN\t_\t_\t0\troot\n")
    return Case(env.eval("udpos", "de", "test"), "expected 10 tab-separated CoNLL-U columns, got 8", "de_gsd-ud-test.conllu", 5)


@case
def conllu_tag_outside_label_set(env: Env) -> Case:
    env.write("udpos/UD_German-GSD/de_gsd-ud-test.conllu", CONLLU_OK.replace("VERB", "VERBAL"))
    return Case(env.eval("udpos", "de", "test"), "label 'VERBAL' is not one of the task's labels", "de_gsd-ud-test.conllu", 3)


@case
def language_with_zero_examples(env: Env) -> Case:
    # comments only: the file reads, but yields no sentence
    env.write("udpos/UD_German-GSD/de_gsd-ud-test.conllu", "# newdoc id = empty\n# sent_id = 1\n\n")
    return Case(env.eval("udpos", "de", "test"), "task udpos / test / de: no examples", "de_gsd-ud-test.conllu")


@case
def conll_tsv_wrong_column_count(env: Env) -> Case:
    env.write("panx/test-de.tsv", "Berlin\tB-LOC\nist\tO\textra\n")
    return Case(env.eval("panx", "de", "test"), "expected 2 tab-separated columns (TOKEN<TAB>TAG), got 3", "panx/test-de.tsv", 2)


@case
def conll_tsv_tag_outside_label_set(env: Env) -> Case:
    env.write("panx/test-de.tsv", "Berlin\tB-CITY\n\n")
    return Case(env.eval("panx", "de", "test"), "label 'B-CITY' is not one of the task's labels", "panx/test-de.tsv", 1)


# xquad / tydiqa (SQuAD JSON) ------------------------------------------------------------------------


@case
def squad_json_truncated(env: Env) -> Case:
    env.write("xquad/xquad.de.json", '{"data": [{"title": "t", "paragraphs": [{"context": "Berlin"')
    return Case(env.eval("xquad", "de", "test"), "invalid JSON", "xquad/xquad.de.json", 1)


@case
def squad_json_missing_paragraphs(env: Env) -> Case:
    env.write("xquad/xquad.de.json", json.dumps({"data": [{"title": "t"}]}))
    return Case(env.eval("xquad", "de", "test"), "data[0]: missing field 'paragraphs'", "xquad/xquad.de.json")


@case
def squad_answer_start_not_int(env: Env) -> Case:
    env.write("xquad/xquad.de.json", _squad({"id": "q1", "question": "Wie?", "answers": [{"text": "big", "answer_start": "10"}]}))
    return Case(env.eval("xquad", "de", "test"), "answers[0].answer_start: unexpected type str", "xquad/xquad.de.json")


@case
def squad_answer_span_outside_context(env: Env) -> Case:
    env.write("xquad/xquad.de.json", _squad({"id": "q1", "question": "Wie?", "answers": [{"text": "big", "answer_start": 40}]}))
    return Case(env.eval("xquad", "de", "test"), "answers[0]: answer span 40..43 lies outside the context (14 characters)",
                "xquad/xquad.de.json")


@case
def squad_json_nested_too_deeply(env: Env) -> Case:
    env.write("xquad/xquad.de.json", '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return Case(env.eval("xquad", "de", "test"), "JSON nested too deeply", "xquad/xquad.de.json")


@case
def squad_qa_not_an_object(env: Env) -> Case:
    env.write("xquad/xquad.de.json", json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": [["q"]]}]}]}))
    return Case(env.eval("xquad", "de", "test"), "data[0].paragraphs[0].qas[0]: expected an object, got list",
                "xquad/xquad.de.json")


@case
def squad_top_level_not_object(env: Env) -> Case:
    env.write("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.fi.dev.json", "[1, 2, 3]")
    return Case(env.eval("tydiqa", "fi", "test"), "top level: missing field 'data'", "tydiqa.goldp.fi.dev.json")


# retrieval: tatoeba, bucc2018, lareqa --------------------------------------------------------------


@case
def tatoeba_misaligned_files(env: Env) -> Case:
    env.write("tatoeba/v1/tatoeba.deu-eng.deu", "Hallo.\nDanke.\nJa.\n")
    env.write("tatoeba/v1/tatoeba.deu-eng.eng", "Hello.\nThanks.\n")
    return Case(env.eval("tatoeba", "de", "test"), "3 lines but", "tatoeba/v1/tatoeba.deu-eng.deu")


@case
def tatoeba_companion_non_utf8(env: Env) -> Case:
    env.write("tatoeba/v1/tatoeba.deu-eng.deu", "Hallo.\nDanke.\n")
    env.write("tatoeba/v1/tatoeba.deu-eng.eng", b"Hello.\n\x80Thanks.\n")
    return Case(env.eval("tatoeba", "de", "test"), "not valid UTF-8 (byte 0x80 at column 1)", "tatoeba/v1/tatoeba.deu-eng.eng", 2)


def _bucc(env: Env, gold: str, de: str = "de-1\tHallo.\nde-2\tDanke.\n") -> list[str]:
    env.write("bucc2018/de-en.dev.de", de)
    env.write("bucc2018/de-en.dev.en", "en-1\tHello.\nen-2\tThanks.\n")
    env.write("bucc2018/de-en.dev.gold", gold)
    return env.eval("bucc2018", "de", "dev", extra=("--benchmark", "xtreme"))


@case
def bucc_gold_names_unknown_sentence(env: Env) -> Case:
    return Case(_bucc(env, "de-1\ten-1\nde-9\ten-2\n"), "expected srcID<TAB>enID with ids from the sentence files",
                "bucc2018/de-en.dev.gold", 2)


@case
def bucc_duplicate_sentence_id(env: Env) -> Case:
    return Case(_bucc(env, "de-1\ten-1\n", de="de-1\tHallo.\nde-1\tDanke.\n"), "duplicate sentence id 'de-1'",
                "bucc2018/de-en.dev.de", 2)


@case
def lareqa_missing_sentence_breaks(env: Env) -> Case:
    env.write("lareqa/xquad-r/de.json", json.dumps({"data": [{"paragraphs": [{"context": "Berlin.", "qas": []}]}]}))
    return Case(env.eval("lareqa", "de", "test"), "data[0].paragraphs[0]: missing field 'sentence_breaks'", "lareqa/xquad-r/de.json")


# names --------------------------------------------------------------------------------------------


@case
def unknown_task_in_eval(env: Env) -> Case:
    return Case(env.eval("xnlii", "de", "dev"), "unknown task 'xnlii'; did you mean 'xnli'")


@case
def unknown_language_in_eval(env: Env) -> Case:
    return Case(env.eval("xnli", "xx", "dev"), "unknown language 'xx'")


@case
def unknown_task_in_tasks_show(env: Env) -> Case:
    return Case(["tasks", "show", "udpo"], "unknown task 'udpo'; did you mean 'udpos'")


@case
def unknown_task_in_train_adapter(env: Env) -> Case:
    return Case(env.train("sqad_v1"), "unknown task 'sqad_v1'; did you mean 'squad_v1'")


# training data and configs ------------------------------------------------------------------------


@case
def train_jsonl_truncated(env: Env) -> Case:
    env.write("copa_en_xtreme/train-en.jsonl", XCOPA_OK * 3 + '{"premise": "cut')
    env.write("copa_en_xtreme/val-en.jsonl", XCOPA_OK)
    return Case(env.train("copa"), "invalid JSON", "copa_en_xtreme/train-en.jsonl", 4)


@case
def train_label_outside_choices(env: Env) -> Case:
    row = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c", "correct": "D"}
    env.write("siqa/socialIQa_v1.4_trn.jsonl", json.dumps(row) + "\n")
    env.write("siqa/socialIQa_v1.4_dev.jsonl", json.dumps({**row, "correct": "A"}) + "\n")
    return Case(env.train("siqa"), "'correct' must be A, B or C, got 'D'", "siqa/socialIQa_v1.4_trn.jsonl", 1)


@case
def train_tag_outside_label_set(env: Env) -> Case:
    env.write("panx/train-en.tsv", "Berlin\tB-LOC\nis\tO\n\nParis\tB-TOWN\n")
    return Case(env.train("panx"), "label 'B-TOWN' is not one of the task's labels", "panx/train-en.tsv", 4)


@case
def train_nul_byte(env: Env) -> Case:
    env.write("panx/train-en.tsv", b"Berlin\tB-LOC\n\nPa\x00ris\tB-LOC\n")
    return Case(env.train("panx"), "holds a NUL byte (column 3)", "panx/train-en.tsv", 3)


@case
def train_answer_span_outside_context(env: Env) -> Case:
    env.write("tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json",
              _squad({"id": "q1", "question": "Wie?", "answers": [{"text": "big", "answer_start": -3}]}))
    return Case(env.train("tydiqa"), "answers[0]: answer span -3..0 lies outside the context", "tydiqa.goldp.en.train.json")


@case
def data_dir_with_undecodable_bytes(env: Env) -> Case:
    """argv bytes that are not UTF-8 reach Python as lone surrogates; the failure is still recorded and told."""
    return Case(env.eval("xnli", "de", "dev", data=env.tmp / "d\udcff[v2]"), "no file matched", "d\\udcff[v2]/xnli/dev-de.tsv")


@case
def model_path_with_undecodable_bytes(env: Env) -> Case:
    argv = env.eval("tatoeba", "de", "test")
    argv[argv.index("--model") + 1] = str(env.tmp / "m\udcff")
    return Case(argv, "no such directory")


@case
def train_max_length_beyond_positions(env: Env) -> Case:
    env.write("copa_en_xtreme/train-en.jsonl", XCOPA_OK * 3)  # valid data: the length is the only fault
    env.write("copa_en_xtreme/val-en.jsonl", XCOPA_OK)
    return Case(env.train("copa", "--max-length", "5000"), "--max-length 5000 is longer than encoder")


@case
def eval_max_length_beyond_positions(env: Env) -> Case:
    env.write("xnli/dev-de.tsv", "a\tb\tneutral\n")
    return Case(env.eval("xnli", "de", "dev", extra=("--max-length", "100000")),
                "--max-length 100000 is longer than encoder")


@case
def train_config_yaml_truncated(env: Env) -> Case:
    path = env.tmp / "run.yaml"
    path.write_text("task: copa\nmax_steps: [1, 2\n", encoding="utf-8")
    return Case(env.train("copa", "--config", str(path)), "not valid YAML", "run.yaml", keep=("run.yaml",))


# adapters -----------------------------------------------------------------------------------------


def _adapter_eval(env: Env) -> list[str]:
    return env.eval("panx", "de", "test", setup="adp", data=env.shared)


@case
def adapter_hidden_size_mismatch(env: Env) -> Case:
    env.adapter("adp", source="wide")
    return Case(_adapter_eval(env), "hidden size 48 in adapter_config.json, the encoder has 32", "adapters/adp")


@case
def adapter_truncated_safetensors(env: Env) -> Case:
    weights = env.adapter("adp") / "adapter.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return Case(_adapter_eval(env), "truncated safetensors file", "adp/adapter.safetensors")


@case
def adapter_pickle_posing_as_weights(env: Env) -> Case:
    (env.adapter("adp") / "adapter.safetensors").write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    return Case(_adapter_eval(env), "refusing to unpickle pickle file", "adp/adapter.safetensors")


@case
def adapter_trained_on_another_encoder(env: Env) -> Case:
    env.adapter("adp")  # trained on the in-memory tiny encoder: same shape, another fingerprint than the saved copy
    return Case(_adapter_eval(env), "adapter 'adp' was trained on encoder tiny-bert (sha256:", "adp/xta_card.json")


@case
def adapter_card_cut_mid_write(env: Env) -> Case:
    card = env.adapter("adp") / "xta_card.json"
    card.write_text(card.read_text()[:50])
    return Case(_adapter_eval(env), "unreadable xta card", "adp/xta_card.json")


# results ------------------------------------------------------------------------------------------


@case
def results_record_cut_mid_write(env: Env) -> Case:
    record = env.tmp / "results" / "embedded" / "none" / "xnli.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"schema_version": 1, "task": "xnli", "languages": {"de": {"sta')
    return Case(["report", "--results-dir", str(env.tmp / "results"), "--out", str(env.tmp / "report")],
                "damaged result record: not valid JSON", "embedded/none/xnli.json",
                keep=("results/embedded/none/xnli.json",))


@case
def results_record_not_an_object(env: Env) -> Case:
    record = env.tmp / "results" / "embedded" / "none" / "xnli.json"
    record.parent.mkdir(parents=True)
    record.write_text("[]")
    return Case(["report", "--results-dir", str(env.tmp / "results"), "--out", str(env.tmp / "report")],
                "a result record must be a JSON object", "embedded/none/xnli.json",
                keep=("results/embedded/none/xnli.json",))


# --------------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------------


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_naming_the_file(name, tmp_path, tiny_dir, shared_data, trained):
    env = Env(tmp_path, tiny_dir, shared_data, trained)
    c = CASES[name](env)
    inputs = {p for p in tmp_path.rglob("*")}
    result = runner.invoke(app, c.argv)
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    (line,) = errors
    assert c.message in line, line
    if c.file:
        where = f"{c.file}:{c.line}:" if c.line is not None else c.file
        assert where in line, f"{where!r} not in {line!r}"
    _assert_no_partial_output(tmp_path, inputs, c)


def _assert_no_partial_output(tmp: Path, inputs: set[Path], c: Case) -> None:
    created = sorted(p for p in tmp.rglob("*") if p not in inputs and p.is_file())
    leftovers = [p for p in created if ".tmp" in p.name or p.name.endswith(".corrupt")]
    assert not leftovers, leftovers
    assert not (tmp / "report").exists()
    assert not (tmp / "artifacts" / "checkpoints").exists()
    adapters = tmp / "artifacts" / "adapters"
    assert {p.name for p in adapters.iterdir()} <= {"adp"} if adapters.exists() else True
    for record in (tmp / "results").rglob("*.json"):
        if record.relative_to(tmp).as_posix() in c.keep:
            assert record in inputs  # an input: left as it was (not moved aside, not rewritten)
            continue
        data = json.loads(record.read_text())
        statuses = {entry["status"] for entry in data["languages"].values()}
        assert statuses == {"failed"}, data["languages"]  # the failure is recorded; no score from bad data
    for rel in c.keep:
        assert (tmp / rel).exists()


# --------------------------------------------------------------------------------------------------
# the eval exit-code rule
# --------------------------------------------------------------------------------------------------


def test_eval_exits_0_and_lists_failures_when_some_languages_succeed(tmp_path, tiny_dir):
    env = Env(tmp_path, tiny_dir, tmp_path, tmp_path)
    env.write("tatoeba/v1/tatoeba.deu-eng.deu", "Hallo.\nDanke.\nJa.\n")
    env.write("tatoeba/v1/tatoeba.deu-eng.eng", "Hello.\nThanks.\nYes.\n")
    env.write("tatoeba/v1/tatoeba.fra-eng.fra", "Bonjour.\nMerci.\n")
    env.write("tatoeba/v1/tatoeba.fra-eng.eng", "Hello.\n")
    result = runner.invoke(app, env.eval("tatoeba", "de,fr", "test"))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    failed = [line for line in result.stdout.splitlines() if "failed tatoeba/fr" in line]
    assert len(failed) == 1 and "2 lines but" in failed[0] and "tatoeba.fra-eng.fra" in failed[0]
    assert "computed 1 task-languages, reused 0 from the store, 1 failed" in result.stdout
    record = json.loads(next((tmp_path / "results").glob("*/none/tatoeba.json")).read_text())
    assert record["languages"]["de"]["status"] == "ok" and record["languages"]["fr"]["status"] == "failed"


def test_eval_prints_every_failure_when_all_fail(tmp_path, tiny_dir):
    env = Env(tmp_path, tiny_dir, tmp_path, tmp_path)
    env.write("xnli/dev-de.tsv", "a\tb\tmaybe\n")
    env.write("xnli/dev-fr.tsv", "")
    result = runner.invoke(app, env.eval("xnli", "de,fr", "dev"))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0].startswith("error: xnli/de: DataError: ") and "xnli/dev-de.tsv:1: label 'maybe'" in errors[0]
    assert errors[1].startswith("error: xnli/fr: DataError: ") and "xnli/dev-fr.tsv:1: file is empty" in errors[1]
    assert "summary" not in result.stdout  # no tables over nothing


# --------------------------------------------------------------------------------------------------
# an adapter of another encoder: refused unless --force, and then the record says so (issue 18)
# --------------------------------------------------------------------------------------------------


def test_force_evaluates_an_adapter_of_another_encoder_and_the_record_says_so(tmp_path, tiny_dir, shared_data, trained):
    env = Env(tmp_path, tiny_dir, shared_data, trained)
    theirs = json.loads((env.adapter("adp") / "xta_card.json").read_text())["encoder"]["fingerprint"]
    result = runner.invoke(app, [*_adapter_eval(env), "--force"])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "results").rglob("panx.json")
    entry = json.loads(path.read_text())["languages"]["de"]
    assert entry["status"] == "ok"
    assert entry["evaluation"]["adapters_for_other_encoder"] == {"adp": theirs}
    from toolkit.encoders import encoder_fingerprint

    assert theirs != encoder_fingerprint(str(tiny_dir))


def test_max_positions_counts_the_roberta_padding_offset(tiny_dir):
    """XLM-R numbers positions from padding_idx + 1 (transformers' create_position_ids_from_input_ids): 514
    position embeddings read 512 tokens; BERT's 512 read 512."""
    from toolkit.encoders import check_max_length, max_positions, tiny_encoder

    assert max_positions(tiny_encoder(seed=0, arch="xlm-roberta")) == 512
    assert max_positions(tiny_encoder(seed=0, max_position_embeddings=64)) == 64
    assert max_positions(str(tiny_dir)) == 512  # from config.json, nothing loaded
    check_max_length(str(tiny_dir), 512)
    with pytest.raises(XtaError, match="--max-length 513 is longer than encoder"):
        check_max_length(str(tiny_dir), 513)
