"""Label selector expressions (``app=web,tier notin (db),!legacy``): parsed once, matched
against the labels (or annotations) of an object.

The syntax and meaning are Kubernetes' own (``labels.Parse``): requirements joined by
commas, each ``key``, ``!key``, ``key=value`` (or ``==``), ``key!=value``, ``key in (a,b)``,
``key notin (a,b)``, ``key>1`` or ``key<1``; keys must be label keys and values label
values (an empty value is one). Errors say what is wrong and where, never the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = frozenset("=!(),<>")
_PAIRS = ("==", "!=")
_WORD = "word"
_END = "end"
_OPERATORS = {"=": "in", "==": "in", "!=": "notin", ">": "gt", "<": "lt"}
_SET_OPERATORS = ("in", "notin")

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
"""A label key's name part, and a non-empty label value."""
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_NAME = 63
MAX_PREFIX = 253
_DECIMAL = re.compile(r"[+-]?[0-9]+")
"""An integer as Go's ``strconv.ParseInt(s, 10, 64)`` reads it (range checked apart)."""
_INT64 = range(-(2**63), 2**63)


class SelectorError(ValueError):
    """A selector expression that cannot be parsed."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    """``in``, ``notin``, ``exists``, ``!``, ``gt`` or ``lt``."""
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        match self.operator:
            case "in":
                return self.key in labels and labels[self.key] in self.values
            case "notin":
                return self.key not in labels or labels[self.key] not in self.values
            case "exists":
                return self.key in labels
            case "gt" | "lt":
                found, bound = _integer(labels.get(self.key)), int(next(iter(self.values)))
                if found is None:
                    return False
                return found > bound if self.operator == "gt" else found < bound
            case _:
                return self.key not in labels


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


def parse_selector(text: str) -> Selector:
    """The selector ``text`` expresses (empty: matches everything), or SelectorError."""
    return Selector(_Parser(_tokens(text)).requirements())


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of each token: a symbol (its own kind), a word, then the end."""
    found: list[tuple[str, str]] = []
    at = 0
    while True:
        while at < len(text) and text[at] in _WHITESPACE:
            at += 1
        if at == len(text):
            return [*found, (_END, "")]
        if text[at] in _SYMBOLS:
            symbol = text[at : at + 2] if text[at : at + 2] in _PAIRS else text[at]
            found.append((symbol, symbol))
            at += len(symbol)
            continue
        start = at
        while at < len(text) and text[at] not in _WHITESPACE and text[at] not in _SYMBOLS:
            at += 1
        found.append((_WORD, text[start:at]))


class _Parser:
    """Kubernetes' recursive descent over the tokens: ``in`` and ``notin`` are operators
    only where an operator is expected (elsewhere keys or values like any word)."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._at = 0

    def _peek(self) -> str:
        return self._tokens[self._at][0]

    def _next(self) -> tuple[str, str]:
        self._at += 1
        return self._tokens[self._at - 1]

    def requirements(self) -> tuple[Requirement, ...]:
        found: list[Requirement] = []
        if self._peek() == _END:
            return ()
        while True:
            found.append(self._requirement(len(found) + 1))
            kind, _ = self._next()
            if kind == _END:
                return tuple(found)
            if kind in ("(", ")"):
                raise SelectorError(f"requirement {len(found)}: unbalanced parentheses")
            if kind != ",":
                raise SelectorError(f"requirement {len(found)}: expected ',' or the end after it")

    def _requirement(self, number: int) -> Requirement:
        where = f"requirement {number}"
        kind, key = self._next()
        negated = kind == "!"
        if negated:
            kind, key = self._next()
        if kind != _WORD:
            raise SelectorError(f"{where}: a key is missing")
        if not _is_key(key):
            raise SelectorError(
                f"{where}: the key is not a label key (an optional DNS subdomain and '/', "
                f"then at most {MAX_NAME} letters, digits, '-', '_' or '.', beginning and "
                "ending with a letter or digit)"
            )
        if negated:
            return Requirement(key, "!")
        if self._peek() in (_END, ","):
            return Requirement(key, "exists")
        kind, word = self._next()
        operator = word if kind == _WORD and word in _SET_OPERATORS else _OPERATORS.get(kind)
        if operator is None:
            raise SelectorError(f"{where}: expected an operator: =, ==, !=, in, notin, > or <")
        values = self._set(where) if kind == _WORD else self._exact(where)
        if not all(_is_value(value) for value in values):
            raise SelectorError(
                f"{where}: a value is not a label value (at most {MAX_NAME} letters, digits, "
                "'-', '_' or '.', beginning and ending with a letter or digit, or empty)"
            )
        if operator in ("gt", "lt") and _integer(next(iter(values))) is None:
            raise SelectorError(f"{where}: > and < compare with an integer")
        return Requirement(key, operator, values)

    def _exact(self, where: str) -> frozenset[str]:
        if self._peek() in (_END, ","):
            return frozenset({""})
        kind, word = self._next()
        if kind != _WORD:
            raise SelectorError(f"{where}: expected a value after the operator")
        return frozenset({word})

    def _set(self, where: str) -> frozenset[str]:
        """``(a,b)``; empty entries are the empty value (``()`` is the empty value alone)."""
        if self._next()[0] != "(":
            raise SelectorError(f"{where}: expected '(' after in or notin")
        if self._peek() == ")":
            self._next()
            return frozenset({""})
        values: set[str] = set()
        while True:
            kind, word = self._next()
            if kind == _WORD:
                values.add(word)
                if self._peek() == ")":
                    break
                if self._peek() != ",":
                    raise _in_parentheses(where, self._peek())
            elif kind == ",":
                if not values:
                    values.add("")
                if self._peek() == ")":
                    values.add("")
                    break
                if self._peek() == ",":
                    self._next()
                    values.add("")
            else:
                raise _in_parentheses(where, kind)
        self._next()
        return frozenset(values)


def _in_parentheses(where: str, found: str) -> SelectorError:
    if found == _END:
        return SelectorError(f"{where}: unbalanced parentheses, ')' is missing")
    if found == "(":
        return SelectorError(f"{where}: unbalanced parentheses, '(' inside parentheses")
    return SelectorError(f"{where}: expected values separated by ',' in the parentheses")


def _is_key(key: str) -> bool:
    """Whether ``key`` is a label key: ``[prefix/]name`` (Kubernetes' qualified name)."""
    prefix, slash, name = key.rpartition("/")
    if slash and (
        "/" in prefix or len(prefix) > MAX_PREFIX or not _DNS_SUBDOMAIN.fullmatch(prefix)
    ):
        return False
    return len(name) <= MAX_NAME and _NAME.fullmatch(name) is not None


def _is_value(value: str) -> bool:
    return value == "" or (len(value) <= MAX_NAME and _NAME.fullmatch(value) is not None)


def _integer(text: str | None) -> int | None:
    """``text`` as a 64-bit integer, if it is one (Kubernetes compares only those)."""
    if text is None or not _DECIMAL.fullmatch(text) or int(text) not in _INT64:
        return None
    return int(text)
