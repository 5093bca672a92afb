"""The run filter expression language (``GET /runs?q=``), parsed into a small tree; pure, no SQL.

    params.lr < 0.01 and metrics.dev_error < 0.05 and tags contains "baseline"
    (status = "succeeded" or status = "running") and name ~ "^resnet"

Fields: ``params.KEY``, ``metrics.KEY`` (a summary metric: the latest value), ``tags``, ``name``, ``status``,
``group``. Operators: ``= != < <= > >=``, ``~`` (a regular expression, for name and group) and
``contains`` (for tags); ``and`` binds tighter than ``or``; ``not`` and parentheses group. Values are
numbers, ``"strings"`` (backslash escapes ``\\"`` and ``\\\\``), ``true``, ``false``.

``services.runs.filtering`` turns the tree into SQLAlchemy clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CHARS = 2000
MAX_TERMS = 50
MAX_REGEX_CHARS = 200
KEY_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.\-/:]*"

Value = float | int | str | bool
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
KEYED = ("params", "metrics")
PLAIN = ("tags", "name", "status", "group")


class FilterError(ValueError):
    """A malformed expression: ``position`` is the 0-based character where it broke."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"at position {position}: {message}")
        self.position = position


@dataclass(frozen=True)
class Compare:
    """``field[.key] op value``; ``key`` is None for the plain fields."""

    field: str
    key: str | None
    op: str
    value: Value


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    term: Node


Node = Compare | And | Or | Not

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<op><=|>=|!=|=|<|>|~)
      | (?P<paren>[()])
      | (?P<field>(?:params|metrics)\."""
    + KEY_PATTERN
    + r""")
      | (?P<word>[A-Za-z_]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[position:].lstrip())
            if text[start] == '"':
                raise FilterError(start, "a string is not closed with a double quote")
            raise FilterError(start, f"unexpected character {text[start]!r}")
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def here(self) -> int:
        token = self.peek()
        return token.position if token is not None else len(self.text)

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return True
        return False

    def expression(self) -> Node:
        terms = [self.conjunction()]
        while self.word("or"):
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def conjunction(self) -> Node:
        terms = [self.negation()]
        while self.word("and"):
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def negation(self) -> Node:
        if self.word("not"):
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Node:
        token = self.peek()
        if token is None:
            raise FilterError(len(self.text), "the expression ends where a condition was expected")
        if token.kind == "paren" and token.text == "(":
            self.index += 1
            inner = self.expression()
            closing = self.peek()
            if closing is None or closing.text != ")":
                opened = token.position
                raise FilterError(self.here(), f"expected ')' to close the '(' at position {opened}")
            self.index += 1
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.peek()
        assert token is not None
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise FilterError(token.position, f"at most {MAX_TERMS} conditions")
        if token.kind == "field":
            field, key = token.text.split(".", 1)
        elif token.kind == "word" and token.text in PLAIN:
            field, key = token.text, None
        else:
            raise FilterError(
                token.position,
                f"expected a field (params.KEY, metrics.KEY, {', '.join(PLAIN)}), got {token.text!r}",
            )
        self.index += 1
        op_token = self.peek()
        if op_token is None:
            raise FilterError(len(self.text), f"expected an operator after {token.text!r}")
        op = op_token.text.lower() if op_token.kind in ("op", "word") else ""
        allowed = _operators(field)
        if op not in allowed:
            raise FilterError(op_token.position, f"{field} takes {' '.join(allowed)}, not {op_token.text!r}")
        self.index += 1
        value = self.value(field, op)
        return Compare(field, key, op, value)

    def value(self, field: str, op: str) -> Value:
        token = self.peek()
        if token is None:
            raise FilterError(len(self.text), "expected a value at the end")
        self.index += 1
        value: Value
        if token.kind == "string":
            # Only \" and \\ are escapes: a regular expression's \d or \. stays as written.
            value = re.sub(r'\\(["\\])', r"\1", token.text[1:-1])
        elif token.kind == "number":
            number = float(token.text)
            value = int(token.text) if re.fullmatch(r"-?\d+", token.text) else number
            if number != number or number in (float("inf"), float("-inf")):
                raise FilterError(token.position, "the number is out of range")
        elif token.kind == "word" and token.text in ("true", "false"):
            value = token.text == "true"
        else:
            raise FilterError(token.position, f'expected a number or a "string", got {token.text!r}')
        if field == "metrics" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise FilterError(token.position, "a metric compares with a number")
        if field in PLAIN and not isinstance(value, str):
            raise FilterError(token.position, f'{field} compares with a "string"')
        if op == "~":
            assert isinstance(value, str)
            if len(value) > MAX_REGEX_CHARS:
                limit = MAX_REGEX_CHARS
                raise FilterError(token.position, f"a regular expression has at most {limit} characters")
            for unsupported in ("(?P", "(?<", "(?#"):
                if unsupported in value:
                    at = token.position + 1 + value.index(unsupported)
                    raise FilterError(at, f"{unsupported!r} is not supported in a regular expression here")
            try:
                re.compile(value)
            except re.error as exc:
                at = token.position + 1 + (exc.pos or 0)
                raise FilterError(at, f"bad regular expression: {exc.msg}") from None
        return value


def _operators(field: str) -> tuple[str, ...]:
    if field == "tags":
        return ("contains",)
    if field in ("name", "group"):
        return ("=", "!=", "~")
    if field == "status":
        return ("=", "!=")
    return COMPARISONS


def parse(text: str) -> Node:
    """The expression's tree; FilterError says where it broke."""
    if len(text) > MAX_CHARS:
        raise FilterError(MAX_CHARS, f"an expression has at most {MAX_CHARS} characters")
    if "\x00" in text:
        raise FilterError(text.index("\x00"), "a NUL character")
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek() is not None:
        token = parser.peek()
        assert token is not None
        raise FilterError(token.position, f"expected 'and', 'or' or the end, got {token.text!r}")
    return node
