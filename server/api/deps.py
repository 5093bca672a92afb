"""Dependencies shared by the JSON routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query

from server.queue import RunQueue, get_queue
from server.schemas import MAX_BIGINT, MAX_ID, NoNul


async def current_queue() -> RunQueue:
    """The run queue; async, since reading it needs no thread-pool hop (get_queue is sync)."""
    return get_queue()


QueueDep = Annotated[RunQueue, Depends(current_queue)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (at most 1000).")]
# An offset PostgreSQL's BIGINT cannot hold is refused here, naming the parameter, not by the database.
Offset = Annotated[int, Query(ge=0, le=MAX_BIGINT, description="Rows to skip.")]

# Ids are 32-bit on PostgreSQL (server.schemas.MAX_ID): a larger one is refused here, naming the parameter.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="An id this server gave out.")]
# An example's id as its dataset names it. A zip dataset's ids are its files' paths ("cats/001.png"), so
# routes take the rest of the URL path ({example_id:path}); ids are looked up, never opened as files.
ExampleId = Annotated[str, Path(min_length=1, max_length=200, description="An example's id."), NoNul]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Any unique string (a uuid4) per logical request: a POST retried with the same key "
        "returns what the first created instead of creating it twice.",
    ),
]
