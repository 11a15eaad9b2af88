"""Task-shape families: featurisation, alignment, span decoding and prediction on hand-made and real data.

Fast: a tiny random encoder with the embedded encoder's real tokenizer (XLM-R vocabulary).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toolkit.errors import ConfigError, DataError
from toolkit.families import FAMILIES, get_family
from toolkit.families import classification, extractive_qa, multiple_choice, retrieval, tagging
from toolkit.families.base import Features, adapter_model
from toolkit.tasks import get_task


@pytest.fixture()
def flex(tiny):
    """The tiny encoder's flex-head model with an active adapter ``t``; removed again afterwards."""
    model = adapter_model(tiny)
    model.add_adapter("t", config="seq_bn")
    model.set_active_adapters("t")
    yield model
    for head in list(model.heads):
        model.delete_head(head)
    model.delete_adapter("t")
    model.set_active_adapters(None)


def test_registry_covers_every_shape():
    from toolkit.tasks.spec import SHAPES

    assert set(FAMILIES) == set(SHAPES)
    assert get_family(get_task("xnli")) is classification
    with pytest.raises(ConfigError, match="no family for task shape 'poetry'"):
        get_family("poetry")


def test_every_family_provides_the_whole_interface_and_owns_its_shape_options():
    """What was decided by ``if shape == ...`` in train/evaluate/taskemb is the family's (issue 19)."""
    from toolkit.families import FAMILIES
    from toolkit.families.base import Family
    from toolkit.tasks import get_task

    wanted = [n for n in Family.__annotations__] + [n for n in vars(Family) if not n.startswith("_")]
    for shape, family in FAMILIES.items():
        missing = [n for n in wanted if not hasattr(family, n)]
        assert not missing, f"{shape}: {missing}"
    assert {s: f.EVAL_MAX_LENGTH for s, f in FAMILIES.items()} == {
        "classification": 128, "pair_classification": 128, "multiple_choice": 128, "extractive_qa": 384,
        "tagging": 128, "retrieval": 128}
    squad = get_task("squad_v1")  # doc_stride 128 at 384 tokens (run_squad.py), scaled to max_length // 3 below
    assert FAMILIES["extractive_qa"].featurize_options(squad, 384) == {"doc_stride": 128}
    assert FAMILIES["extractive_qa"].featurize_options(squad, 96) == {"doc_stride": 32}
    assert FAMILIES["classification"].featurize_options(get_task("xnli"), 128) == {}
    items = [{"input_ids": [[1, 2]] * 3}, {"input_ids": [[1, 2]] * 4}]
    assert FAMILIES["multiple_choice"].head_options(get_task("siqa"), items, None) == {"num_choices": 4}
    assert FAMILIES["tagging"].head_options(get_task("udpos"), [], ["NOUN", "VERB"]) == {"labels": ["NOUN", "VERB"]}
    assert FAMILIES["tagging"].head_options(get_task("udpos"), [], None) == {}
    qa = [{"context": "Paris is big.", "question": "Q?", "answers": {"text": ["Paris"], "answer_start": [0]}},
          {"context": "Paris is big.", "question": "Q?", "answers": {"text": ["Rome"], "answer_start": [0]}}]
    kept, skipped = FAMILIES["extractive_qa"].training_examples(qa)  # run_squad skips answers it cannot find
    assert kept == qa[:1] and skipped == {"count": 1, "reason": "answer text not found at answer_start (run_squad.py)"}
    assert FAMILIES["classification"].training_examples(qa) == (qa, None)
    assert FAMILIES["classification"].training_labels(get_task("xnli"), []) == ["entailment", "neutral", "contradiction"]
    tags = [[{"tokens": ["a", "b"], "tags": ["S/NP", "NP"]}], [{"tokens": ["c"], "tags": ["N"]}]]
    assert FAMILIES["tagging"].training_labels(get_task("ccg"), tags) == ["N", "NP", "S/NP"]  # open labels: the data's


def test_adapter_model_shares_the_frozen_weights(tiny):
    model = adapter_model(tiny)
    assert model is adapter_model(tiny)  # built once
    assert model.base_model is tiny.model
    assert not any(p.is_meta for p in model.parameters())


# ------------------------------------------------------------------------------------------ QA


def _window(offsets, start_logits, end_logits):
    return (offsets, np.array(start_logits, dtype=np.float32), np.array(end_logits, dtype=np.float32))


def test_best_answer_cuts_chinese_text_exactly_by_offsets():
    context = "北京是中国的首都。"
    # <s> q </s></s> 北京 是 中国 的 首都 。 </s>
    offsets = [None, None, None, None, (0, 2), (2, 3), (3, 5), (5, 6), (6, 8), (8, 9), None]
    start = [5, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0]
    end = [5, 0, 0, 0, 0, 0, 8, 0, 1, 0, 0]
    opts = extractive_qa.DecodeOptions()
    assert extractive_qa.best_answer(context, [_window(offsets, start, end)], opts) == "中国"
    # a span longer than max_answer_length is refused: the next best valid span wins
    start2 = [0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0]
    end2 = [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9]  # best end is outside the context
    assert extractive_qa.best_answer(context, [_window(offsets, start2, end2)], opts) == "北京是中国的首都"
    short = extractive_qa.DecodeOptions(max_answer_length=2)
    # tokens 4-5 score 9 + 0 = 9, above 首都 (tokens 8-8: 1 + 1 = 2)
    assert extractive_qa.best_answer(context, [_window(offsets, start2, end2)], short) == "北京是"


def test_best_answer_takes_the_best_window_and_v2_null_threshold():
    context = "Paris is the capital of France."
    w1 = _window([None, (0, 5), (5, 8), None], [1, 2, 0, 0], [1, 2, 0, 0])  # "Paris": 4.0, null 2.0
    w2 = _window([None, (13, 20), (20, 23), (23, 30), None], [6, 0, 0, 3, 0], [6, 0, 0, 3, 0])  # "France": 6.0, null 12
    v1 = extractive_qa.DecodeOptions()
    assert extractive_qa.best_answer(context, [w1, w2], v1) == "France"
    # v2.0: null = min over windows of <s> scores = 2.0 < best 6.0 -> an answer ...
    assert extractive_qa.best_answer(context, [w1, w2], extractive_qa.DecodeOptions(version_2=True)) == "France"
    # ... unless the threshold is negative enough: null - best = -4 > -5 -> no answer
    v2 = extractive_qa.DecodeOptions(version_2=True, null_score_diff_threshold=-5.0)
    assert extractive_qa.best_answer(context, [w1, w2], v2) == ""


def test_answer_positions_follow_run_qa():
    example = {"answers": {"text": ["capital"], "answer_start": [13]}}
    offsets = [None, None, None, (0, 5), (5, 8), (8, 12), (12, 20), (20, 23), None]
    assert extractive_qa.answer_positions(example, offsets) == (6, 6)
    outside = [None, None, None, (20, 23), (23, 30), None]
    assert extractive_qa.answer_positions(example, outside) == (0, 0)
    assert extractive_qa.answer_positions({"answers": {"text": [], "answer_start": []}}, offsets) == (0, 0)


def test_qa_windows_map_gold_answers_back_exactly(tiny, shared_data):
    from toolkit.data import load

    spec = get_task("xquad")
    examples = load("xquad", "test", "en", data_dir=shared_data, max_examples=60)
    feats = extractive_qa.featurize(examples, tiny.tokenizer, spec, 128, train=True, doc_stride=32)
    assert len(feats) > len(examples)  # long contexts are split into windows
    exact = {}
    for item in feats.items:
        ex = examples[item["example_index"]]
        assert len(item["input_ids"]) <= 128
        if item["start_position"] == 0:
            continue
        s, e = item["offsets"][item["start_position"]], item["offsets"][item["end_position"]]
        start, text = ex["answers"]["answer_start"][0], ex["answers"]["text"][0]
        assert s[0] <= start and e[1] >= start + len(text)  # the span covers the answer ...
        exact[ex["id"]] = ex["context"][s[0] : e[1]].strip() == text.strip()
    # ... and is exactly it unless the answer starts or ends inside a sub-word ("(118)" -> "118")
    assert len(exact) >= 55 and sum(exact.values()) >= len(exact) - 3
    assert feats.meta["version_2"] is False


def _official_windows(n_doc: int, n_query: int, max_seq_length: int, doc_stride: int, pair_added: int):
    """google-research/xtreme third_party/processors/squad.py l. 137-180 (squad_convert_example_to_features),
    restated on token counts: ``(start, paragraph_len)`` of each window. Window ``len(spans)`` starts at
    ``len(spans) * doc_stride``; encode_plus gets ``stride = max_seq_length - doc_stride - len(query) -
    sequence_pair_added_tokens`` (l. 146) and stops when it no longer truncates (transformers 2.x sets
    ``overflowing_tokens`` only when it truncates, l. 178-180)."""
    spans = []
    while len(spans) * doc_stride < n_doc:
        start = len(spans) * doc_stride
        paragraph_len = min(n_doc - start, max_seq_length - n_query - pair_added)  # l. 151-154
        spans.append((start, paragraph_len))
        if n_doc - start <= max_seq_length - n_query - pair_added:  # no overflowing_tokens: the last window
            break
    return spans


@pytest.mark.parametrize("max_length,doc_stride", [(384, 128), (128, 32), (96, None)])
def test_qa_windows_follow_xtreme_doc_stride(tiny, shared_data, max_length, doc_stride):
    """doc_stride is XTREME's step between window starts (not the tokenizer's overlap): every window of
    every question equals the official one, at XTREME's 384/128 and at shorter lengths."""
    from toolkit.data import load

    spec = get_task("xquad")
    examples = load("xquad", "test", "en", data_dir=shared_data, max_examples=40)
    # long contexts (three paragraphs each) so that 384 tokens need several windows too
    examples = [dict(ex, context=" ".join(examples[(i + k) % len(examples)]["context"] for k in range(3)))
                if i % 2 else ex for i, ex in enumerate(examples)]
    tok = tiny.tokenizer
    feats = extractive_qa.featurize(examples, tok, spec, max_length, doc_stride=doc_stride)
    step = doc_stride or max_length // 3
    query_max = min(extractive_qa.MAX_QUERY_LENGTH, max_length // 2)
    got: dict[int, list[tuple[int, int]]] = {}
    for item in feats.items:
        ex = examples[item["example_index"]]
        full = tok(ex["context"], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ctx = [o for o in item["offsets"] if o is not None]
        got.setdefault(item["example_index"], []).append((full.index(tuple(ctx[0])), len(ctx)))
        assert len(item["input_ids"]) <= max_length
    several = 0
    for i, ex in enumerate(examples):
        n_doc = len(tok(ex["context"], add_special_tokens=False)["input_ids"])
        n_query = min(len(tok(ex["question"].lstrip(), add_special_tokens=False)["input_ids"]), query_max)
        want = _official_windows(n_doc, n_query, max_length, step, tok.num_special_tokens_to_add(pair=True))
        assert got[i] == want, (i, got[i], want)
        several += len(want) > 1
    assert several >= 8  # the comparison covers multi-window contexts (half the contexts are tripled)
    assert [it["example_index"] for it in feats.items] == sorted(it["example_index"] for it in feats.items)


def test_qa_doc_stride_must_fit_a_window(tiny):
    spec = get_task("xquad")
    ex = [{"id": "q", "question": "Who?", "context": "Someone did.", "answers": {"text": [], "answer_start": []}}]
    with pytest.raises(ConfigError, match="doc_stride 80 must be positive and fit"):
        extractive_qa.featurize(ex, tiny.tokenizer, spec, 128, doc_stride=80)


def test_qa_predict_gives_one_answer_per_question(tiny, flex, shared_data):
    from toolkit.data import load

    spec = get_task("xquad")
    examples = load("xquad", "test", "zh", data_dir=shared_data, max_examples=8)
    extractive_qa.add_head(flex, "qa", spec)
    feats = extractive_qa.featurize(examples, tiny.tokenizer, spec, 96, doc_stride=24)
    preds = extractive_qa.predict(flex, feats, batch_size=4, head="qa")
    assert set(preds) == {ex["id"] for ex in examples}
    for ex in examples:
        assert preds[ex["id"]] in ex["context"]  # cut from the original text
    scores = extractive_qa.score(preds, examples, spec)
    assert set(scores) == {"exact_match", "f1", "qa_mean"}
    assert scores["qa_mean"] == pytest.approx((scores["exact_match"] + scores["f1"]) / 2)


# ------------------------------------------------------------------------------------------ tagging


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_tagging_every_word_gets_exactly_one_prediction(tiny, flex, shared_data, lang):
    from toolkit.data import load

    spec = get_task("udpos")
    examples = load("udpos", "test", lang, data_dir=shared_data, max_examples=40)
    assert examples and all(ex["tokens"] for ex in examples)
    feats = tagging.featurize(examples, tiny.tokenizer, spec, 24)  # short rows: long sentences are chunked
    starts: dict[int, list[int]] = {}
    for item in feats.items:
        assert len(item["input_ids"]) <= 24
        starts.setdefault(item["example_index"], []).extend(w for w in item["first_word"] if w >= 0)
    for i, ex in enumerate(examples):
        assert starts[i] == list(range(len(ex["tokens"])))  # each word once, in order
    assert len(feats) > len(examples)
    tagging.add_head(flex, "pos", spec)
    preds = tagging.predict(flex, feats, batch_size=8, head="pos")
    assert [len(p) for p in preds] == [len(ex["tokens"]) for ex in examples]
    assert all(tag in spec.labels for p in preds for tag in p)


def test_tagging_labels_first_subword_only_and_unk_for_empty_words(tiny):
    spec = get_task("panx")
    tok = tiny.tokenizer
    ex = {"id": "x", "tokens": ["Barack", "Obama", "", "北京"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}
    feats = tagging.featurize([ex], tok, spec, 64, train=True)
    (item,) = feats.items
    pieces = tagging.word_pieces(ex["tokens"], tok)
    assert pieces[2] == [tok.unk_token_id]  # a word that tokenises to nothing keeps a position
    assert item["input_ids"] == [tok.cls_token_id, *[i for p in pieces for i in p], tok.sep_token_id]
    labelled = [(w, lab) for w, lab in zip(item["first_word"], item["labels"]) if lab != -100]
    assert labelled == [(0, 1), (1, 2), (2, 0), (3, 5)]  # B-PER, I-PER, O, B-LOC
    assert sum(lab != -100 for lab in item["labels"]) == 4
    with pytest.raises(DataError, match="not one of its labels"):
        tagging.featurize([{**ex, "tags": ["B-PER", "I-PER", "O", "B-XYZ"]}], tok, spec, 64, train=True)


def test_chunk_words_keeps_whole_words():
    pieces = [[1, 2], [3], [4, 5, 6], [7]]
    assert tagging.chunk_words(pieces, 3) == [(0, 2), (2, 3), (3, 4)]
    assert tagging.chunk_words(pieces, 100) == [(0, 4)]
    assert tagging.chunk_words([[1] * 10], 4) == [(0, 1)]  # an over-long word is cut, not lost


# ------------------------------------------------------------------------------------------ classification / MC


def test_classification_features_and_labels(tiny, flex):
    spec = get_task("xnli")
    examples = [
        {"id": "1", "text": "A man sleeps.", "text_pair": "A person rests.", "label": "entailment"},
        {"id": "2", "text": "A man sleeps.", "text_pair": "A man runs.", "label": "contradiction"},
    ]
    feats = classification.featurize(examples, tiny.tokenizer, spec, 32, train=True)
    assert [it["label"] for it in feats.items] == [0, 2]
    assert tiny.tokenizer.decode(feats.items[0]["input_ids"]) == "<s> A man sleeps.</s></s> A person rests.</s>"
    classification.add_head(flex, "nli", spec)
    preds = classification.predict(flex, feats, head="nli")
    assert len(preds) == 2 and set(preds) <= set(spec.labels)
    assert classification.score(["entailment", "neutral"], examples, spec) == {"accuracy": 50.0}
    with pytest.raises(DataError, match="not one of task xnli's labels"):
        classification.featurize([{**examples[0], "label": "maybe"}], tiny.tokenizer, spec, 32, train=True)


def test_multiple_choice_prompts_and_variable_choices(tiny, flex):
    spec = get_task("xcopa")
    examples = [
        {"id": "a", "context": "The man fell.", "question": "cause", "choices": ["He slipped.", "He sang."], "label": 0},
        {"id": "b", "context": "It rained.", "question": "effect", "choices": ["x", "y", "The street got wet."], "label": 2},
    ]
    assert multiple_choice.first_segment(examples[0], spec) == "The man fell. What was the cause?"
    feats = multiple_choice.featurize(examples, tiny.tokenizer, spec, 32, train=True)
    assert [len(it["input_ids"]) for it in feats.items] == [2, 3]
    text = tiny.tokenizer.decode(feats.items[1]["input_ids"][2])
    assert text == "<s> It rained. What was the effect?</s></s> The street got wet.</s>"  # run_xcopa.py l. 305
    multiple_choice.add_head(flex, "mc", spec)
    batch = multiple_choice.collate(feats.items, tiny.tokenizer.pad_token_id)
    with torch.no_grad():
        logits = multiple_choice.logits(flex, batch, "mc")
    assert logits.shape == (2, 3) and logits[0, 2] == float("-inf") and torch.isfinite(logits[1]).all()
    # rows are scored exactly as the adapters MultipleChoiceHead's own forward (fixed 3 choices)
    from toolkit.families.base import head_logits

    flex.add_multiple_choice_head("mc3", num_choices=3)
    flex.eval()
    rows = {"input_ids": batch["input_ids"][2:], "attention_mask": batch["attention_mask"][2:]}
    with torch.no_grad():
        ref = head_logits(flex, rows, "mc3").logits
        mine = multiple_choice.logits(flex, {**rows, "choice_counts": torch.tensor([3])}, "mc3")
    assert ref.shape == (1, 3) and torch.equal(ref, mine)
    preds = multiple_choice.predict(flex, feats, head="mc")
    assert all(0 <= p < len(ex["choices"]) for p, ex in zip(preds, examples))
    assert multiple_choice.score([0, 0], examples, spec) == {"accuracy": 50.0}


# ------------------------------------------------------------------------------------------ retrieval


def test_answer_sentence_and_pool():
    context = "Paris is in France. It is the capital. Rome is in Italy!"
    assert retrieval.answer_sentence(context, context.index("capital")) == "It is the capital."
    assert retrieval.answer_sentence(context, 0) == "Paris is in France."
    assert retrieval.answer_sentence(context, context.index("Italy")) == "Rome is in Italy!"
    examples = [
        {"id": "q1", "question": "Capital?", "context": context, "answers": {"text": ["capital"], "answer_start": [context.index("capital")]}},
        {"id": "q2", "question": "Where is Paris?", "context": context, "answers": {"text": ["France"], "answer_start": [12]}},
        {"id": "q3", "question": "Which capital?", "context": context, "answers": {"text": ["capital"], "answer_start": [context.index("capital")]}},
    ]
    data = retrieval.squad_to_retrieval(examples)
    assert data.candidates == ["It is the capital.", "Paris is in France."]
    assert data.gold == {"q1": {"s0"}, "q2": {"s1"}, "q3": {"s0"}}


def test_dual_encoder_loss_masks_duplicate_answers(tiny, flex):
    spec = get_task("lareqa")
    context = "Paris is in France. It is the capital."
    examples = [
        {"id": "q1", "question": "Capital?", "context": context, "answers": {"text": ["capital"], "answer_start": [29]}},
        {"id": "q2", "question": "Which capital?", "context": context, "answers": {"text": ["capital"], "answer_start": [29]}},
        {"id": "q3", "question": "Where is Paris?", "context": context, "answers": {"text": ["France"], "answer_start": [12]}},
    ]
    feats = retrieval.featurize(examples, tiny.tokenizer, spec, 32, train=True)
    assert [it["answer_key"] for it in feats.items] == [0, 0, 1]
    batch = retrieval.collate(feats.items, tiny.tokenizer.pad_token_id)
    flex.train_adapter("t")
    loss = retrieval.loss(flex, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in flex.named_parameters() if "adapters.t" in n)
    data = retrieval.squad_to_retrieval(examples)
    pool = retrieval.featurize(data, tiny.tokenizer, spec, 32)
    preds = retrieval.predict(flex, pool, head=None)
    assert set(preds) == {"q1", "q2", "q3"} and all(sorted(r) == ["s0", "s1"] for r in preds.values())
    assert set(retrieval.score(preds, data, spec)) == {"map@20"}


def test_features_container():
    feats = Features([{"input_ids": [0, 1]}], ["ex"], "classification")
    assert len(feats) == 1 and feats.meta == {}


def test_dual_encoder_predict_reuses_cached_candidates_and_truncates_each_side(tiny, flex, monkeypatch):
    spec = get_task("lareqa")
    context = "Paris is in France. It is the capital of a large country with many old towns and rivers."
    examples = [
        {"id": "q1", "question": "Capital of which large country with old towns?", "context": context,
         "answers": {"text": ["capital"], "answer_start": [context.index("capital")]}},
        {"id": "q2", "question": "Where is Paris?", "context": context, "answers": {"text": ["France"], "answer_start": [12]}},
    ]
    data = retrieval.squad_to_retrieval(examples)
    pool = retrieval.featurize(data, tiny.tokenizer, spec, 64, query_max_length=5, candidate_max_length=7)
    assert [len(it["input_ids"]) for it in pool.items] == [5, 5, 7, 7]  # questions at 5, candidates at 7 tokens
    plain = retrieval.predict(flex, pool)
    calls = []
    real = retrieval.encode
    monkeypatch.setattr(retrieval, "encode", lambda m, f, b=64: calls.append(len(f.items)) or real(m, f, b))
    cache: dict = {}
    assert retrieval.predict(flex, pool, cache=cache) == plain
    assert retrieval.predict(flex, pool, cache=cache) == plain
    assert calls == [2, 2, 2] and len(cache) == 1  # the candidates were encoded once


def test_a_shapes_facts_and_submission_files_are_its_familys_and_load_without_torch():
    """Export, model cards, statistics and training defaults ask the family, not ``if shape == ...`` (issue
    19); the facts are read without importing torch (the families load it on first use)."""
    import subprocess
    import sys

    from conftest import REPO_ROOT
    from toolkit.config import training_defaults
    from toolkit.families import FAMILIES
    from toolkit.tasks import get_task

    assert {s: f.HUB_TASK_TYPE for s, f in FAMILIES.items()} == {
        "classification": "text-classification", "pair_classification": "text-classification",
        "multiple_choice": "multiple-choice", "extractive_qa": "question-answering",
        "tagging": "token-classification", "retrieval": "sentence-similarity"}
    assert [s for s, f in FAMILIES.items() if not f.LABELLED] == [s for s, f in FAMILIES.items() if f.SCORED_UNTRAINED] == ["retrieval"]
    assert training_defaults("tydiqa")["max_length"] == (384, "extractive_qa default")  # no card sets it
    assert FAMILIES["multiple_choice"].gold_label({"label": "1"}) == 1 and FAMILIES["classification"].gold_label({"label": 0}) == "0"
    files = {  # the official formats (google-research/xtreme evaluate.py: read_label_file, read_tag_file, read_squad_file)
        "xnli": (["a", "b"], ["entailment", "neutral"], "tsv", "entailment\nneutral\n"),
        "xcopa": (["0", "1"], [1, 0], "jsonl", '{"idx": "0", "label": 1}\n{"idx": "1", "label": 0}\n'),
        "udpos": (["s"], [["NOUN", "VERB"]], "tsv", "NOUN\nVERB\n\n"),
        "xquad": (["q"], {"q": "Paris"}, "json", '{\n"q": "Paris"\n}'),
        "tatoeba": (["de-0", "de-1"], [1, 0], "tsv", "1\n0\n"),
        "bucc2018": (["de-1"], ["en-7"], "tsv", "de-1\ten-7\n"),
        "lareqa": (["q1"], [["c2", "c1"]], "json", '{\n"q1": [\n"c2",\n"c1"\n]\n}'),
    }
    for task, (ids, predictions, ext, text) in files.items():
        spec = get_task(task)
        family = FAMILIES[spec.shape]
        assert (family.submission_extension(spec), family.render_submission(spec, ids, predictions)) == (ext, text), task
    code = ("import sys, toolkit.families, toolkit.export, toolkit.stats, toolkit.modelcard, toolkit.config\n"
            "from toolkit.families import get_family\nget_family('tagging').render_submission(None, ['s'], [['X']])\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "False"), out.stderr


def test_a_new_shape_is_one_family_module_and_one_registry_line(monkeypatch):
    """Issue 19's target: a new task shape needs its family module and its entry in ``FAMILIES``, nothing
    else. A toy 'rating' family (a copy of classification with its own facts and submission file) is
    registered; the task registry, training defaults, export, model cards, the protocol labels of
    reports, statistics and the matrix's planning then serve its task without another change."""
    import types

    from toolkit import modelcard, stats
    from toolkit.config import training_defaults
    from toolkit.export import render
    from toolkit.families import FAMILIES, classification
    from toolkit.matrix import _trains_target
    from toolkit.matrix_config import MatrixConfig
    from toolkit.report import setup_deviation
    from toolkit.tasks import TaskSpec, _registry

    rating = types.ModuleType("rating")
    rating.__dict__.update({k: v for k, v in vars(classification).items() if not k.startswith("__")})
    rating.__dict__.update(SHAPES=("rating",), TRAINING_DEFAULTS={"max_length": 64}, HUB_TASK_TYPE="text-scoring",
                           submission_extension=lambda spec: "csv",
                           render_submission=lambda spec, ids, predictions: "".join(f"{i},{p}\n" for i, p in zip(ids, predictions)))
    monkeypatch.setitem(FAMILIES, "rating", rating)  # the registry line
    with pytest.raises(ConfigError, match="must declare its labels"):  # NAMED_LABELS, as classification
        TaskSpec(name="stars", shape="rating", description="", benchmarks=("xtreme-r",))
    spec = TaskSpec(name="stars", shape="rating", description="star ratings", benchmarks=("xtreme-r",),
                    category="classification", labels=("1", "2", "3"))
    monkeypatch.setitem(_registry(), "stars", spec)

    assert training_defaults("stars")["max_length"] == (64, "rating default")
    assert render(spec, ["a", "b"], ["3", "1"]) == "a,3\nb,1\n"
    assert modelcard._hub_task_type("stars") == "text-scoring"
    assert setup_deviation(spec, "xtreme-r", "none") == "setup: none (not the task's own target adapter)"
    assert setup_deviation(spec, "xtreme-r", "stars") is None
    assert _trains_target(spec, MatrixConfig(targets=("stars",)))
    rows = stats.example_rows(spec, [{"label": "3"}, {"label": "2"}], ["a", "b"], ["3", "1"])
    assert rows is not None and rows.rows.ravel().tolist() == [1.0, 0.0]
