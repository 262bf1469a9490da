"""A chat graph for the MCP and A2A tests: it answers ``echo: <last message>``, waits
(``wait <seconds>``) before answering, fails on ``boom``, and asks back on ``ask``
(``interrupt``, then it echoes the answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import interrupt


class Chat(MessagesState, total=False):
    topic: str


async def reply(state: Chat) -> dict[str, Any]:
    text = str(state["messages"][-1].content)
    if text.startswith("wait "):
        await asyncio.sleep(float(text.split()[1]))
    if text == "boom":
        raise ValueError("the chat exploded")
    if text == "ask":
        text = str(interrupt({"question": "what should I say?"}))
    topic = state.get("topic")
    prefix = f"[{topic}] " if topic else ""
    return {"messages": [AIMessage(content=f"{prefix}echo: {text}")]}


builder = StateGraph(Chat)
builder.add_node("reply", reply)
builder.add_edge(START, "reply")
graph = builder.compile(name="Chatter")
