"""Custom auth of the kitchen-sink project: ``x-api-key: key-<name>`` is user ``<name>``.
Each call of the authenticate handler appends a line to ``$KS_AUTH_LOG`` (the cache test
counts them)."""

from __future__ import annotations

import os

from langgraph_sdk import Auth

auth = Auth()


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes]) -> str:
    key = headers.get(b"x-api-key", b"").decode()
    with open(os.environ["KS_AUTH_LOG"], "a") as log:  # noqa: ASYNC230 (a test fixture)
        log.write(key + "\n")
    if not key.startswith("key-"):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Missing or bad x-api-key")
    return key.removeprefix("key-")
