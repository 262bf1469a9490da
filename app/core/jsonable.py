"""JSON encoding of graph values (LangChain messages, pydantic models, dataclasses...).

Used for values stored in JSONB columns and for responses. Duck-typed so that ``core``
imports nothing of LangChain: anything with ``model_dump`` (pydantic) or ``to_json``-style
hooks is turned into plain data the way the reference server shows it.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec


def to_jsonable(obj: Any) -> Any:
    """``enc_hook`` for msgspec: map a non-JSON object onto JSON data."""
    if isinstance(obj, type):  # a pydantic model class (an interrupt's response_schema)
        schema = getattr(obj, "model_json_schema", None)
        return schema() if callable(schema) else repr(obj)
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        return obj.model_dump()
    if dataclasses.is_dataclass(obj):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        if fields.get("response_schema", 0) is None:  # an Interrupt without one
            del fields["response_schema"]
        return fields
    if isinstance(obj, datetime.datetime | datetime.date | datetime.time):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return obj.to_json()
    return repr(obj)


_encoder = msgspec.json.Encoder(enc_hook=to_jsonable)
_decoder = msgspec.json.Decoder()


def dumps(obj: Any) -> bytes:
    return _encoder.encode(obj)


def dumps_str(obj: Any) -> str:
    return _encoder.encode(obj).decode()


def loads(data: bytes | str) -> Any:
    return _decoder.decode(data)


def plain(obj: Any) -> Any:
    """The JSON image of ``obj`` as Python data (dicts, lists, str...)."""
    return _decoder.decode(_encoder.encode(obj))
