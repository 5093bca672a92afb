"""MLflow's search grammar, parsed into plain clauses: `metrics.acc > 0.9 and params.lr = '0.01'`.

Pure: no database, no FastAPI. A filter is clauses joined by AND (MLflow has no OR for runs); a clause is
`<kind>.<key> <op> <value>`, where kind is metrics, params, tags or attributes (singular forms and `attr`
too), a key with spaces or dots is quoted with backticks or double quotes, and a value is a number, a
quoted string, or a parenthesised list of strings after IN / NOT IN. `order_by` items are
`<kind>.<key> [ASC|DESC]`. Anything else raises `FilterError`, which names the position where it broke.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any

KINDS = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
#: Run attributes a filter or an order may name, and whether they compare as numbers.
RUN_ATTRIBUTES = {
    "run_id": False,
    "run_name": False,
    "status": False,
    "user_id": False,
    "artifact_uri": False,
    "lifecycle_stage": False,
    "start_time": True,
    "end_time": True,
    "created": True,
}
#: Experiment attributes for experiments/search.
EXPERIMENT_ATTRIBUTES = {
    "name": False,
    "creation_time": True,
    "last_update_time": True,
    "experiment_id": False,
}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL")
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
    | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
    | (?P<op><=|>=|!=|<>|==|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][\w]*(?:\.(?:`[^`]*`|"[^"]*"|[\w.\-/:]+))?)
    )""",
    re.VERBOSE,
)


class FilterError(ValueError):
    """A filter or order_by that does not parse; the message names the position (0-based character)."""


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag or attribute
    key: str
    op: str  # one of NUMERIC_OPS or STRING_OPS
    value: float | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Order:
    kind: str
    key: str
    ascending: bool


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
        if match is None or match.end() == position:
            start = len(text) - len(text[position:].lstrip())
            raise FilterError(f"Unexpected character {text[start]!r} at position {start}")
        kind = match.lastgroup or ""
        start = match.start(kind)
        tokens.append(_Token(kind, match.group(kind), start))
        position = match.end()
    return tokens


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        inner = text[1:-1]
        return inner.replace("''", "'") if text[0] == "'" else inner
    return text


class _Parser:
    def __init__(self, text: str, attributes: dict[str, bool]) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.attributes = attributes

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, what: str) -> _Token:
        token = self._peek()
        if token is None:
            raise FilterError(f"Expected {what} at position {len(self.text)} (end of the filter)")
        self.index += 1
        return token

    def _is_word(self, token: _Token | None, *words: str) -> bool:
        return token is not None and token.kind == "word" and token.text.upper() in words

    def identifier(self) -> tuple[str, str]:
        token = self._next("a name such as metrics.accuracy")
        if token.kind != "word":
            raise FilterError(f"Expected a name such as metrics.accuracy at position {token.position}")
        prefix, dot, rest = token.text.partition(".")
        if not dot:  # a bare attribute: `status = 'FINISHED'`, `name LIKE 'x%'`
            if prefix.lower() in self.attributes:
                return "attribute", prefix.lower()
            raise FilterError(
                f"Unknown name {token.text!r} at position {token.position}: "
                "use metrics.<key>, params.<key>, tags.<key> or attributes.<name>"
            )
        kind = KINDS.get(prefix.lower())
        if kind is None:
            raise FilterError(
                f"Unknown kind {prefix!r} at position {token.position}: "
                "use metrics, params, tags or attributes"
            )
        key = _unquote(rest)
        if not key:
            raise FilterError(f"Empty key after {prefix}. at position {token.position}")
        if kind == "attribute" and key.lower() not in self.attributes:
            known = ", ".join(sorted(self.attributes))
            raise FilterError(f"Unknown attribute {key!r} at position {token.position}: one of {known}")
        return kind, key.lower() if kind == "attribute" else key

    def _operator(self) -> tuple[str, int]:
        token = self._next("a comparison such as = or LIKE")
        if token.kind == "op":
            return {"==": "=", "<>": "!="}.get(token.text, token.text), token.position
        word = token.text.upper() if token.kind == "word" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word, token.position
        if word == "NOT" and self._is_word(self._peek(), "IN"):
            self.index += 1
            return "NOT IN", token.position
        if word == "IS":
            negated = self._is_word(self._peek(), "NOT")
            self.index += negated
            if not self._is_word(self._peek(), "NULL"):
                raise FilterError(f"Expected NULL after IS at position {token.position}")
            self.index += 1
            return ("IS NOT NULL" if negated else "IS NULL"), token.position
        raise FilterError(
            f"Expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) at position {token.position}"
        )

    def _string_list(self) -> tuple[str, ...]:
        opening = self._next("a parenthesised list")
        if opening.text != "(":
            raise FilterError(f"Expected '(' after IN at position {opening.position}")
        values: list[str] = []
        while True:
            token = self._next("a quoted string")
            if token.kind != "string":
                raise FilterError(f"Expected a quoted string in the list at position {token.position}")
            values.append(_unquote(token.text))
            separator = self._next("',' or ')'")
            if separator.text == ")":
                return tuple(values)
            if separator.text != ",":
                raise FilterError(f"Expected ',' or ')' at position {separator.position}")

    def clause(self) -> Clause:
        kind, key = self.identifier()
        op, at = self._operator()
        numeric = kind == "metric" or (kind == "attribute" and self.attributes[key])
        allowed = NUMERIC_OPS if numeric else STRING_OPS
        if op not in allowed:
            raise FilterError(
                f"{op} does not apply to {kind} {key!r} (position {at}): use {', '.join(allowed)}"
            )
        if op in ("IS NULL", "IS NOT NULL"):
            return Clause(kind, key, op, None)
        if op in ("IN", "NOT IN"):
            return Clause(kind, key, op, self._string_list())
        token = self._next("a value")
        if numeric:
            text = _unquote(token.text) if token.kind == "string" else token.text
            try:
                return Clause(kind, key, op, float(text))
            except ValueError:
                raise FilterError(
                    f"Expected a number at position {token.position}, but got {token.text}"
                ) from None
        if token.kind != "string":
            raise FilterError(
                f"Expected a quoted string at position {token.position}, but got {token.text} "
                f"({kind} values are strings: '{token.text}')"
            )
        return Clause(kind, key, op, _unquote(token.text))


def parse_filter(text: str | None, attributes: dict[str, bool] = RUN_ATTRIBUTES) -> list[Clause]:
    """The clauses of an MLflow filter (all must hold); [] for an empty one."""
    if not text or not text.strip():
        return []
    parser = _Parser(text, attributes)
    clauses = [parser.clause()]
    while (token := parser._peek()) is not None:
        if not parser._is_word(token, "AND"):
            extra = " (MLflow's filters have no OR)" if parser._is_word(token, "OR") else ""
            raise FilterError(f"Expected AND at position {token.position}{extra}")
        parser.index += 1
        clauses.append(parser.clause())
    return clauses


def parse_order_by(items: list[str], attributes: dict[str, bool] = RUN_ATTRIBUTES) -> list[Order]:
    """Each `<kind>.<key> [ASC|DESC]` item; a position in an error counts within its item."""
    orders: list[Order] = []
    for item in items:
        parser = _Parser(item, attributes)
        kind, key = parser.identifier()
        ascending = True
        token = parser._peek()
        if token is not None:
            if not parser._is_word(token, "ASC", "DESC"):
                raise FilterError(f"Expected ASC or DESC at position {token.position} of order_by {item!r}")
            ascending = token.text.upper() == "ASC"
            parser.index += 1
        if (extra := parser._peek()) is not None:
            raise FilterError(f"Unexpected {extra.text!r} at position {extra.position} of order_by {item!r}")
        orders.append(Order(kind, key, ascending))
    return orders


def like_pattern(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """SQL LIKE (% any run, _ one character) as a regular expression, for matching outside SQL."""
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


def compare(actual: Any, op: str, value: Any) -> bool:
    """Whether `actual` satisfies `<op> value`, evaluated in Python (a missing value never does)."""
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if isinstance(value, float):
        actual = float(actual)
    if op in ("LIKE", "ILIKE"):
        return bool(like_pattern(str(value), case_sensitive=op == "LIKE").match(str(actual)))
    if op == "IN":
        return str(actual) in value
    if op == "NOT IN":
        return str(actual) not in value
    compare = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt}
    return bool(compare.get(op, operator.ge)(actual, value))
