"""Assistant use cases."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core import wire
from app.core.enums import ASSISTANT_SELECT_FIELDS, ASSISTANT_SORT_FIELDS
from app.core.errors import Conflict, NotFound
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

    async def get(self, access: Access, assistant_id: uuid.UUID) -> wire.Assistant:
        async with self.pool.acquire() as conn:
            row = await rows.get(conn, assistant_id, access, self.registry.ids)
        if row is None:
            raise NotFound("Not Found")
        return wire.assistant(row)

    async def create(
        self,
        access: Access,
        *,
        graph_id: str,
        assistant_id: uuid.UUID | None,
        config: dict[str, Any] | None,
        context: dict[str, Any] | None,
        metadata: dict[str, Any] | None,
        name: str | None,
        description: str | None,
        if_exists: str,
    ) -> wire.Assistant:
        self.registry.entry(graph_id)  # 404 naming the served graphs
        aid = assistant_id or uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.insert(
                conn,
                aid,
                graph_id=graph_id,
                config=config or {},
                context=context or {},
                metadata=metadata or {},
                name=name or "Untitled",
                description=description,
            )
            if row is None:
                if if_exists == "do_nothing":
                    row = await rows.get(conn, aid, access, self.registry.ids)
                if row is None:
                    raise Conflict(f"Assistant {aid} already exists")
        return wire.assistant(row)

    async def update(
        self, access: Access, assistant_id: uuid.UUID, changes: dict[str, Any]
    ) -> wire.Assistant:
        if "graph_id" in changes:
            self.registry.entry(changes["graph_id"])
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.update(conn, assistant_id, access, changes)
        if row is None:
            raise NotFound("Not Found")
        return wire.assistant(row)

    async def set_latest(
        self, access: Access, assistant_id: uuid.UUID, version: int
    ) -> wire.Assistant:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.set_latest(conn, assistant_id, access, version)
        if row is None:
            raise NotFound(f"Assistant {assistant_id} version {version} not found")
        return wire.assistant(row)

    async def versions(
        self,
        access: Access,
        assistant_id: uuid.UUID,
        *,
        metadata: dict[str, Any] | None,
        limit: int,
        offset: int,
    ) -> list[wire.AssistantVersion]:
        async with self.pool.acquire() as conn:
            found = await rows.versions(
                conn, assistant_id, access, metadata=metadata, limit=limit, offset=offset
            )
        if not found and offset == 0:
            raise NotFound(f"Assistant {assistant_id} not found")
        return [wire.assistant_version(r) for r in found]

    async def delete(self, access: Access, assistant_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await rows.delete(conn, assistant_id, access):
                raise NotFound("Not Found")
            await conn.execute("DELETE FROM crons WHERE assistant_id = $1", assistant_id)

    async def graph_of(self, access: Access, assistant_id: uuid.UUID) -> Any:
        """The assistant's compiled graph (built with its config, for introspection)."""
        assistant = await self.get(access, assistant_id)
        config = {**(assistant.config or {})}
        return await self.registry.get(assistant.graph_id, config=config)  # type: ignore[arg-type]

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
    ) -> tuple[list[wire.Assistant], int]:
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
        return [wire.assistant(row) for row in found], total

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
