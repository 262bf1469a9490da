"""Assistant rows and their versions. Callers own the transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.core.access import Access
from app.db.access import Where
from app.db.types import Conn

COLUMNS = (
    "assistant_id, graph_id, config, context, metadata, name, description, version, "
    "created_at, updated_at"
)


async def upsert_system(
    conn: Conn, assistant_id: uuid.UUID, graph_id: str, name: str, description: str | None
) -> None:
    """Create the system assistant of a graph, or refresh its name and description.

    Idempotent, so several processes starting at once are harmless; the version row is
    created with the assistant and left alone afterwards.
    """
    metadata = {"created_by": "system"}
    inserted = await conn.fetchval(
        """INSERT INTO assistants (assistant_id, graph_id, metadata, name, description)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (assistant_id) DO UPDATE
             SET name = EXCLUDED.name, description = EXCLUDED.description
             WHERE assistants.name IS DISTINCT FROM EXCLUDED.name
                OR assistants.description IS DISTINCT FROM EXCLUDED.description
           RETURNING (xmax = 0)""",
        assistant_id,
        graph_id,
        metadata,
        name,
        description,
    )
    if inserted:
        await conn.execute(
            """INSERT INTO assistant_versions
                 (assistant_id, version, graph_id, metadata, name, description)
               VALUES ($1, 1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            assistant_id,
            graph_id,
            metadata,
            name,
            description,
        )


async def get(
    conn: Conn, assistant_id: uuid.UUID, access: Access, graph_ids: list[str]
) -> asyncpg.Record | None:
    """The assistant, if its graph is still served (``graph_ids``)."""
    where = Where()
    where.add(f"assistant_id = {where.param(assistant_id)}")
    where.add(f"graph_id = ANY({where.param(graph_ids)}::text[])")
    access.apply(where)
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM assistants WHERE {where.sql()}", *where.params
    )


def filters(
    where: Where,
    *,
    graph_ids: list[str],
    metadata: dict[str, Any] | None = None,
    graph_id: str | None = None,
    name: str | None = None,
) -> None:
    where.add(f"graph_id = ANY({where.param(graph_ids)}::text[])")
    if metadata:
        where.add(f"metadata @> {where.param(metadata)}::jsonb")
    if graph_id:
        where.add(f"graph_id = {where.param(graph_id)}")
    if name:
        where.add(f"name ILIKE {where.param('%' + _escape_like(name) + '%')}")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


VERSION_COLUMNS = (
    "assistant_id, version, graph_id, config, context, metadata, name, description, created_at"
)


async def insert(
    conn: Conn,
    assistant_id: uuid.UUID,
    *,
    graph_id: str,
    config: dict[str, Any],
    context: dict[str, Any],
    metadata: dict[str, Any],
    name: str,
    description: str | None,
) -> asyncpg.Record | None:
    """A new assistant at version 1 (and its version row); None if the id is taken."""
    row = await conn.fetchrow(
        f"""INSERT INTO assistants
              (assistant_id, graph_id, config, context, metadata, name, description)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (assistant_id) DO NOTHING
            RETURNING {COLUMNS}""",
        assistant_id,
        graph_id,
        config,
        context,
        metadata,
        name,
        description,
    )
    if row is not None:
        await _insert_version(conn, row)
    return row


async def _insert_version(conn: Conn, row: asyncpg.Record) -> None:
    await conn.execute(
        """INSERT INTO assistant_versions
             (assistant_id, version, graph_id, config, context, metadata, name, description)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        row["assistant_id"],
        row["version"],
        row["graph_id"],
        row["config"],
        row["context"],
        row["metadata"],
        row["name"],
        row["description"],
    )


async def update(
    conn: Conn, assistant_id: uuid.UUID, access: Access, changes: dict[str, Any]
) -> asyncpg.Record | None:
    """A new version from ``changes`` (metadata merged, other fields replaced) becomes
    current; None if not found."""
    where = Where()
    where.add(f"assistant_id = {where.param(assistant_id)}")
    access.apply(where)
    current = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM assistants WHERE {where.sql()} FOR UPDATE", *where.params
    )
    if current is None:
        return None
    latest = await conn.fetchval(
        "SELECT max(version) FROM assistant_versions WHERE assistant_id = $1", assistant_id
    )
    values = dict(current)
    for key in ("graph_id", "config", "context", "name", "description"):
        if key in changes:
            values[key] = changes[key]
    if "metadata" in changes:
        values["metadata"] = {**(current["metadata"] or {}), **(changes["metadata"] or {})}
    row = await conn.fetchrow(
        f"""UPDATE assistants SET graph_id = $2, config = $3, context = $4, metadata = $5,
                   name = $6, description = $7, version = $8, updated_at = now()
            WHERE assistant_id = $1 RETURNING {COLUMNS}""",
        assistant_id,
        values["graph_id"],
        values["config"],
        values["context"],
        values["metadata"],
        values["name"],
        values["description"],
        (latest or current["version"]) + 1,
    )
    assert row is not None
    await _insert_version(conn, row)
    return row


async def set_latest(
    conn: Conn, assistant_id: uuid.UUID, access: Access, version: int
) -> asyncpg.Record | None:
    """Serve an existing version again; None if the assistant or version is missing."""
    where = Where()
    where.add(f"a.assistant_id = {where.param(assistant_id)}")
    where.add(f"v.version = {where.param(version)}")
    access.apply(where, "a.metadata")
    return await conn.fetchrow(
        f"""UPDATE assistants a SET graph_id = v.graph_id, config = v.config,
                   context = v.context, metadata = v.metadata, name = v.name,
                   description = v.description, version = v.version, updated_at = now()
            FROM assistant_versions v
            WHERE v.assistant_id = a.assistant_id AND {where.sql()}
            RETURNING {", ".join("a." + c.strip() for c in COLUMNS.split(","))}""",
        *where.params,
    )


async def delete(conn: Conn, assistant_id: uuid.UUID, access: Access) -> bool:
    where = Where()
    where.add(f"assistant_id = {where.param(assistant_id)}")
    access.apply(where)
    return (
        await conn.fetchval(
            f"DELETE FROM assistants WHERE {where.sql()} RETURNING true", *where.params
        )
        is not None
    )


async def versions(
    conn: Conn,
    assistant_id: uuid.UUID,
    access: Access,
    *,
    metadata: dict[str, Any] | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Versions of a visible assistant, newest first."""
    where = Where()
    where.add(f"v.assistant_id = {where.param(assistant_id)}")
    if metadata:
        where.add(f"v.metadata @> {where.param(metadata)}::jsonb")
    access.apply(where, "a.metadata")
    cols = ", ".join("v." + c.strip() for c in VERSION_COLUMNS.split(","))
    return list(
        await conn.fetch(
            f"""SELECT {cols} FROM assistant_versions v
                JOIN assistants a ON a.assistant_id = v.assistant_id
                WHERE {where.sql()} ORDER BY v.version DESC
                LIMIT {where.param(limit)} OFFSET {where.param(offset)}""",
            *where.params,
        )
    )
