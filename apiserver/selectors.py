"""Label and field selectors as the Kubernetes API server parses and applies them.

The grammar, the matching rules and the error texts follow apimachinery's `labels.Parse` and
`fields.ParseSelector`, so that kubectl and helm see the same answers as from a real server.
A selector is parsed once per request into plain requirements; matching is a loop over them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any


class SelectorError(ValueError):
    """A selector the real server would reject with 400 Bad Request; the text is its message."""


# --- label selectors --------------------------------------------------------------------------


class Operator(enum.Enum):
    """A label requirement's operator; the value is how it is written in a selector."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _as_int64(text: str) -> int | None:
    """The integer Go's strconv.ParseInt(text, 10, 64) reads, or None when it fails."""
    if not _INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


@dataclass(frozen=True)
class Requirement:
    """One comma-separated term of a label selector. `values` is sorted and duplicate-free."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        op = self.operator
        if op is Operator.EXISTS:
            return value is not None
        if op is Operator.DOES_NOT_EXIST:
            return value is None
        if op in (Operator.NOT_EQUALS, Operator.NOT_IN):
            # Objects without the label match, as in Kubernetes.
            return value is None or value not in self.values
        if value is None:
            return False
        if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
            return self._compares(value)
        return value in self.values

    def _compares(self, value: str) -> bool:
        actual, bound = _as_int64(value), _as_int64(self.values[0])
        if actual is None or bound is None:
            return False
        return actual > bound if self.operator is Operator.GREATER_THAN else actual < bound

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({','.join(self.values)})"
        return f"{self.key}{op.value}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """Requirements that must all hold; no requirement matches every object."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


class _Token(enum.Enum):
    IDENTIFIER = enum.auto()
    IN = enum.auto()
    NOT_IN = enum.auto()
    EQUALS = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    NOT_EQUALS = enum.auto()
    BANG = enum.auto()
    GREATER_THAN = enum.auto()
    LESS_THAN = enum.auto()
    OPEN_PAREN = enum.auto()
    CLOSE_PAREN = enum.auto()
    COMMA = enum.auto()
    END = enum.auto()


_SYMBOLS = {
    "!=": _Token.NOT_EQUALS,
    "==": _Token.DOUBLE_EQUALS,
    "!": _Token.BANG,
    "=": _Token.EQUALS,
    ">": _Token.GREATER_THAN,
    "<": _Token.LESS_THAN,
    "(": _Token.OPEN_PAREN,
    ")": _Token.CLOSE_PAREN,
    ",": _Token.COMMA,
}
_KEYWORDS = {"in": _Token.IN, "notin": _Token.NOT_IN}
_LEXEME = re.compile(r"[ \t\r\n]*(?:(!=|==|[!=><(),])|([^ \t\r\n!=><(),]+))")
_BINARY_OPERATORS = {
    _Token.IN: Operator.IN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
    _Token.GREATER_THAN: Operator.GREATER_THAN,
    _Token.LESS_THAN: Operator.LESS_THAN,
}
_EXPECTED_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> list[tuple[_Token, str]]:
    """The tokens of `text`, ending with END; whitespace separates identifiers only."""
    tokens: list[tuple[_Token, str]] = []
    position = 0
    while (match := _LEXEME.match(text, position)) is not None:
        symbol, word = match.groups()
        if symbol is not None:
            tokens.append((_SYMBOLS[symbol], symbol))
        else:
            tokens.append((_KEYWORDS.get(word, _Token.IDENTIFIER), word))
        position = match.end()
    tokens.append((_Token.END, ""))
    return tokens


class _LabelParser:
    """A recursive-descent parser over the token list, one instance per selector text."""

    def __init__(self, text: str) -> None:
        self._tokens = _lex(text)
        self._position = 0

    def _peek(self, *, keywords: bool = False) -> tuple[_Token, str]:
        """The next token; `in`/`notin` are plain identifiers unless an operator may follow."""
        token, literal = self._tokens[self._position]
        if not keywords and token in (_Token.IN, _Token.NOT_IN):
            return _Token.IDENTIFIER, literal
        return token, literal

    def _next(self, *, keywords: bool = False) -> tuple[_Token, str]:
        token = self._peek(keywords=keywords)
        self._position += 1
        return token

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        while True:
            token, literal = self._peek()
            if token is _Token.END:
                break
            if token not in (_Token.IDENTIFIER, _Token.BANG):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                requirements.append(self._requirement())
            except SelectorError as error:
                raise SelectorError(f"unable to parse requirement: {error}") from None
            token, literal = self._next()
            if token is _Token.END:
                break
            if token is not _Token.COMMA:
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self._peek()
            if token not in (_Token.IDENTIFIER, _Token.BANG):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")
        requirements.sort(key=lambda requirement: requirement.key)
        return LabelSelector(tuple(requirements))

    def _requirement(self) -> Requirement:
        negated = self._peek()[0] is _Token.BANG
        if negated:
            self._next()
        token, key = self._next()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{key}', expected: identifier")
        _check_label_key(key)
        if negated:
            # `!key` takes no operator: whatever follows is reported by the caller.
            return Requirement(key, Operator.DOES_NOT_EXIST)
        if self._peek()[0] in (_Token.END, _Token.COMMA):
            return Requirement(key, Operator.EXISTS)
        token, literal = self._next(keywords=True)
        operator = _BINARY_OPERATORS.get(token)
        if operator is None:
            raise SelectorError(f"found '{literal}', expected: {_EXPECTED_OPERATORS}")
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self._value_set()
        else:
            values = {self._exact_value()}
        requirement = Requirement(key, operator, tuple(sorted(values)))
        _check_values(requirement)
        return requirement

    def _exact_value(self) -> str:
        if self._peek()[0] in (_Token.END, _Token.COMMA):
            return ""
        token, literal = self._next()
        if token is not _Token.IDENTIFIER:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return literal

    def _value_set(self) -> set[str]:
        token, literal = self._next()
        if token is not _Token.OPEN_PAREN:
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self._peek()
        if token is _Token.CLOSE_PAREN:
            self._next()
            return {""}
        if token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self._value_list()
        if self._next()[0] is not _Token.CLOSE_PAREN:
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def _value_list(self) -> set[str]:
        """Values up to (not including) ')'; an empty item between commas is the empty value."""
        values: set[str] = set()
        while True:
            token, literal = self._next()
            if token is _Token.IDENTIFIER:
                values.add(literal)
                following, following_literal = self._peek()
                if following is _Token.CLOSE_PAREN:
                    return values
                if following is not _Token.COMMA:
                    raise SelectorError(f"found '{following_literal}', expected: ',' or ')'")
            elif token is _Token.COMMA:
                if not values:
                    values.add("")
                following = self._peek()[0]
                if following is _Token.CLOSE_PAREN:
                    values.add("")
                    return values
                if following is _Token.COMMA:
                    self._next()
                    values.add("")
            else:
                raise SelectorError(f"found '{literal}', expected: ',', or identifier")


_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_NAME_PART_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end"
    " with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used"
    " for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_QUALIFIED_NAME_MESSAGE = (
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start"
    " and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc',"
    " regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional"
    " DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
)
_PREFIX_MESSAGE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric"
    " characters, '-' or '.', and must start and end with an alphanumeric character (e.g."
    " 'example.com', regex used for validation is"
    " '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or"
    " '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or"
    " 'my_value',  or '12345', regex used for validation is"
    " '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def _qualified_name_problems(key: str) -> list[str]:
    parts = key.split("/")
    if len(parts) > 2:
        return [_QUALIFIED_NAME_MESSAGE]
    name = parts[-1]
    problems: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                problems.append("prefix part must be no more than 253 characters")
            if not _DNS_SUBDOMAIN.fullmatch(prefix):
                problems.append(_PREFIX_MESSAGE)
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    if name and not _NAME_PART.fullmatch(name):
        problems.append(_NAME_PART_MESSAGE)
    return problems


def _check_label_key(key: str) -> None:
    problems = _qualified_name_problems(key)
    if problems:
        raise SelectorError(f'key: Invalid value: "{key}": {"; ".join(problems)}')


def _check_values(requirement: Requirement) -> None:
    errors: list[str] = []
    if requirement.operator in (Operator.GREATER_THAN, Operator.LESS_THAN):
        errors.extend(
            f"values[{index}]: Invalid value: \"{value}\": for 'Gt', 'Lt' operators,"
            " the value must be an integer"
            for index, value in enumerate(requirement.values)
            if _as_int64(value) is None
        )
    for index, value in enumerate(requirement.values):
        problems = []
        if len(value) > 63:
            problems.append("must be no more than 63 characters")
        if not _LABEL_VALUE.fullmatch(value):
            problems.append(_LABEL_VALUE_MESSAGE)
        if problems:
            errors.append(f'values[{index}]: Invalid value: "{value}": {"; ".join(problems)}')
    if len(errors) == 1:
        raise SelectorError(errors[0])
    if errors:
        raise SelectorError(f"[{', '.join(errors)}]")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query parameter; raises SelectorError with the server's text."""
    return _LabelParser(text).parse()


# --- field selectors --------------------------------------------------------------------------


FieldReader = Callable[[Mapping[str, Any]], str]
"""Reads the value one field label selects on from an object."""


def _metadata_field(name: str) -> FieldReader:
    def read(obj: Mapping[str, Any]) -> str:
        metadata = obj.get("metadata")
        value = metadata.get(name) if isinstance(metadata, Mapping) else None
        return value if isinstance(value, str) else ""

    return read


_SUPPORTED_FIELDS: Mapping[str, FieldReader] = {
    "metadata.name": _metadata_field("name"),
    "metadata.namespace": _metadata_field("namespace"),
}


@dataclass(frozen=True)
class FieldRequirement:
    """`field=value` (or `==`), or `field!=value` when `negated`."""

    field: str
    value: str
    negated: bool = False

    def matches(
        self, obj: Mapping[str, Any], labels: Mapping[str, FieldReader] = _SUPPORTED_FIELDS
    ) -> bool:
        return (labels[self.field](obj) == self.value) != self.negated

    def __str__(self) -> str:
        return f"{self.field}{'!=' if self.negated else '='}{_escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """Field requirements that must all hold; no requirement matches every object."""

    requirements: tuple[FieldRequirement, ...] = ()
    labels: Mapping[str, FieldReader] = dataclass_field(
        default_factory=lambda: _SUPPORTED_FIELDS, compare=False, hash=False, repr=False
    )
    """The field labels of the selected resource and how each is read."""

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(requirement.matches(obj, self.labels) for requirement in self.requirements)

    def required_value(self, field: str) -> str | None:
        """The value `field` must equal, if some requirement pins it (lets a server skip a scan)."""
        for requirement in self.requirements:
            if requirement.field == field and not requirement.negated:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_unescaped(text: str, separator: str) -> Iterator[str]:
    """Split on `separator` where it is not escaped by a backslash."""
    start, escaped = 0, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _unescape_field_value(value: str) -> str:
    chars: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go formats the offending rune as its code point.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}"
            )
        else:
            chars.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(chars)


_FIELD_OPERATORS = ("!=", "==", "=")


def _field_requirement(selector: str, term: str) -> FieldRequirement:
    for index in range(len(term)):
        for operator in _FIELD_OPERATORS:
            if term.startswith(operator, index):
                field, raw_value = term[:index], term[index + len(operator) :]
                return FieldRequirement(field, _unescape_field_value(raw_value), operator == "!=")
    raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")


def parse_field_selector(
    text: str, labels: Mapping[str, FieldReader] | None = None
) -> FieldSelector:
    """Parse a `fieldSelector` query parameter; `labels` are the field labels the resource
    supports (metadata.name and metadata.namespace when None, as for most kinds)."""
    supported = _SUPPORTED_FIELDS if labels is None else labels
    terms = sorted(term for term in _split_unescaped(text, ",") if term)
    requirements = sorted(
        (_field_requirement(text, term) for term in terms),
        key=lambda requirement: (requirement.field, requirement.value, requirement.negated),
    )
    for requirement in requirements:
        # The server parses the whole selector first, then converts the field labels.
        if requirement.field not in supported:
            raise SelectorError(f"field label not supported: {requirement.field}")
    return FieldSelector(tuple(requirements), supported)
