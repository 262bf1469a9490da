"""A2A (agent-to-agent protocol) use cases: an assistant is an agent, its card says what
it takes; a message starts a run on the thread its ``contextId`` names (a new thread
without one), and the task is that run (API.md §12.2). Shapes: ``app.services.a2a_shapes``.

``message/send`` waits for the run (unless asked to return at once) and answers the task;
``message/stream`` answers the task first, then a ``working`` update for each new AI message
the run's ``values`` events carry (read from the durable event log), then the reply as an
artifact and the final state. A message to a thread stopped on an interrupt resumes it with
the message. ``tasks/get``, ``tasks/cancel`` and (1.0) ``ListTasks`` read and cancel runs.
Only assistants whose graph input has ``messages`` take text; data parts become input keys.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from app.core import wire
from app.core.access import Access, Caller
from app.core.errors import DomainError, NotFound
from app.core.ids import system_assistant_id
from app.core.runs import RunCreate
from app.db import statuses
from app.services import a2a_shapes as shapes
from app.services.a2a_card import card
from app.services.container import Services
from app.services.jsonrpc import INVALID_PARAMS, METHOD_NOT_FOUND, Call, RpcError
from app.services.mcp import input_schema, takes_messages
from app.services.streams import Cursor

WAIT_SLICE_SECONDS = 5.0
CANCEL_WAIT_SECONDS = 10.0
MAX_PAGE = 100
DEFAULT_PAGE = 50
TERMINAL_RUNS = frozenset(statuses.TERMINAL)
SEND = {"message/send": shapes.V03, "SendMessage": shapes.V10}
STREAM = {"message/stream": shapes.V03, "SendStreamingMessage": shapes.V10}
GET = {"tasks/get": shapes.V03, "GetTask": shapes.V10}
CANCEL = {"tasks/cancel": shapes.V03, "CancelTask": shapes.V10}
CARD = ("GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard")


class Door(Protocol):
    """The access door (``app.auth.door``) as the HTTP layer opens it for one request."""

    async def assistant(self, assistant_id: uuid.UUID) -> Access: ...
    async def run(self, body: RunCreate, thread_id: uuid.UUID) -> tuple[Access, Caller]: ...
    async def read(self, thread_id: uuid.UUID | None, run_id: uuid.UUID | None) -> Access: ...
    async def cancel(self, thread_id: uuid.UUID, run_id: uuid.UUID) -> Access: ...
    async def threads(self) -> Access: ...


@dataclass
class Started:
    """A run a message started, as its task."""

    thread_id: uuid.UUID
    run_id: uuid.UUID
    task: str
    context: str
    message: dict[str, Any]
    """The user's message, as the task's history shows it."""


def assistant_id_of(value: str, graph_ids: list[str]) -> uuid.UUID:
    """The assistant a path names: a graph id names its system assistant."""
    if value in graph_ids:
        return system_assistant_id(value)
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RpcError(INVALID_PARAMS, "Invalid assistant ID: must be a UUID") from None


class A2aService:
    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def agent(self, door: Door, assistant_id: uuid.UUID) -> wire.Assistant:
        """The assistant (NotFound when missing or hidden)."""
        return await self.svc.assistants.get(await door.assistant(assistant_id), assistant_id)

    async def card(self, assistant: wire.Assistant, base_url: str) -> dict[str, Any]:
        return card(assistant, await input_schema(self.svc.registry, assistant), base_url)

    def streams(self, method: str) -> bool:
        return method in STREAM

    async def answer(self, call: Call, door: Door, assistant: wire.Assistant, base_url: str) -> Any:
        """The ``result`` of a method that is not streamed; raises RpcError."""
        if call.method in SEND:
            return await self.send(SEND[call.method], call, door, assistant)
        if call.method in GET:
            return await self.get(GET[call.method], call, door, assistant)
        if call.method in CANCEL:
            return await self.cancel(CANCEL[call.method], call, door, assistant)
        if call.method == "ListTasks":
            return await self.list_tasks(call, door, assistant)
        if call.method in CARD:
            return await self.card(assistant, base_url)
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {call.method}")

    async def send(
        self, dialect: shapes.Dialect, call: Call, door: Door, assistant: wire.Assistant
    ) -> dict[str, Any]:
        started = await self._start(dialect, call, door, assistant, streamed=False)
        config = call.params.get("configuration") or {}
        at_once = isinstance(config, dict) and (
            config.get("returnImmediately") is True or config.get("blocking") is False
        )
        if at_once:
            return dialect.sent(self._submitted(dialect, started))
        waiter = self.svc.runs.waiter(started.run_id, fresh=True)
        while not await waiter.ended_within(WAIT_SLICE_SECONDS):
            pass
        return dialect.sent(await self._task(dialect, door, started, assistant, waiter.output))

    async def stream(
        self, dialect: shapes.Dialect, call: Call, door: Door, assistant: wire.Assistant
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Start the run (raising RpcError before anything is sent), then the events to
        send: the task, its updates, its end; None where a heartbeat goes."""
        started = await self._start(dialect, call, door, assistant, streamed=True)
        return self._events(dialect, door, started, assistant)

    async def _events(
        self, dialect: shapes.Dialect, door: Door, started: Started, assistant: wire.Assistant
    ) -> AsyncIterator[dict[str, Any] | None]:
        yield dialect.sent(self._submitted(dialect, started))
        seen: set[str] | None = None
        # The run was made to be streamed (not by a wait endpoint): no watcher row needed.
        events = self.svc.streams.run_events(started.run_id, Cursor(after=0), watch=False)
        async for event in events:
            if event is None:
                yield None
                continue
            if event.event != "values":
                continue
            messages = shapes.messages_of(msgspec.json.decode(event.data))
            if seen is None:  # the state the run started from: nothing new in it
                seen = {str(m.get("id")) for m in messages}
                continue
            for message in messages:
                if str(message.get("id")) in seen:
                    continue
                seen.add(str(message.get("id")))
                if shapes.ROLES.get(str(message.get("type"))) != "agent":
                    continue
                text = shapes.message_text(message)
                reply = dialect.message(
                    "agent",
                    [dialect.text(text)],
                    task=started.task,
                    context=started.context,
                )
                yield dialect.status_update(
                    started.task, started.context, "working", final=False, message=reply
                )
        _, output = await self.svc.runs.outcome(started.run_id)
        task = await self._task(dialect, door, started, assistant, output)
        for artifact in task.get("artifacts") or []:
            yield dialect.artifact_update(started.task, started.context, artifact)
        state = shapes.STATE_OF_V1.get(task["status"]["state"], task["status"]["state"])
        yield dialect.status_update(
            started.task,
            started.context,
            state,
            final=True,
            message=task["status"].get("message"),
        )

    async def get(
        self, dialect: shapes.Dialect, call: Call, door: Door, assistant: wire.Assistant
    ) -> dict[str, Any]:
        run = await self._run(call, door, assistant)
        return await self._shown(dialect, door, run, assistant, call.param("historyLength", int))

    async def cancel(
        self, dialect: shapes.Dialect, call: Call, door: Door, assistant: wire.Assistant
    ) -> dict[str, Any]:
        run = await self._run(call, door, assistant)
        thread_id, run_id = run.ids()
        if run.status in TERMINAL_RUNS:
            raise RpcError(
                shapes.TASK_NOT_CANCELABLE, "Task is not cancelable in its current state"
            )
        try:
            await self.svc.runs.cancel(
                await door.cancel(thread_id, run_id), thread_id, run_id, "interrupt"
            )
        except NotFound:
            raise RpcError(
                shapes.TASK_NOT_CANCELABLE, "Task is not cancelable in its current state"
            ) from None
        await self.svc.runs.waiter(run_id).ended_within(CANCEL_WAIT_SECONDS)
        found = await self.svc.runs.find(await door.read(thread_id, run_id), thread_id, run_id)
        return await self._shown(dialect, door, found or run, assistant, None)

    async def list_tasks(self, call: Call, door: Door, assistant: wire.Assistant) -> dict[str, Any]:
        """1.0's ``ListTasks``: the tasks of one context, or of the agent's threads (a page of
        threads, newest first, with their runs)."""
        size = call.param("pageSize", int, DEFAULT_PAGE)
        if not 1 <= size <= MAX_PAGE:
            raise RpcError(INVALID_PARAMS, f"pageSize must be between 1 and {MAX_PAGE}")
        token = call.param("pageToken", str, "") or "0"
        if not token.isdigit():
            raise RpcError(INVALID_PARAMS, "Invalid pageToken")
        offset = int(token)
        wanted = call.param("status", str)
        context = call.param("contextId", str)
        runs: list[wire.Run] = []
        if context is not None:
            thread_id = _uuid(context, "contextId")
            runs = await self._thread_runs(door, thread_id, size, offset)
            more = len(runs) == size
        else:
            threads, _ = await self.svc.threads.search(
                await door.threads(),
                metadata={"assistant_id": str(assistant.assistant_id)},
                values=None,
                status=None,
                ids=None,
                limit=size,
                offset=offset,
                sort_by=None,
                sort_order=None,
                select=None,
            )
            for thread in threads:
                assert isinstance(thread.thread_id, uuid.UUID)
                runs += await self._thread_runs(door, thread.thread_id, MAX_PAGE, 0)
            more = len(threads) == size
        history_length = call.param("historyLength", int)
        with_artifacts = call.params.get("includeArtifacts") is True
        tasks = []
        for run in runs:
            if run.assistant_id != assistant.assistant_id:
                continue
            task = await self._shown(shapes.V10, door, run, assistant, history_length)
            if wanted is not None and task["status"]["state"] != wanted:
                continue
            if not with_artifacts:
                task.pop("artifacts", None)
            tasks.append(task)
        return {
            "tasks": tasks,
            "nextPageToken": str(offset + size) if more else "",
            "pageSize": size,
            "totalSize": len(tasks),
        }

    async def _thread_runs(
        self, door: Door, thread_id: uuid.UUID, limit: int, offset: int
    ) -> list[wire.Run]:
        try:
            return await self.svc.runs.list(
                await door.read(thread_id, None),
                thread_id,
                limit=limit,
                offset=offset,
                status=None,
                select=None,
            )
        except NotFound:
            return []

    async def _start(
        self,
        dialect: shapes.Dialect,
        call: Call,
        door: Door,
        assistant: wire.Assistant,
        *,
        streamed: bool,
    ) -> Started:
        message = shapes.incoming(call.params)
        schema = await input_schema(self.svc.registry, assistant)
        if message.text is not None and not takes_messages(schema):
            fields = list((schema or {}).get("properties") or {})
            raise RpcError(
                INVALID_PARAMS,
                f"Assistant '{assistant.assistant_id}' (graph '{assistant.graph_id}') does not "
                "support A2A conversational messages. Graph input schema must include a "
                "'messages' field to accept text parts. Available input fields: "
                f"{fields}",
            )
        thread_id = _uuid(message.context_id, "contextId") if message.context_id else uuid.uuid4()
        body = RunCreate(
            assistant_id=str(assistant.assistant_id),
            if_not_exists="create",
            stream_mode=["values"] if streamed else None,
        )
        if await self._waiting(door, thread_id):
            body.command = {"resume": message.text if message.text is not None else message.data}
        else:
            user = {"role": "user", "content": message.text, "id": message.message_id}
            body.input = {**message.data, **({"messages": [user]} if message.text else {})}
        try:
            access, caller = await door.run(body, thread_id)
            run = await self.svc.runs.create(access, caller, thread_id, body)
        except DomainError as exc:
            raise RpcError(INVALID_PARAMS, exc.detail) from None
        _, run_id = run.ids()
        task, context = shapes.task_id(thread_id, run_id), str(thread_id)
        parts = []
        if message.text is not None:
            parts.append(dialect.text(message.text))
        if message.data:
            parts.append(dialect.data(message.data))
        shown = dialect.message(
            "user", parts, message_id=message.message_id, task=task, context=context
        )
        return Started(thread_id, run_id, task, context, shown)

    async def _waiting(self, door: Door, thread_id: uuid.UUID) -> bool:
        """Whether the thread stopped on an interrupt (a message then resumes it)."""
        try:
            thread = await self.svc.threads.get(await door.read(thread_id, None), thread_id)
        except NotFound:
            return False
        return thread.status == "interrupted"

    async def _run(self, call: Call, door: Door, assistant: wire.Assistant) -> wire.Run:
        thread_id, run_id = shapes.parse_task_id(call.params.get("id"))
        run = await self.svc.runs.find(await door.read(thread_id, run_id), thread_id, run_id)
        if run is None or run.assistant_id != assistant.assistant_id:
            raise RpcError(shapes.TASK_NOT_FOUND, f"Task not found: {call.params['id']}")
        return run

    def _submitted(self, dialect: shapes.Dialect, started: Started) -> dict[str, Any]:
        return dialect.task(started.task, started.context, "submitted", history=[started.message])

    async def _shown(
        self,
        dialect: shapes.Dialect,
        door: Door,
        run: wire.Run,
        assistant: wire.Assistant,
        history_length: int | None,
    ) -> dict[str, Any]:
        """A run read back as its task (``tasks/get``, ``tasks/cancel``, ``ListTasks``)."""
        thread_id, run_id = run.ids()
        output = None
        if run.status in TERMINAL_RUNS:
            _, output = await self.svc.runs.outcome(run_id)
        task_id, context = shapes.task_id(thread_id, run_id), str(thread_id)
        kwargs = run.kwargs if isinstance(run.kwargs, dict) else {}
        sent = shapes.history(dialect, kwargs.get("input"), context, task_id)
        started = Started(thread_id, run_id, task_id, context, sent[-1] if sent else {})
        task = await self._task(dialect, door, started, assistant, output, run=run)
        if history_length is not None and history_length > 0:
            task["history"] = task["history"][-history_length:]
        return task

    async def _task(
        self,
        dialect: shapes.Dialect,
        door: Door,
        started: Started,
        assistant: wire.Assistant,
        output: Any,
        *,
        run: wire.Run | None = None,
    ) -> dict[str, Any]:
        """The task of a run from its output (None: not ended) and status."""
        if run is None:
            read = await door.read(started.thread_id, started.run_id)
            run = await self.svc.runs.find(read, started.thread_id, started.run_id)
        status = str(run.status) if run is not None else "error"
        return shapes.task_of(
            dialect,
            started.task,
            started.context,
            str(assistant.assistant_id),
            status,
            output,
            started.message,
        )


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise RpcError(INVALID_PARAMS, f"Invalid {name}: must be a UUID") from None
