"""The bundled demo graph ``agent``, served when no ``langgraph.json`` is given.

It is a plain ReAct-style LangGraph ``StateGraph`` over ``MessagesState``::

    START -> agent --(AI message has tool calls)--> tools -> agent
                   \\--(otherwise)--> END

* ``agent`` calls a chat model bound to one tool: offline and scripted unless
  ``TURNSTILE_DEMO_MODEL`` names a real one (:mod:`app.graphs.demo_model`).
* ``tools`` is a ``langgraph.prebuilt.ToolNode`` running the canned, offline search tool
  ``tavily_search_results_json`` (:mod:`app.graphs.demo_search`).

Module API
----------
``graph``
    The compiled graph, compiled **without** a checkpointer. Attach one with
    ``graph.copy(update={"checkpointer": saver})``. ``langgraph.json`` files name it
    ``app.graphs.demo:graph``.
``build_graph(model=None)``
    Build and compile a fresh graph, optionally around a given chat model.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from app.graphs.demo_model import make_model
from app.graphs.demo_search import tavily_search_results_json

__all__ = ["build_graph", "graph"]


def build_graph(
    model: BaseChatModel | Runnable[LanguageModelInput, BaseMessage] | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Build the demo ReAct graph, compiled without a checkpointer.

    ``model`` defaults to :func:`make_model`. A bare ``BaseChatModel`` is bound to
    the search tool.
    """
    if model is None:
        bound: Runnable[LanguageModelInput, BaseMessage] = make_model()
    elif isinstance(model, BaseChatModel):
        bound = model.bind_tools([tavily_search_results_json])
    else:
        bound = model

    def call_model(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"], config)]}

    async def acall_model(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(state["messages"], config)]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", RunnableLambda(call_model, afunc=acall_model, name="agent"))
    builder.add_node("tools", ToolNode([tavily_search_results_json]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, ["tools", "__end__"])
    builder.add_edge("tools", "agent")
    return builder.compile(name="agent")


graph = build_graph()
