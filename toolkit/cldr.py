"""A built-in mini benchmark from Unicode CLDR display names, for ``xta demo`` (no files, no Hub).

Issue 9: when no benchmark files are at hand, xta still needs real multilingual data. The Unicode Common
Locale Data Repository (CLDR) ships, for hundreds of locales, translated *display names* of countries,
languages, currencies and scripts; the ``babel`` package bundles that data (its version and the CLDR
version are recorded in :func:`provenance`). Three tasks are derived from it:

* ``cldr_kind`` (classification): a localized name -> what it names (``country``, ``language``,
  ``currency``, ``script``).
* ``cldr_continent`` (classification): a localized country name -> its continent (``Africa``,
  ``Americas``, ``Asia``, ``Europe``, ``Oceania``) by CLDR's territory containment (UN M.49 regions).
* ``cldr_names`` (retrieval, Tatoeba-style): an entity's name in a language -> the English name of the
  same entity among the English names of every test entity.

Construction rules (each one is a design decision, tested in tests/test_cldr.py):

* **Entity-disjoint splits.** Every entity (``kind:code``, e.g. ``country:DE``) goes to one split by
  ``sha256(key) % 10``: buckets 0-4 train, 5 dev, 6-9 test. Train and dev are English only; test is every
  available language, English included. A country is therefore in the same split in every task and
  every language, so the English training data never holds an entity of any test set: transfer is
  measured, not memorised.
* **Parallel test sets.** The test entities of a task are chosen once, from English (in hash order,
  capped per class for ``cldr_kind``); each language gets those of them it can name, so test sets are
  parallel across languages up to the names a locale lacks.
* **Clean inventory.** Countries are the leaves of CLDR's five continents, without the exceptionally
  reserved EA/IC and CLDR's "Outlying Oceania" (AQ AC CP DG TA: Antarctica and islands that M.49 puts in
  no continent); no groupings (EU, UN, ZZ, numeric regions). Languages are plain ISO 639 codes (no
  ``en_GB`` variants, no ``und``/``mul``/``mis``/``zxx``). Currencies are those CLDR lists as legal
  tender in some territory today (no historical or X-codes such as gold). Scripts are ISO 15924 codes
  without the special ``Z*``/``Q*`` codes and without Hans/Hant, whose CLDR names ("Simplified",
  "Traditional") only make sense inside "Chinese (Simplified)". Babel gives only the standard form of a
  name (no ``alt="short"``/``variant`` forms).
* **No ambiguous names.** A name (case-folded) that a language gives to two different entities (English
  "Georgian" is a language and a script) is dropped in that language.
* **No copies of English.** In a test language other than English, a name equal (case-folded) to the
  English name of the same entity is dropped (German "Japan", Wolof's untranslated currency names): such
  an item would test English, not transfer. German "Japan" is still in :func:`names` ``("de")``.

Languages: all 50 XTREME-R languages but Haitian Creole, whose babel locale ``ht`` holds no display
names of its own (CLDR 46+ resolves it to French through ``fr_HT``); Tagalog uses babel's ``fil``
(Filipino). See :data:`UNAVAILABLE`, checked against babel by :func:`language_status`. A task leaves
out a language with fewer than :data:`MIN_TEST_ITEMS` test items (:data:`EXCLUDED`: Filipino's country
names are nearly all English, so ``cldr_continent`` has no ``tl``); ``cldr_names`` has no English (the
queries would be the candidates).

Sizes (babel 2.18 / CLDR 47): English train 297 / 135 / 300 candidates (kind / continent / names), test
per language 23-200 / 25-88 / 26-285 items. Everything is built in well under a second, cached in-process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .datafiles import RetrievalData
from .errors import ConfigError, DataError, DataUnavailable
from .languages import XTREME_R_LANGUAGES

log = logging.getLogger(__name__)

__all__ = [
    "KINDS", "CONTINENTS", "CONTINENT_OF", "BABEL_LOCALE", "UNAVAILABLE", "LANGUAGES", "TASK_LANGUAGES",
    "EXCLUDED", "MIN_TEST_ITEMS", "BUILTINS", "split_of", "names", "entities", "language_status",
    "cldr_kind", "cldr_continent", "cldr_names", "provenance", "clear_cache", "MANIFEST_PATH",
    "manifest", "items_digest", "verify", "build_manifest",
]

KINDS: tuple[str, ...] = ("country", "language", "currency", "script")
CONTINENTS: tuple[str, ...] = ("Africa", "Americas", "Asia", "Europe", "Oceania")

# CLDR common/supplemental/supplementalData.xml <territoryContainment>, based on UN M.49: the leaves of
# the five continents 002 (Africa), 019 (Americas), 142 (Asia), 150 (Europe), 009 (Oceania), one
# sub-region per line. babel does not ship this table (its global.dat has no containment), so it is
# copied here; CQ (Sark, CLDR 44+) is in Northern Europe as in CLDR. QO "Outlying Oceania" is left out.
_CONTAINMENT: dict[str, tuple[str, ...]] = {
    "Africa": (
        "DZ EG EH LY MA SD TN",  # 015 Northern Africa (EA IC: exceptionally reserved, left out)
        "BF BJ CI CV GH GM GN GW LR ML MR NE NG SH SL SN TG",  # 011 Western Africa
        "AO CD CF CG CM GA GQ ST TD",  # 017 Middle Africa
        "BI DJ ER ET IO KE KM MG MU MW MZ RE RW SC SO SS TF TZ UG YT ZM ZW",  # 014 Eastern Africa
        "BW LS NA SZ ZA",  # 018 Southern Africa
    ),
    "Americas": (
        "BM CA GL PM US",  # 021 Northern America
        "BZ CR GT HN MX NI PA SV",  # 013 Central America
        "AG AI AW BB BL BQ BS CU CW DM DO GD GP HT JM KN KY LC MF MQ MS PR SX TC TT VC VG VI",  # 029 Caribbean
        "AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE",  # 005 South America
    ),
    "Asia": (
        "TM TJ KG KZ UZ",  # 143 Central Asia
        "AE AM AZ BH CY GE IL IQ JO KW LB OM PS QA SA SY TR YE",  # 145 Western Asia
        "CN HK JP KP KR MN MO TW",  # 030 Eastern Asia
        "AF BD BT IN IR LK MV NP PK",  # 034 Southern Asia
        "BN ID KH LA MM MY PH SG TH TL VN",  # 035 South-Eastern Asia
    ),
    "Europe": (
        "BG BY CZ HU MD PL RO RU SK UA",  # 151 Eastern Europe
        "GG IM JE AX CQ DK EE FI FO GB IE IS LT LV NO SE SJ",  # 154 Northern Europe
        "AT BE CH DE FR LI LU MC NL",  # 155 Western Europe
        "AD AL BA ES GI GR HR IT ME MK MT RS PT SI SM VA XK",  # 039 Southern Europe
    ),
    "Oceania": (
        "AU CC CX HM NF NZ",  # 053 Australia and New Zealand
        "FJ NC PG SB VU",  # 054 Melanesia
        "FM GU KI MH MP NR PW UM",  # 057 Micronesia
        "AS CK NU PF PN TK TO TV WF WS",  # 061 Polynesia
    ),
}

#: Country code -> continent (CLDR territory containment).
CONTINENT_OF: dict[str, str] = {
    code: continent for continent, rows in _CONTAINMENT.items() for row in rows for code in row.split()
}

#: XTREME code -> babel locale id where they differ (babel has no ``tl``; CLDR's Tagalog is ``fil``).
BABEL_LOCALE: dict[str, str] = {"tl": "fil"}

#: XTREME-R languages the benchmark cannot offer, with the reason (tests check this against babel).
UNAVAILABLE: dict[str, str] = {
    "ht": "babel's locale 'ht' has no display names of its own (CLDR resolves it to French via fr_HT)",
}

#: The languages of every test split (the XTREME-R languages minus :data:`UNAVAILABLE`).
LANGUAGES: tuple[str, ...] = tuple(c for c in XTREME_R_LANGUAGES if c not in UNAVAILABLE)

#: Minimum test items for a language to be offered by a task.
MIN_TEST_ITEMS = 20
#: Per task, the available languages it leaves out and why (tests recompute the counts from babel).
EXCLUDED: dict[str, dict[str, str]] = {
    "cldr_continent": {"tl": "only 6 of Filipino's test country names in CLDR differ from English "
                             f"(fewer than {MIN_TEST_ITEMS})"},
    "cldr_names": {"en": "English queries would be the English candidates themselves"},
}
#: The test languages of each task: :data:`LANGUAGES` minus the task's :data:`EXCLUDED`.
TASK_LANGUAGES: dict[str, tuple[str, ...]] = {
    task: tuple(c for c in LANGUAGES if c not in EXCLUDED.get(task, {}))
    for task in ("cldr_kind", "cldr_continent", "cldr_names")
}
TRAIN_BUCKETS, DEV_BUCKETS, TEST_BUCKETS = range(0, 5), range(5, 6), range(6, 10)
#: Per-class caps of cldr_kind (languages outnumber the other kinds 3:1 in CLDR).
KIND_CAPS: dict[str, int] = {"train": 75, "dev": 15, "test": 50}
#: Largest candidate pool (= test entities) of cldr_names.
NAMES_POOL = 300

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
_SCRIPT_CODE = re.compile(r"^[A-PR-Y][a-z]{3}$")  # ISO 15924 without the special Q*/Z* codes
_SPECIAL_LANGUAGES = frozenset({"und", "mul", "mis", "zxx", "root"})
_SPECIAL_SCRIPTS = frozenset({"Hans", "Hant"})


# ------------------------------------------------------------------------------------------ splits


def _hash(key: str) -> int:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16)


def split_of(kind: str, code: str) -> str:
    """The split of entity ``kind:code``: ``sha256`` of the key mod 10, buckets 0-4/5/6-9."""
    bucket = _hash(f"{kind}:{code}") % 10
    return "train" if bucket in TRAIN_BUCKETS else "dev" if bucket in DEV_BUCKETS else "test"


def _check_split(split: str) -> None:
    if split not in ("train", "dev", "test"):
        raise ConfigError(f"built-in CLDR data has splits train, dev and test, not {split!r}")


# ---------------------------------------------------------------------------------------- babel


def language_status(lang: str) -> str | None:
    """None when babel can give ``lang``'s names, else why not (checked against :data:`UNAVAILABLE`)."""
    from babel import localedata

    locale_id = BABEL_LOCALE.get(lang, lang)
    if not localedata.exists(locale_id):
        return f"babel has no locale {locale_id!r}"
    own = localedata.load(locale_id, merge_inherited=False)
    if not own.get("territories"):
        parent = _parent(locale_id)
        return f"babel's locale {locale_id!r} has no display names of its own (CLDR resolves it via {parent})"
    return None


def _parent(locale_id: str) -> str:
    from babel.core import get_global

    return get_global("parent_exceptions").get(locale_id, "root")


@lru_cache(maxsize=None)
def _raw_names(lang: str) -> dict[str, dict[str, str]]:
    """kind -> code -> display name in ``lang`` as babel gives them (standard forms only)."""
    from babel import Locale

    if lang in UNAVAILABLE:
        raise DataUnavailable(f"built-in CLDR data has no {lang!r}: {UNAVAILABLE[lang]}")
    locale = Locale.parse(BABEL_LOCALE.get(lang, lang))
    log.debug("reading CLDR display names of %s from babel (locale %s)", lang, locale)
    tables = {"country": locale.territories, "language": locale.languages,
              "currency": locale.currencies, "script": locale.scripts}
    return {kind: {code: str(name).strip() for code, name in table.items() if str(name).strip()}
            for kind, table in tables.items()}


@lru_cache(maxsize=1)
def _inventory() -> dict[str, frozenset[str]]:
    """kind -> the entity codes of the benchmark (the inventory rules of the module docstring)."""
    from babel.core import get_global

    en = _raw_names("en")
    rows = (row for per_territory in get_global("territory_currencies").values() for row in per_territory)
    tender = {currency for currency, _start, end, is_tender in rows if end is None and is_tender}
    keep = {
        "country": lambda c: c in CONTINENT_OF,
        "language": lambda c: bool(_LANGUAGE_CODE.match(c)) and c not in _SPECIAL_LANGUAGES,
        "currency": lambda c: c in tender,
        "script": lambda c: bool(_SCRIPT_CODE.match(c)) and c not in _SPECIAL_SCRIPTS,
    }
    return {kind: frozenset(c for c in en[kind] if keep[kind](c)) for kind in KINDS}


@lru_cache(maxsize=None)
def names(lang: str) -> dict[tuple[str, str], str]:
    """``(kind, code) -> name`` in ``lang`` for the inventory, without names ``lang`` gives to two entities.

    English copies are *not* removed here (German "Japan" is German); :func:`entities` removes them
    from test sets.
    """
    raw, inventory = _raw_names(lang), _inventory()
    found = {(kind, code): raw[kind][code] for kind in KINDS for code in sorted(inventory[kind]) if code in raw[kind]}
    counts: dict[str, int] = {}
    for name in found.values():
        counts[name.casefold()] = counts.get(name.casefold(), 0) + 1
    return {key: name for key, name in found.items() if counts[name.casefold()] == 1}


def entities(lang: str, split: str, kinds: tuple[str, ...] = KINDS) -> list[tuple[str, str, str]]:
    """``(kind, code, name)`` of ``split``'s entities that ``lang`` names, in hash order.

    Train/dev exist in English only. In test languages other than English, names equal (case-folded) to
    the English name of the same entity are left out.
    """
    _check_split(split)
    own = names(lang)
    english = names("en")
    out = []
    for kind, code in _ordered(split, kinds):
        name = own.get((kind, code))
        if name is None or (lang != "en" and name.casefold() == english[(kind, code)].casefold()):
            continue
        out.append((kind, code, name))
    return out


@lru_cache(maxsize=None)
def _ordered(split: str, kinds: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """English-nameable entities of ``split`` and ``kinds`` in sha256 order (a fixed pseudo-random order)."""
    english = names("en")
    keys = [(k, c) for k in kinds for c in _inventory()[k] if (k, c) in english and split_of(k, c) == split]
    return tuple(sorted(keys, key=lambda kc: _hash(f"{kc[0]}:{kc[1]}")))


def _check_lang(lang: str, split: str, task: str) -> None:
    """DataUnavailable unless ``task`` offers ``lang`` in ``split`` (train/dev: English only)."""
    _check_split(split)
    if split != "test" and lang != "en":
        raise DataUnavailable(f"{task} {split}: the built-in CLDR benchmark trains in English only; "
                              f"{lang!r} has a test split")
    if lang in UNAVAILABLE:
        raise DataUnavailable(f"{task} {split} {lang}: {UNAVAILABLE[lang]}")
    if lang not in XTREME_R_LANGUAGES:
        raise DataUnavailable(f"{task} {split}: {lang!r} is not an XTREME-R language")
    if split == "test" and lang in EXCLUDED.get(task, {}):
        raise DataUnavailable(f"{task} test {lang}: {EXCLUDED[task][lang]}")


# ---------------------------------------------------------------------------------------- tasks


def _selected(split: str, kinds: tuple[str, ...], caps: Mapping[str, int]) -> set[tuple[str, str]]:
    """The split's entities chosen once from English: the first ``caps[kind]`` of each kind in hash order."""
    chosen, seen = set(), {k: 0 for k in kinds}
    for kind, code in _ordered(split, kinds):
        if seen[kind] < caps[kind]:
            chosen.add((kind, code))
            seen[kind] += 1
    return chosen


def cldr_kind(lang: str, split: str, **options: Any) -> list[dict[str, Any]]:
    """``{"id", "text": name, "text_pair": None, "label": kind}``; ``per_class`` overrides :data:`KIND_CAPS`."""
    _check_lang(lang, split, "cldr_kind")
    cap = int(options.get("per_class", KIND_CAPS[split]))
    chosen = _selected(split, KINDS, {k: cap for k in KINDS})
    return [_example(lang, kind, code, name, kind)
            for kind, code, name in entities(lang, split) if (kind, code) in chosen]


def cldr_continent(lang: str, split: str, **options: Any) -> list[dict[str, Any]]:
    """``{"id", "text": country name, "text_pair": None, "label": continent}`` (CLDR containment)."""
    _check_lang(lang, split, "cldr_continent")
    return [_example(lang, kind, code, name, CONTINENT_OF[code])
            for kind, code, name in entities(lang, split, ("country",))]


def _example(lang: str, kind: str, code: str, name: str, label: str) -> dict[str, Any]:
    return {"id": f"{lang}:{kind}:{code}", "text": name, "text_pair": None, "label": label}


def cldr_names(lang: str, split: str, **options: Any):
    """Tatoeba-style retrieval (Artetxe & Schwenk 2019; XTREME scores top-1 accuracy): ``lang`` names ->
    English names of the same entities.

    The candidate pool is the English names of the split's first :data:`NAMES_POOL` entities in hash
    order (all four kinds; ``pool`` overrides the size); the queries are those that ``lang`` names
    differently from English. Gold: the one candidate of the same entity.
    """
    if split != "test":
        raise ConfigError(f"cldr_names is a zero-shot retrieval task with a test split only, not {split!r}")
    _check_lang(lang, split, "cldr_names")
    size = int(options.get("pool", NAMES_POOL))
    pool = _ordered(split, KINDS)[:size]
    english = names("en")
    own = {(k, c): n for k, c, n in entities(lang, split)}
    queries = [(k, c) for k, c in pool if (k, c) in own]
    query_ids = [f"{lang}:{k}:{c}" for k, c in queries]
    return RetrievalData(
        query_ids=query_ids,
        queries=[own[kc] for kc in queries],
        candidate_ids=[f"en:{k}:{c}" for k, c in pool],
        candidates=[english[kc] for kc in pool],
        gold={qid: {f"en:{k}:{c}"} for qid, (k, c) in zip(query_ids, queries)},
        meta={"lang": lang, "candidate_lang": "en", "parallel": False, "source": "builtin"},
    )


#: The generators themselves, unverified (``build_manifest`` and tests that change options use these).
GENERATORS: dict[str, Callable[..., Any]] = {
    "cldr_kind": cldr_kind, "cldr_continent": cldr_continent, "cldr_names": cldr_names,
}


# ----------------------------------------------------------------------------- fixed data (issue 22)
#
# The benchmark is *data*, not "whatever the installed babel gives": ``cldr_manifest.json`` (committed
# beside this module) holds the item count and a sha256 of every task/language/split as generated from
# the babel release below. Every load with default options is checked against it, so a different babel
# (another CLDR release, other names, other counts) is one clear error instead of silently other items.
# Refresh deliberately with ``python -m toolkit.cldr --write-manifest`` after changing the pin.

#: The committed manifest of the built-in benchmark.
MANIFEST_PATH = Path(__file__).with_name("cldr_manifest.json")


def _canonical(items: Any) -> Any:
    """A JSON-able, order-preserving form of a generator's output (example list or RetrievalData)."""
    if isinstance(items, list):
        return items
    return {"query_ids": items.query_ids, "queries": items.queries, "candidate_ids": items.candidate_ids,
            "candidates": items.candidates, "gold": {q: sorted(g) for q, g in sorted(items.gold.items())}}


def _count(items: Any) -> int:
    return len(items) if isinstance(items, list) else len(items.query_ids)


def items_digest(items: Any) -> str:
    """sha256 of the canonical JSON of generated items (what the manifest stores per task/lang/split)."""
    text = json.dumps(_canonical(items), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def manifest() -> dict[str, Any]:
    """The committed manifest: ``{"babel_version", "cldr_version", "items": {task: {split: {lang: {...}}}}}``."""
    try:
        return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{MANIFEST_PATH}: the built-in CLDR benchmark's manifest cannot be read ({exc}); "
                        "reinstall xta") from exc


def _installed() -> tuple[str, str]:
    import babel
    from babel.core import get_cldr_version

    return babel.__version__, str(get_cldr_version())


def verify(task: str, lang: str, split: str, items: Any) -> Any:
    """``items`` if they equal the manifest's entry for ``task``/``split``/``lang``, else a DataError that
    names the installed babel/CLDR versions and the ones the benchmark was fixed with."""
    expected = manifest()["items"].get(task, {}).get(split, {}).get(lang)
    found = {"count": _count(items), "sha256": items_digest(items)}
    if expected is not None and found == expected:
        return items
    babel_version, cldr_version = _installed()
    fixed = manifest()
    what = ("is not in the manifest" if expected is None else
            f"has {found['count']} items (sha256 {found['sha256'][:12]}), the manifest "
            f"{expected['count']} (sha256 {expected['sha256'][:12]})")
    raise DataError(
        f"built-in CLDR benchmark {task} {split} {lang} {what}: the installed babel {babel_version} "
        f"(CLDR {cldr_version}) gives other items than babel {fixed['babel_version']} (CLDR "
        f"{fixed['cldr_version']}), the release the benchmark is fixed with. "
        f"Install it: pip install babel=={fixed['babel_version']}")


def _verified(task: str, generate: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(generate)
    def load(lang: str, split: str, **options: Any) -> Any:
        items = generate(lang, split, **options)
        return items if options else verify(task, lang, split, items)  # non-default options: no fixed data
    return load


#: Generator name (``SplitSource.builtin``) -> ``fn(lang, split, **options)``, checked against the manifest.
BUILTINS: dict[str, Callable[..., Any]] = {task: _verified(task, fn) for task, fn in GENERATORS.items()}


def _splits(task: str) -> dict[str, tuple[str, ...]]:
    if task == "cldr_names":
        return {"test": TASK_LANGUAGES[task]}
    return {"train": ("en",), "dev": ("en",), "test": TASK_LANGUAGES[task]}


def build_manifest() -> dict[str, Any]:
    """The manifest of what the installed babel generates (``--write-manifest``; tests compare it)."""
    babel_version, cldr_version = _installed()
    items: dict[str, Any] = {}
    for task, generate in GENERATORS.items():
        for split, langs in _splits(task).items():
            for lang in langs:
                out = generate(lang, split)
                items.setdefault(task, {}).setdefault(split, {})[lang] = {
                    "count": _count(out), "sha256": items_digest(out)}
    return {"babel_version": babel_version, "cldr_version": cldr_version, "items": items}


def clear_cache() -> None:
    """Forget the names read from babel (tests that time or re-check generation)."""
    for fn in (_raw_names, _inventory, names, _ordered, manifest):
        fn.cache_clear()


def provenance(generator: str, split: str | None = None, lang: str | None = None) -> dict[str, Any]:
    """What a result record stores for built-in data: the generator, the babel and CLDR versions, the
    benchmark's data version (sha256 of the committed manifest) and, for one split and language, the
    count and sha256 of its items as the manifest fixes them."""
    if generator not in BUILTINS:
        raise ConfigError(f"unknown built-in data generator {generator!r} (known: {', '.join(BUILTINS)})")
    babel_version, cldr_version = _installed()
    out: dict[str, Any] = {
        "source": "builtin", "generator": generator, "babel_version": babel_version, "cldr_version": cldr_version,
        "data_version": "sha256:" + hashlib.sha256(MANIFEST_PATH.read_bytes()).hexdigest()}
    entry = manifest()["items"].get(generator, {}).get(split or "", {}).get(lang or "")
    if entry is not None:
        out["items"] = dict(entry)
    return out


def _main(argv: list[str] | None = None) -> int:
    """``python -m toolkit.cldr --write-manifest``: fix the benchmark to what the installed babel gives."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m toolkit.cldr", description=_main.__doc__)
    parser.add_argument("--write-manifest", action="store_true", help=f"rewrite {MANIFEST_PATH.name}")
    args = parser.parse_args(argv)
    built = build_manifest()
    if args.write_manifest:
        from .io import atomic_write_text

        atomic_write_text(MANIFEST_PATH, json.dumps(built, indent=1, sort_keys=True) + "\n")
        print(f"wrote {MANIFEST_PATH} (babel {built['babel_version']}, CLDR {built['cldr_version']})")
        return 0
    same = built["items"] == manifest()["items"]
    print(f"babel {built['babel_version']} (CLDR {built['cldr_version']}): "
          f"{'matches' if same else 'DIFFERS FROM'} the manifest (babel {manifest()['babel_version']})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(_main())
