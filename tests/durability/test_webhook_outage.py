"""The webhook sender survives a database outage: its rounds fail while PostgreSQL is down
(logged, backed off), and it delivers once the database is back. A private cluster."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from app.db import migrate
from app.db import webhooks as delivery_rows
from app.db.pool import create_pool
from app.services.webhooks import WebhookPolicy
from app.worker.webhooks import WebhookSender
from tests.cluster import private_cluster


@pytest.mark.timeout(120)
async def test_sender_survives_a_database_outage() -> None:
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    receiver = await asyncio.start_server(handle, "127.0.0.1", 0)
    hook = f"http://127.0.0.1:{receiver.sockets[0].getsockname()[1]}/hook"
    with private_cluster() as cluster:
        url = await asyncio.to_thread(cluster.create_database, "hooks")
        await asyncio.to_thread(migrate.upgrade, url)
        pool = await create_pool(url, min_size=1, max_size=4)
        sender = WebhookSender(
            pool, policy=WebhookPolicy(allow_loopback=True, allow_private=True), backoff_seconds=0.1
        )
        sender.start()
        try:
            await asyncio.to_thread(cluster.stop, "fast")
            down = time.monotonic()
            deadline = down + 30
            while sender.errors == 0:  # its rounds now fail; it must keep going
                sender.wake()
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await asyncio.to_thread(cluster.start)
            up = time.monotonic()
            conn = await asyncpg.connect(url)  # no JSON codec here: the payload as text
            try:
                await delivery_rows.insert(conn, uuid.uuid4(), hook, '{"status": "success"}')  # type: ignore[arg-type]
            finally:
                await conn.close()
            sender.wake()
            deadline = time.monotonic() + 30
            while not got:
                assert time.monotonic() < deadline, "not delivered after the database came back"
                await asyncio.sleep(0.05)
            sent = time.monotonic()
            # The POST arrived; its outcome commits right after the answer: wait for it.
            while True:
                rows = cluster.execute(
                    "SELECT status, attempts FROM webhook_deliveries", database="hooks"
                )
                if rows[0]["status"] != "pending" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            await sender.stop()
            await pool.close()
            receiver.close()
    print(
        f"\nsender: {sender.errors} failed rounds while down ({up - down:.1f}s); delivered "
        f"{sent - up:.2f}s after PostgreSQL was back"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)]
