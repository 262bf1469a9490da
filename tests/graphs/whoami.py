"""A graph that reports who runs it, for the custom auth tests (``auth_langgraph.json``)."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict


class Seen(TypedDict, total=False):
    identity: str
    attribute: str
    user_id: str
    permissions: list[str]
    server_user: str | None


async def whoami(state: Seen, config: RunnableConfig, runtime: Runtime[Any]) -> dict[str, Any]:
    """The user as a graph can read it: the ``langgraph_auth_user`` object (by key and by
    attribute), the id and permissions beside it, and ``runtime.server_info.user``."""
    configurable = config["configurable"]
    user = configurable["langgraph_auth_user"]
    server = runtime.server_info
    return {
        "identity": user["identity"],
        "attribute": user.identity,
        "user_id": configurable["langgraph_auth_user_id"],
        "permissions": list(configurable["langgraph_auth_permissions"]),
        "server_user": server.user.identity if server and server.user else None,
    }


builder = StateGraph(Seen)
builder.add_node("whoami", whoami)
builder.add_edge(START, "whoami")
graph = builder.compile(name="whoami")
