"""toolkit.config: validation with actionable messages, coercion, YAML, and the config hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types

import pytest

from toolkit.config import (
    ADAPTER_CONFIG_NAMES,
    EvalConfig,
    TrainConfig,
    canonical_json,
    config_hash,
    from_dict,
    from_yaml,
    hashed_fields,
    to_dict,
)
from toolkit.errors import ConfigError, UnknownLanguage, UnknownTask
from toolkit.tasks import get_task


def test_adapter_config_names_match_the_adapters_library():
    import adapters

    assert sorted(ADAPTER_CONFIG_NAMES) == sorted(adapters.ADAPTER_CONFIG_MAP)


def test_train_defaults():
    c = TrainConfig(task="mnli")
    assert (c.model, c.adapter_config, c.reduction_factor, c.learning_rate) == ("embedded", "seq_bn", 16.0, 1e-4)
    assert (c.batch_size, c.max_length, c.seed, c.recipe, c.sampling) == (32, 128, 42, "none", "proportional")  # mnli's card
    assert c.name == "mnli" and c.all_tasks == ("mnli",) and c.uses_reduction_factor
    assert not TrainConfig(task="mnli", adapter_config="lora").uses_reduction_factor


def _card_training(name: str) -> dict:
    import yaml

    from toolkit.tasks.zoo import ZOO_DIR

    return yaml.safe_load((ZOO_DIR / f"{name}.yaml").read_text(encoding="utf-8"))["training"]


def test_card_training_values_are_defaults_beneath_given_values():
    """Issue 16 item 3: a card's training block fills what is not given (adapters_zoo/squad_v1.yaml: 384
    tokens); a target without a card takes its train_from source's card (xquad <- squad_v1); a QA task
    with neither takes XTREME run_squad.py's 384; given values (code, YAML, flags) always win."""
    squad = _card_training("squad_v1")
    c = TrainConfig(task="squad_v1")
    assert (c.learning_rate, c.epochs, c.batch_size, c.max_length) == (
        squad["learning_rate"], squad["epochs"], squad["batch_size"], squad["max_length"]) and c.max_length == 384
    assert c.defaults_applied == {k: "card squad_v1" for k in ("learning_rate", "epochs", "batch_size", "max_length")}
    x = TrainConfig(task="xquad", max_length=256, learning_rate=3e-5)
    assert (x.max_length, x.learning_rate, x.epochs) == (256, 3e-5, squad["epochs"])
    assert x.defaults_applied == {"epochs": "card squad_v1", "batch_size": "card squad_v1"}
    copa = _card_training("copa")
    assert (TrainConfig(task="copa").epochs, TrainConfig(task="copa").max_length) == (copa["epochs"], copa["max_length"])
    t = TrainConfig(task="tydiqa")  # its own train split, no card: the QA length of XTREME's run_squad.py
    assert (t.max_length, t.batch_size, t.epochs) == (384, 16, 3.0)
    assert t.defaults_applied["max_length"] == "extractive_qa default"
    assert TrainConfig(task="no_such_task").max_length == 128  # validate() reports the task
    assert from_dict(TrainConfig, to_dict(c)) == c  # resolved values survive a round trip


def test_eval_and_matrix_leave_training_values_to_the_cards(tmp_path, monkeypatch):
    """eval's on-the-fly targets and the matrix pass only what the user gave: the card fills the rest."""
    from toolkit.evaluate import _Context
    from toolkit.matrix import MatrixConfig, plan_matrix
    from toolkit.results import ResultStore

    seen = []
    monkeypatch.setattr("toolkit.train.train_adapter", lambda cfg, **kw: seen.append(cfg))
    ecfg = EvalConfig(tasks=("xquad",), results_dir=str(tmp_path), artifacts_dir=str(tmp_path))
    ctx = _Context(ecfg, ResultStore(tmp_path), types.SimpleNamespace(fingerprint="sha256:x"), lambda *a: None, False)
    ctx.train_target(get_task("xquad"))
    assert (seen[0].task, seen[0].max_length, seen[0].batch_size) == ("xquad", 384, 16)
    ctx.cfg = EvalConfig(tasks=("xquad",), max_length=200, train_learning_rate=5e-5)
    ctx.train_target(get_task("xquad"))
    assert (seen[1].max_length, seen[1].learning_rate) == (200, 5e-5)

    plan = plan_matrix(MatrixConfig(targets=("xquad",), intermediates=("squad_v1",), langs=("de",)))
    trains = {n.train.name: n.train for n in plan.nodes.values() if n.train is not None}
    assert {t.max_length for t in trains.values()} == {384} and len(trains) >= 2
    given = plan_matrix(MatrixConfig(targets=("xquad",), max_length=128, langs=("de",)))
    assert {n.train.max_length for n in given.nodes.values() if n.train is not None} == {128}


def test_coercion_from_cli_strings():
    c = TrainConfig(task="xnli", learning_rate="3e-4", epochs="2", batch_size="8", recipe="stack",
                    intermediate="mnli, squad_v1")  # fmt: skip
    assert c.learning_rate == 3e-4 and c.epochs == 2.0 and c.batch_size == 8
    assert c.intermediate == ("mnli", "squad_v1")
    e = EvalConfig(setup=" stack : lang_{lang} , xnli ", tasks="xnli,pawsx", langs="all")
    assert e.setup == "stack:lang_{lang},xnli" and e.tasks == ("xnli", "pawsx") and e.langs == ()
    assert EvalConfig(langs=["de", "sw"]).langs == ("de", "sw")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"adapter_config": "seqbn"}, r"adapter_config: 'seqbn' is not one of .*seq_bn.*did you mean 'seq_bn'"),
        ({"adapter_config": "houlsbi"}, "did you mean 'houlsby'"),
        ({"learning_rate": "fast"}, "learning_rate: expected a number, got 'fast'"),
        ({"learning_rate": 0}, "learning_rate: must be positive"),
        ({"epochs": -1}, "epochs: must be positive"),
        ({"batch_size": 2.5}, "batch_size: expected an integer"),
        ({"seed": True}, "seed: expected an integer"),
        ({"seed": -1}, "seed: must be >= 0"),
        ({"max_steps": 0}, "max_steps: must be positive"),
        ({"warmup_ratio": 1.0}, r"warmup_ratio: must be in \[0, 1\)"),
        ({"recipe": "stacked"}, "did you mean 'stack'"),
        ({"recipe": "sequential"}, "needs init_from"),
        ({"init_from": "mnli"}, "init_from is only used by recipe 'sequential'"),
        ({"recipe": "fuse"}, "needs intermediate"),
        ({"intermediate": ("mnli",)}, "only used by recipes 'stack' and 'fuse'"),
        ({"recipe": "stack", "intermediate": ("a", "a")}, "lists an adapter twice"),
        ({"extra_tasks": ("mnli",)}, "repeat a task"),
        ({"sampling": "temperatur"}, "did you mean 'temperature'"),
        ({"temperature": 0}, "temperature: must be positive"),
        ({"precision": "fp8"}, "precision"),
        ({"task": "../etc"}, "invalid task name '../etc'"),
        ({"adapter_name": "a/b"}, "invalid adapter name 'a/b'"),
        ({"task": None}, "task: a value is required"),
        # issue 18: non-finite or overflowing numbers never reach training
        ({"learning_rate": float("nan")}, "learning_rate: expected a finite number"),
        ({"learning_rate": "inf"}, "learning_rate: expected a finite number"),
        ({"max_steps": float("inf")}, "max_steps: expected an integer"),
        ({"max_steps": "1e400"}, "max_steps: expected an integer"),
    ],
)
def test_train_validation_messages(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        TrainConfig(**{"task": "mnli", **kwargs})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"setup": "fuse(a,fuse(b,c))"}, "setup: invalid setup .*a fuse cannot contain a fuse"),
        ({"setup": ""}, "setup: invalid setup '': empty"),
        ({"benchmark": "xtreme_r"}, "did you mean 'xtreme-r'"),
        ({"split": "validation"}, "split: 'validation' is not one of auto, dev, test"),
        ({"split": "train[80%:]"}, "split: 'train' is not one of auto, dev, test"),
        ({"split": "auto[:10]"}, "slice dev or test"),
        ({"split": "dev[80%"}, "split: "),
        ({"retrieval_pooling": "max"}, "retrieval_pooling"),
        ({"batch_size": 0}, "batch_size: must be positive"),
        ({"max_length": -5}, "max_length: must be positive"),
        ({"tasks": ("x/y",)}, "invalid task name"),
    ],
)
def test_eval_validation_messages(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EvalConfig(**kwargs)


def test_eval_split_may_be_a_slice_of_dev_or_test():
    assert EvalConfig(split="dev[80%:]").split == "dev[80%:]"
    assert EvalConfig(split="test[:500]").split == "test[:500]"


def test_validate_uses_the_registries():
    TrainConfig(task="mnli", extra_tasks=("squad_v1",)).validate()
    with pytest.raises(UnknownTask, match="did you mean 'mnli'"):
        TrainConfig(task="mnlii").validate()
    EvalConfig(setup="xnli", tasks=("xnli",), langs=("de", "sw")).validate()
    with pytest.raises(UnknownTask):
        EvalConfig(tasks=("xnlii",)).validate()
    with pytest.raises(UnknownLanguage, match="'zz'"):
        EvalConfig(tasks=("xnli",), langs=("zz",)).validate()
    with pytest.raises(UnknownLanguage, match="unknown language for xnli 'ja'"):
        EvalConfig(tasks=("xnli",), langs=("ja",)).validate()  # Japanese is not an XNLI language


def test_languages_for():
    e = EvalConfig(langs=("sw", "de"))
    assert e.languages_for(("de", "en", "sw")) == ("de", "sw")
    assert EvalConfig().languages_for(("de", "en")) == ("de", "en")


# --------------------------------------------------------------------------------------------------
# dict / YAML
# --------------------------------------------------------------------------------------------------


def test_dict_round_trip():
    c = TrainConfig(task="xnli", recipe="fuse", intermediate=("mnli", "squad_v1"), output_dir="/tmp/x")
    d = to_dict(c)
    assert d["intermediate"] == ["mnli", "squad_v1"] and json.loads(json.dumps(d)) == d
    assert from_dict(TrainConfig, d) == c


def test_from_yaml(tmp_path):
    p = tmp_path / "train.yaml"
    p.write_text("task: xnli\nlearning_rate: 1e-4\nrecipe: stack\nintermediate: [lang_en, mnli]\nseed: 7\n")
    c = from_yaml(p, TrainConfig)
    assert c.learning_rate == 1e-4 and c.intermediate == ("lang_en", "mnli") and c.seed == 7  # PyYAML reads 1e-4 as a str

    p.write_text("task: xnli\nlearnin_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"train\.yaml: unknown key 'learnin_rate'; did you mean 'learning_rate'"):
        from_yaml(p, TrainConfig)
    p.write_text("task: xnli\nepochs: many\n")
    with pytest.raises(ConfigError, match=r"train\.yaml: epochs: expected a number"):
        from_yaml(p, TrainConfig)
    p.write_text("task: [xnli\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        from_yaml(p, TrainConfig)
    p.write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="task"):
        from_yaml(p, TrainConfig)
    with pytest.raises(ConfigError, match="config file not found"):
        from_yaml(tmp_path / "nope.yaml", EvalConfig)


# --------------------------------------------------------------------------------------------------
# hashing
# --------------------------------------------------------------------------------------------------


def test_config_hash_is_sha256_of_canonical_json():
    c = TrainConfig(task="mnli")
    payload = {"kind": "TrainConfig", "fields": hashed_fields(c)}
    assert config_hash(c) == hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    assert canonical_json({"b": 1, "a": [1.0, None]}) == '{"a":[1.0,null],"b":1}'


def test_config_hash_is_stable_across_processes_and_versions():
    # A regression pin: changing it invalidates every stored result, so it must be deliberate.
    # Issue 16: mnli's card (batch_size 32) now applies; the values given explicitly keep the old hash.
    assert config_hash(TrainConfig(task="mnli")) == "c2509aedeea4600e453fc85b89fd0a8af796b3188a7bb954bf5fc882fa90142f"
    assert config_hash(TrainConfig(task="mnli", batch_size=16)) == "d8378b5e88af47b701cc573bac2d00a88d2740c9c5630f610bb029be07bd3a29"
    assert config_hash(EvalConfig(setup="xnli")) == config_hash(EvalConfig(setup="xnli"))


@pytest.mark.parametrize(
    "change", [{"data_dir": "/data"}, {"output_dir": "/out"}, {"device": "cuda:1"}, {"learning_rate": 1e-4}]
)
def test_train_hash_ignores_paths_and_device(change):
    assert config_hash(TrainConfig(task="mnli", **change)) == config_hash(TrainConfig(task="mnli"))


@pytest.mark.parametrize(
    "change",
    [{"task": "qqp"}, {"learning_rate": 3e-4}, {"seed": 1}, {"adapter_config": "lora"}, {"reduction_factor": 8},
     {"model": "xlm-roberta-large"}, {"max_length": 256}, {"epochs": 10}, {"batch_size": 64},
     {"max_train_examples": 1000}, {"extra_tasks": ("qqp",)}, {"precision": "bf16"}],
)  # fmt: skip
def test_train_hash_sensitive_to_result_fields(change):
    assert config_hash(TrainConfig(**{"task": "mnli", **change})) != config_hash(TrainConfig(task="mnli"))


def test_eval_hash_fields():
    base = EvalConfig(setup="stack:lang_{lang},xnli")
    h = config_hash(base)
    for same in ({"tasks": ("xnli",)}, {"langs": ("de",)}, {"batch_size": 1}, {"data_dir": "/d"},
                 {"results_dir": "/r"}, {"device": "cpu"}, {"benchmark": "xtreme"}):  # fmt: skip
        assert config_hash(dataclasses.replace(base, **same)) == h, same
    for other in ({"setup": "xnli"}, {"split": "dev"}, {"max_length": 256}, {"seed": 1}, {"model": "m"},
                  {"retrieval_layer": 7}, {"retrieval_pooling": "cls"}, {"max_eval_examples": 10}):  # fmt: skip
        assert config_hash(dataclasses.replace(base, **other)) != h, other
    assert config_hash(base, encoder="fp1") != config_hash(base, encoder="fp2") != h


def test_kinds_hash_apart_and_new_fields_can_keep_old_hashes():
    @dataclasses.dataclass(frozen=True)
    class V1:
        a: int = 1

    @dataclasses.dataclass(frozen=True)
    class V2:
        a: int = 1
        b: int = dataclasses.field(default=0, metadata={"omit_if_default": True})

    V2.__name__ = "V1"
    assert config_hash(V2()) == config_hash(V1())
    assert config_hash(V2(b=3)) != config_hash(V1())
    assert config_hash(TrainConfig(task="mnli")) != config_hash(EvalConfig(setup="mnli"))


def test_parse_layers():
    from toolkit.config import parse_layers

    assert parse_layers("") == ()
    assert parse_layers("0-3,8") == (0, 1, 2, 3, 8) and parse_layers("2,0") == (0, 2)
    with pytest.raises(ConfigError, match="'a' is not a layer index"):
        parse_layers("a")
    with pytest.raises(ConfigError, match="'5-2' is not a valid range"):
        parse_layers("5-2")
    with pytest.raises(ConfigError, match="goes beyond layer 1023"):  # issue 18: no billion-element range
        parse_layers("0-999999999999")
    with pytest.raises(ConfigError, match="leave_out"):
        TrainConfig(task="copa", leave_out="0-x")
