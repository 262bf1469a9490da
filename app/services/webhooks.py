"""Webhooks: the URL a run POSTs to when it ends (API.md §4).

A webhook may not point at this machine or a private network unless the operator allows it
(``TURNSTILE_WEBHOOK_ALLOW_PRIVATE``): the check runs when the run is created (422) and
again, on the resolved addresses, when it is sent, so a name that later resolves to a
private address is refused too. Delivery is retried a few times with a growing delay.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.core import jsonable
from app.core.errors import InvalidInput

log = logging.getLogger("turnstile.webhooks")

RETRY_DELAYS = (0.5, 2.0, 5.0)
TIMEOUT_SECONDS = 10.0


def _blocked_kind(address: str) -> str | None:
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return "localhost"
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast:
        return "private"
    if ip.is_unspecified:
        return "unspecified"
    return None


async def check(url: str, *, allow_private: bool) -> None:
    """422 unless ``url`` is an absolute http(s) URL whose host is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Invalid webhook URL: {url!r} (an absolute http(s) URL is needed)")
    if allow_private:
        return
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidInput("Webhook host blocked: localhost address")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443)
    except socket.gaierror:
        raise InvalidInput(f"Webhook host cannot be resolved: {host}") from None
    for info in infos:
        kind = _blocked_kind(str(info[4][0]))
        if kind is not None:
            raise InvalidInput(f"Webhook host blocked: {kind} address")


async def deliver(url: str, payload: dict[str, Any], *, allow_private: bool) -> bool:
    """POST ``payload``; True once a 2xx answered. Retried on errors and 5xx."""
    body = jsonable.dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "turnstile-webhook"}
    for delay in (0.0, *RETRY_DELAYS):
        if delay:
            await asyncio.sleep(delay)
        try:
            await check(url, allow_private=allow_private)
        except InvalidInput as exc:
            log.warning("webhook %s not sent: %s", url, exc)
            return False
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as http:
                res = await http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook %s failed (%r); retrying", url, exc)
            continue
        if res.is_success:
            return True
        if res.status_code < 500 and res.status_code != 429:
            log.warning("webhook %s refused with %d", url, res.status_code)
            return False
        log.info("webhook %s answered %d; retrying", url, res.status_code)
    log.warning("webhook %s: giving up after %d attempts", url, len(RETRY_DELAYS) + 1)
    return False
