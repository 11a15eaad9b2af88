"""The target tasks: the 10 XTREME-R tasks and XTREME's pawsx and bucc2018 (closed set, Python literals).

Languages come from ``toolkit.languages.TASK_LANGUAGES``. Local patterns follow the layouts documented in
../shared/data/MANIFEST.md (XTREME's own download layout for xnli/pawsx/panx/udpos/tydiqa/mlqa/bucc2018; the
authors' release files for xquad, xcopa, LASER tatoeba, lareqa and UD CoNLL-U). Hub ids are the usual ones;
their revisions are pinned in ``toolkit/tasks/hub_revisions.py``.
"""

from __future__ import annotations

from .spec import TRANSLATE_TRAIN, TaskSpec, hub, local, split

NLI_LABELS = ("entailment", "neutral", "contradiction")
PARAPHRASE_LABELS = ("0", "1")
UPOS = (
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)  # the order google/xtreme uses for its integer pos_tags
PANX_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme ner_tags order
# universal-dependencies/universal_dependencies (UD 2.7) integer upos order
HF_UD_UPOS = tuple(
    "NOUN PUNCT ADP NUM SYM SCONJ ADJ PART DET CCONJ PROPN PRON X _ ADV INTJ VERB AUX".split()
)
# Treebanks for XTREME-R's UD 2.7 additions (google/xtreme only has XTREME's UD 2.5 languages)
_UD27 = {"lt": "lt_alksnis", "pl": "pl_pdb", "uk": "uk_iu", "wo": "wo_wtb", "ro": "ro_rrt"}
# LASER's Tatoeba files use ISO 639-3 individual-language codes
TATOEBA_CODES = {
    "af": "afr", "ar": "ara", "az": "aze", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun",
    "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "lt": "lit",
    "ml": "mal", "mr": "mar", "nl": "nld", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr", "ur": "urd", "vi": "vie",
    "zh": "cmn",
}
TYDIQA_NAMES = {
    "ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian", "ko": "korean",
    "ru": "russian", "sw": "swahili", "te": "telugu",
}
#: XTREME-R's XCOPA text: google-research/xtreme third_party/run_xcopa.py l. 303-306 builds
#: f"{premise} What was the {question}?" (question = cause/effect) as the first segment, each choice the second
XCOPA_PROMPTS = {"cause": "What was the cause?", "effect": "What was the effect?"}

_XTREME_R = ("xtreme-r", "xtreme")

# The TRANSLATE_TRAIN splits of xnli and pawsx (issue 21, ``--train-langs``). XTREME reads
# its own translations (google-research/xtreme third_party/processors/xnli.py l. 62-76 and pawsx.py
# l. 53-71, files from its xtreme_translations bucket, which has no Hub id); the Hub ids below are the
# dataset authors' machine translations, a documented deviation (README, "translate-train").
_XNLI_MT = tuple("ar bg de el es fr hi ru sw th tr ur vi zh".split())  # facebook/xnli configs but en (= MNLI)
_PAWSX_MT = tuple("de es fr ja ko zh".split())  # paws-x configs but en (= PAWS-Wiki)

_xnli_hub = dict(columns={"text": "premise", "text_pair": "hypothesis", "label": "label"}, label_names=NLI_LABELS)
_pawsx_hub = dict(columns={"text": "sentence1", "text_pair": "sentence2", "label": "label"}, label_names=PARAPHRASE_LABELS)
_panx_hub = dict(columns={"tokens": "tokens", "tags": "ner_tags"}, label_names=PANX_LABELS)
_udpos_hub = dict(columns={"tokens": "tokens", "tags": "pos_tags"}, label_names=UPOS)
_mewslix_opts = {"candidates": "mewslix/candidate_set_entities.jsonl"}
_ud27 = {
    lang: hub("universal-dependencies/universal_dependencies", tb, "test",
              columns={"tokens": "tokens", "tags": "upos"}, label_names=HF_UD_UPOS, format="ud_tagging")
    for lang, tb in _UD27.items()
}

TARGET_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="xnli",
        shape="pair_classification",
        category="classification",
        description="Cross-lingual NLI (Conneau et al. 2018): premise/hypothesis -> entailment/neutral/contradiction.",
        benchmarks=_XTREME_R,
        labels=NLI_LABELS,
        metrics=("accuracy",),
        main_metric="accuracy",
        train_from=("mnli",),
        splits={
            "dev": split(local("xnli/dev-{lang}.tsv", "xtreme_tsv_pair"), hub=hub("facebook/xnli", "{lang}", "validation", **_xnli_hub)),
            "test": split(local("xnli/test-{lang}.tsv", "xtreme_tsv_pair"), hub=hub("facebook/xnli", "{lang}", "test", **_xnli_hub)),
            # machine-translated MNLI train (XNLI-MT 1.0, Conneau et al. 2018), read for --train-langs
            TRANSLATE_TRAIN: split(hub=hub("facebook/xnli", "{lang}", "train", **_xnli_hub), languages=_XNLI_MT),
        },
        citation="Conneau et al. (2018). XNLI: Evaluating Cross-lingual Sentence Representations. EMNLP.",
        license="CC BY-NC 4.0",
        url="https://github.com/facebookresearch/XNLI",
    ),
    TaskSpec(
        name="pawsx",
        shape="pair_classification",
        category="classification",
        description="PAWS-X adversarial paraphrase identification (Yang et al. 2019); XTREME only.",
        benchmarks=("xtreme",),
        labels=PARAPHRASE_LABELS,
        train_from=("paws",),
        splits={
            "dev": split(local("pawsx/dev-{lang}.tsv", "xtreme_tsv_pair"), hub=hub("google-research-datasets/paws-x", "{lang}", "validation", **_pawsx_hub)),
            "test": split(local("pawsx/test-{lang}.tsv", "xtreme_tsv_pair"), hub=hub("google-research-datasets/paws-x", "{lang}", "test", **_pawsx_hub)),
            # the PAWS-X release's machine-translated PAWS-Wiki train (Yang et al. 2019), read for --train-langs
            TRANSLATE_TRAIN: split(hub=hub("google-research-datasets/paws-x", "{lang}", "train", **_pawsx_hub), languages=_PAWSX_MT),
        },
        citation="Yang et al. (2019). PAWS-X: A Cross-lingual Adversarial Dataset for Paraphrase Identification. EMNLP.",
        license="Google (free for any purpose)",
    ),
    TaskSpec(
        name="xcopa",
        shape="multiple_choice",
        category="classification",
        description="XCOPA causal commonsense reasoning (Ponti et al. 2020): pick the more plausible cause/effect.",
        benchmarks=("xtreme-r",),
        metrics=("accuracy",),
        train_from=("siqa", "copa"),  # XTREME-R: SIQA first, then COPA (Ponti et al. 2020)
        question_prompts=XCOPA_PROMPTS,
        version=2,  # 2: XTREME's "What was the effect?" (1: "What happened as a result?")
        splits={
            "dev": split(local("xcopa/data/{lang}/val.{lang}.jsonl", "xcopa_jsonl"), hub=hub("cambridgeltl/xcopa", "{lang}", "validation")),
            "test": split(local("xcopa/data/{lang}/test.{lang}.jsonl", "xcopa_jsonl"), hub=hub("cambridgeltl/xcopa", "{lang}", "test")),
        },
        citation="Ponti et al. (2020). XCOPA: A Multilingual Dataset for Causal Commonsense Reasoning. EMNLP.",
        license="CC BY 4.0",
    ),
    TaskSpec(
        name="udpos",
        shape="tagging",
        category="structured_prediction",
        description="Universal Dependencies part-of-speech tagging (UPOS, 17 tags); XTREME merges all treebanks of a language.",
        benchmarks=_XTREME_R,
        labels=tuple(UPOS),
        metrics=("seqeval_f1",),
        main_metric="seqeval_f1",
        train_from=("udpos",),
        splits={
            "train": split(local("udpos_xtreme/train-en.tsv", "conll_tsv"), hub=hub("google/xtreme", "udpos.English", "train", **_udpos_hub)),
            "dev": split(
                local("udpos_xtreme/dev-{lang}.tsv", "conll_tsv"),
                local("udpos/UD_*/{lang}_*-ud-dev.conllu", "conllu"),
                hub=hub("google/xtreme", "udpos.{name}", "validation", **_udpos_hub),
                languages=("en",),
            ),
            "test": split(
                local("udpos_xtreme/test-{lang}.tsv", "conll_tsv"),
                local("udpos/UD_*/{lang}_*-ud-test.conllu", "conllu"),
                hub=hub("google/xtreme", "udpos.{name}", "test", **_udpos_hub),
                hub_overrides=_ud27,
            ),
        },
        citation="Nivre et al. (2020). Universal Dependencies v2. LREC. (XTREME: UD 2.5; XTREME-R additions: UD 2.7)",
        license="per treebank (CC BY-SA / CC BY-NC-SA)",
    ),
    TaskSpec(
        name="panx",
        shape="tagging",
        category="structured_prediction",
        description="WikiANN / PAN-X named entity recognition (Pan et al. 2017; Rahimi et al. 2019 splits), IOB2 PER/ORG/LOC.",
        benchmarks=_XTREME_R,
        labels=PANX_LABELS,
        metrics=("seqeval_f1",),
        main_metric="seqeval_f1",
        train_from=("panx",),
        splits={
            "train": split(local("panx/train-en.tsv", "conll_tsv"), hub=hub("google/xtreme", "PAN-X.en", "train", **_panx_hub)),
            "dev": split(
                local("panx/dev-{lang}.tsv", "conll_tsv"),
                hub=hub("google/xtreme", "PAN-X.{lang}", "validation", **_panx_hub),
                hub_overrides={l: hub("unimelb-nlp/wikiann", l, "validation", **_panx_hub) for l in ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")},
            ),
            "test": split(
                local("panx/test-{lang}.tsv", "conll_tsv"),
                hub=hub("google/xtreme", "PAN-X.{lang}", "test", **_panx_hub),
                hub_overrides={l: hub("unimelb-nlp/wikiann", l, "test", **_panx_hub) for l in ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")},
            ),
        },
        citation="Pan et al. (2017). Cross-lingual Name Tagging and Linking for 282 Languages. ACL. Rahimi et al. (2019).",
        license="not stated (WikiANN)",
    ),
    TaskSpec(
        name="xquad",
        shape="extractive_qa",
        category="qa",
        description="XQuAD (Artetxe et al. 2020): SQuAD v1.1 dev translated into 11 languages (+ro); zero-shot from SQuAD v1.1.",
        benchmarks=_XTREME_R,
        metrics=("exact_match", "f1", "qa_mean"),
        main_metric="qa_mean",
        train_from=("squad_v1",),
        splits={
            "test": split(local("xquad/xquad.{lang}.json", "squad_json"), hub=hub("google/xquad", "xquad.{lang}", "validation")),
        },
        citation="Artetxe et al. (2020). On the Cross-lingual Transferability of Monolingual Representations. ACL.",
        license="CC BY-SA 4.0",
    ),
    TaskSpec(
        name="mlqa",
        shape="extractive_qa",
        category="qa",
        description="MLQA (Lewis et al. 2020), same-language context/question pairs, scored with MLQA's normalisation.",
        benchmarks=_XTREME_R,
        metrics=("mlqa_exact_match", "mlqa_f1", "qa_mean"),
        main_metric="qa_mean",
        train_from=("squad_v1",),
        splits={
            "dev": split(local("mlqa/MLQA_V1/dev/dev-context-{lang}-question-{lang}.json", "squad_json"), hub=hub("facebook/mlqa", "mlqa.{lang}.{lang}", "validation")),
            "test": split(local("mlqa/MLQA_V1/test/test-context-{lang}-question-{lang}.json", "squad_json"), hub=hub("facebook/mlqa", "mlqa.{lang}.{lang}", "test")),
        },
        citation="Lewis et al. (2020). MLQA: Evaluating Cross-lingual Extractive Question Answering. ACL.",
        license="CC BY-SA 3.0",
    ),
    TaskSpec(
        name="tydiqa",
        shape="extractive_qa",
        category="qa",
        description="TyDiQA-GoldP (Clark et al. 2020); XTREME trains on its English train set and tests on the dev sets.",
        benchmarks=_XTREME_R,
        metrics=("exact_match", "f1", "qa_mean"),
        main_metric="qa_mean",
        train_from=("tydiqa",),
        splits={
            "train": split(
                local("tydiqa/tydiqa-goldp-v1.1-train/tydiqa.goldp.en.train.json", "squad_json"),
                hub=hub("google-research-datasets/tydiqa", "secondary_task", "train", filter={"id": "{code}-*"}, lang_codes=TYDIQA_NAMES),
            ),
            "test": split(
                local("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json", "squad_json"),
                hub=hub("google-research-datasets/tydiqa", "secondary_task", "validation", filter={"id": "{code}-*"}, lang_codes=TYDIQA_NAMES),
            ),
        },
        citation="Clark et al. (2020). TyDi QA: A Benchmark for Information-Seeking Question Answering in Typologically Diverse Languages. TACL.",
        license="Apache 2.0",
    ),
    TaskSpec(
        name="tatoeba",
        shape="retrieval",
        retrieval_rule="tatoeba",
        category="retrieval",
        description="Tatoeba bitext retrieval (Artetxe & Schwenk 2019, LASER v1 test set): nearest English translation.",
        benchmarks=_XTREME_R,
        metrics=("accuracy",),
        main_metric="accuracy",
        splits={
            "test": split(
                local("tatoeba/v1/tatoeba.{code}-eng.{code}", "tatoeba", options={"english": "tatoeba/v1/tatoeba.{code}-eng.eng"}, lang_codes=TATOEBA_CODES),
                hub=hub("google/xtreme", "tatoeba.{code}", "validation", lang_codes=TATOEBA_CODES, format="tatoeba"),
            ),
        },
        citation="Artetxe & Schwenk (2019). Massively Multilingual Sentence Embeddings for Zero-Shot Cross-Lingual Transfer and Beyond. TACL.",
        license="CC BY 2.0 FR",
    ),
    TaskSpec(
        name="bucc2018",
        shape="retrieval",
        retrieval_rule="bucc2018",
        category="retrieval",
        description="BUCC 2018 parallel sentence mining (Zweigenbaum et al. 2018); XTREME only. Threshold chosen on dev.",
        benchmarks=("xtreme",),
        version=2,  # 2: test is mined at the threshold tuned on dev (1 tuned it on test's own gold)
        metrics=("bucc_f1",),
        main_metric="bucc_f1",
        splits={
            "dev": split(
                local("bucc2018/{lang}-en.dev.{lang}", "bucc", options={"english": "bucc2018/{lang}-en.dev.en", "gold": "bucc2018/{lang}-en.dev.gold"}),
                hub=hub("google/xtreme", "bucc18.{lang}", "validation", format="bucc"),
            ),
            "test": split(
                local("bucc2018/{lang}-en.test.{lang}", "bucc", options={"english": "bucc2018/{lang}-en.test.en", "gold": "bucc2018/{lang}-en.test.gold"}),
                hub=hub("google/xtreme", "bucc18.{lang}", "test", format="bucc"),
            ),
        },
        citation="Zweigenbaum et al. (2018). Overview of the Third BUCC Shared Task: Spotting Parallel Sentences in Comparable Corpora.",
        license="BUCC research-use terms",
    ),
    TaskSpec(
        name="lareqa",
        shape="retrieval",
        retrieval_rule="lareqa",
        category="retrieval",
        description="LAReQA on XQuAD-R (Roy et al. 2020): language-agnostic answer-sentence retrieval, mAP@20.",
        benchmarks=("xtreme-r",),
        metrics=("map@20",),
        main_metric="map@20",
        train_from=("squad_v1",),  # dual encoder on SQuAD v1.1 (question, answer sentence) pairs
        splits={
            "test": split(
                local("lareqa/xquad-r/{lang}.json", "lareqa", options={"pool": "lareqa/xquad-r/*.json"}),
                hub=hub("google-research-datasets/xquad_r", "{lang}", "validation", format="lareqa"),
            ),
        },
        citation="Roy et al. (2020). LAReQA: Language-agnostic Answer Retrieval from a Multilingual Pool. EMNLP.",
        license="CC BY-SA 4.0",
    ),
    TaskSpec(
        name="mewslix",
        shape="retrieval",
        retrieval_rule="lareqa",
        category="retrieval",
        description="Mewsli-X entity linking as retrieval (Ruder et al. 2021): mention -> English Wikipedia entity, mAP@20.",
        benchmarks=("xtreme-r",),
        metrics=("map@20",),
        main_metric="map@20",
        train_from=("mewslix",),  # English Wikipedia mention-entity pairs
        splits={
            # the Mewsli-X release files (all languages in one file), else XTREME's per-language shards
            # (utils_preprocess.py mewslix_preprocess; test shards carry no entity_id, their labels are '')
            "train": split(local("mewslix/wikipedia_pairs-train.jsonl", "mewslix_pairs")),
            "dev": split(
                local("mewslix/wikinews_mentions-dev.jsonl", "mewslix", options=_mewslix_opts),
                local("mewslix/wikinews_mentions/dev-{lang}.jsonl", "mewslix",
                      options={**_mewslix_opts, "gold": "mewslix/wikinews_labels/dev-{lang}.json"}),
            ),
            "test": split(
                local("mewslix/wikinews_mentions-test.jsonl", "mewslix", options=_mewslix_opts),
                local("mewslix/wikinews_mentions/test-{lang}.jsonl", "mewslix",
                      options={**_mewslix_opts, "gold": "mewslix/wikinews_labels/test-{lang}.json"}),
            ),
        },
        citation="Botha et al. (2020). Entity Linking in 100 Languages. EMNLP; Ruder et al. (2021). XTREME-R. EMNLP.",
        license="CC BY 4.0 (Wikinews/Wikipedia text)",
    ),
)
