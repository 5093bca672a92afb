"""Tiny HTML readers for page tests (stdlib html.parser): tables as lists of cell texts, elements by id."""

from __future__ import annotations

from html.parser import HTMLParser

from fastapi.testclient import TestClient


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.values: dict[str, list[list[str | None]]] = {}  # each cell's data-value attribute
        self._values: list[str | None] = []
        self._stack: list[str] = []  # ids of the open tables ("" when a table has none)
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_tbody = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            table_id = dict(attrs).get("id") or ""
            self._stack.append(table_id)
            self.tables.setdefault(table_id, [])
            self.values.setdefault(table_id, [])
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._stack and self._in_tbody:
            self._row, self._values = [], []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._values.append(dict(attrs).get("data-value"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag == "tbody":
            self._in_tbody = False
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._stack[-1]].append(self._row)
            self.values[self._stack[-1]].append(self._values)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with this id, each a list of its cells' whitespace-collapsed text."""
    parser = _Tables()
    parser.feed(html)
    if table_id not in parser.tables:
        raise AssertionError(f"no table with id {table_id!r}; tables: {sorted(parser.tables)}")
    return parser.tables[table_id]


def table_values(html: str, table_id: str) -> list[list[str | None]]:
    """The body rows of the table with this id, each a list of its cells' data-value attributes."""
    parser = _Tables()
    parser.feed(html)
    if table_id not in parser.values:
        raise AssertionError(f"no table with id {table_id!r}; tables: {sorted(parser.values)}")
    return parser.values[table_id]


class _Elements(HTMLParser):
    """Start tags and their attributes, plus the text of every element with a class or id we ask about."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_by_class: dict[str, list[str]] = {}
        self._open: list[tuple[str, list[str]]] = []
        self._buffers: list[tuple[str, list[str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag in ("input", "img", "br", "meta", "link"):
            return
        classes = (attributes.get("class") or "").split()
        self._buffers.append((tag, classes, []))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._buffers) - 1, -1, -1):
            if self._buffers[index][0] == tag:
                _, classes, parts = self._buffers.pop(index)
                text = " ".join("".join(parts).split())
                for name in classes:
                    self.text_by_class.setdefault(name, []).append(text)
                break

    def handle_data(self, data: str) -> None:
        for _, _, parts in self._buffers:
            parts.append(data)


def parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def texts(html: str, css_class: str) -> list[str]:
    """The text of every element carrying this class, in document order of their end tags."""
    return parse(html).text_by_class.get(css_class, [])


def attrs_of(html: str, tag: str) -> list[dict[str, str | None]]:
    """The attributes of every <tag> element."""
    return [attributes for name, attributes in parse(html).tags if name == tag]


def csrf_token(client: TestClient) -> str:
    """Open a page so the CSRF cookie is set; return the token the forms carry."""
    client.get("/")
    token = client.cookies.get("tb_csrf")
    assert token, "GET / should set the tb_csrf cookie"
    return token
