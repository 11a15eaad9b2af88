"""Training seeds outside the matrix (issue 17): train-adapter / fuse / stack / eval with --seeds."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from toolkit.errors import ConfigError, DataError
from toolkit.seeds import parse_seeds, seed_name, seed_root, seed_score_ci
from toolkit.stats import ExampleRows

runner = CliRunner()


def test_parse_seeds():
    assert parse_seeds("1, 2,3") == (1, 2, 3)
    for bad in ("1,1", "a,b", "-1", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_seed_score_ci_two_stage():
    ids = [str(i) for i in range(40)]
    rng = np.random.default_rng(0)
    per_seed = [{"de": ExampleRows("accuracy", "mean", ids, (rng.random(40) < p).astype(float) * 100)}
                for p in (0.3, 0.5, 0.7)]
    lo, hi = seed_score_ci(per_seed, resamples=500, seed=1)
    mean = np.mean([r["de"].value() for r in per_seed])
    assert lo < mean < hi
    # the seed variance enters: wider than the example-only interval of any one seed
    one_lo, one_hi = seed_score_ci(per_seed[1:2], resamples=500, seed=1)
    assert hi - lo > one_hi - one_lo
    with pytest.raises(DataError):
        seed_score_ci([{}], resamples=10)


def test_train_adapter_and_eval_with_seeds(tmp_path, tiny_dir):
    art = tmp_path / "art"
    args = ["train-adapter", "--task", "cldr_kind", "--model", str(tiny_dir), "--max-steps", "2", "--max-length", "16",
            "--max-dev-examples", "8", "--artifacts-dir", str(art), "--seeds", "1,2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (art / "adapters" / seed_name("cldr_kind", 1)).is_dir() and (art / "adapters" / "s2_cldr_kind").is_dir()
    assert "over 2 seeds" in result.stdout and "mean ± sd" in result.stdout
    again = runner.invoke(app, args)  # finished seeds are reused
    assert again.output.count("already trained") == 2, again.output

    res = tmp_path / "res"
    eargs = ["eval", "--benchmark", "demo", "--tasks", "cldr_kind", "--langs", "de,fr", "--model", str(tiny_dir),
             "--max-eval-examples", "6", "--train-steps", "2", "--max-length", "16", "--bootstrap-resamples", "50",
             "--artifacts-dir", str(art), "--results-dir", str(res), "--seeds", "1,2", "--json"]
    result = runner.invoke(app, eargs)
    assert result.exit_code == 0, result.output
    import json

    out = json.loads(result.stdout)
    task = out["tasks"][0]
    assert out["seeds"] == [1, 2] and task["task"] == "cldr_kind" and set(task["per_seed"]) == {"1", "2"}
    assert task["ci"]["low"] <= task["mean"] <= task["ci"]["high"]
    for s in (1, 2):
        assert (seed_root(art, s) / "adapters" / "cldr_kind").is_dir() and seed_root(res, s).is_dir()
    bad = runner.invoke(app, [*eargs[:-1], "--setup", "none"])
    assert bad.exit_code == 1 and "--setup auto" in bad.output


def test_seed_configs_take_each_seeds_own_inputs(tmp_path):
    from toolkit.config import TrainConfig
    from toolkit.seeds import seed_train_config, train_seeds

    (tmp_path / "adapters" / "s1_copa").mkdir(parents=True)
    (tmp_path / "adapters" / "s1_copa" / "xta_card.json").write_text("{}")
    cfg = TrainConfig(task="xcopa", recipe="fuse", intermediate=("copa", "siqa"), adapter_name="fuse_xcopa")
    one = seed_train_config(cfg, 1, tmp_path)
    assert (one.name, one.seed, one.intermediate) == ("s1_fuse_xcopa", 1, ("s1_copa", "siqa"))
    assert seed_train_config(cfg, 2, tmp_path).intermediate == ("copa", "siqa")  # no seed-2 copa: as named
    seen = train_seeds(cfg, "1,2", train=lambda c, **kw: c, artifacts_dir=tmp_path).results
    assert {s: c.name for s, c in seen.items()} == {1: "s1_fuse_xcopa", 2: "s2_fuse_xcopa"}
