"""The XTREME-R and XTREME language tables: the only language lists in xta.

Every language xta knows is one :class:`Language` record; every task's language list is one entry of
:data:`TASK_LANGUAGES`, keyed by benchmark. Adding a language or moving one into a task touches this
file only.

Resource levels follow the taxonomy of Joshi et al. (2020), "The State and Fate of Linguistic
Diversity and Inclusion in the NLP World" (0 = left-behinds ... 5 = winners). xta calls levels 0-2
*low-resource*, 3 *mid-resource* and 4-5 *high-resource*; the selection objectives use these groups.

Per-task lists are copied from google-research/xtreme ``evaluate.py`` (XTREME-R) and the XTREME paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownLanguage


@dataclass(frozen=True)
class Language:
    code: str  # XTREME's two-letter code
    name: str  # English name, as google/xtreme spells it in configs such as ``udpos.German``
    iso3: str  # ISO 639-3 (macro)language code
    script: str  # ISO 15924 script name
    family: str  # language family (genus where useful)
    resource: int  # Joshi et al. (2020) class, 0..5

    @property
    def resource_group(self) -> str:
        return "low" if self.resource <= 2 else ("mid" if self.resource == 3 else "high")


_ROWS = [
    # code name iso3 script family joshi-class
    ("af", "Afrikaans", "afr", "Latin", "Indo-European (Germanic)", 3),
    ("ar", "Arabic", "ara", "Arabic", "Afro-Asiatic (Semitic)", 5),
    ("az", "Azerbaijani", "aze", "Latin", "Turkic", 1),
    ("bg", "Bulgarian", "bul", "Cyrillic", "Indo-European (Slavic)", 3),
    ("bn", "Bengali", "ben", "Bengali", "Indo-European (Indo-Aryan)", 3),
    ("de", "German", "deu", "Latin", "Indo-European (Germanic)", 5),
    ("el", "Greek", "ell", "Greek", "Indo-European (Hellenic)", 3),
    ("en", "English", "eng", "Latin", "Indo-European (Germanic)", 5),
    ("es", "Spanish", "spa", "Latin", "Indo-European (Romance)", 5),
    ("et", "Estonian", "est", "Latin", "Uralic", 3),
    ("eu", "Basque", "eus", "Latin", "Basque (isolate)", 4),
    ("fa", "Persian", "fas", "Arabic", "Indo-European (Iranian)", 4),
    ("fi", "Finnish", "fin", "Latin", "Uralic", 4),
    ("fr", "French", "fra", "Latin", "Indo-European (Romance)", 5),
    ("gu", "Gujarati", "guj", "Gujarati", "Indo-European (Indo-Aryan)", 1),
    ("he", "Hebrew", "heb", "Hebrew", "Afro-Asiatic (Semitic)", 3),
    ("hi", "Hindi", "hin", "Devanagari", "Indo-European (Indo-Aryan)", 4),
    ("ht", "Haitian Creole", "hat", "Latin", "French Creole", 2),
    ("hu", "Hungarian", "hun", "Latin", "Uralic", 4),
    ("id", "Indonesian", "ind", "Latin", "Austronesian", 3),
    ("it", "Italian", "ita", "Latin", "Indo-European (Romance)", 4),
    ("ja", "Japanese", "jpn", "Japanese", "Japonic", 5),
    ("jv", "Javanese", "jav", "Latin", "Austronesian", 1),
    ("ka", "Georgian", "kat", "Georgian", "Kartvelian", 3),
    ("kk", "Kazakh", "kaz", "Cyrillic", "Turkic", 3),
    ("ko", "Korean", "kor", "Hangul", "Koreanic", 4),
    ("lt", "Lithuanian", "lit", "Latin", "Indo-European (Baltic)", 3),
    ("ml", "Malayalam", "mal", "Malayalam", "Dravidian", 1),
    ("mr", "Marathi", "mar", "Devanagari", "Indo-European (Indo-Aryan)", 2),
    ("ms", "Malay", "msa", "Latin", "Austronesian", 3),
    ("my", "Burmese", "mya", "Myanmar", "Sino-Tibetan", 1),
    ("nl", "Dutch", "nld", "Latin", "Indo-European (Germanic)", 4),
    ("pa", "Punjabi", "pan", "Gurmukhi", "Indo-European (Indo-Aryan)", 2),
    ("pl", "Polish", "pol", "Latin", "Indo-European (Slavic)", 4),
    ("pt", "Portuguese", "por", "Latin", "Indo-European (Romance)", 4),
    ("qu", "Quechua", "que", "Latin", "Quechuan", 1),
    ("ro", "Romanian", "ron", "Latin", "Indo-European (Romance)", 3),
    ("ru", "Russian", "rus", "Cyrillic", "Indo-European (Slavic)", 4),
    ("sw", "Swahili", "swa", "Latin", "Niger-Congo (Bantu)", 2),
    ("ta", "Tamil", "tam", "Tamil", "Dravidian", 3),
    ("te", "Telugu", "tel", "Telugu", "Dravidian", 1),
    ("th", "Thai", "tha", "Thai", "Kra-Dai", 3),
    ("tl", "Tagalog", "tgl", "Latin", "Austronesian", 3),
    ("tr", "Turkish", "tur", "Latin", "Turkic", 4),
    ("uk", "Ukrainian", "ukr", "Cyrillic", "Indo-European (Slavic)", 3),
    ("ur", "Urdu", "urd", "Arabic", "Indo-European (Indo-Aryan)", 3),
    ("vi", "Vietnamese", "vie", "Latin", "Austroasiatic", 4),
    ("wo", "Wolof", "wol", "Latin", "Niger-Congo (Atlantic)", 2),
    ("yo", "Yoruba", "yor", "Latin", "Niger-Congo (Volta-Niger)", 2),
    ("zh", "Chinese", "zho", "Han", "Sino-Tibetan", 5),
]

LANGUAGES: dict[str, Language] = {r[0]: Language(*r) for r in _ROWS}

#: The 50 XTREME-R languages and the 40 XTREME languages.
XTREME_R_LANGUAGES: tuple[str, ...] = tuple(sorted(LANGUAGES))
XTREME_LANGUAGES: tuple[str, ...] = tuple(
    sorted(set(XTREME_R_LANGUAGES) - {"az", "gu", "ht", "lt", "pa", "pl", "qu", "ro", "uk", "wo"})
)


def _split(s: str) -> tuple[str, ...]:
    return tuple(s.split())


_XNLI = "ar bg de el en es fr hi ru sw th tr ur vi zh"
_UDPOS_X = "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh"
_PANX_X = (
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my "
    "zh kk tr et fi hu"
)
_TATOEBA_X = (
    "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et fi hu"
)
_XQUAD_X = "en es de el ru tr ar vi th zh hi"

#: ``TASK_LANGUAGES[benchmark][task]``: the languages each task is evaluated on, in the official order.
TASK_LANGUAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme-r": {
        "xnli": _split(_XNLI),
        "xcopa": _split("et ht id it qu sw ta th tr vi zh"),
        "udpos": _split(_UDPOS_X + " lt pl uk wo ro"),
        "panx": _split(_PANX_X + " qu pl uk az lt pa gu ro"),
        "xquad": _split(_XQUAD_X + " ro"),
        "mlqa": _split("en es de ar hi vi zh"),
        "tydiqa": _split("en ar bn fi id ko ru sw te"),
        "tatoeba": _split(_TATOEBA_X + " az lt pl uk ro"),
        "mewslix": _split("ar de en es fa ja pl ro ta tr uk"),
        "lareqa": _split("ar de el en es hi ru th tr vi zh"),
    },
    "xtreme": {
        "xnli": _split(_XNLI),
        "pawsx": _split("de en es fr ja ko zh"),
        "udpos": _split(_UDPOS_X),
        "panx": _split(_PANX_X),
        "xquad": _split(_XQUAD_X),
        "mlqa": _split("en es de ar hi vi zh"),
        "tydiqa": _split("en ar bn fi id ko ru sw te"),
        "bucc2018": _split("de fr ru zh"),
        "tatoeba": _split(_TATOEBA_X),
    },
}

BENCHMARKS: tuple[str, ...] = tuple(TASK_LANGUAGES)


def get(code: str) -> Language:
    """The language record for a two-letter code, or UnknownLanguage with a suggestion."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise UnknownLanguage(code, LANGUAGES) from None


def task_languages(task: str, benchmark: str | None = None) -> tuple[str, ...]:
    """Languages of ``task`` in ``benchmark`` (default: XTREME-R if it has the task, else XTREME)."""
    for bench in ([benchmark] if benchmark else list(BENCHMARKS)):
        langs = TASK_LANGUAGES.get(bench, {}).get(task)
        if langs is not None:
            return langs
    return ()


def low_resource(codes: tuple[str, ...] | list[str]) -> list[str]:
    """The codes among ``codes`` whose resource group is 'low'."""
    return [c for c in codes if get(c).resource_group == "low"]
