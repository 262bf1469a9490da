"""HTTP connection limits uvicorn's httptools protocol does not have: a deadline for the
request head (slowloris), head and request-line sizes, requests per keep-alive connection,
and a cap on open connections.

uvicorn itself gives the idle keep-alive timeout (``timeout_keep_alive``) and the 503 past
``limit_concurrency``; ``protocol_class`` returns the subclass to pass as ``http=``.

* A client must finish sending a request head within ``header_timeout`` of connecting, or
  of the first byte of a later request's head: else it gets 408 (or, if it sent nothing,
  just a close), so slow or silent connections do not pile up. Between two requests only
  the keep-alive timeout counts: a head deadline there would cut idle connections sooner
  than the keep-alive timeout says, which is the race where a client reuses a connection
  the server is closing (see ``Settings.keepalive_timeout_seconds``).
* A head larger than ``max_header_bytes`` answers 431, a request line (the URL) longer
  than ``max_request_line_bytes`` answers 414; both close the connection. Bytes are counted
  as they arrive, so a head that never ends is refused once it is too large, before
  httptools has buffered more of it.
* After ``keepalive_max_requests`` requests a connection's last response says
  ``connection: close``.
* A connection past ``max_connections`` open ones gets 503 and is closed at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core import jsonable

_REASONS = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}
HEAD_SLACK = 4
"""The final CRLF of a head, not seen by the header callbacks."""


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_request_line_bytes: int = 16 * 1024
    header_timeout: float = 10.0
    keepalive_max_requests: int = 0
    """0: no limit."""
    max_connections: int = 0
    """0: no limit."""


def _answer(status: int, detail: str) -> bytes:
    body = jsonable.dumps({"detail": detail})
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of ``limits``."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True
        """Between two requests or inside a head: bytes count against the head limits."""
        self._raw_head = 0
        self._head = 0
        self._line = 0
        self._requests = 0
        self._refused = False

    # The head's deadline.
    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        if self.limits.header_timeout > 0:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._raw_head == 0:  # nothing of a request: close like an idle keep-alive
            self.transport.close()
            return
        self._refuse(408, "The request head was not received in time.")

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` and close; nothing more of this connection is parsed."""
        self._refused = True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is under way (the client sent the next head early): let it end,
            # then close, rather than write into its middle.
            self.cycle.keep_alive = False
            return
        self.transport.write(_answer(status, detail))
        self.transport.close()

    # Connection and data.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self.limits.max_connections
        if cap and len(self.connections) > cap:
            self._refuse(503, "Too many connections.")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            if self._raw_head == 0 and self._head_timer is None:
                self._arm_head_timer()  # the first byte of a later request's head
            self._raw_head += len(data)
        super().data_received(data)
        # Still inside a head after this chunk: what arrived so far counts (a chunk that
        # also completed the head was counted by the callbacks instead).
        if self._in_head and not self._refused:
            limit = self.limits.max_header_bytes + self.limits.max_request_line_bytes
            if self._raw_head > limit + HEAD_SLACK:
                self._refuse(431, "Request header fields too large.")

    # Parser callbacks.
    def on_message_begin(self) -> None:
        self._in_head = True
        self._head = self._line = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._line += len(url)
        if self._line > self.limits.max_request_line_bytes:
            self._refuse(414, "Request line too long.")
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._head += len(name) + len(value) + 4  # ": " and CRLF
        if self._head > self.limits.max_header_bytes:
            self._refuse(431, "Request header fields too large.")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()
        self._requests += 1
        most = self.limits.keepalive_max_requests
        if most and self._requests >= most and self.cycle is not None:
            self.cycle.keep_alive = False  # this response closes the connection

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True  # what follows is the next request's head
        self._raw_head = 0


def protocol_class(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for ``limits``."""
    return type("TurnstileHttpProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
