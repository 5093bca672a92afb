"""Dependencies shared by the JSON routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from server.queue import RunQueue, get_queue

QueueDep = Annotated[RunQueue, Depends(get_queue)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (at most 1000).")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip.")]
