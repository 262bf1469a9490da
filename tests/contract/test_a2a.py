"""A2A at ``/a2a/{assistant_id}`` (API.md §12.2) with the official ``a2a-sdk`` client (protocol
1.0) and, for the 0.3 method names, plain JSON-RPC over HTTP; against a real server on the
test graphs (``chat``: a messages graph that echoes, waits, fails and asks back).

A context is a thread and a task a run (``<thread id>:<run id>``); the task's state comes
from the run. Shapes as the reference server (``langgraph dev`` 0.16.7) answers them, except
that 1.0 stream events are wrapped (``statusUpdate``, ``artifactUpdate``) so that the SDK
client can read them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from google.protobuf import json_format
from langgraph_sdk import get_client

from tests.contract.auth_example import ALICE, BOB
from tests.server import ROOT, running_server

GRAPHS = str(ROOT / "tests" / "graphs" / "langgraph.json")
CHAT = str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "chat"))
STEPS = str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "steps"))


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    with running_server(module_database_url, config=GRAPHS) as url:
        yield url


@asynccontextmanager
async def agent(url: str, *, streaming: bool, path: str = CHAT) -> AsyncIterator[Client]:
    client = await create_client(f"{url}/a2a/{path}", ClientConfig(streaming=streaming))
    try:
        yield client
    finally:
        await client.close()


def message(text: str, context_id: str | None = None) -> Message:
    return Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        context_id=context_id or "",
    )


async def send(
    client: Client, text: str, context_id: str | None = None, **config: Any
) -> list[StreamResponse]:
    request = SendMessageRequest(message=message(text, context_id))
    if config:
        request.configuration.CopyFrom(SendMessageConfiguration(**config))
    return [event async for event in client.send_message(request)]


async def rpc(url: str, method: str, params: dict[str, Any], path: str = CHAT) -> Any:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        body = {"jsonrpc": "2.0", "id": "r1", "method": method, "params": params}
        response = await http.post(f"/a2a/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_agent_cards(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as http:
        by_query = await http.get("/.well-known/agent-card.json", params={"assistant_id": CHAT})
        by_path = await http.get(f"/a2a/{CHAT}/.well-known/agent-card.json")
        by_graph = await http.get("/a2a/chat/.well-known/agent-card.json")
        assert by_query.status_code == by_path.status_code == by_graph.status_code == 200
        assert by_query.json() == by_path.json() == by_graph.json()
        card = by_query.json()
        assert card["name"] == "Chatter"
        assert card["url"] == f"{server_url}/a2a/{CHAT}"
        assert card["supportedInterfaces"][0]["protocolBinding"] == "JSONRPC"
        assert card["capabilities"]["streaming"] is True
        skill = card["skills"][0]
        assert skill["id"] == f"{CHAT}-main"
        assert skill["metadata"]["inputSchema"] == {
            "required": ["messages"],
            "properties": ["messages", "topic"],
            "supportsA2A": True,
        }
        missing = await http.get("/.well-known/agent-card.json")
        assert missing.status_code == 400
        unknown = await http.get(f"/a2a/{uuid.uuid4()}/.well-known/agent-card.json")
        assert unknown.status_code == 404
        assert "detail" in unknown.json()
        resolved = await A2ACardResolver(http, f"{server_url}/a2a/{CHAT}").get_agent_card()
    assert resolved.name == "Chatter"
    assert resolved.capabilities.streaming


async def test_send_continue_and_get(server_url: str) -> None:
    async with agent(server_url, streaming=False) as client:
        (first,) = await send(client, "hello")
        task = first.task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert task.artifacts[0].parts[0].text == "echo: hello"
        assert [m.role for m in task.history] == [Role.ROLE_USER, Role.ROLE_AGENT]
        thread_id, run_id = task.id.split(":")
        assert task.context_id == thread_id

        (second,) = await send(client, "again", context_id=task.context_id)
        assert second.task.context_id == task.context_id
        assert second.task.id != task.id
        texts = [m.parts[0].text for m in second.task.history]
        assert texts == ["hello", "echo: hello", "again", "echo: again"]

        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        short = await client.get_task(GetTaskRequest(id=second.task.id, history_length=1))
        assert [m.parts[0].text for m in short.history] == ["echo: again"]
        listed = await client.list_tasks(ListTasksRequest(context_id=task.context_id))
        assert {t.id for t in listed.tasks} == {task.id, second.task.id}
        assert not listed.tasks[0].artifacts  # only with include_artifacts
        everywhere = await client.list_tasks(ListTasksRequest(include_artifacts=True))
        assert {task.id, second.task.id} <= {t.id for t in everywhere.tasks}
        assert all(t.artifacts for t in everywhere.tasks if t.id == task.id)
        paged = await client.list_tasks(ListTasksRequest(page_size=1))
        assert len(paged.tasks) >= 1
        assert paged.next_page_token == "1"
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=f"{thread_id}:{uuid.uuid4()}"))

    # The context is a thread, the task a run, seen through the SDK as well.
    sdk = get_client(url=server_url)
    run = await sdk.runs.get(thread_id, run_id)
    assert run["status"] == "success"
    thread = await sdk.threads.get(thread_id)
    assert len(thread["values"]["messages"]) == 4


async def test_stream(server_url: str) -> None:
    async with agent(server_url, streaming=True, path="chat") as client:  # by graph id
        events = await send(client, "streamed")
    kinds = [event.WhichOneof("payload") for event in events]
    assert kinds == ["task", "status_update", "artifact_update", "status_update"]
    assert events[0].task.status.state == TaskState.TASK_STATE_SUBMITTED
    working = events[1].status_update
    assert working.status.state == TaskState.TASK_STATE_WORKING
    assert working.status.message.parts[0].text == "echo: streamed"
    assert events[2].artifact_update.artifact.parts[0].text == "echo: streamed"
    assert events[3].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert {e.status_update.task_id for e in events[1::2]} == {events[0].task.id}


async def test_cancel_a_task(server_url: str) -> None:
    async with agent(server_url, streaming=False) as client:
        (started,) = await send(client, "wait 60", return_immediately=True)
        task = started.task
        assert task.status.state == TaskState.TASK_STATE_SUBMITTED
        going = await client.get_task(GetTaskRequest(id=task.id))
        assert going.status.state in (
            TaskState.TASK_STATE_SUBMITTED,
            TaskState.TASK_STATE_WORKING,
        )
        assert [m.parts[0].text for m in going.history] == ["wait 60"]
        cancelled = await client.cancel_task(CancelTaskRequest(id=task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        got = await client.get_task(GetTaskRequest(id=task.id))
        assert got.status.state == TaskState.TASK_STATE_CANCELED
        with pytest.raises(TaskNotCancelableError):
            await client.cancel_task(CancelTaskRequest(id=task.id))
    run = await get_client(url=server_url).runs.get(*task.id.split(":"))
    assert run["status"] == "interrupted"


async def test_failure_and_input_required(server_url: str) -> None:
    async with agent(server_url, streaming=False) as client:
        (failed,) = await send(client, "boom")
        assert failed.task.status.state == TaskState.TASK_STATE_FAILED
        said = failed.task.status.message.parts[0].text
        assert said == "Error executing assistant: ValueError: the chat exploded"

        (asked,) = await send(client, "ask")
        assert asked.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        question = json_format.MessageToDict(asked.task.artifacts[0].parts[0].data)
        assert question["value"] == {"question": "what should I say?"}
        (answered,) = await send(client, "yes", context_id=asked.task.context_id)
        assert answered.task.status.state == TaskState.TASK_STATE_COMPLETED
        assert answered.task.artifacts[0].parts[0].text == "echo: yes"


async def test_the_0_3_method_names(server_url: str) -> None:
    user = {"kind": "message", "messageId": "m1", "role": "user"}
    sent = await rpc(
        server_url,
        "message/send",
        {"message": {**user, "parts": [{"kind": "text", "text": "old"}]}},
    )
    task = sent["result"]
    assert sent["id"] == "r1"
    assert task["kind"] == "task"
    assert task["status"]["state"] == "completed"
    assert task["history"][0] == {
        "kind": "message",
        "role": "user",
        "parts": [{"kind": "text", "text": "old"}],
        "messageId": "m1",
        "taskId": task["id"],
        "contextId": task["contextId"],
    }
    assert task["artifacts"][0]["parts"] == [{"kind": "text", "text": "echo: old"}]
    got = await rpc(server_url, "tasks/get", {"id": task["id"]})
    assert got["result"]["status"]["state"] == "completed"
    data = {
        **user,
        "parts": [{"kind": "text", "text": "hi"}, {"kind": "data", "data": {"topic": "t"}}],
    }
    with_data = await rpc(server_url, "message/send", {"message": data})
    assert with_data["result"]["artifacts"][0]["parts"][0]["text"] == "[t] echo: hi"

    async with httpx.AsyncClient(base_url=server_url, timeout=30) as http:
        body = {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "message/stream",
            "params": {"message": {**user, "parts": [{"kind": "text", "text": "s"}]}},
        }
        headers = {"Accept": "text/event-stream"}
        async with http.stream("POST", f"/a2a/{CHAT}", json=body, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = [line async for line in response.aiter_lines()]
        events = [json.loads(line[6:])["result"] for line in lines if line.startswith("data: ")]
        assert [e["kind"] for e in events] == [
            "task",
            "status-update",
            "artifact-update",
            "status-update",
        ]
        assert [e.get("final") for e in events[1::2]] == [False, True]
        assert events[-1]["status"]["state"] == "completed"
        no_sse = await http.post(f"/a2a/{CHAT}", json=body)
        assert no_sse.status_code == 400
        not_json = await http.post(f"/a2a/{CHAT}", content=b"{nope")
        assert not_json.json()["error"]["code"] == -32700

    extended = await rpc(server_url, "GetExtendedAgentCard", {})
    assert extended["result"]["name"] == "Chatter"
    unknown = await rpc(server_url, "tasks/resubscribe", {"id": task["id"]})
    assert unknown["error"]["code"] == -32601
    refused = await rpc(
        server_url,
        "message/send",
        {"message": {**user, "parts": [{"kind": "text", "text": "x"}]}},
        path=STEPS,
    )
    assert refused["error"]["code"] == -32602
    assert "does not support A2A conversational messages" in refused["error"]["message"]
    empty = await rpc(server_url, "message/send", {"message": {**user, "parts": []}})
    assert empty["error"] == {"code": -32602, "message": "Message must contain at least one part"}
    missing = await rpc(server_url, "tasks/get", {"id": f"{uuid.uuid4()}:{uuid.uuid4()}"})
    assert missing["error"]["code"] == -32001
    nobody = await rpc(server_url, "tasks/get", {"id": "x"}, path=str(uuid.uuid4()))
    assert nobody["error"]["code"] == -32602


async def test_custom_auth_applies(auth_url: str) -> None:
    alice = get_client(url=auth_url, headers=ALICE)
    mine = (await alice.assistants.create("agent", name="alice agent"))["assistant_id"]
    hello = {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": hello}
    async with httpx.AsyncClient(base_url=auth_url, timeout=30) as http:
        refused = await http.post(f"/a2a/{mine}", json=body)
        assert refused.status_code == 401
        card = f"/a2a/{mine}/.well-known/agent-card.json"
        assert (await http.get(card)).status_code == 401
        assert (await http.get(card, headers=ALICE)).status_code == 200
        assert (await http.get(card, headers=BOB)).status_code == 404
        sent = (await http.post(f"/a2a/{mine}", json=body, headers=ALICE)).json()
        task = sent["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        get = {"jsonrpc": "2.0", "id": 2, "method": "GetTask", "params": {"id": task["id"]}}
        seen = (await http.post(f"/a2a/{mine}", json=get, headers=ALICE)).json()
        assert seen["result"]["id"] == task["id"]
        by_bob = (await http.post(f"/a2a/{mine}", json=get, headers=BOB)).json()
        assert by_bob["error"]["code"] == -32602  # Bob cannot see the assistant at all
        thread = await alice.threads.get(task["contextId"])
        assert thread["metadata"]["owner"] == "alice"
