"""The repair of hand-written JSON (``\\'`` escapes, trailing commas) in request bodies."""

from __future__ import annotations

import json

import msgspec
import pytest

from app.api.lenient_json import repair


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[]",
        '{"a": 1, "b": [1, 2, {"c": "d"}], "e": null}',
        '{"s": "it\\"s \\\\ \\n \\u00e9 \\/"}',
        '{"unicode": "héllo ☃"}',
        "  [1, 2, 3]  ",
        '"just a string"',
    ],
)
def test_valid_json_is_unchanged(text: str) -> None:
    raw = text.encode()
    assert repair(raw) == raw


def test_backslash_quote_inside_strings_becomes_a_quote() -> None:
    raw = b'{"content": "what\\\'s the weather in sf?"}'
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(raw)
    fixed = repair(raw)
    assert fixed == b'{"content": "what\'s the weather in sf?"}'
    assert msgspec.json.decode(fixed) == {"content": "what's the weather in sf?"}


def test_trailing_commas_before_closing_brackets_are_dropped() -> None:
    raw = b'{"a": [1, 2,\n ], "b": {"c": 1,\t\r\n},\n}'
    assert json.loads(repair(raw)) == {"a": [1, 2], "b": {"c": 1}}


def test_the_seed_curl_body() -> None:
    # What bash passes to curl for the seed document's first --data "..." argument.
    raw = (
        b'{\n  "assistant_id": "agent",\n'
        b'  "input": {"messages": [{"role": "human", "content": "what\\\'s the weather in sf?"}]},\n'
        b"}"
    )
    assert msgspec.json.decode(repair(raw)) == {
        "assistant_id": "agent",
        "input": {"messages": [{"role": "human", "content": "what's the weather in sf?"}]},
    }


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "a,}", "b": "x, ]", "c": "\\\\\'"}',  # commas and quotes inside strings
        '{"a": "\\\\", "b": ",}"}',  # an escaped backslash ends before the closing quote
        '{"a": "\\"\\\\,]"}',
    ],
)
def test_strings_are_left_alone(text: str) -> None:
    raw = text.encode()
    assert repair(raw) == raw


def test_repairs_inside_strings_do_not_touch_commas_there() -> None:
    raw = b'{"a": "x,}\\\'y", "b": [1,],}'
    assert json.loads(repair(raw)) == {"a": "x,}'y", "b": [1]}


@pytest.mark.parametrize(
    "text",
    [
        "{,}",
        "[,]",
        '{"a": 1,, }',
        "{'a': 1}",
        "{\"a\": \\'x\\'}",  # a backslash-quote outside a string stays garbage
        '{"a": 1',
        '{"a": "unterminated,}',
        "[1, 2,",
        "not json",
        '{"a": 1} trailing',
        '{"a": "bad \\x escape",}',
    ],
)
def test_other_garbage_still_fails(text: str) -> None:
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(repair(text.encode()))
