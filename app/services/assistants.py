"""Assistant use cases."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.enums import ASSISTANT_SELECT_FIELDS, ASSISTANT_SORT_FIELDS
from app.core.errors import NotFound
from app.core.fields import selected, sort_field
from app.core.ids import system_assistant_id
from app.db import assistants as rows
from app.db import paging
from app.db.access import Access, Where
from app.graphs.registry import GraphRegistry


class AssistantService:
    def __init__(self, pool: asyncpg.Pool[Any], registry: GraphRegistry) -> None:
        self.pool = pool
        self.registry = registry

    async def ensure_system_assistants(self) -> None:
        """One assistant per graph, id = uuid5(graph id) (API.md §1)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for entry in self.registry.entries():
                await rows.upsert_system(
                    conn,
                    system_assistant_id(entry.graph_id),
                    entry.graph_id,
                    entry.name,
                    entry.description,
                )

    async def get(self, access: Access, assistant_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, assistant_id, access, self.registry.ids)
        if row is None:
            raise NotFound("Not Found")
        return rows.to_wire(row)

    async def search(
        self,
        access: Access,
        *,
        metadata: dict[str, Any] | None,
        graph_id: str | None,
        name: str | None,
        limit: int,
        offset: int,
        sort_by: str | None,
        sort_order: str | None,
        select: list[str] | None,
    ) -> tuple[list[dict[str, Any]], int]:
        if graph_id is not None and graph_id not in self.registry:
            self.registry.entry(graph_id)  # raises NotFound with the expected ids
        where = self._where(access, metadata=metadata, graph_id=graph_id, name=name)
        sort = sort_field(sort_by, ASSISTANT_SORT_FIELDS)
        columns = ", ".join(selected(select, ASSISTANT_SELECT_FIELDS)) if select else rows.COLUMNS
        async with self.pool.acquire() as conn:
            found, total = await paging.page(
                conn,
                rows.TABLE,
                rows.KEY,
                where,
                columns=columns,
                sort_by=sort,
                sort_order=sort_order or "desc",
                limit=limit,
                offset=offset,
            )
        return [rows.to_wire(row) for row in found], total

    async def count(
        self,
        access: Access,
        *,
        metadata: dict[str, Any] | None,
        graph_id: str | None,
        name: str | None,
    ) -> int:
        where = self._where(access, metadata=metadata, graph_id=graph_id, name=name)
        async with self.pool.acquire() as conn:
            return await paging.count(conn, rows.TABLE, where)

    def _where(
        self,
        access: Access,
        *,
        metadata: dict[str, Any] | None,
        graph_id: str | None,
        name: str | None,
    ) -> Where:
        where = Where()
        rows.filters(
            where, graph_ids=self.registry.ids, metadata=metadata, graph_id=graph_id, name=name
        )
        access.apply(where)
        return where
