"""Store use cases (API.md §2.5): items by namespace and key, search, namespaces.

The caller has validated the namespace labels and passed the ``store`` auth door, which may
have rewritten the namespace; ``access`` holds the door's filters on item values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

import asyncpg

from app.core import wire
from app.core.access import Access
from app.core.errors import InvalidInput, NotFound
from app.db import store as rows
from app.db import store_vectors as vector_rows
from app.policies import StoreTTL
from app.store.index import StoreIndex


class Page(TypedDict):
    limit: int
    offset: int


class StoreService:
    def __init__(
        self, pool: asyncpg.Pool[Any], ttl: StoreTTL | None = None, index: StoreIndex | None = None
    ) -> None:
        self.pool = pool
        self.index = index
        """``store.index``: semantic search (None: search by filter only)."""
        self.ttl = ttl or StoreTTL()
        """``store.ttl``: the default TTL of a put, and whether reads refresh by default."""

    def _refresh(self, asked: bool | None) -> bool:
        return self.ttl.refresh_on_read if asked is None else asked

    async def get(
        self, access: Access, namespace: Sequence[str], key: str, *, refresh_ttl: bool | None
    ) -> wire.Item | None:
        refresh = self._refresh(refresh_ttl)
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, namespace, key, refresh_ttl=refresh, access=access)
        return None if row is None else wire.item(row)

    async def put(
        self,
        access: Access,
        namespace: Sequence[str],
        key: str,
        value: dict[str, Any],
        ttl: float | None,
        index: Any = None,
    ) -> None:
        """Insert or replace the item (expiring after ``ttl`` minutes, or the default TTL);
        NotFound when an item of that key exists that ``access`` hides (a hidden item
        answers like a missing one)."""
        if ttl is None:
            ttl = self.ttl.default_minutes
        async with self.pool.acquire() as conn:
            keep, changed = (
                await self.index.plan(conn, namespace, key, value, index)
                if self.index is not None
                else ([], [])
            )
            async with conn.transaction():
                if not await rows.put(conn, namespace, key, value, ttl, access):
                    raise NotFound("Item not found")
                if self.index is not None:
                    await vector_rows.replace(conn, namespace, key, keep, changed)

    async def delete(self, access: Access, namespace: Sequence[str], key: str) -> None:
        async with self.pool.acquire() as conn:
            await rows.delete(conn, namespace, key, access)

    async def search(
        self,
        access: Access,
        namespace_prefix: Sequence[str],
        *,
        filter: dict[str, Any] | None,
        refresh_ttl: bool | None,
        query: str | None = None,
        **page: Unpack[Page],
    ) -> list[wire.SearchItem]:
        """Items under the prefix (newest first), optionally filtered on their value; with
        a ``query``, the items with embeddings, most similar first, with their score."""
        if query:
            if self.index is None:
                raise InvalidInput(
                    "Semantic search (query) needs a store index: configure store.index in "
                    "langgraph.json"
                )
            vector = await self.index.embed_query(query)
            async with self.pool.acquire() as conn:
                found = await vector_rows.search(
                    conn,
                    namespace_prefix,
                    vector,
                    filter=filter,
                    access=access,
                    pgvector=self.index.pgvector,
                    **page,
                )
                if self._refresh(refresh_ttl) and found:
                    await rows.refresh(conn, [(r["prefix"], r["key"]) for r in found])
            return [wire.item(r, wire.SearchItem) for r in found]
        async with self.pool.acquire() as conn:
            found = await rows.search(
                conn,
                namespace_prefix,
                filter=filter,
                refresh_ttl=self._refresh(refresh_ttl),
                access=access,
                **page,
            )
        return [wire.item(r, wire.SearchItem) for r in found]

    async def namespaces(
        self,
        access: Access,
        *,
        prefix: Sequence[str] | None,
        suffix: Sequence[str] | None,
        max_depth: int | None,
        **page: Unpack[Page],
    ) -> list[list[str]]:
        """Distinct namespaces (cut to ``max_depth``), filtered by prefix and suffix labels."""
        async with self.pool.acquire() as conn:
            return await rows.namespaces(
                conn, prefix=prefix, suffix=suffix, max_depth=max_depth, access=access, **page
            )
