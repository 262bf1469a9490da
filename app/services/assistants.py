"""Assistant use cases."""

from __future__ import annotations

import uuid
from typing import Any, TypedDict, Unpack

import asyncpg

from app.core import wire
from app.core.access import Access
from app.core.enums import ASSISTANT_SELECT_FIELDS, ASSISTANT_SORT_FIELDS
from app.core.errors import Conflict, NotFound
from app.core.fields import selected, sort_field
from app.core.ids import system_assistant_id
from app.core.runs import one_of_configurable_and_context
from app.db import assistants as rows
from app.db import crons as cron_rows
from app.db.access import Where
from app.graphs.registry import GraphRegistry
from app.services.listing import Page, Table


def in_step(
    config: dict[str, Any] | None, context: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``config.configurable`` and ``context`` kept in step, as the reference keeps them: a
    create or update that gives one of the two (not empty) sets the other to the same
    values (an update giving ``context`` alone replaces ``config`` with
    ``{"configurable": context}``, as the reference does)."""
    configurable = (config or {}).get("configurable")
    if context and not configurable:
        return {**(config or {}), "configurable": dict(context)}, context
    if configurable and not context and isinstance(configurable, dict):
        return config, dict(configurable)
    return config, context


class AssistantFilters(TypedDict):
    """What an assistant search or count filters on (besides access and served graphs)."""

    metadata: dict[str, Any] | None
    graph_id: str | None
    name: str | None


class AssistantSearch(AssistantFilters, Page):
    pass


ASSISTANTS = Table("assistants", "assistant_id", wire.assistant)


def _shown(row: asyncpg.Record | None, missing: str = "Not Found") -> wire.Assistant:
    """The assistant as the API shows it; NotFound(``missing``) when there is none."""
    if row is None:
        raise NotFound(missing)
    return wire.assistant(row)


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
        return _shown(row)

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
        one_of_configurable_and_context(config, context)
        config, context = in_step(config, context)
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
        one_of_configurable_and_context(changes.get("config"), changes.get("context"))
        config, context = in_step(changes.get("config"), changes.get("context"))
        if config is not None:
            changes = {**changes, "config": config}
        if context is not None:
            changes = {**changes, "context": context}
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.update(conn, assistant_id, access, changes)
        return _shown(row)

    async def set_latest(
        self, access: Access, assistant_id: uuid.UUID, version: int
    ) -> wire.Assistant:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await rows.set_latest(conn, assistant_id, access, version)
        return _shown(row, f"Assistant {assistant_id} version {version} not found")

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
            await cron_rows.delete_for_assistant(conn, assistant_id)

    async def graph_of(self, access: Access, assistant_id: uuid.UUID) -> Any:
        """The assistant's compiled graph (built with its config, for introspection)."""
        assistant = await self.get(access, assistant_id)
        config = {**(assistant.config or {})}
        return await self.registry.get(assistant.graph_id, config=config)  # type: ignore[arg-type]

    async def search(
        self, access: Access, **query: Unpack[AssistantSearch]
    ) -> tuple[list[dict[str, Any]], int]:
        graph_id = query["graph_id"]
        if graph_id is not None and graph_id not in self.registry:
            self.registry.entry(graph_id)  # raises NotFound with the expected ids
        where = self._where(access, query)
        sort = sort_field(query["sort_by"], ASSISTANT_SORT_FIELDS)
        select = query["select"]
        columns = ", ".join(selected(select, ASSISTANT_SELECT_FIELDS)) if select else rows.COLUMNS
        return await ASSISTANTS.search(self.pool, where, query, columns=columns, sort_by=sort)

    async def count(self, access: Access, **query: Unpack[AssistantFilters]) -> int:
        return await ASSISTANTS.count(self.pool, self._where(access, query))

    def _where(self, access: Access, filters: AssistantFilters) -> Where:
        where = Where()
        rows.filters(
            where,
            graph_ids=self.registry.ids,
            metadata=filters["metadata"],
            graph_id=filters["graph_id"],
            name=filters["name"],
        )
        access.apply(where)
        return where
