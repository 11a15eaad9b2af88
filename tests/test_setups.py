"""toolkit.setups: the setup grammar, its round trip, ids, and the adapters composition blocks."""

from __future__ import annotations

import itertools

import pytest
from adapters import composition as ac

from toolkit.errors import SetupError
from toolkit.io import safe_name
from toolkit.setups import (
    _ALLOWED_CHILDREN,
    AdapterName,
    FuseBlock,
    Setup,
    StackBlock,
    _check_nesting,
    _to_block,
    parse_setup,
    setup_id,
)

CANONICAL = [
    "xnli",
    "none",
    "stack:lang_de,xnli",
    "stack:lang_{lang},xnli",
    "stack:a,b,c",
    "fuse:mnli,squad_v1",
    "fuse:mnli,squad_v1>xnli",
    "fuse:xnli>xnli",
    "stack(lang_de,fuse(mnli,squad_v1))",
    "stack(lang_{lang},fuse(mnli,squad_v1,xnli)>xnli)",
    "fuse(stack(lang_en,mnli),squad_v1)>xnli",
    "fuse(mnli,stack(lang_en,squad_v1),stack(lang_en,hellaswag))>xcopa",
    "stack(fuse(stack(lang_en,mnli),anli_plus)>xnli,lang_{lang})",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_round_trip(text):
    setup = parse_setup(text)
    assert str(setup) == text
    assert parse_setup(str(setup)) == setup


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("stack(lang_de,xnli)", "stack:lang_de,xnli"),
        (" stack : lang_de , xnli ", "stack:lang_de,xnli"),
        ("fuse( mnli , squad_v1 ) > xnli", "fuse:mnli,squad_v1>xnli"),
        ("stack:lang_de,fuse:mnli,squad_v1", "stack(lang_de,fuse(mnli,squad_v1))"),
        ("stack:lang_de,fuse:mnli,squad_v1>xnli", "stack(lang_de,fuse(mnli,squad_v1)>xnli)"),
        ("stack(lang_de,fuse:mnli,squad_v1>xnli)", "stack(lang_de,fuse(mnli,squad_v1)>xnli)"),
        ("stack:xnli", "xnli"),
        ("fuse(stack(mnli),squad_v1)", "fuse:mnli,squad_v1"),
    ],
)
def test_equivalent_spellings_normalise(text, canonical):
    assert str(parse_setup(text)) == canonical


def test_tree_shape():
    s = parse_setup("stack:lang_{lang},fuse:mnli,squad_v1>xnli")
    assert s.root == StackBlock(
        (AdapterName("lang_{lang}"), FuseBlock((AdapterName("mnli"), AdapterName("squad_v1")), "xnli"))
    )
    assert s.adapter_names() == ["lang_{lang}", "mnli", "squad_v1"]
    assert [f.fusion_name for f in s.fusions()] == ["xnli"]
    assert s.head == "xnli"
    assert parse_setup("stack:lang_de,xnli").head == "xnli"
    assert parse_setup("fuse:mnli,squad_v1").fusions()[0].fusion_name == "mnli,squad_v1"
    assert parse_setup("none").root is None and parse_setup("none").head is None


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("fuse(a,fuse(b,c))", "a fuse cannot contain a fuse"),
        ("stack(a,stack(b,c))", "a stack cannot contain a stack"),
        ("fuse(stack(a,fuse(b,c)),d)", "cannot be nested 2 levels deep"),
        ("stack(fuse(stack(a,fuse(b,c)),d))", "a fuse cannot be nested 2 levels deep|cannot contain"),
        ("stack:a,b>x", "a stack has no target"),
        ("stack(a,b)>x", "a stack has no target"),
        ("stack:", "expected an adapter name"),
        ("stack()", r"found '\)'"),
        ("stack(a,b", "expected ',' or '\\)'"),
        ("stack:a,,b", "found ','"),
        ("fuse:a,b>", "expected the target task"),
        ("a b", "unexpected 'b'"),
        ("a)", r"unexpected '\)'"),
        ("parallel(a,b)", "unknown block 'parallel'"),
        ("fuse:mnli,mnli", "lists mnli more than once"),
        ("../etc", "unexpected character '/'"),
        ("..", "starts with '.'"),
        ("lang-de", "unexpected character '-'"),
        ("a+b", "unexpected character '\\+'"),
        ("lang_{xx}", "braces only in the placeholder"),
        ("stack:none,xnli", "reserved word"),
        ("fuse", "reserved word"),
    ],
)
def test_invalid_setups_refused(text, match):
    with pytest.raises(SetupError, match=match) as err:
        parse_setup(text)
    assert str(err.value).startswith("invalid setup ")


def test_to_composition_blocks():
    c = parse_setup("stack:lang_de,xnli").to_composition()
    assert type(c) is ac.Stack and c.children == ["lang_de", "xnli"]

    c = parse_setup("fuse:mnli,squad_v1>xnli").to_composition()
    assert type(c) is ac.Fuse and c.children == ["mnli", "squad_v1"] and c.name == "xnli"

    c = parse_setup("fuse:mnli,squad_v1").to_composition()
    assert c.name == "mnli,squad_v1"  # the adapters library's default fusion name

    c = parse_setup("stack:lang_{lang},fuse:mnli,squad_v1>xnli").resolve("de").to_composition()
    assert type(c) is ac.Stack and c.children[0] == "lang_de"
    inner = c.children[1]
    assert type(inner) is ac.Fuse and inner.children == ["mnli", "squad_v1"] and inner.name == "xnli"

    c = parse_setup("fuse(stack(lang_en,mnli),squad_v1)>xnli").to_composition()
    assert type(c) is ac.Fuse and type(c.children[0]) is ac.Stack and c.children[0].children == ["lang_en", "mnli"]
    assert c.children[1] == "squad_v1"

    c = parse_setup("xnli").to_composition()
    assert type(c) is ac.Stack and c.children == ["xnli"]
    assert parse_setup("none").to_composition() is None


def test_placeholder_must_be_resolved():
    s = parse_setup("stack:lang_{lang},xnli")
    assert s.has_placeholder
    with pytest.raises(SetupError, match=r"resolve\(lang\)"):
        s.to_composition()
    assert s.resolve("sw") == parse_setup("stack:lang_sw,xnli")
    assert s.resolve("sw").id == "stack-lang_sw+xnli"
    with pytest.raises(Exception, match="invalid language name"):
        s.resolve("../de")


def test_nesting_rules_mirror_adapters():
    """Our table equals adapters.composition.ALLOWED_NESTINGS restricted to Stack and Fuse."""
    types = {"name": str, "stack": ac.Stack, "fuse": ac.Fuse}
    for kind, block in (("stack", ac.Stack), ("fuse", ac.Fuse)):
        lib = {k for k, t in types.items() if t in ac.ALLOWED_NESTINGS[block]}
        assert set(_ALLOWED_CHILDREN[kind]) == lib


def _trees(depth):
    """Every tree of stack/fuse blocks up to ``depth`` with two children per block (names a, b...)."""
    if depth == 0:
        return [AdapterName("a")]
    subs = _trees(depth - 1)
    out = [AdapterName("a")]
    for left, kind in itertools.product(subs, ("stack", "fuse")):
        children = (left, AdapterName("z"))
        out.append(StackBlock(children) if kind == "stack" else FuseBlock(children))
    return out


def test_nesting_verdicts_agree_with_adapters_validate_composition():
    checked = 0
    for tree in _trees(4):
        if isinstance(tree, AdapterName):
            continue
        ours = True
        try:
            _check_nesting(tree, "t")
        except SetupError:
            ours = False
        theirs = True
        try:
            ac.validate_composition(_to_block(tree))
        except ValueError:
            theirs = False
        assert ours == theirs, tree
        checked += 1
    assert checked == 30


@pytest.mark.parametrize(
    "text, expected",
    [
        ("xnli", "xnli"),
        ("none", "none"),
        ("stack:lang_de,xnli", "stack-lang_de+xnli"),
        ("fuse:mnli,squad_v1>xnli", "fuse-mnli+squad_v1@xnli"),
        ("fuse:mnli,squad_v1", "fuse-mnli+squad_v1"),
        ("stack:lang_{lang},xnli", "stack-lang_{lang}+xnli"),
        ("stack(lang_de,fuse(mnli,squad_v1)>xnli)", "stack-lang_de+(fuse-mnli+squad_v1@xnli)"),
        ("fuse(stack(lang_en,mnli),squad_v1)>xnli", "fuse-(stack-lang_en+mnli)+squad_v1@xnli"),
    ],
)
def test_setup_ids(text, expected):
    assert setup_id(text) == expected == parse_setup(text).id
    assert safe_name(expected) == expected


def test_setup_ids_unique_and_bounded():
    ids = [setup_id(t) for t in CANONICAL]
    assert len(set(ids)) == len(CANONICAL)
    long = "fuse:" + ",".join(f"intermediate_task_{i}" for i in range(10)) + ">xnli"
    lid = setup_id(long)
    assert len(lid) == 93 and "~" in lid and lid == setup_id(long)
    other = setup_id(long.replace("_9", "_99"))
    assert other != lid and other[:80] == lid[:80]


def test_setup_accepts_setup_instance():
    s = parse_setup("xnli")
    assert parse_setup(s) is s and isinstance(s, Setup)


@pytest.mark.slow
def test_composition_activates_on_a_real_adapters_model():
    """The blocks work with adapters: a tiny XLM-R with lang/task adapters and a named fusion runs."""
    import adapters
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0)
    cfg = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=32, max_position_embeddings=40)  # fmt: skip
    model = XLMRobertaModel(cfg)
    adapters.init(model)
    for name in ("lang_de", "mnli", "squad_v1"):
        model.add_adapter(name, config="seq_bn")
    setup = parse_setup("stack:lang_{lang},fuse:mnli,squad_v1>xnli").resolve("de")
    fuse = setup.to_composition().children[1]
    model.add_adapter_fusion(fuse)
    assert "xnli" in model.adapters_config.fusions
    model.set_active_adapters(setup.to_composition())
    assert model.active_adapters == setup.to_composition()
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with_adapters = model(ids).last_hidden_state
    model.set_active_adapters(None)
    bare = model(ids).last_hidden_state
    assert with_adapters.shape == bare.shape == (1, 5, 16)
    assert not torch.allclose(with_adapters, bare)
