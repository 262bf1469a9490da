"""Request decoding and JSON responses shared by the controllers."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response

from app.api.lenient_json import repair
from app.core import jsonable
from app.core.errors import InvalidInput

T = TypeVar("T")

TRUE_VALUES = frozenset({"true", "True", "yes", "1"})


async def decode(request: Request[Any, Any, Any], schema: type[T]) -> T:
    """The body as ``schema``; malformed JSON and schema violations answer 422."""
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    except msgspec.DecodeError:
        pass
    # Be lenient with two hand-written mistakes (``\'`` escapes, trailing commas), as in
    # shell curl snippets; anything else stays invalid.
    repaired = repair(raw)
    if repaired != raw:
        try:
            return msgspec.json.decode(repaired, type=schema)
        except msgspec.ValidationError as exc:
            raise InvalidInput(str(exc)) from None
        except msgspec.DecodeError:
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
    """A bare array with the pagination headers of API.md §8 (the total is exact)."""
    headers = {"X-Pagination-Total": str(total)}
    if offset + len(items) < total:
        headers["X-Pagination-Next"] = str(offset + len(items))
    return json(items, headers=headers)
