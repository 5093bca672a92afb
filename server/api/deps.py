"""Dependencies shared by the JSON routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from annotated_types import MaxLen
from fastapi import Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from server.errors import DomainError
from server.ids import MAX_ID
from server.queue import RunQueue, get_queue
from server.schemas import MAX_BIGINT, NoNul

M = TypeVar("M", bound=BaseModel)


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
#: A multi-task run's task: its predictions' error analysis (required there; a single-task run takes none).
TaskQuery = Annotated[
    str | None, Query(max_length=100, description="A multi-task run's task (required for one)."), NoNul
]
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


class TooManyValues(DomainError):
    status_code = 413


def list_cap(model: type[BaseModel], field: str) -> int:
    """The most items the model's list `field` takes (its max_length)."""
    return next(m.max_length for m in model.model_fields[field].metadata if isinstance(m, MaxLen))


def refuse_too_many_values(body: bytes, max_values: int) -> None:
    """413 for a body of more than `max_values` commas (JSON values), before it is parsed."""
    if body.count(b",") >= max_values:
        raise TooManyValues(
            f"The body holds more than {max_values:,} JSON values: send fewer items per request"
        )


def parse_json_body(model: type[M], body: bytes, *, max_values: int | None = None) -> M:
    """`body` validated as `model`; first, more than `max_values` commas (JSON values) is refused unparsed.

    Pydantic builds the whole JSON tree before it checks a list's length: 32 MiB of numbers cost 1 GB and
    2 s before the refusal. Commas bound the tree's size at the cost of counting bytes."""
    if max_values is not None:
        refuse_too_many_values(body, max_values)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def json_body(model: type[M], *, max_values: int | None = None) -> Callable[[Request], Awaitable[M]]:
    """A dependency reading the JSON body into `model` straight from its bytes (see `parse_json_body`).

    For the large batch bodies: FastAPI reads a body parameter before it solves any dependency, so the
    caller would be authenticated only after the whole body was parsed; a dependency runs after the
    router's access check. Validating the raw bytes is also several times faster than json.loads then
    validate for 1,000-100,000 items. Errors keep FastAPI's 422 shape."""

    async def read_body(request: Request) -> M:
        return parse_json_body(model, await request.body(), max_values=max_values)

    return read_body


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        reference = schema.get("$ref", "")
        if reference.startswith("#/$defs/"):
            return _inline(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a `json_body` route (its nested models inlined), for `openapi_extra`."""
    schema = model.model_json_schema()
    schema = _inline(schema, schema.pop("$defs", {}))
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
