"""Every registered task and card is valid, uses known languages and unique names."""

from __future__ import annotations

import pytest

from toolkit import languages as L
from toolkit.errors import ConfigError, UnknownTask
from toolkit.tasks import SHAPES, all_tasks, clear_registry, get_task, intermediate_tasks, target_tasks
from toolkit.tasks.spec import METRICS
from toolkit.tasks.zoo import load_card

TASKS = sorted(all_tasks())


def test_counts():
    assert len(target_tasks()) == 12
    assert len(target_tasks("xtreme-r")) == 10
    assert len(target_tasks("xtreme")) == 9
    assert len(intermediate_tasks()) >= 13
    assert {t.name for t in target_tasks("demo")} == {"cldr_kind", "cldr_continent", "cldr_names"}
    nine = {"anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "commonsenseqa", "cosmosqa", "ccg"}
    assert nine <= {t.name for t in intermediate_tasks()}


@pytest.mark.parametrize("name", TASKS)
def test_task_is_valid(name):
    spec = get_task(name)
    assert spec.shape in SHAPES
    assert set(spec.metrics) <= set(METRICS)
    assert spec.main_metric in spec.metrics
    langs = spec.langs()
    assert langs, f"{name} has no languages"
    assert set(langs) <= set(L.LANGUAGES)
    assert spec.splits, f"{name} declares no splits"
    for split, src in spec.splits.items():
        assert src.local or src.hub or src.builtin, f"{name}/{split} has no source"
        assert set(spec.split_languages(split)) <= set(L.LANGUAGES)
        for hub_lang in src.hub_overrides:
            assert hub_lang in spec.langs()
    for source in spec.train_from:
        get_task(source)  # every training source is itself registered
    if spec.is_target:
        assert spec.category is not None
        assert "test" in spec.splits or "dev" in spec.splits
    else:
        assert spec.adapter.get("config"), f"card {name} declares no adapter config"
        assert spec.citation and spec.license


def test_language_lists_match_the_official_scripts():
    xnli = get_task("xnli").langs()
    assert len(xnli) == 15 and "sw" in xnli and "ur" in xnli
    assert get_task("udpos").langs("xtreme-r")[-5:] == ("lt", "pl", "uk", "wo", "ro")
    assert len(get_task("panx").langs("xtreme-r")) == 48
    assert len(get_task("panx").langs("xtreme")) == 40
    assert len(get_task("tatoeba").langs("xtreme")) == 36
    assert get_task("pawsx").langs() == ("de", "en", "es", "fr", "ja", "ko", "zh")
    assert get_task("bucc2018").langs() == ("de", "fr", "ru", "zh")
    assert len(L.XTREME_R_LANGUAGES) == 50 and len(L.XTREME_LANGUAGES) == 40
    assert set(L.XTREME_LANGUAGES) < set(L.XTREME_R_LANGUAGES)


def test_resource_levels_mark_low_resource_languages():
    assert L.get("en").resource_group == "high"
    assert L.get("sw").resource_group == "low"
    assert set(L.low_resource(get_task("xcopa").langs())) == {"ht", "qu", "sw"}


def test_unknown_task_suggests():
    with pytest.raises(UnknownTask, match="did you mean 'xnli'"):
        get_task("xnl")


def test_ccg_card_says_it_is_ldc_licensed():
    ccg = get_task("ccg")
    assert ccg.requires_local_path and "LDC" in ccg.license and ccg.open_labels
    assert all(not s.hub for s in ccg.splits.values())


def test_xcopa_declares_its_question_prompts():
    # google-research/xtreme third_party/run_xcopa.py l. 305: f"{context} What was the {question}?"
    for question in ("cause", "effect"):
        assert get_task("xcopa").question_prompts[question] == f"What was the {question}?"
        assert get_task("copa").question_prompts[question] == f"What was the {question}?"  # its training source
    assert get_task("xcopa").train_from == ("siqa", "copa")


def test_a_new_card_is_all_it_takes(tmp_path, monkeypatch):
    (tmp_path / "sst2.yaml").write_text(
        "name: sst2\nshape: classification\ndescription: sentiment\nlabels: ['0', '1']\n"
        "splits:\n  train:\n    hub: {path: stanfordnlp/sst2, split: train, columns: {text: sentence, label: label}}\n"
        "adapter: {config: seq_bn}\ncitation: Socher et al. 2013\nlicense: unknown\n"
    )
    monkeypatch.setenv("XTA_ZOO", str(tmp_path))
    clear_registry()
    try:
        assert get_task("sst2").shape == "classification"
    finally:
        monkeypatch.delenv("XTA_ZOO")
        clear_registry()


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: bad\nshape: classification\ndescription: x\nlabels: [a]\ncolour: red\n", "unknown key"),
        ("name: bad\nshape: sorting\ndescription: x\n", "shape 'sorting'"),
        ("name: other\nshape: classification\ndescription: x\nlabels: [a]\n", "must equal the file name"),
        ("name: bad\nshape: [\n", "bad.yaml:"),
        ("name: bad\nshape: tagging\ndescription: x\n", "must declare its labels"),
    ],
)
def test_bad_cards_are_refused_with_the_file_name(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_card(path)
    assert "bad.yaml" in str(info.value)


def test_every_source_format_has_a_reader_or_converter():
    """Issue 16 item 7: a registry format without a reader (Mewsli-X had none) is caught here."""
    from toolkit.data import HUB_CONVERTERS, PATH_OPTIONS, READERS

    seen = set()
    for name, spec in all_tasks().items():
        for split, src in spec.splits.items():
            for local in src.local:
                assert local.format in READERS, f"{name}/{split}: no reader for local format {local.format!r}"
                for key in set(local.options) - {"labelled", "pool_languages", "fused_forms"}:
                    assert key in PATH_OPTIONS.get(local.format, ()), f"{name}/{split}: option {key!r} is not a companion file of {local.format!r}"
                seen.add(local.format)
            hubs = src.hub if isinstance(src.hub, tuple) else (src.hub,) if src.hub else ()
            for hub in (*hubs, *src.hub_overrides.values()):
                fmt = hub.format or spec.shape
                assert fmt in HUB_CONVERTERS, f"{name}/{split}: no Hub converter for {fmt!r} ({hub.path})"
    assert {"conllu", "mewslix", "mewslix_pairs"} <= seen


def test_every_hub_source_names_a_revision():
    """Issue 16 item 9: no built-in Hub source follows a moving ``main`` (a script-based ``main`` cannot even
    load under datasets >= 4); each names a commit or the Hub's parquet export."""
    import re

    from toolkit.tasks.hub_revisions import HUB_REVISIONS, PARQUET_EXPORT

    used = set()
    for name, spec in all_tasks().items():
        for split, src in spec.splits.items():
            hubs = src.hub if isinstance(src.hub, tuple) else (src.hub,) if src.hub else ()
            for hub in (*hubs, *src.hub_overrides.values()):
                assert hub.revision, f"{name}/{split}: Hub source {hub.path} names no revision"
                assert re.fullmatch(r"[0-9a-f]{40}", hub.revision) or hub.revision == PARQUET_EXPORT, (name, hub.revision)
                used.add(hub.path)
    assert used == set(HUB_REVISIONS), f"pins without a source: {set(HUB_REVISIONS) - used}; sources without a pin: {used - set(HUB_REVISIONS)}"
    # the script-based repos the issue names load from parquet (main commit or the export)
    assert HUB_REVISIONS["universal-dependencies/universal_dependencies"] == PARQUET_EXPORT


def test_parquet_export_configs_load_as_data_dirs(tmp_path, monkeypatch):
    """The parquet export is <config>/<split>/*.parquet with no config metadata: a config is a data_dir."""
    import datasets

    from toolkit import data

    calls = []

    def fake(path, name=None, **kw):
        calls.append((path, name, kw))
        return datasets.Dataset.from_dict({"tokens": [["Labas"]], "upos": [[15]]})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    data.clear_cache()
    data.load("udpos", "test", "lt", tmp_path)
    assert calls == [("universal-dependencies/universal_dependencies", None,
                      {"data_dir": "lt_alksnis", "split": "test", "revision": "refs/convert/parquet"})]


def test_retrieval_tasks_declare_their_scoring_rule():
    """The retrieval scoring rule is declared by the task (issue 19), not inferred from its metric name."""
    from toolkit.errors import ConfigError
    from toolkit.kinds import retrieval_kind
    from toolkit.tasks import get_task
    from toolkit.tasks.spec import TaskSpec

    assert {n: retrieval_kind(n) for n in ("tatoeba", "bucc2018", "lareqa", "mewslix", "cldr_names")} == {
        "tatoeba": "tatoeba", "bucc2018": "bucc2018", "lareqa": "lareqa", "mewslix": "lareqa", "cldr_names": "tatoeba"}
    assert get_task("xnli").retrieval_rule is None
    with pytest.raises(ConfigError, match="retrieval_rule"):  # a retrieval task must say how it is scored
        TaskSpec(name="r", shape="retrieval", description="", benchmarks=("xtreme",))
    with pytest.raises(ConfigError, match="retrieval_rule"):
        TaskSpec(name="r", shape="retrieval", description="", benchmarks=("xtreme",), retrieval_rule="recall@5")
    with pytest.raises(ConfigError, match="retrieval_rule"):  # and only a retrieval task does
        TaskSpec(name="c", shape="classification", description="", benchmarks=("xtreme",), labels=("a",),
                 retrieval_rule="tatoeba")
