"""Which addresses a webhook may reach, and "resolve once, connect to what was checked"."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from app.core.errors import InvalidInput
from app.services import webhooks

BLOCKED = {
    # IPv4
    "127.0.0.1": "localhost",
    "127.255.0.9": "localhost",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "private",  # CGNAT
    "100.127.255.254": "private",
    "169.254.169.254": "private",  # link-local: cloud metadata
    "224.0.0.1": "private",  # multicast
    "239.255.255.250": "private",
    "240.0.0.1": "private",  # reserved
    "255.255.255.255": "private",
    "192.0.2.1": "private",  # documentation
    "198.18.0.1": "private",  # benchmarking
    "192.88.99.1": "private",  # 6to4 relay anycast
    # IPv6
    "::1": "localhost",
    "::": "unspecified",
    "fe80::1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "ff02::1": "private",
    "2001:db8::1": "private",
    "100::1": "private",
    # IPv6 forms that carry an IPv4 address: judged by it
    "::ffff:127.0.0.1": "localhost",  # IPv4-mapped
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "private",
    "2002:7f00:1::": "localhost",  # 6to4 of 127.0.0.1
    "2002:7f00::1": "localhost",
    "2002:a00:1::1": "private",  # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1": "private",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1": "localhost",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1": "private",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1": "private",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "localhost",  # Teredo, client 127.0.0.1
    "::127.0.0.1": "private",  # deprecated IPv4-compatible
}

CLOSED = webhooks.WebhookPolicy()
OPEN = webhooks.WebhookPolicy(allow_loopback=True, allow_private=True)

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "kind"), sorted(BLOCKED.items()))
def test_blocked(address: str, kind: str) -> None:
    assert webhooks.blocked_kind(address) == kind


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed(address: str) -> None:
    assert webhooks.blocked_kind(address) is None


class FakeDNS:
    """A resolver that answers from a list, one answer per call (DNS rebinding: the first
    answer is public, the next private)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0)


async def test_resolve_once_aims_at_the_checked_address() -> None:
    dns = FakeDNS(["93.184.216.34"], ["127.0.0.1"])
    target = await webhooks.resolve_checked(
        "https://hooks.example.com/in?x=1", policy=CLOSED, resolver=dns
    )
    assert dns.calls == ["hooks.example.com"]  # resolved once: the rebinding answer is unused
    assert target.address == "93.184.216.34"
    assert target.url == "https://93.184.216.34:443/in?x=1"
    assert target.host_header == "hooks.example.com"
    assert target.sni_hostname == "hooks.example.com"  # TLS verifies the name


async def test_every_address_is_checked() -> None:
    dns = FakeDNS(["93.184.216.34", "2002:7f00::1"])
    with pytest.raises(InvalidInput, match="localhost address"):
        await webhooks.resolve_checked("http://x.example/", policy=CLOSED, resolver=dns)


async def test_literals_and_names() -> None:
    for url in ("http://localhost/", "http://a.localhost:8080/", "http://[::ffff:7f00:1]/"):
        with pytest.raises(InvalidInput, match="localhost"):
            await webhooks.check(url, policy=CLOSED, resolver=FakeDNS())
    target = await webhooks.resolve_checked(
        "http://[2606:4700:4700::1111]:8080/h", policy=CLOSED, resolver=FakeDNS()
    )
    assert target.url == "http://[2606:4700:4700::1111]:8080/h"
    assert target.host_header == "[2606:4700:4700::1111]:8080"
    assert target.sni_hostname is None
    with pytest.raises(webhooks.Unresolvable):
        await webhooks.resolve_checked("http://nx.example/", policy=CLOSED, resolver=FakeDNS([]))


async def test_post_connects_to_the_checked_address_with_the_original_host() -> None:
    """A name that only the fake resolver knows: the POST reaches the receiver, so httpx
    did not resolve the name itself; the receiver sees the original Host."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dns = FakeDNS(["127.0.0.1"], ["203.0.113.9"])
    try:
        target = await webhooks.resolve_checked(
            f"http://hooks.invalid:{port}/in", policy=OPEN, resolver=dns
        )
        async with webhooks.client() as http:
            res = await webhooks.post(http, target, b"{}")
    finally:
        server.close()
        await server.wait_closed()
    assert res.status_code == 204
    assert dns.calls == ["hooks.invalid"]
    (head,) = heads
    assert head.startswith(b"POST /in HTTP/1.1\r\n")
    assert f"host: hooks.invalid:{port}\r\n".encode() in head.lower()


async def test_https_to_the_checked_address_verifies_the_name(tmp_path: Path) -> None:
    """TLS to the checked IP: SNI carries the URL's name and the certificate is verified
    against that name (a certificate for another name is refused)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_tls)
    port = server.sockets[0].getsockname()[1]
    trust = ssl.create_default_context(cafile=str(cert))
    try:
        async with httpx.AsyncClient(verify=trust, trust_env=False) as http:
            target = await webhooks.resolve_checked(
                f"https://hooks.test:{port}/in", policy=OPEN, resolver=FakeDNS(["127.0.0.1"])
            )
            assert target.url == f"https://127.0.0.1:{port}/in"
            res = await webhooks.post(http, target, b"{}")
            other = await webhooks.resolve_checked(
                f"https://other.test:{port}/in", policy=OPEN, resolver=FakeDNS(["127.0.0.1"])
            )
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await webhooks.post(http, other, b"{}")
    finally:
        server.close()
    assert res.status_code == 204
    assert names[0] == "hooks.test"
    assert f"host: hooks.test:{port}\r\n".encode() in heads[0].lower()
