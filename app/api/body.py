"""Request decoding and JSON responses shared by the controllers."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from app.api.lenient_json import repair
from app.core import jsonable
from app.core.errors import InvalidInput

T = TypeVar("T")

TRUE_VALUES = frozenset({"true", "True", "yes", "1"})


MAX_DEPTH = 128
"""The deepest nesting of arrays and objects a body may have. Far deeper values would blow
msgspec's recursion limit, and from about 254 levels orjson and ormsgpack (the SDK, LangGraph's
checkpoint serializer) refuse them: such a value could be stored but not run or read back."""

# A JSON string (skipped whole), or a bracket.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than ``limit`` (checked before it is
    decoded, so that a deep body costs one scan that stops at the limit)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _TOKEN.finditer(raw):
        char = raw[match.start()]
        if char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


REPAIR_MAX_BYTES = 64 * 1024


class _NotJson(Exception):
    pass


def _strict(raw: bytes, schema: type[T]) -> T:
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as exc:
        # msgspec checks types as it parses: a body that is not JSON at all can fail a type
        # check before its syntax error is reached.
        try:
            msgspec.json.decode(raw)
        except msgspec.DecodeError:
            raise _NotJson from None
        raise InvalidInput(str(exc)) from None
    except msgspec.DecodeError:
        raise _NotJson from None


async def decode(request: Request[Any, Any, Any], schema: type[T]) -> T:
    """The body as ``schema``; malformed JSON, too deep a nesting and schema violations
    answer 422."""
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    if too_deep(raw):
        raise InvalidInput(f"Invalid JSON in request body: nested deeper than {MAX_DEPTH} levels")
    try:
        return _strict(raw, schema)
    except _NotJson:
        pass
    # Be lenient with two hand-written mistakes (``\'`` escapes, trailing commas), as in
    # shell curl snippets; anything else stays invalid. Only in bodies of a size typed by
    # hand: the repair walks the body in Python, seconds for megabytes of commas.
    repaired = repair(raw) if len(raw) <= REPAIR_MAX_BYTES else raw
    if repaired != raw:
        try:
            return _strict(repaired, schema)
        except _NotJson:
            pass
    raise InvalidInput("Invalid JSON in request body")


def json(
    content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=jsonable.dumps(content),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def empty(status_code: int = 204) -> Response[bytes]:
    return Response(content=b"", status_code=status_code)


def flag(request: Request[Any, Any, Any], name: str, default: bool = False) -> bool:
    """A boolean query flag as httpx sends it (``true``/``false``, ``1``/``0``)."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    return value in TRUE_VALUES


def int_param(
    request: Request[Any, Any, Any], name: str, default: int, *, low: int, high: int
) -> int:
    """An integer query parameter between ``low`` and ``high``; anything else answers 422."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"Invalid {name}: {raw[:100]!r} is not an integer") from None
    if not low <= value <= high:
        raise InvalidInput(f"Invalid {name}: must be between {low} and {high}")
    return value


def paged(items: list[Any], total: int, offset: int) -> Response[bytes]:
    """A bare array with the pagination headers of API.md §8 (``app.db.paging`` says what
    the total is)."""
    headers = {"X-Pagination-Total": str(total)}
    if offset + len(items) < total:
        headers["X-Pagination-Next"] = str(offset + len(items))
    return json(items, headers=headers)
