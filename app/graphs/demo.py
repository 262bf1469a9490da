"""The bundled demo graph ``agent``, served when no ``langgraph.json`` is given.

It is a plain ReAct-style LangGraph ``StateGraph`` over ``MessagesState``::

    START -> agent --(AI message has tool calls)--> tools -> agent
                   \\--(otherwise)--> END

* ``agent`` calls a chat model bound to one tool.
* ``tools`` is a ``langgraph.prebuilt.ToolNode`` running the tool
  ``tavily_search_results_json``.

Offline and deterministic by default
------------------------------------
Out of the box the chat model is :class:`ScriptedChatModel`, which needs no
network and no API key, and reproduces the conversation of the LangGraph
double-texting guides: asked ``"what's the weather in sf?"`` it calls
``tavily_search_results_json`` with ``{"query": "weather in san francisco"}``
and then answers "According to the search results, the current weather in San
Francisco is ...", quoting the tool result. Its rule is simple: when the last
message is from the user it searches, when the last message is a tool result it
answers from it. Streamed, the answer arrives one word at a time (so
``stream_mode="messages"`` shows many chunks), a word every
``TURNSTILE_DEMO_TOKEN_DELAY`` seconds (default ``0.03``, about the pace of a hosted
model, so ``curl -N`` shows the answer being written; ``0`` for no delay).

The search tool is always canned and offline, whichever model is used: it
returns a fixed weather report for a few known cities (San Francisco, New York,
Los Angeles, London, Seattle), a generic report for other places, and a
placeholder result for any other query. It never calls Tavily.

A real chat model
-----------------
Set ``TURNSTILE_DEMO_MODEL`` to a ``provider:model`` string understood by
``langchain.chat_models.init_chat_model`` (e.g. ``openai:gpt-4o-mini`` or
``anthropic:claude-3-5-haiku-latest``) to have the ``agent`` node call that
model instead. This needs the ``langchain`` package and the provider's
integration package (e.g. ``langchain-openai``), and the provider's API key in
the environment. The variable is read when the graph is built, i.e. when this
module is imported by the graph loader.

Module API
----------
``graph``
    The compiled graph, compiled **without** a checkpointer. Attach one with
    ``graph.copy(update={"checkpointer": saver})``.
``build_graph(model=None)``
    Build and compile a fresh graph, optionally around a given chat model.
``make_model()``
    The chat model chosen from the environment, bound to the tool.
``ScriptedChatModel``, ``tavily_search_results_json``
    The deterministic model and the canned search tool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool, tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition

__all__ = [
    "MODEL_ENV",
    "TOKEN_DELAY_ENV",
    "TOOL_NAME",
    "ScriptedChatModel",
    "build_graph",
    "graph",
    "make_model",
    "tavily_search_results_json",
]

MODEL_ENV = "TURNSTILE_DEMO_MODEL"
TOKEN_DELAY_ENV = "TURNSTILE_DEMO_TOKEN_DELAY"
DEFAULT_TOKEN_DELAY = 0.03
TOOL_NAME = "tavily_search_results_json"

# --------------------------------------------------------------------------- #
# The canned search tool
# --------------------------------------------------------------------------- #

# Alias -> canonical place name used in search queries.
_PLACE_ALIASES: dict[str, str] = {
    "sf": "san francisco",
    "s.f.": "san francisco",
    "san fran": "san francisco",
    "frisco": "san francisco",
    "la": "los angeles",
    "l.a.": "los angeles",
}

# Canonical place (or alias) -> canned search result.
_WEATHER: dict[str, dict[str, str]] = {
    "san francisco": {
        "url": "https://www.weatherapi.com/weather/q/san-francisco-california-usa",
        "content": (
            "The current weather in San Francisco is 58°F (14°C) and partly cloudy, "
            "with morning fog clearing by early afternoon. Humidity is 78% and the wind "
            "is from the west at 12 mph; expect a high of 64°F (18°C) and a low of "
            "53°F (12°C) today."
        ),
    },
    "new york": {
        "url": "https://www.weatherapi.com/weather/q/new-york-new-york-usa",
        "content": (
            "The current weather in New York City is 72°F (22°C) and mostly sunny. "
            "Humidity is 55% and the wind is from the southwest at 8 mph; expect a "
            "high of 78°F (26°C) and a low of 65°F (18°C) today."
        ),
    },
    "los angeles": {
        "url": "https://www.weatherapi.com/weather/q/los-angeles-california-usa",
        "content": (
            "The current weather in Los Angeles is 75°F (24°C) and sunny. Humidity is "
            "40% and the wind is from the southwest at 6 mph; expect a high of 82°F "
            "(28°C) and a low of 62°F (17°C) today."
        ),
    },
    "london": {
        "url": "https://www.weatherapi.com/weather/q/london-city-of-london-greater-london-united-kingdom",
        "content": (
            "The current weather in London is 61°F (16°C) with light rain. Humidity is "
            "82% and the wind is from the south at 10 mph; expect a high of 64°F "
            "(18°C) and a low of 54°F (12°C) today."
        ),
    },
    "seattle": {
        "url": "https://www.weatherapi.com/weather/q/seattle-washington-usa",
        "content": (
            "The current weather in Seattle is 57°F (14°C) and overcast, with a chance "
            "of drizzle this evening. Humidity is 80% and the wind is from the south at "
            "7 mph; expect a high of 63°F (17°C) and a low of 51°F (11°C) today."
        ),
    },
}
_WEATHER_KEYS: dict[str, str] = {
    "nyc": "new york",
    "new york city": "new york",
    "ny": "new york",
}

_WEATHER_QUERY = re.compile(
    r"\bweather\b(?:\s+(?:like\s+)?(?:in|for|at|of)\s+(?P<place>.+))?", re.IGNORECASE
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("?!.,;: ").strip()


def _canonical_place(place: str) -> str:
    place = _clean(place.lower())
    place = re.sub(r"^(?:the\s+)", "", place)
    place = re.sub(r"\s+(?:today|now|right now|tonight|tomorrow)$", "", place)
    return _PLACE_ALIASES.get(place, place)


def _search(query: str) -> list[dict[str, str]]:
    match = _WEATHER_QUERY.search(query)
    if match is not None:
        place = _canonical_place(match.group("place") or "")
        if not place:
            place = "san francisco"
        known = _WEATHER.get(_WEATHER_KEYS.get(place, place))
        if known is not None:
            return [dict(known)]
        name = place.title()
        slug = re.sub(r"[^a-z0-9]+", "-", place).strip("-") or "unknown"
        return [
            {
                "url": f"https://www.weatherapi.com/weather/q/{slug}",
                "content": (
                    f"The current weather in {name} is 68°F (20°C) and mostly sunny, "
                    "with light winds and no rain expected today."
                ),
            }
        ]
    slug = re.sub(r"[^a-z0-9]+", "+", query.lower()).strip("+")
    return [
        {
            "url": f"https://example.com/search?q={slug}",
            "content": (
                f'This is a canned result for "{query}": Turnstile\'s demo search tool '
                "works offline and does not search the web."
            ),
        }
    ]


@tool(TOOL_NAME)
def tavily_search_results_json(query: str) -> str:
    """A search engine optimized for comprehensive, accurate, and trusted results.

    Useful for when you need to answer questions about current events, such as the
    weather. Input should be a search query. (Demo: returns canned, offline results.)
    """
    return json.dumps(_search(query), ensure_ascii=False)


# --------------------------------------------------------------------------- #
# The scripted chat model
# --------------------------------------------------------------------------- #

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _tool_call_id(seed: str) -> str:
    """An Anthropic-looking id (``toolu_01`` + 22 base62 chars), derived from ``seed``."""
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, rest = divmod(number, 62)
        chars.append(_B62[rest])
    return "toolu_01" + "".join(chars)


def _text_of(content: str | list[str | dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return " ".join(parts)


def _query_for(question: str) -> str:
    text = _clean(question)
    match = _WEATHER_QUERY.search(text)
    if match is not None:
        place = _canonical_place(match.group("place") or "")
        return f"weather in {place}" if place else "weather"
    return text.lower() or "hello"


def _answer_for(tool_message: ToolMessage) -> str:
    raw = _text_of(tool_message.content)
    try:
        results = json.loads(raw)
    except ValueError:
        results = None
    if isinstance(results, list) and results and isinstance(results[0], dict):
        snippet = str(results[0].get("content", "")).strip()
    else:
        snippet = raw.strip()
    if not snippet:
        return "The search returned no results, so I can't answer that right now."
    if snippet[:4] in ("The ", "This"):
        snippet = snippet[0].lower() + snippet[1:]
    return f"According to the search results, {snippet}"


def _tokens(text: str) -> list[str]:
    """Split ``text`` into word tokens whose concatenation is ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


class ScriptedChatModel(BaseChatModel):
    """A deterministic, offline chat model for the demo graph.

    If the last message is a tool result it answers from it; otherwise it calls
    ``tavily_search_results_json`` with a query derived from the last user message.
    """

    token_delay: float = 0.0
    """Seconds to wait before each streamed chunk."""

    @property
    def _llm_type(self) -> str:
        return "turnstile-scripted-demo"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"token_delay": self.token_delay}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        # The script always uses the canned search tool; binding is a no-op.
        return self

    # -- the script ---------------------------------------------------------- #

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        last = messages[-1] if messages else None
        if isinstance(last, ToolMessage):
            return AIMessage(content=_answer_for(last))
        question = ""
        for message in reversed(messages):
            if isinstance(message, HumanMessage):
                question = _text_of(message.content)
                break
        query = _query_for(question)
        return AIMessage(
            content="",
            tool_calls=[
                {
                    "name": TOOL_NAME,
                    "args": {"query": query},
                    "id": _tool_call_id(f"{len(messages)}:{query}"),
                    "type": "tool_call",
                }
            ],
        )

    def _chunks(self, reply: AIMessage) -> Iterator[AIMessageChunk]:
        if reply.tool_calls:
            call = reply.tool_calls[0]
            args = json.dumps(call["args"], ensure_ascii=False)
            yield AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {
                        "name": call["name"],
                        "args": "",
                        "id": call["id"],
                        "index": 0,
                        "type": "tool_call_chunk",
                    }
                ],
            )
            for piece in _tokens(args):
                yield AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": None,
                            "args": piece,
                            "id": None,
                            "index": 0,
                            "type": "tool_call_chunk",
                        }
                    ],
                )
            finish = "tool_use"
        else:
            for piece in _tokens(_text_of(reply.content)):
                yield AIMessageChunk(content=piece)
            finish = "end_turn"
        yield AIMessageChunk(
            content="",
            response_metadata={"finish_reason": finish, "model_name": self._llm_type},
            chunk_position="last",
        )

    # -- BaseChatModel --------------------------------------------------------- #

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._reply(messages)
        reply.response_metadata = {
            "finish_reason": "tool_use" if reply.tool_calls else "end_turn",
            "model_name": self._llm_type,
        }
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages)):
            if self.token_delay > 0:
                time.sleep(self.token_delay)
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                run_manager.on_llm_new_token(chunk.content, chunk=generation)
            yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._reply(messages)):
            if self.token_delay > 0:
                await asyncio.sleep(self.token_delay)
            generation = ChatGenerationChunk(message=chunk)
            if run_manager is not None and isinstance(chunk.content, str) and chunk.content:
                await run_manager.on_llm_new_token(chunk.content, chunk=generation)
            yield generation


# --------------------------------------------------------------------------- #
# The graph
# --------------------------------------------------------------------------- #


def make_model() -> Runnable[LanguageModelInput, BaseMessage]:
    """The chat model for the ``agent`` node, chosen from the environment, bound to the tool."""
    spec = os.environ.get(MODEL_ENV, "").strip()
    if not spec:
        delay_text = os.environ.get(TOKEN_DELAY_ENV, "").strip() or str(DEFAULT_TOKEN_DELAY)
        try:
            delay = float(delay_text)
        except ValueError:
            raise ValueError(
                f"{TOKEN_DELAY_ENV} must be a number of seconds, got {delay_text!r}"
            ) from None
        return ScriptedChatModel(token_delay=max(delay, 0.0)).bind_tools(
            [tavily_search_results_json]
        )
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise RuntimeError(
            f"{MODEL_ENV}={spec!r} asks for a real chat model, which needs the `langchain` "
            "package and the provider's integration package, e.g. "
            "`pip install langchain langchain-openai` (or `langchain-anthropic`, ...). "
            f"Unset {MODEL_ENV} to use the offline scripted demo model."
        ) from exc
    try:
        model = init_chat_model(spec)
    except ImportError as exc:
        raise RuntimeError(
            f"{MODEL_ENV}={spec!r}: the provider's integration package is missing ({exc}). "
            "Install it, e.g. `pip install langchain-openai` or `pip install langchain-anthropic`."
        ) from exc
    bound: Runnable[LanguageModelInput, BaseMessage] = model.bind_tools(
        [tavily_search_results_json]
    )
    return bound


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
