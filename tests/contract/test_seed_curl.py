"""The seed document's curl snippets (create runs, reject a concurrent one, view results).

The bodies are typed inside bash double quotes, where ``\\'`` stays a backslash-quote, so
the server receives ``what\\'s`` (an invalid JSON escape) and, in the first body, a trailing
comma before ``}``: the server accepts exactly these two mistakes (app/api/lenient_json.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk.client import LangGraphClient

from tests.server import running_server

# The seed's snippet verbatim, with <DEPLOYMENT_URL> and <THREAD_ID> to fill in.
CREATE_RUNS = r"""curl --request POST \
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs \
--header 'Content-Type: application/json' \
--data "{
  \"assistant_id\": \"agent\",
  \"input\": {\"messages\": [{\"role\": \"human\", \"content\": \"what\'s the weather in sf?\"}]},
}" && curl --request POST \
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs \
--header 'Content-Type: application/json' \
--data "{
  \"assistant_id\": \"agent\",
  \"input\": {\"messages\": [{\"role\": \"human\", \"content\": \"what\'s the weather in nyc?\"}]},
  \"multitask_strategy\": \"reject\"
}" || { echo "Failed to start concurrent run"; echo "Error: $?" >&2; }
"""

# The seed's "view run results" snippet; ``pretty_print.sh`` is not part of the document,
# so a small ``pretty_print`` function stands in for it.
VIEW_RESULTS = r"""pretty_print() { printf '%s\t%s\n' "$1" "$2"; } && curl --request GET \
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/<RUN_ID>/join && \
curl --request GET --url <DEPLOYMENT_URL>/threads/<THREAD_ID>/state | \
jq -c '.values.messages[]' | while read -r element; do
    type=$(echo "$element" | jq -r '.type')
    content=$(echo "$element" | jq -r '.content | if type == "array" then tostring else . end')
    pretty_print "$type" "$content"
done
"""

AGENT_ASSISTANT_ID = str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "agent"))
REJECTED = {
    "detail": "Thread is already running a task. Wait for it to finish or choose a different "
    "multitask strategy."
}

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None,
    reason="the seed's snippets need curl and bash",
)


@pytest.fixture(scope="module")
def server_url(module_database_url: str) -> Iterator[str]:
    # A token delay keeps the first run active while the second curl arrives (the demo
    # model answers in a few milliseconds otherwise).
    with running_server(module_database_url, env={"TURNSTILE_DEMO_TOKEN_DELAY": "0.05"}) as url:
        yield url


def _fill(script: str, **values: str) -> str:
    for key, value in values.items():
        script = script.replace(f"<{key}>", value)
    assert "<" not in script.replace("<<", "")  # every placeholder filled
    return script


def _json_values(text: str) -> list[Any]:
    """The JSON documents curl printed one after the other (without separators)."""
    decoder = json.JSONDecoder()
    values, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        value, i = decoder.raw_decode(text, i)
        values.append(value)
    return values


def _bash(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


async def test_seed_curl_create_runs_and_reject(server_url: str, client: LangGraphClient) -> None:
    thread = await client.threads.create()
    thread_id = str(thread["thread_id"])

    res = _bash(_fill(CREATE_RUNS, DEPLOYMENT_URL=server_url, THREAD_ID=thread_id))

    # curl has no --fail here, so a 409 still exits 0 and the `||` branch does not run:
    # the rejection shows as the 409 body printed after the run.
    assert res.returncode == 0, res.stderr
    assert "Failed to start concurrent run" not in res.stdout
    run, rejected = _json_values(res.stdout)
    assert run["thread_id"] == thread_id
    assert run["assistant_id"] == AGENT_ASSISTANT_ID
    assert run["status"] == "pending"
    assert rejected == REJECTED

    await client.runs.join(thread_id, run["run_id"])
    runs = await client.runs.list(thread_id)
    assert [r["run_id"] for r in runs] == [run["run_id"]]  # the second run was never created
    assert runs[0]["status"] == "success"

    state = await client.threads.get_state(thread_id)
    messages = state["values"]["messages"]
    assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
    assert messages[0]["content"] == "what's the weather in sf?"
    assert messages[1]["tool_calls"]
    assert messages[2]["tool_call_id"] == messages[1]["tool_calls"][0]["id"]
    assert messages[3]["content"]

    if shutil.which("jq") is None:
        return  # the "view run results" snippet needs jq
    view = _bash(
        _fill(VIEW_RESULTS, DEPLOYMENT_URL=server_url, THREAD_ID=thread_id, RUN_ID=run["run_id"])
    )
    assert view.returncode == 0, view.stderr
    # The join prints the run's final values (one JSON document, no newline after it), then
    # pretty_print writes one "type<TAB>content" line per message of the thread state.
    joined, end = json.JSONDecoder().raw_decode(view.stdout)
    assert [m["type"] for m in joined["messages"]] == ["human", "ai", "tool", "ai"]
    lines = view.stdout[end:].splitlines()
    assert [line.split("\t", 1)[0] for line in lines] == ["human", "ai", "tool", "ai"]
    assert lines[0] == "human\twhat's the weather in sf?"
    assert lines[2].startswith("tool\t[")
    assert lines[3] == f"ai\t{messages[3]['content']}"


async def test_other_json_mistakes_still_answer_422(
    server_url: str, client: LangGraphClient
) -> None:
    thread = await client.threads.create()
    url = f"{server_url}/threads/{thread['thread_id']}/runs"
    for body in (
        b'{"assistant_id": "agent",, }',
        b"{'assistant_id': 'agent'}",
        b'{"assistant_id": "agent", "input": {"messages": []}',
        b'{"assistant_id": "agent" "input": {}}',
    ):
        async with httpx.AsyncClient() as http:
            res = await http.post(url, content=body, headers={"Content-Type": "application/json"})
        assert res.status_code == 422, body
        assert res.json() == {"detail": "Invalid JSON in request body"}, body
    assert await client.runs.list(thread["thread_id"]) == []
