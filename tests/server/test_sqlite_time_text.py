"""The SQLite writer's own text for a timestamp (sqlite_writer.sqlite_time_text) against SQLAlchemy's, which
every other read and write of a DateTime column goes through: the same text for every time, or points
written by a batch would sort and compare apart from the ones written through the ORM."""

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import sqlite

from server.services.metrics.sqlite_writer import sqlite_time_text
from server.tables import MetricPoint

EDGES = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9, 9, 9, 9, 9, 9, 9, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]


def test_the_writers_time_text_is_sqlalchemys() -> None:
    dialect = sqlite.dialect()
    process = MetricPoint.__table__.c.timestamp.type.dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    rng = random.Random(5)
    start = datetime(1, 1, 1, tzinfo=UTC)
    times = EDGES + [
        start + timedelta(microseconds=rng.randrange(315_537_897_600 * 10**6)) for _ in range(5000)
    ]
    for when in times:
        assert sqlite_time_text(when) == process(when), when
