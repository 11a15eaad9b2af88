"""Every task shape learns: train an adapter briefly on the embedded multilingual-e5-small with real English
data from ../shared/data and check held-back English scores beat chance clearly.

The heaviest tests of the suite (about 14 minutes on one thread), in a file of their own so that pytest-xdist's
``--dist loadfile`` can run them beside tests/test_readme.py from the start (see conftest's ordering).
"""

from __future__ import annotations

import pytest

from toolkit.config import TrainConfig
from toolkit.train import load_trained_adapter, train_adapter


@pytest.fixture(scope="session")
def embedded():
    from toolkit.encoders import load_encoder

    return load_encoder("embedded")


def _train_and_score(encoder, tmp_path, task, eval_task, eval_examples, eval_length, **kw):
    """Train ``task`` briefly on the embedded encoder, then score held-back English ``eval_examples``."""
    from toolkit.families import get_family
    from toolkit.tasks import get_task

    cfg = TrainConfig(task=task, **{"batch_size": 16, "learning_rate": 5e-3, **kw})
    result = train_adapter(cfg, encoder, tmp_path, progress=False, max_dev_examples=100)
    spec = get_task(eval_task)
    family = get_family(spec)
    model = load_trained_adapter(encoder, cfg.name, tmp_path)
    try:
        opts = {"doc_stride": 32} if spec.shape == "extractive_qa" else {}
        feats = family.featurize(eval_examples, encoder.tokenizer, spec, eval_length, **opts)
        scores = family.score(family.predict(model, feats, 64, head=cfg.name), eval_examples, spec, lang="en")
    finally:
        for head in list(model.heads):
            model.delete_head(head)
        model.delete_adapter(cfg.name)
        model.set_active_adapters(None)
    print(f"\n{task} -> {eval_task}: dev {result.dev_scores} held-back {scores}")
    return scores


@pytest.mark.slow
def test_tagging_learns_panx(embedded, shared_data, tmp_path):
    from toolkit.data import load

    held = load("panx", "dev", "en", data_dir=shared_data)[-300:]
    scores = _train_and_score(embedded, tmp_path, "panx", "panx", held, 48, max_train_examples=480, max_steps=30,
                              max_length=48, data_dir=str(shared_data))
    assert scores["seqeval_f1"] > 10.0  # measured 24.9; chance / all-"O" is 0


@pytest.mark.slow
def test_tagging_learns_ud_english_pos(embedded, shared_data, tmp_path):
    from toolkit.data import load

    held = load("udpos", "dev", "en", data_dir=shared_data)[-300:]  # UD English-EWT dev; selection uses its first 100
    scores = _train_and_score(embedded, tmp_path, "udpos", "udpos", held, 48, max_train_examples=480, max_steps=30,
                              max_length=48, data_dir=str(shared_data))
    assert scores["seqeval_f1"] > 60.0  # measured 83.5; the most frequent tag (NOUN) alone is ~17% of words


@pytest.mark.slow
def test_pair_classification_learns_nli(embedded, shared_data, tmp_path):
    from toolkit.data import load

    held = load("xnli", "dev", "en", data_dir=shared_data)[2040:]  # 450 pairs neither trained nor selected on
    scores = _train_and_score(embedded, tmp_path, "xnli", "xnli", held, 64, train_split="dev[:2000]",
                              dev_split="dev[2000:2040]", max_steps=150, batch_size=32, learning_rate=2e-3,
                              max_length=64, seed=1, data_dir=str(shared_data))
    # measured 44.7% on dev[2000:] with these settings (30 steps stayed at 33.3%, one class); chance 33.3
    assert scores["accuracy"] > 38.0


@pytest.mark.slow
def test_multiple_choice_learns_siqa(embedded, shared_data, tmp_path):
    """Three-way SocialIQa: train on its labelled test file (v1.4 tst), select on dev[:200], score dev[200:600]."""
    from toolkit.data import load

    held = load("siqa", "dev", "en", data_dir=shared_data)[200:600]
    scores = _train_and_score(embedded, tmp_path, "siqa", "siqa", held, 64, train_split="test", dev_split="dev[:200]",
                              max_steps=150, learning_rate=2e-3, max_length=64, seed=1, eval_every=50,
                              data_dir=str(shared_data))
    # measured 41.25% (dev 45.0%); lr 5e-3 gave 39.0%; chance 33.3, 400 examples: 1 standard deviation ~ 2.4 points
    assert scores["accuracy"] > 37.0


@pytest.mark.slow
def test_extractive_qa_learns_tydiqa_to_xquad(embedded, shared_data, tmp_path):
    from toolkit.data import load

    held = load("xquad", "test", "en", data_dir=shared_data, max_examples=150)
    scores = _train_and_score(embedded, tmp_path, "tydiqa", "xquad", held, 128, max_train_examples=600,
                              max_steps=30, max_length=128, data_dir=str(shared_data))
    assert scores["f1"] > 8.0  # measured 10.5 F1 / 8.0 EM; a broken span head scores ~2-5 F1 on XQuAD
