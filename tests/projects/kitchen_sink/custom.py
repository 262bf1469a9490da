"""The kitchen-sink project's own FastAPI app (``http.app``): routes beside the API, a
middleware that marks every response, a lifespan, and a webhook receiver."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.middleware.base import BaseHTTPMiddleware

started: dict[str, bool] = {"started": False}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    started["started"] = True
    yield
    started["started"] = False


app = FastAPI(lifespan=lifespan)


class Mark(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-kitchen-sink"] = "1"
        return response


app.add_middleware(Mark)


@app.get("/custom/hello")
async def hello(request: Request) -> dict[str, Any]:
    return {"hello": request.user.identity}


@app.get("/custom/lifespan")
async def lifespan_state() -> dict[str, bool]:
    return started


@app.post("/custom/hook")
async def hook(request: Request) -> dict[str, bool]:
    body = await request.json()
    record = {
        "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
        "body": body,
    }
    with open(os.environ["KS_HOOK_LOG"], "a") as log:  # noqa: ASYNC230 (a test fixture)
        log.write(json.dumps(record) + "\n")
    return {"ok": True}
