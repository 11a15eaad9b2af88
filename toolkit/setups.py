"""Adapter setups: one textual grammar, a small tree of dataclasses, adapters composition blocks.

A *setup* says which trained adapters are active, and how they combine, when a task is evaluated
(or when a fusion / a stacked adapter is trained). Two combinators exist, those of the AdapterHub
``adapters`` library (``adapters.composition``): **stack** (MAD-X, Pfeiffer et al. 2020: the output
of one adapter feeds the next, e.g. a language adapter below a task adapter) and **fuse**
(AdapterFusion, Pfeiffer et al. 2021: an attention layer mixes the outputs of several adapters; the
fusion layer and the head are trained for one *target* task).

Grammar (one form; whitespace between tokens is ignored)::

    setup  := "none" | expr
    expr   := NAME | block
    block  := KIND "(" expr ("," expr)* ")" [">" NAME]     explicit form: nests anywhere
            | KIND ":" expr ("," expr)* [">" NAME]         short form: its list runs to the end
                                                            of the text or of the enclosing "(...)"
    KIND   := "stack" | "fuse"
    NAME   := letters, digits, "_" and "." (checked with toolkit.io.safe_name); may contain the
              placeholder "{lang}", replaced by the evaluation language (see Setup.resolve)

``>NAME`` names the target task of a fuse: the fusion layer (``adapters.Fuse(..., name=target)``)
and the prediction head trained for that task. It binds to the innermost block before it, and only
a fuse takes one. Examples::

    xnli                                       one adapter
    stack:lang_de,xnli                         Stack("lang_de", "xnli")
    stack:lang_{lang},xnli                     the language adapter follows the evaluation language
    fuse:mnli,squad_v1>xnli                    Fuse("mnli", "squad_v1", name="xnli")
    stack(lang_{lang},fuse(mnli,squad_v1)>xnli)
    stack:lang_de,fuse:mnli,squad_v1           short form nested last == stack(lang_de,fuse(mnli,squad_v1))
    none                                       the bare encoder (retrieval tasks)

``str(setup)`` is the canonical spelling: the short form for a top-level block whose children are
all names, the explicit form otherwise, no spaces. ``parse_setup(str(s)) == s`` for every setup, and
``str(parse_setup(t)) == t`` for every canonical ``t``. A one-child stack means the same as its child
and is written as the child (``stack:xnli`` -> ``xnli``), so one composition has one id.

Nesting follows the adapters library (``ALLOWED_NESTINGS`` and ``validate_composition``): a stack
holds adapters and fuses, a fuse holds adapters and stacks, and below the second level only stacks
and adapters may appear. :meth:`Setup.to_composition` runs the library's own validation too.

:func:`setup_id` gives a deterministic, filesystem-safe id for the results store:
``stack-lang_de+xnli``, ``fuse-mnli+squad_v1@xnli``, nested blocks in parentheses
(``stack-lang_{lang}+(fuse-mnli+squad_v1@xnli)``); names cannot contain ``- + @ ( )`` so ids are
unambiguous. Ids over 96 characters are shortened with a hash of the canonical text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Union

from .errors import SetupError, XtaError
from .io import safe_name

__all__ = [
    "AdapterName",
    "StackBlock",
    "FuseBlock",
    "Setup",
    "parse_setup",
    "setup_id",
    "NO_SETUP",
    "LANG_PLACEHOLDER",
]

NO_SETUP = "none"
LANG_PLACEHOLDER = "{lang}"
KINDS = ("stack", "fuse")
_NAME_RE = re.compile(r"(?:[A-Za-z0-9_.]|\{lang\})+")
_TOKEN_RE = re.compile(r"\s*(?:(?P<name>[A-Za-z0-9_.{}]+)|(?P<punct>[(),:>])|(?P<bad>\S))")
_MAX_ID = 96


# --------------------------------------------------------------------------------------------------
# the tree
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterName:
    """A trained adapter, addressed by name (may contain ``{lang}``)."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class StackBlock:
    """``adapters.composition.Stack``: children applied one after another, bottom first."""

    children: tuple[Node, ...]

    kind = "stack"


@dataclass(frozen=True)
class FuseBlock:
    """``adapters.composition.Fuse``: an AdapterFusion layer over the children, trained for ``target``."""

    children: tuple[Node, ...]
    target: str | None = None

    kind = "fuse"

    @property
    def fusion_name(self) -> str:
        """The name the adapters library keys this fusion layer by (its ``Fuse.name``)."""
        return self.target or ",".join(last_name(c) for c in self.children)


Node = Union[AdapterName, StackBlock, FuseBlock]


def last_name(node: Node) -> str:
    return node.name if isinstance(node, AdapterName) else last_name(node.children[-1])


@dataclass(frozen=True)
class Setup:
    """A parsed setup; ``root`` is None for the bare encoder (``none``)."""

    root: Node | None

    def __str__(self) -> str:
        return NO_SETUP if self.root is None else _render(self.root, top=True)

    @property
    def id(self) -> str:
        return setup_id(self)

    @property
    def has_placeholder(self) -> bool:
        return LANG_PLACEHOLDER in str(self)

    def adapter_names(self) -> list[str]:
        """Every adapter the setup needs loaded, in order of first appearance."""
        out: list[str] = []
        for leaf in _leaves(self.root):
            if leaf not in out:
                out.append(leaf)
        return out

    def fusions(self) -> list[FuseBlock]:
        """The fuse blocks, outermost first (each needs its fusion layer loaded or trained)."""
        return list(_fuses(self.root))

    @property
    def head(self) -> str | None:
        """The head to predict with: a fuse's target, else the last adapter (MAD-X: the task adapter)."""
        return None if self.root is None else _head(self.root)

    def resolve(self, lang: str) -> Setup:
        """Replace ``{lang}`` in every name by ``lang`` (an evaluation language code)."""
        safe_name(lang, "language")
        return Setup(None if self.root is None else _substitute(self.root, lang))

    def to_composition(self, model_type: str | None = None) -> Any:
        """The ``adapters.composition`` block for ``model.set_active_adapters``, validated by the library.

        A single adapter becomes ``Stack(name)``, as ``adapters.composition.parse_composition`` does;
        the bare encoder gives None. Placeholders must be resolved first.
        """
        if self.root is None:
            return None
        if self.has_placeholder:
            raise SetupError(f"setup {str(self)!r} still contains {LANG_PLACEHOLDER}; call .resolve(lang) first")
        from adapters.composition import Stack, parse_composition

        block = _to_block(self.root)
        if isinstance(block, str):
            block = Stack(block)  # pyright: ignore[reportArgumentType]  (adapters annotates each *args item as a list)
        try:
            return parse_composition(block, level=0, model_type=model_type)
        except ValueError as exc:  # the library's own nesting rules
            raise SetupError(f"setup {str(self)!r} is not a valid adapters composition: {exc}") from None


def _leaves(node: Node | None):
    if node is None:
        return
    if isinstance(node, AdapterName):
        yield node.name
        return
    for child in node.children:
        yield from _leaves(child)


def _fuses(node: Node | None):
    if node is None or isinstance(node, AdapterName):
        return
    if isinstance(node, FuseBlock):
        yield node
    for child in node.children:
        yield from _fuses(child)


def _head(node: Node) -> str:
    if isinstance(node, AdapterName):
        return node.name
    if isinstance(node, FuseBlock) and node.target:
        return node.target
    return _head(node.children[-1])


def _substitute(node: Node, lang: str) -> Node:
    if isinstance(node, AdapterName):
        return AdapterName(node.name.replace(LANG_PLACEHOLDER, lang))
    children = tuple(_substitute(c, lang) for c in node.children)
    if isinstance(node, FuseBlock):
        target = node.target.replace(LANG_PLACEHOLDER, lang) if node.target else None
        return FuseBlock(children, target)
    return StackBlock(children)


def _to_block(node: Node) -> Any:
    from adapters.composition import Fuse, Stack

    if isinstance(node, AdapterName):
        return node.name
    children = [_to_block(c) for c in node.children]
    if isinstance(node, FuseBlock):
        return Fuse(*children, name=node.target)
    return Stack(*children)


# --------------------------------------------------------------------------------------------------
# printing and ids
# --------------------------------------------------------------------------------------------------


def _render(node: Node, top: bool = False) -> str:
    if isinstance(node, AdapterName):
        return node.name
    inner = ",".join(_render(c) for c in node.children)
    target = f">{node.target}" if isinstance(node, FuseBlock) and node.target else ""
    if top and all(isinstance(c, AdapterName) for c in node.children):
        return f"{node.kind}:{inner}{target}"
    return f"{node.kind}({inner}){target}"


def _id(node: Node, top: bool = False) -> str:
    if isinstance(node, AdapterName):
        return node.name
    inner = "+".join(_id(c) for c in node.children)
    target = f"@{node.target}" if isinstance(node, FuseBlock) and node.target else ""
    text = f"{node.kind}-{inner}{target}"
    return text if top else f"({text})"


def setup_id(setup: Setup | str) -> str:
    """Filesystem-safe, deterministic id of a setup (a directory name in the results store).

    ``xnli`` -> ``xnli``; ``stack:lang_de,xnli`` -> ``stack-lang_de+xnli``;
    ``fuse:mnli,squad_v1>xnli`` -> ``fuse-mnli+squad_v1@xnli``; ``none`` -> ``none``.
    Over 96 characters: the first 80 characters, ``~`` and 12 hex digits of SHA-256 of the canonical text.
    """
    if isinstance(setup, str):
        setup = parse_setup(setup)
    if setup.root is None:
        return NO_SETUP
    text = _id(setup.root, top=True)
    if len(text) > _MAX_ID:
        digest = hashlib.sha256(str(setup).encode()).hexdigest()[:12]
        text = f"{text[:80]}~{digest}"
    return safe_name(text, "setup id")


# --------------------------------------------------------------------------------------------------
# parsing
# --------------------------------------------------------------------------------------------------

# Mirrors adapters.composition.ALLOWED_NESTINGS for the two blocks xta uses (a test keeps them equal):
# a stack may hold names and fuses, a fuse names and stacks; below level 1 only stacks and names.
_ALLOWED_CHILDREN = {"stack": ("name", "fuse"), "fuse": ("name", "stack")}


def _kind_of(node: Node) -> str:
    return "name" if isinstance(node, AdapterName) else node.kind


class _Parser:
    """Recursive-descent parser over the token list of one setup text."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def error(self, message: str, pos: int | None = None) -> SetupError:
        if pos is None:
            pos = self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text)
        return SetupError(f"invalid setup {self.text!r}: {message} at position {pos}")

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, int]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def name(self, what: str) -> tuple[str, int]:
        tok = self.peek()
        if tok is None or tok in "(),:>":
            found = "the end" if tok is None else repr(tok)
            raise self.error(f"expected {what}, found {found}")
        return self.take()

    def expr(self) -> Node:
        word, pos = self.name("an adapter name or a block (stack/fuse)")
        nxt = self.peek()
        if nxt not in ("(", ":"):
            return AdapterName(_check_name(word, self, pos))
        if word not in KINDS:
            raise self.error(f"unknown block {word!r} (xta setups use 'stack' and 'fuse')", pos)
        self.take()
        children = self.items()
        if nxt == "(":
            if self.peek() != ")":
                raise self.error("expected ',' or ')'")
            self.take()
        return self.block(word, tuple(children), self.target(word), pos)

    def items(self) -> list[Node]:
        out = [self.expr()]
        while self.peek() == ",":
            self.take()
            out.append(self.expr())
        return out

    def target(self, kind: str) -> str | None:
        if self.peek() != ">":
            return None
        _, pos = self.take()
        if kind != "fuse":
            raise self.error("'>' names the target task of a fuse; a stack has no target", pos)
        word, npos = self.name("the target task after '>'")
        return _check_name(word, self, npos)

    def block(self, kind: str, children: tuple[Node, ...], target: str | None, pos: int) -> Node:
        names = [c.name for c in children if isinstance(c, AdapterName)]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise self.error(f"{kind} lists {', '.join(dups)} more than once", pos)
        if kind == "stack" and len(children) == 1:
            return children[0]
        return StackBlock(children) if kind == "stack" else FuseBlock(children, target)


def _tokenize(text: str) -> list[tuple[str, int]]:
    tokens = []
    for m in _TOKEN_RE.finditer(text):
        if m.group("bad"):
            raise SetupError(
                f"invalid setup {text!r}: unexpected character {m.group('bad')!r} at position {m.start('bad')}"
                " (names use letters, digits, '_' and '.'; blocks use stack(...), fuse(...), ',' and '>')"
            )
        kind = "name" if m.group("name") else "punct"
        tokens.append((m.group(kind), m.start(kind)))
    return tokens


def _check_name(word: str, parser: _Parser, pos: int) -> str:
    if not _NAME_RE.fullmatch(word):
        raise parser.error(f"bad name {word!r} (braces only in the placeholder {LANG_PLACEHOLDER})", pos)
    if word in KINDS or word == NO_SETUP:
        raise parser.error(f"{word!r} is a reserved word, not an adapter name", pos)
    try:
        return safe_name(word, "adapter")
    except XtaError as exc:
        raise parser.error(str(exc), pos) from None


def _check_nesting(node: Node, text: str, level: int = 0) -> None:
    """The adapters library's nesting rules (ALLOWED_NESTINGS, validate_composition), with our words."""
    if isinstance(node, AdapterName):
        return
    if level > 1 and node.kind != "stack":
        raise SetupError(
            f"invalid setup {text!r}: a {node.kind} cannot be nested {level} levels deep"
            " (adapters allows only stacks and adapter names below the second level)"
        )
    for child in node.children:
        if _kind_of(child) not in _ALLOWED_CHILDREN[node.kind]:
            allowed = " and ".join(k if k == "name" else f"{k} blocks" for k in _ALLOWED_CHILDREN[node.kind])
            raise SetupError(
                f"invalid setup {text!r}: a {node.kind} cannot contain a {_kind_of(child)}"
                f" (adapters allows only {allowed.replace('name', 'adapter names')} inside a {node.kind})"
            )
        _check_nesting(child, text, level + 1)


def parse_setup(text: str | Setup) -> Setup:
    """Parse a setup text (see the module docstring) into a :class:`Setup`; SetupError if invalid."""
    if isinstance(text, Setup):
        return text
    if not isinstance(text, str) or not text.strip():
        raise SetupError(f"invalid setup {text!r}: empty (use an adapter name, stack:..., fuse:... or 'none')")
    if text.strip() == NO_SETUP:
        return Setup(None)
    parser = _Parser(text)
    root = parser.expr()
    if parser.peek() is not None:
        raise parser.error(f"unexpected {parser.peek()!r}")
    _check_nesting(root, text)
    return Setup(root)
