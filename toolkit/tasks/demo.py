"""The built-in demo benchmark (issue 9): three tasks generated from Unicode CLDR names shipped in babel.

``xta demo`` runs them on a fresh machine with no benchmark files and no Hub. English train/dev and the
test languages are disjoint by entity (see :mod:`toolkit.cldr` for every construction rule); the test
languages are the XTREME-R languages babel can name (:data:`toolkit.cldr.TASK_LANGUAGES`).
"""

from __future__ import annotations

from ..cldr import CONTINENTS, KINDS, TASK_LANGUAGES
from .spec import SplitSource, TaskSpec

_EN = ("en",)
_CITATION = ("Unicode Common Locale Data Repository (CLDR), https://cldr.unicode.org, via the babel package "
             "(https://babel.pocoo.org); territory containment after UN M.49.")
_LICENSE = "Unicode License v3 (CLDR data); BSD-3-Clause (babel)"
_URL = "https://cldr.unicode.org"


def _classification(name: str) -> dict[str, SplitSource]:
    return {
        "train": SplitSource(builtin=name, languages=_EN),
        "dev": SplitSource(builtin=name, languages=_EN),
        "test": SplitSource(builtin=name, languages=TASK_LANGUAGES[name]),
    }


DEMO_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="cldr_kind",
        shape="classification",
        category="classification",
        description="What kind of name is this (country, language, currency, script)? CLDR display names; "
                    "English training, zero-shot in the other languages.",
        benchmarks=("demo",),
        labels=KINDS,
        splits=_classification("cldr_kind"),
        languages=TASK_LANGUAGES["cldr_kind"],
        citation=_CITATION,
        license=_LICENSE,
        url=_URL,
    ),
    TaskSpec(
        name="cldr_continent",
        shape="classification",
        category="classification",
        description="Which continent is this country in? CLDR country names and territory containment; "
                    "English training, zero-shot in the other languages.",
        benchmarks=("demo",),
        labels=CONTINENTS,
        splits=_classification("cldr_continent"),
        languages=TASK_LANGUAGES["cldr_continent"],
        citation=_CITATION,
        license=_LICENSE,
        url=_URL,
    ),
    TaskSpec(
        name="cldr_names",
        shape="retrieval",
        retrieval_rule="tatoeba",  # bitext accuracy: the name in English retrieves its translation
        category="retrieval",
        description="Name translation retrieval (Tatoeba-style): find the English name of the same country, "
                    "language, currency or script; top-1 accuracy.",
        benchmarks=("demo",),
        metrics=("accuracy",),
        main_metric="accuracy",
        splits={"test": SplitSource(builtin="cldr_names", languages=TASK_LANGUAGES["cldr_names"])},
        languages=TASK_LANGUAGES["cldr_names"],
        citation=_CITATION,
        license=_LICENSE,
        url=_URL,
    ),
)
