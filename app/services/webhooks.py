"""Webhooks: the URL a run POSTs to when it ends (API.md §4).

A webhook may not point at this machine or a private network unless the operator allows it
(``TURNSTILE_WEBHOOK_ALLOW_PRIVATE``, or langgraph.json's ``webhooks.url``, which can also
require https and limit domains, ports and length: ``WebhookPolicy``): the check runs when
the run is created (422) and again when it is sent. At send time the host is resolved once, every address it resolves
to is checked (an address that embeds an IPv4 one, IPv4-mapped, 6to4, NAT64 or Teredo, is
judged by the IPv4 address too), and the connection is made to the checked address, with
the original ``Host`` header and, for https, the original name for SNI and certificate
verification. So a name that resolves to a public address for the check and to a private
one a moment later (DNS rebinding) cannot reach the private one.

Sending and retrying are the outbox's (app/worker/webhooks.py); this module only judges
addresses and makes one POST.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.core.errors import InvalidInput

TIMEOUT_SECONDS = 10.0
"""One POST (connect, send, answer) gives up after this long."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: how a name is resolved (``getaddrinfo`` in production;
tests pass their own, to play DNS rebinding without a DNS server)."""

_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local (cloud metadata services live here)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # the 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form
        "100::/64",  # discard
        "64:ff9b:1::/48",  # local-use NAT64
        "2001::/23",  # IETF protocol assignments (Teredo's 2001::/32 is judged below too)
        "2001:db8::/32",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries and may be routed to."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _v4_kind(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_loopback:
        return "localhost"
    if ip.is_unspecified or ip in _BLOCKED_V4[0]:
        return "unspecified"
    if any(ip in net for net in _BLOCKED_V4) or not ip.is_global:
        return "private"
    return None


def blocked_kind(address: str | IPAddress) -> str | None:
    """Why a webhook may not be sent to ``address`` ("localhost", "unspecified",
    "private"), or None if it may. Raises ValueError for a string that is no address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_kind(ip)
    for inner in _embedded_v4(ip):
        kind = _v4_kind(inner)
        if kind is not None:
            return kind
    if ip.is_loopback:
        return "localhost"
    if ip.is_unspecified:
        return "unspecified"
    if ip.scope_id or any(ip in net for net in _BLOCKED_V6):
        return "private"
    if ip.ipv4_mapped is None and not ip.is_global:
        return "private"
    return None


class Unresolvable(InvalidInput):
    """The webhook's host name does not resolve (now: DNS may come back, worth a retry)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (Unresolvable if none)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Unresolvable(f"Webhook host cannot be resolved: {host}") from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class WebhookPolicy:
    """Which webhook URLs runs may name, and what every POST carries: the operator's
    ``TURNSTILE_WEBHOOK_ALLOW_PRIVATE`` and langgraph.json's ``webhooks`` section
    (``app.policies.WebhookRules``), combined by ``of``."""

    allow_loopback: bool = False
    allow_private: bool = False
    require_https: bool = False
    allowed_domains: tuple[str, ...] = ()
    """Exact host names, or ``*.example.com`` for any name under example.com."""
    allowed_ports: tuple[int, ...] = ()
    max_url_length: int = 4096
    headers: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    local_base_url: str | None = None
    """Where a relative URL (``/my/route``: a route of this server's ``http.app``) points:
    this API process's own address. None: relative URLs are refused."""

    def allows(self, kind: str) -> bool:
        """Whether an address of this ``blocked_kind`` may be posted to."""
        return self.allow_loopback if kind == "localhost" else self.allow_private

    @property
    def open(self) -> bool:
        """Every address allowed: names need not be resolved to be checked."""
        return self.allow_loopback and self.allow_private


def _form(url: str, policy: WebhookPolicy) -> tuple[str, str, int]:
    """Scheme, host and port of ``url`` once its form passes the policy (InvalidInput)."""
    if len(url) > policy.max_url_length:
        raise InvalidInput(f"Webhook URL too long (at most {policy.max_url_length} characters)")
    scheme, host, port = _split(url)
    if policy.require_https and scheme != "https":
        raise InvalidInput("Webhook must use https")
    if policy.allowed_ports and port not in policy.allowed_ports:
        raise InvalidInput(f"Webhook port {port} not allowed")
    name = host.lower()
    if policy.allowed_domains and not any(
        name == d or (d.startswith("*.") and name.endswith(d[1:])) for d in policy.allowed_domains
    ):
        raise InvalidInput("Webhook domain not allowed")
    return scheme, host, port


def absolute(url: str, policy: WebhookPolicy) -> str:
    """A relative webhook URL made absolute on this server (``local_base_url``), when the
    policy allows loopback; other URLs unchanged."""
    if not url.startswith("/"):
        return url
    if not policy.allow_loopback or policy.local_base_url is None:
        raise InvalidInput(
            "Relative webhook URLs post to this server (loopback), which is refused by "
            "default: set webhooks.url.disable_loopback to false in langgraph.json to allow it"
        )
    return policy.local_base_url + url


@dataclass(frozen=True)
class Target:
    """Where one POST goes: the URL aimed at ``address``, and the headers and extensions
    that make the server (and TLS) see the original host."""

    url: str
    address: str
    host_header: str
    sni_hostname: str | None


def _split(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Invalid webhook URL: {url!r} (an absolute http(s) URL is needed)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"Invalid webhook URL: {url!r} (bad port)") from None
    return parts.scheme, parts.hostname, port


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve_checked(
    url: str, policy: WebhookPolicy, *, resolver: Resolver = system_resolver
) -> Target:
    """Resolve ``url``'s host ONCE, check every address, and return a target aimed at the
    first one. Raises InvalidInput (a bad URL, a name that does not resolve, or any address
    the policy blocks). The caller must connect to ``target.url`` only: resolving the name
    again would reopen the rebinding hole."""
    scheme, host, port = _form(url, policy)
    literal = _literal(host)
    if (
        not policy.allow_loopback
        and literal is None
        and (host == "localhost" or host.endswith(".localhost"))
    ):
        raise InvalidInput("Webhook host blocked: localhost address")
    addresses = [str(literal)] if literal is not None else await resolver(host, port)
    if not addresses:
        raise Unresolvable(f"Webhook host cannot be resolved: {host}")
    if not policy.open:
        for address in addresses:
            try:
                kind = blocked_kind(address.split("%", 1)[0])
            except ValueError:
                raise InvalidInput(f"Webhook host resolved to a non-address: {host}") from None
            if kind is not None and not policy.allows(kind):
                raise InvalidInput(f"Webhook host blocked: {kind} address")
    address = addresses[0]
    parts = urlsplit(url)
    netloc_host = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((scheme, f"{netloc_host}:{port}", parts.path or "/", parts.query, ""))
    default_port = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    sni = host if scheme == "https" and literal is None else None
    return Target(url=pinned, address=address, host_header=host_header, sni_hostname=sni)


async def check(url: str, policy: WebhookPolicy, *, resolver: Resolver = system_resolver) -> None:
    """422 (InvalidInput) unless ``url`` is an absolute http(s) URL the policy allows.
    When every address is allowed the URL's form is still checked, and its name is not
    resolved."""
    if policy.open:
        _form(url, policy)
        return
    await resolve_checked(url, policy, resolver=resolver)


async def post(
    http: httpx.AsyncClient,
    target: Target,
    body: bytes,
    *,
    seconds: float = TIMEOUT_SECONDS,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One POST of ``body`` to the checked address (no redirects, no proxies: ``http``
    must be made with ``trust_env=False``), with the policy's ``headers``. Raises
    httpx.HTTPError."""
    headers = headers or {}
    extensions: dict[str, object] = {"timeout": httpx.Timeout(seconds).as_dict()}
    if target.sni_hostname is not None:
        extensions["sni_hostname"] = target.sni_hostname
    request = http.build_request(
        "POST",
        target.url,
        content=body,
        headers={
            **headers,
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "turnstile-webhook",
        },
        extensions=extensions,
    )
    return await http.send(request, follow_redirects=False)


def client() -> httpx.AsyncClient:
    """The HTTP client webhooks are sent with: no proxies from the environment (they would
    connect to a name of their own choosing), no redirects."""
    return httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False)
