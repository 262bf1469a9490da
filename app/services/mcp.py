"""MCP (Model Context Protocol) tools: every assistant the caller may see is one tool, and
calling it is a stateless wait run of that assistant (API.md §12.1).

Stateless Streamable HTTP: each POST carries one JSON-RPC message and is answered on its own,
so there is no session to keep. The methods are ``initialize``, ``ping``, ``tools/list`` and
``tools/call``; ``app.api.mcp`` carries them over HTTP and supplies the access door.

As the reference server: a tool is named after its assistant, normalised (whitespace runs
become ``_``; only ASCII letters, digits, ``_``, ``-`` and ``.`` are kept); a page of
``tools/list`` holds the tools of 100 assistants, newest first, one per name; ``tools/call``
refuses a name two assistants share. A graph whose input has ``messages`` takes it as one
string, the user's message. A graph's error is a tool result with ``isError``; an unknown
tool or bad params are JSON-RPC errors.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from app.core import jsonable, wire
from app.core.access import Access, Caller
from app.core.errors import DomainError
from app.core.runs import RunCreate
from app.core.versions import installed
from app.graphs.registry import GraphRegistry
from app.services.assistants import AssistantService
from app.services.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Call, RpcError
from app.services.runs import RunService
from app.services.waits import after_end

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
"""The MCP revisions served; a client asking for another one is offered the latest."""
LATEST_VERSION = PROTOCOL_VERSIONS[-1]
PAGE = 100
"""Assistants per ``tools/list`` page (the cursor is the offset of the next page)."""
MAX_SCAN = 10_000
"""How many assistants ``tools/call`` reads at most to find a tool by name."""
WAIT_SLICE_SECONDS = 5.0
MESSAGES_ARGUMENT = {
    "type": "string",
    "title": "Messages",
    "description": "The user message to send to the agent.",
}
ANNOTATIONS = {
    "readOnlyHint": False,
    "destructiveHint": False,
    "idempotentHint": False,
    "openWorldHint": True,
}
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}

_SPACES = re.compile(r"\s+")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.\-]")


def tool_name(assistant_name: str) -> str:
    """The tool name of an assistant, as the reference server spells it."""
    return _NOT_ALLOWED.sub("", _SPACES.sub("_", assistant_name.strip()))


def tool_schema(schema: Any) -> dict[str, Any]:
    """The tool's ``inputSchema``: the graph's input schema, with ``messages`` (when the
    graph has it) taken as one string; definitions nothing refers to any more are dropped."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return dict(EMPTY_SCHEMA)
    properties = schema.get("properties")
    if not isinstance(properties, dict) or "messages" not in properties:
        return schema
    out = {**schema, "properties": {**properties, "messages": MESSAGES_ARGUMENT}}
    if "$defs" in out:
        rest = {k: v for k, v in out.items() if k != "$defs"}
        if "$ref" not in jsonable.dumps_str(rest):
            del out["$defs"]
    return out


def takes_messages(schema: Any) -> bool:
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return isinstance(properties, dict) and "messages" in properties


def tool_result(output: Any) -> dict[str, Any]:
    """A finished run's output as a ``tools/call`` result: an error (``__error__``) is a
    result with ``isError``; anything else is the output as JSON text."""
    if isinstance(output, dict) and isinstance(output.get("__error__"), dict):
        error = output["__error__"]
        kind, message = error.get("error") or "Error", error.get("message")
        text = f"{kind}: {message}" if message else str(kind)
        return {"isError": True, "content": [{"type": "text", "text": text}]}
    return {"content": [{"type": "text", "text": jsonable.dumps_str(output)}]}


class Door(Protocol):
    """The access door as the HTTP layer opens it for one request (``app.auth.door``)."""

    async def assistants(self) -> Access:
        """The caller's access for searching assistants (``assistants.search``)."""
        ...

    async def run(self, body: RunCreate) -> tuple[Access, Caller]:
        """The caller's access and identity for creating ``body``'s run."""
        ...


class McpService:
    """Answers one MCP request."""

    def __init__(
        self, assistants: AssistantService, runs: RunService, registry: GraphRegistry
    ) -> None:
        self.assistants = assistants
        self.runs = runs
        self.registry = registry

    async def answer(self, call: Call, door: Door) -> Any:
        """The ``result`` of ``call``; raises RpcError for a JSON-RPC error."""
        if call.method == "initialize":
            return self.initialize(call.param("protocolVersion", str))
        if call.method == "ping":
            return {}
        if call.method == "tools/list":
            return await self.list_tools(await door.assistants(), call.param("cursor", str))
        if call.method == "tools/call":
            name = call.params.get("name")
            if not isinstance(name, str):
                raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
            arguments = call.params.get("arguments")
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise RpcError(INVALID_PARAMS, "Invalid params: 'arguments' must be an object")
            return await self.call_tool(door, name, arguments)
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {call.method}")

    def initialize(self, asked: str | None) -> dict[str, Any]:
        return {
            "protocolVersion": asked if asked in PROTOCOL_VERSIONS else LATEST_VERSION,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "Turnstile", "version": installed("turnstile") or "0"},
        }

    async def list_tools(self, access: Access, cursor: str | None) -> dict[str, Any]:
        offset = 0
        if cursor:
            if not cursor.isdigit():
                raise RpcError(INVALID_PARAMS, f"Invalid cursor: {cursor[:100]!r}")
            offset = int(cursor)
        page = await self._page(access, offset)
        tools: list[dict[str, Any]] = []
        seen: set[str] = set()
        for assistant in page:
            name = tool_name(str(assistant.name))
            if name in seen:
                continue
            seen.add(name)
            tools.append(await self._tool(assistant, name))
        out: dict[str, Any] = {"tools": tools}
        if len(page) == PAGE:
            out["nextCursor"] = str(offset + PAGE)
        return out

    async def call_tool(self, door: Door, name: str, arguments: dict[str, Any]) -> Any:
        """Run the tool's assistant on ``arguments`` (a stateless run, its thread deleted
        once it ended) and answer its output."""
        assistant = await self._find(await door.assistants(), name)
        schema = await self._input_schema(assistant)
        arguments = dict(arguments)
        if takes_messages(schema) and isinstance(arguments.get("messages"), str):
            arguments["messages"] = [{"role": "user", "content": arguments["messages"]}]
        body = RunCreate(assistant_id=str(assistant.assistant_id), input=arguments)
        try:
            access, caller = await door.run(body)
            run = await self.runs.create(access, caller, None, body, waited=True, only_output=True)
        except DomainError as exc:
            raise RpcError(INVALID_PARAMS, exc.detail) from None
        thread_id, run_id = run.ids()
        waiter = self.runs.waiter(run_id, fresh=True)
        while not await waiter.ended_within(WAIT_SLICE_SECONDS):
            pass

        async def discard() -> None:
            await self.runs.discard_temporary(thread_id)

        await after_end(discard, run_id)
        return tool_result(waiter.output if waiter.output is not None else {})

    async def _page(self, access: Access, offset: int) -> list[wire.Assistant]:
        items, _ = await self.assistants.search(
            access,
            metadata=None,
            graph_id=None,
            name=None,
            limit=PAGE,
            offset=offset,
            sort_by=None,
            sort_order=None,
            select=None,
        )
        return items  # type: ignore[return-value]  # Assistant structs (no select)

    async def _find(self, access: Access, name: str) -> wire.Assistant:
        found: list[wire.Assistant] = []
        offset = 0
        while offset < MAX_SCAN:
            page = await self._page(access, offset)
            found += [a for a in page if tool_name(str(a.name)) == name]
            if len(page) < PAGE:
                break
            offset += PAGE
        if not found:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
        if len(found) > 1:
            raise RpcError(INVALID_PARAMS, "Multiple tools found with the same name.")
        return found[0]

    async def _tool(self, assistant: wire.Assistant, name: str) -> dict[str, Any]:
        title = str(assistant.name)
        description = assistant.description
        if not isinstance(description, str) or not description:
            description = f"Tool based on the {title} assistant"
        return {
            "name": name,
            "title": title,
            "description": description,
            "inputSchema": tool_schema(await self._input_schema(assistant)),
            "annotations": dict(ANNOTATIONS),
        }

    async def _input_schema(self, assistant: wire.Assistant) -> Any:
        return await input_schema(self.registry, assistant)


_SCHEMAS: dict[int, tuple[Any, Any]] = {}
"""Input schemas of graphs compiled once (not made by a factory per config), by the
compiled graph's id: (the graph, its schema)."""


async def input_schema(registry: GraphRegistry, assistant: wire.Assistant) -> Any:
    """The JSON schema of the assistant's graph input (None when it cannot be expressed)."""
    graph_id = str(assistant.graph_id)
    compiled = registry.entry(graph_id).graph
    cached = _SCHEMAS.get(id(compiled)) if compiled is not None else None
    if cached is not None and cached[0] is compiled:
        return cached[1]
    config = assistant.config if isinstance(assistant.config, dict) else {}
    try:
        graph = await registry.get(graph_id, config=config)  # type: ignore[arg-type]
        schema = graph.get_input_jsonschema()
    except Exception:  # a schema pydantic cannot express: the tool takes any object
        schema = None
    if compiled is not None:
        _SCHEMAS[id(compiled)] = (compiled, schema)
    return schema
