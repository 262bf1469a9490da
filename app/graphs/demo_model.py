"""The demo graph's chat model: offline and scripted by default, or a real one from the environment.

Out of the box the model is :class:`ScriptedChatModel`, which needs no network and no API
key, and reproduces the conversation of the LangGraph double-texting guides: asked
``"what's the weather in sf?"`` it calls ``tavily_search_results_json`` with
``{"query": "weather in san francisco"}`` and then answers "According to the search
results, the current weather in San Francisco is ...", quoting the tool result. Its rule is
simple: when the last message is from the user it searches, when the last message is a tool
result it answers from it. Streamed, the answer arrives one word at a time (so
``stream_mode="messages"`` shows many chunks), a word every ``TURNSTILE_DEMO_TOKEN_DELAY``
seconds (default ``0.03``, about the pace of a hosted model, so ``curl -N`` shows the answer
being written; ``0`` for no delay). Not streamed, the reply comes whole after as long as
streaming it would take.

Set ``TURNSTILE_DEMO_MODEL`` to a ``provider:model`` string understood by
``langchain.chat_models.init_chat_model`` (e.g. ``openai:gpt-4o-mini`` or
``anthropic:claude-3-5-haiku-latest``) to have :func:`make_model` return that model instead.
This needs the ``langchain`` package and the provider's integration package (e.g.
``langchain-openai``), and the provider's API key in the environment. The variables are read
by :func:`make_model`, i.e. when the demo graph is built.

The search tool, always canned, is :mod:`app.graphs.demo_search`.
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
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

from app.graphs.demo_search import TOOL_NAME, query_for, tavily_search_results_json

MODEL_ENV = "TURNSTILE_DEMO_MODEL"
TOKEN_DELAY_ENV = "TURNSTILE_DEMO_TOKEN_DELAY"
DEFAULT_TOKEN_DELAY = 0.03

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
        query = query_for(question)
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
        reply = self._finished(messages)
        if self.token_delay > 0:
            time.sleep(self._pace(reply))
        return ChatResult(generations=[ChatGeneration(message=reply)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self._finished(messages)
        if self.token_delay > 0:
            await asyncio.sleep(self._pace(reply))
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _finished(self, messages: list[BaseMessage]) -> AIMessage:
        reply = self._reply(messages)
        reply.response_metadata = {
            "finish_reason": "tool_use" if reply.tool_calls else "end_turn",
            "model_name": self._llm_type,
        }
        return reply

    def _pace(self, reply: AIMessage) -> float:
        """How long the whole reply takes when it is not streamed: as long as streaming it
        (a hosted model takes that long either way), so a run that does not stream its
        messages, such as the double-texting guide's first run, stays active as long."""
        return self.token_delay * sum(1 for _ in self._chunks(reply))

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
