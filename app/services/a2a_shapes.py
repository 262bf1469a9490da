"""The shapes of A2A (agent-to-agent protocol) objects, in the two dialects its clients speak:
0.3 (``message/send``...: ``kind`` fields, lower-case states and roles) and 1.0
(``SendMessage``...: ProtoJSON, ``TASK_STATE_*`` and ``ROLE_*``, wrapped stream events).

A task is a run: its id is ``<thread id>:<run id>`` (as the reference server spells it; a
bare run id is accepted too), its ``contextId`` the thread. Its state comes from the run's
status and output: ``pending`` submitted, ``running`` working, ``success`` completed (or
input-required when it stopped on an interrupt), ``error``/``timeout`` failed,
``interrupted`` (cancelled) canceled.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from app.services.jsonrpc import INVALID_PARAMS, RpcError

CONTENT_TYPE_NOT_SUPPORTED = -32005
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
MODES = ["application/json", "text/plain"]

STATES = {
    "pending": "submitted",
    "queued": "submitted",
    "running": "working",
    "success": "completed",
    "error": "failed",
    "timeout": "failed",
    "interrupted": "canceled",
}
TERMINAL_STATES = frozenset({"completed", "failed", "canceled", "input-required"})
STATES_V1 = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "completed": "TASK_STATE_COMPLETED",
    "failed": "TASK_STATE_FAILED",
    "canceled": "TASK_STATE_CANCELED",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "rejected": "TASK_STATE_REJECTED",
    "auth-required": "TASK_STATE_AUTH_REQUIRED",
}
STATE_OF_V1 = {v: k for k, v in STATES_V1.items()}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def task_id(thread_id: uuid.UUID, run_id: uuid.UUID) -> str:
    return f"{thread_id}:{run_id}"


def parse_task_id(value: Any) -> tuple[uuid.UUID | None, uuid.UUID]:
    """(thread id or None, run id) of a task id; -32602 when missing, -32001 when it
    names no run."""
    if not isinstance(value, str) or not value:
        raise RpcError(INVALID_PARAMS, "Missing required parameter: id (task_id)")
    thread, _, run = value.rpartition(":")
    try:
        return (uuid.UUID(thread) if thread else None), uuid.UUID(run)
    except ValueError:
        raise RpcError(TASK_NOT_FOUND, f"Task not found: {value[:200]}") from None


@dataclass(frozen=True)
class Dialect:
    """How one protocol version spells things."""

    v1: bool

    def state(self, state: str) -> str:
        return STATES_V1[state] if self.v1 else state

    def role(self, role: str) -> str:
        return f"ROLE_{role.upper()}" if self.v1 else role

    def text(self, text: str) -> dict[str, Any]:
        return {"text": text} if self.v1 else {"kind": "text", "text": text}

    def data(self, data: Any) -> dict[str, Any]:
        return {"data": data} if self.v1 else {"kind": "data", "data": data}

    def message(
        self,
        role: str,
        parts: list[dict[str, Any]],
        *,
        message_id: str | None = None,
        task: str | None = None,
        context: str | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.v1 else {"kind": "message"}
        out["role"] = self.role(role)
        out["parts"] = parts
        out["messageId"] = message_id or str(uuid.uuid4())
        if task is not None:
            out["taskId"] = task
        if context is not None:
            out["contextId"] = context
        return out

    def task(
        self,
        task: str,
        context: str,
        state: str,
        *,
        history: list[dict[str, Any]],
        artifacts: list[dict[str, Any]] | None = None,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state(state), "timestamp": now()}
        if message is not None:
            status["message"] = message
        out: dict[str, Any] = {} if self.v1 else {"kind": "task"}
        out.update({"id": task, "contextId": context, "history": history, "status": status})
        if artifacts:
            out["artifacts"] = artifacts
        return out

    def sent(self, task: dict[str, Any]) -> dict[str, Any]:
        """The result of a send: the task (0.3), or ``{"task": ...}`` (1.0)."""
        return {"task": task} if self.v1 else task

    def status_update(
        self,
        task: str,
        context: str,
        state: str,
        *,
        final: bool,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        status: dict[str, Any] = {"state": self.state(state), "timestamp": now()}
        if message is not None:
            status["message"] = message
        event = {"taskId": task, "contextId": context, "status": status}
        if self.v1:
            return {"statusUpdate": event}
        return {**event, "kind": "status-update", "final": final}

    def artifact_update(self, task: str, context: str, artifact: dict[str, Any]) -> dict[str, Any]:
        event = {"taskId": task, "contextId": context, "artifact": artifact}
        if self.v1:
            return {"artifactUpdate": {**event, "append": False, "lastChunk": True}}
        return {**event, "kind": "artifact-update", "append": False, "lastChunk": True}


V03 = Dialect(v1=False)
V10 = Dialect(v1=True)


@dataclass(frozen=True)
class Incoming:
    """A user message as the graph gets it: its text (None without text parts), the data
    parts merged, and ids."""

    text: str | None
    data: dict[str, Any]
    message_id: str
    context_id: str | None
    task_id: str | None
    original: dict[str, Any]


def incoming(params: dict[str, Any]) -> Incoming:
    """The ``message`` of a send's params; -32602 when missing or empty, -32005 for parts
    the graph cannot take (files)."""
    message = params.get("message")
    if not isinstance(message, dict):
        raise RpcError(INVALID_PARAMS, "Missing or invalid 'message' in params")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(INVALID_PARAMS, "Message must contain at least one part")
    texts: list[str] = []
    data: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            raise RpcError(INVALID_PARAMS, "Invalid message part: expected an object")
        kind = part.get("kind")
        if isinstance(part.get("text"), str) and kind in (None, "text"):
            texts.append(part["text"])
        elif "data" in part and kind in (None, "data"):
            if not isinstance(part["data"], dict):
                raise RpcError(INVALID_PARAMS, "A data part must hold an object")
            data.update(part["data"])
        else:
            raise RpcError(CONTENT_TYPE_NOT_SUPPORTED, "Only text and data parts are supported")
    message_id = message.get("messageId")
    context, task = message.get("contextId"), message.get("taskId")
    return Incoming(
        text="\n".join(texts) if texts else None,
        data=data,
        message_id=message_id if isinstance(message_id, str) and message_id else str(uuid.uuid4()),
        context_id=context if isinstance(context, str) and context else None,
        task_id=task if isinstance(task, str) and task else None,
        original=message,
    )


def message_text(message: dict[str, Any]) -> str:
    """A LangChain message's content as plain text."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            c if isinstance(c, str) else str(c.get("text", ""))
            for c in content
            if isinstance(c, str) or (isinstance(c, dict) and c.get("type") == "text")
        )
    return ""


def messages_of(values: Any) -> list[dict[str, Any]]:
    if isinstance(values, dict) and isinstance(values.get("messages"), list):
        return [m for m in values["messages"] if isinstance(m, dict)]
    return []


ROLES = {"human": "user", "user": "user", "ai": "agent", "assistant": "agent"}


def history(
    dialect: Dialect, values: Any, context: str, task: str | None = None
) -> list[dict[str, Any]]:
    """The conversation of a thread's values (``messages``) as A2A messages."""
    out = []
    for message in messages_of(values):
        role = ROLES.get(str(message.get("type") or message.get("role")))
        if role is None:
            continue  # tool and system messages are the agent's own business
        out.append(
            dialect.message(
                role,
                [dialect.text(message_text(message))],
                message_id=str(message.get("id") or uuid.uuid4()),
                task=task,
                context=context,
            )
        )
    return out


def reply_text(values: Any) -> str | None:
    """The last AI message's text, if the output has one."""
    for message in reversed(messages_of(values)):
        if ROLES.get(str(message.get("type"))) == "agent":
            return message_text(message)
        if ROLES.get(str(message.get("type"))) == "user":
            return None
    return None


def state_of(status: str, output: Any) -> str:
    state = STATES.get(status, "working")
    if state == "completed" and isinstance(output, dict) and output.get("__interrupt__"):
        return "input-required"
    return state


def task_of(
    dialect: Dialect,
    task: str,
    context: str,
    assistant_id: str,
    status: str,
    output: Any,
    message: dict[str, Any],
) -> dict[str, Any]:
    """The task of a run from its status and output (None: not ended); ``message`` is the
    user's message that started it (empty when not known)."""
    state = state_of(status, output)
    shown = history(dialect, output, context) if output else []
    if not shown and message:
        shown = [message]
    for one in shown:
        one.setdefault("taskId", task)
    artifacts: list[dict[str, Any]] = []
    said = None
    if state == "completed":
        text = reply_text(output)
        parts = [dialect.text(text)] if text is not None else [dialect.data(output)]
        artifacts.append(
            _artifact("Assistant Response", f"Response from assistant {assistant_id}", parts)
        )
    elif state == "input-required":
        interrupts = output.get("__interrupt__") or []
        parts = [dialect.data(i) for i in interrupts]
        artifacts.append(_artifact("Interrupt", "Agent requires input to continue", parts))
    elif state == "failed":
        error = output.get("__error__") if isinstance(output, dict) else None
        error = error if isinstance(error, dict) else {}
        kind, detail = error.get("error") or status, error.get("message")
        text = f"Error executing assistant: {kind}" + (f": {detail}" if detail else "")
        said = dialect.message("agent", [dialect.text(text)], task=task, context=context)
    return dialect.task(task, context, state, history=shown, artifacts=artifacts, message=said)


def _artifact(name: str, description: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "artifactId": str(uuid.uuid4()),
        "name": name,
        "description": description,
        "parts": parts,
    }
