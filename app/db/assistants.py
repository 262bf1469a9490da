"""Assistant rows and their versions. Callers own the transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from app.db.access import Access, Where
from app.db.types import Conn

TABLE = "assistants"
KEY = "assistant_id"
COLUMNS = (
    "assistant_id, graph_id, config, context, metadata, name, description, version, "
    "created_at, updated_at"
)


def to_wire(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out.pop("_total", None)  # the window count of a search page
    for key in ("created_at", "updated_at"):
        if out.get(key) is not None:
            out[key] = out[key].isoformat()
    if "assistant_id" in out:
        out["assistant_id"] = str(out["assistant_id"])
    return out


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
