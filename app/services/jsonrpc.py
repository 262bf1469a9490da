"""JSON-RPC 2.0 as the MCP (``/mcp``) and A2A (``/a2a/{assistant_id}``) endpoints speak it:
reading one request from a body, and the shapes of a result and of an error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcError(Exception):
    """An error answered as a JSON-RPC error object (``code``, ``message``)."""

    def __init__(self, code: int, message: str, *, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class Call:
    """One JSON-RPC message. ``answers``: it is a request (it has an id), so it gets a
    response; notifications (and responses the client sends back) get none."""

    request_id: Any
    method: str
    params: dict[str, Any]
    answers: bool

    def param(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        """``params[name]`` if it has type ``kind``, ``default`` when absent; else -32602."""
        value = self.params.get(name)
        if value is None:
            return default
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise RpcError(INVALID_PARAMS, f"Invalid params: {name!r} has the wrong type")
        return value


def parse(raw: bytes) -> Call:
    """The message in ``raw``. Raises RpcError: -32700 for a body that is not JSON, -32600
    for one that is not a JSON-RPC 2.0 message object (a batch included), -32602 for
    ``params`` that are not an object (positional params are not used by either protocol)."""
    try:
        message = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise RpcError(PARSE_ERROR, "Parse error: the body is not valid JSON") from None
    if not isinstance(message, dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: expected one JSON-RPC message object")
    request_id = message.get("id")
    if message.get("jsonrpc") != "2.0":
        raise RpcError(
            INVALID_REQUEST,
            "Invalid request: missing or invalid jsonrpc version",
            request_id=request_id if _valid_id(request_id) else None,
        )
    if not _valid_id(request_id):
        raise RpcError(INVALID_REQUEST, "Invalid request: id must be a string or a number")
    method = message.get("method")
    answers = request_id is not None
    if method is None:  # a response (or an error) the client sends back: nothing to say
        return Call(request_id, "", {}, answers=False)
    if not isinstance(method, str):
        raise RpcError(
            INVALID_REQUEST, "Invalid request: method must be a string", request_id=request_id
        )
    params = message.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(
            INVALID_PARAMS, "Invalid params: params must be an object", request_id=request_id
        )
    return Call(request_id, method, params, answers=answers)


def _valid_id(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int | float) and not isinstance(value, bool))
    )


def result(request_id: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def error_of(exc: RpcError, request_id: Any = None) -> dict[str, Any]:
    return error(exc.request_id if request_id is None else request_id, exc.code, exc.message)
