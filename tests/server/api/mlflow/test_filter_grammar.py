"""MLflow's search grammar: what parses into which clauses, and where a broken filter says it broke."""

from __future__ import annotations

import pytest

from server.api.mlflow.filter_grammar import (
    Clause,
    FilterError,
    Order,
    compare,
    like_pattern,
    parse_filter,
    parse_order_by,
)


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("", []),
        ("metrics.acc > 0.9", [Clause("metric", "acc", ">", 0.9)]),
        ("metric.acc>=1e-3", [Clause("metric", "acc", ">=", 0.001)]),
        (
            "params.lr = '0.01' and tags.team != \"vision\"",
            [Clause("param", "lr", "=", "0.01"), Clause("tag", "team", "!=", "vision")],
        ),
        ("tags.`my tag` LIKE 'a%'", [Clause("tag", "my tag", "LIKE", "a%")]),
        ('metrics."val loss" < 2', [Clause("metric", "val loss", "<", 2.0)]),
        (
            "attributes.status IN ('FINISHED', 'FAILED')",
            [Clause("attribute", "status", "IN", ("FINISHED", "FAILED"))],
        ),
        ("attr.run_id NOT IN ('1')", [Clause("attribute", "run_id", "NOT IN", ("1",))]),
        ("run_name ILIKE '%base%'", [Clause("attribute", "run_name", "ILIKE", "%base%")]),
        ("attributes.start_time > 1700000000000", [Clause("attribute", "start_time", ">", 1.7e12)]),
        (
            "tags.x IS NULL AND tags.y IS NOT NULL",
            [Clause("tag", "x", "IS NULL", None), Clause("tag", "y", "IS NOT NULL", None)],
        ),
        ("params.name = 'it''s'", [Clause("param", "name", "=", "it's")]),
        ("metrics.model/loss_1 <= -1", [Clause("metric", "model/loss_1", "<=", -1.0)]),
    ],
)
def test_filters_parse_into_clauses(text: str, clauses: list[Clause]) -> None:
    assert parse_filter(text) == clauses


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("metrics.acc >", 13, "Expected a value"),
        ("metrics.acc > 0.9 or params.lr = '1'", 18, "no OR"),
        ("metrics.acc ~ 1", 12, "Unexpected character"),
        ("colour.acc = 1", 0, "Unknown kind"),
        ("params.lr = 0.01", 12, "quoted string"),
        ("metrics.acc = 'high'", 14, "Expected a number"),
        ("metrics.acc LIKE '1'", 12, "LIKE does not apply"),
        ("attributes.colour = 'x'", 0, "Unknown attribute"),
        ("params.lr IN 'a'", 13, "Expected '('"),
        ("params.lr = 'a' params.b = 'c'", 16, "Expected AND"),
    ],
)
def test_a_broken_filter_names_where_it_broke(text: str, position: int, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert f"position {position}" in str(caught.value)
    assert reason in str(caught.value)


def test_order_by_items() -> None:
    assert parse_order_by(["metrics.acc DESC", "params.lr", "attributes.start_time asc"]) == [
        Order("metric", "acc", False),
        Order("param", "lr", True),
        Order("attribute", "start_time", True),
    ]
    with pytest.raises(FilterError, match="ASC or DESC at position 12"):
        parse_order_by(["metrics.acc DOWN"])


def test_like_is_case_sensitive_and_ilike_is_not() -> None:
    assert like_pattern("ba_e%", case_sensitive=True).match("baseline")
    assert not like_pattern("Base%", case_sensitive=True).match("baseline")
    assert like_pattern("Base%", case_sensitive=False).match("baseline")
    assert not like_pattern("a.c", case_sensitive=True).match("abc")  # a dot is a dot, not any character


@pytest.mark.parametrize(
    ("actual", "op", "value", "expected"),
    [
        ("mnist", "=", "mnist", True),
        ("mnist", "LIKE", "mn%", True),
        ("MNIST", "LIKE", "mn%", False),
        ("MNIST", "ILIKE", "mn%", True),
        ("b", "IN", ("a", "b"), True),
        ("b", "NOT IN", ("a", "b"), False),
        (None, "=", "x", False),  # a missing value matches nothing
        (None, "IS NULL", None, True),
        (1_700_000_000_000, ">", 1.6e12, True),
    ],
)
def test_compare_in_python(actual, op: str, value, expected: bool) -> None:  # type: ignore[no-untyped-def]
    assert compare(actual, op, value) is expected
