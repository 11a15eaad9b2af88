"""Worker of ``benchmarks/gpu_check.py``'s distributed + evaluation-precision section (it uses xta itself,
which ``gpu_check.py`` does not import: that script depends only on torch, transformers and adapters).

    python benchmarks/gpu_check_dist.py prepare WORK           # synthetic pair-classification data + card
    python benchmarks/gpu_check_dist.py train WORK ARTIFACTS CONFIG_JSON    # alone, or under torchrun
    python benchmarks/gpu_check_dist.py compare DIR_A DIR_B    # max |a - b| over the saved adapter tensors
    python benchmarks/gpu_check_dist.py eval WORK ARTIFACTS NAME  # fp32 vs --eval-precision bf16 predictions

The tiny random encoder (``toolkit.encoders.tiny_encoder``, dropout off) and generated data keep it free of
downloads and of the benchmark files; each command prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CARD = """\
name: gpu_check_pairs
shape: pair_classification
description: generated sentence pairs (benchmarks/gpu_check_dist.py only).
labels: [a, b, c]
metrics: [accuracy]
main_metric: accuracy
splits:
  train:
    local: [{pattern: "pairs/train.tsv", format: xtreme_tsv_pair}]
  dev:
    local: [{pattern: "pairs/dev.tsv", format: xtreme_tsv_pair}]
"""
WORDS = "the a cat dog house river green blue runs sleeps quickly under over near red big small".split()


def prepare(work: Path) -> dict:
    from toolkit.io import atomic_write_text

    rng = random.Random(0)

    def rows(n: int) -> str:
        return "".join(f"{' '.join(rng.choices(WORDS, k=rng.randint(3, 12)))}\t{' '.join(rng.choices(WORDS, k=rng.randint(3, 12)))}"
                       f"\t{rng.choice('abc')}\n" for _ in range(n))

    atomic_write_text(work / "data" / "pairs" / "train.tsv", rows(64))
    atomic_write_text(work / "data" / "pairs" / "dev.tsv", rows(16))
    atomic_write_text(work / "zoo" / "gpu_check_pairs.yaml", CARD)
    return {"prepared": str(work)}


def _encoder():
    from toolkit.encoders import tiny_encoder

    return tiny_encoder(seed=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def train(work: Path, artifacts: Path, cfg_json: str) -> dict:
    import toolkit.train as T
    from toolkit import distributed
    from toolkit.config import TrainConfig

    seen: list[list[int]] = []
    saves: list[int] = []
    micro, save = T._micro_loss, T._save
    T._micro_loss = lambda model, tasks, m, device, scale, *mlm: seen.append(list(m[1])) or micro(model, tasks, m, device, scale, *mlm)
    T._save = lambda *a, **k: saves.append(1) or save(*a, **k)
    cfg = TrainConfig(**{**json.loads(cfg_json), "data_dir": str(work / "data")})
    start = time.perf_counter()
    result = T.train_adapter(cfg, _encoder(), artifacts, progress=False, max_dev_examples=16)
    import torch

    return {"rank": distributed.rank(), "world": result.card["world_size"], "seen": seen,
            "backend": torch.distributed.get_backend() if distributed.active() else None,
            "device": os.environ.get("XTA_DEVICE"),
            "effective_batch_size": result.card["effective_batch_size"], "elapsed_s": time.perf_counter() - start,
            "saved_adapter": len(saves), "card_written": (artifacts / "adapters" / cfg.name / T.CARD_NAME).is_file()}


def _weights(path: Path) -> dict:
    from toolkit.io import load_safetensors

    return {f"{f.stem}/{k}": v for f in sorted(path.glob("*.safetensors")) for k, v in load_safetensors(f).items()}


def compare(a: Path, b: Path) -> dict:
    wa, wb = _weights(a), _weights(b)
    if set(wa) != set(wb) or not wa:
        return {"same_tensors": False, "max_abs_diff": None}
    return {"same_tensors": True, "tensors": len(wa),
            "max_abs_diff": max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)}


def evaluate(work: Path, artifacts: Path, name: str) -> dict:
    """The trained adapter's dev predictions at fp32 and at bf16 (``XTA_EVAL_PRECISION``, what
    ``xta eval --eval-precision bf16`` sets) on the device ``XTA_DEVICE`` names."""
    from toolkit.data import load
    from toolkit.families import get_family
    from toolkit.families.base import eval_precision
    from toolkit.tasks import get_task
    from toolkit.train import load_trained_adapter

    spec = get_task("gpu_check_pairs")
    family = get_family(spec)
    enc = _encoder()
    model = load_trained_adapter(enc, name, artifacts)
    examples = load("gpu_check_pairs", "dev", "en", data_dir=work / "data")
    feats = family.featurize(examples, enc.tokenizer, spec, 64, train=False)
    out = {}
    for precision in ("fp32", "bf16"):
        os.environ["XTA_EVAL_PRECISION"] = precision
        start = time.perf_counter()
        preds = family.predict(model, feats, batch_size=8, head=name)
        out[precision] = {"precision": eval_precision(os.environ.get("XTA_DEVICE", "cuda")), "seconds": time.perf_counter() - start,
                          "predictions": preds, "score": family.score(preds, examples, spec, lang="en")}
    a, b = out["fp32"]["predictions"], out["bf16"]["predictions"]
    same = sum(x == y for x, y in zip(a, b)) if len(a) == len(b) else 0
    return {"recorded_precision": out["bf16"]["precision"], "agreement": same / max(1, len(a)),
            "fp32_score": out["fp32"]["score"], "bf16_score": out["bf16"]["score"],
            "seconds": {p: out[p]["seconds"] for p in out}}


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "prepare":
        res = prepare(Path(args[0]))
    elif command == "train":
        from toolkit.io import atomic_write_json

        res = train(Path(args[0]), Path(args[1]), args[2])
        atomic_write_json(Path(args[0]) / "ranks" / f"{Path(args[1]).name}-rank{res['rank']}.json", res)
    elif command == "compare":
        res = compare(Path(args[0]), Path(args[1]))
    elif command == "eval":
        res = evaluate(Path(args[0]), Path(args[1]), args[2])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(res, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
