"""The LangGraph ``BaseStore`` over ``store_items``: what graphs get at run time (``store``
in their nodes) and what the ``/store`` endpoints use, so both see the same items."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import asyncpg
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from app.db import store as rows
from app.db import store_vectors as vector_rows
from app.policies import StoreTTL
from app.store.index import StoreIndex


def to_item(row: asyncpg.Record, *, search: bool = False) -> Item:
    namespace = tuple(row["prefix"].split("."))
    if search:
        score = row.get("score")
        return SearchItem(
            namespace, row["key"], row["value"], row["created_at"], row["updated_at"], score
        )
    return Item(
        namespace=namespace,
        key=row["key"],
        value=row["value"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PostgresStore(BaseStore):
    supports_ttl = True

    def __init__(
        self, pool: asyncpg.Pool[Any], ttl: StoreTTL | None = None, index: StoreIndex | None = None
    ) -> None:
        self.pool = pool
        self.index = index
        """``store.index``: puts embed their fields, searches with a query rank by them."""
        ttl = ttl or StoreTTL()
        # BaseStore's methods apply these: a put without ``ttl`` gets the default, a read
        # without ``refresh_ttl`` refreshes as configured (``store.ttl``).
        self.ttl_config = TTLConfig(refresh_on_read=ttl.refresh_on_read)
        if ttl.default_minutes is not None:
            self.ttl_config["default_ttl"] = ttl.default_minutes
        self.loop = asyncio.get_running_loop()

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        results: list[Result] = []
        async with self.pool.acquire() as conn:
            for op in ops:
                results.append(await self._one(conn, op))
        return results

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """For sync nodes, which LangGraph runs on worker threads: hop to the pool's loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("on the event loop, use the store's async methods")
        return asyncio.run_coroutine_threadsafe(self.abatch(list(ops)), self.loop).result()

    async def _one(self, conn: Any, op: Op) -> Result:
        if isinstance(op, GetOp):
            row = await rows.get(conn, op.namespace, op.key, refresh_ttl=bool(op.refresh_ttl))
            return None if row is None else to_item(row)
        if isinstance(op, PutOp):
            if op.value is None:
                await rows.delete(conn, op.namespace, op.key)
                return None
            ttl = op.ttl if isinstance(op.ttl, int | float) else None
            value = dict(op.value)
            keep, changed = (
                await self.index.plan(conn, op.namespace, op.key, value, op.index)
                if self.index is not None
                else ([], [])
            )
            async with conn.transaction():
                await rows.put(conn, op.namespace, op.key, value, ttl)
                if self.index is not None:
                    await vector_rows.replace(conn, op.namespace, op.key, keep, changed)
            return None
        if isinstance(op, SearchOp) and op.query and self.index is not None:
            found = await vector_rows.search(
                conn,
                op.namespace_prefix,
                await self.index.embed_query(op.query),
                filter=op.filter,
                limit=op.limit,
                offset=op.offset,
                pgvector=self.index.pgvector,
            )
            if op.refresh_ttl and found:
                await rows.refresh(conn, [(r["prefix"], r["key"]) for r in found])
            return [to_item(r, search=True) for r in found]
        if isinstance(op, SearchOp):
            found = await rows.search(
                conn,
                op.namespace_prefix,
                filter=op.filter,
                limit=op.limit,
                offset=op.offset,
                refresh_ttl=bool(op.refresh_ttl),
            )
            return [to_item(r, search=True) for r in found]
        if isinstance(op, ListNamespacesOp):
            prefix = suffix = None
            for cond in op.match_conditions or ():
                if cond.match_type == "prefix":
                    prefix = cond.path
                else:
                    suffix = cond.path
            found_ns = await rows.namespaces(
                conn,
                prefix=prefix,
                suffix=suffix,
                max_depth=op.max_depth,
                limit=op.limit,
                offset=op.offset,
            )
            return [tuple(ns) for ns in found_ns]
        raise TypeError(f"Unknown store operation: {op!r}")
