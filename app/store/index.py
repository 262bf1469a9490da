"""Semantic search of the store (``store.index`` in langgraph.json): which texts of an item
are embedded, and the embedding function.

``embed`` is a LangChain provider string (``"openai:text-embedding-3-small"``, through
``langchain.embeddings.init_embeddings``) or the path of the team's own function
(``"./embed.py:embed"`` or ``"package.module:embed"``, sync or async, taking a list of texts)
or of a LangChain ``Embeddings`` object. ``fields`` are JSON paths into the item's value
(``"$"``: the whole value), as LangGraph's stores read them. Vectors are stored unit-length,
so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.graphs.config import ConfigError


@dataclass(frozen=True)
class IndexConfig:
    """``store.index`` as written: checked at start; ``signature`` is what a reindex is
    needed after changing."""

    embed: str
    dims: int
    fields: tuple[str, ...] = ("$",)

    @property
    def signature(self) -> dict[str, Any]:
        return {"embed": self.embed, "dims": self.dims, "fields": list(self.fields)}


def parse(section: Mapping[str, Any]) -> IndexConfig | None:
    """``store.index`` (None when absent); ConfigError naming the bad key."""
    if not section:
        return None
    embed, dims, fields = section.get("embed"), section.get("dims"), section.get("fields")
    if not isinstance(embed, str) or not embed:
        raise ConfigError("store.index.embed must name an embedding model or function")
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ConfigError("store.index.dims must be a positive integer")
    if fields is None:
        fields = ["$"]
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise ConfigError('store.index.fields must be a list of JSON paths ("$": the value)')
    unknown = set(section) - {"embed", "dims", "fields"}
    if unknown:
        raise ConfigError(f"store.index: unsupported keys {sorted(unknown)}")
    return IndexConfig(embed, dims, tuple(fields))


def _load_embeddings(spec: str, base_dir: str) -> Any:
    """The LangChain ``Embeddings`` ``spec`` names (see the module docstring)."""
    from langgraph.store.base.embed import ensure_embeddings

    from app.graphs.registry import import_variable

    target = spec.rpartition(":")[0]
    if "/" in target or "." in target or target.endswith(".py"):
        return ensure_embeddings(import_variable(spec, base_dir, "store.index.embed"))
    try:
        from langchain.embeddings import init_embeddings
    except ImportError:
        raise ConfigError(
            f"store.index.embed {spec!r} names a provider model: install `langchain` and the "
            "provider's package (e.g. `langchain-openai`), or give a function ('./embed.py:fn')"
        ) from None
    try:
        return init_embeddings(spec)
    except Exception as exc:
        raise ConfigError(f"store.index.embed {spec!r}: {exc}") from None


class StoreIndex:
    """The configured index at run time: texts of a value, their embeddings."""

    def __init__(self, config: IndexConfig, base_dir: str) -> None:
        self.config = config
        self.embeddings = _load_embeddings(config.embed, base_dir)
        self.pgvector = False
        """Whether the database scores with pgvector (set at start)."""

    @property
    def dims(self) -> int:
        return self.config.dims

    def texts(self, value: Mapping[str, Any], index: Any = None) -> dict[str, str]:
        """The texts to embed for ``value``, by field path: the configured fields, or
        ``index``'s (a put's own list); none for ``index=False``."""
        from langgraph.store.base.embed import get_text_at_path

        if index is False:
            return {}
        fields = self.config.fields if index is None or index is True else tuple(index)
        out: dict[str, str] = {}
        for field in fields:
            if field == "$":
                out[field] = json.dumps(value, sort_keys=True, ensure_ascii=False)
                continue
            found = [t for t in get_text_at_path(dict(value), field) if t]
            if found:
                out[field] = "\n".join(found)
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length embeddings of ``texts`` (one batch); ValueError on a wrong size."""
        if not texts:
            return []
        vectors = await self.embeddings.aembed_documents(list(texts))
        return [self._unit(v) for v in vectors]

    async def plan(
        self, conn: Any, namespace: Sequence[str], key: str, value: Mapping[str, Any], index: Any
    ) -> tuple[list[str], list[tuple[str, str, list[float]]]]:
        """For a put: the fields the item keeps embeddings for, and those to write anew
        (field, text hash, vector): only fields whose text changed are embedded, in one
        batch, with no transaction open."""
        from app.db import store_vectors as vector_rows

        texts = self.texts(value, index)
        if not texts:
            return [], []
        old = await vector_rows.hashes(conn, namespace, key)
        todo = {f: t for f, t in texts.items() if old.get(f) != text_hash(t)}
        vectors = await self.embed(list(todo.values()))
        changed = [(f, text_hash(t), v) for (f, t), v in zip(todo.items(), vectors, strict=True)]
        return list(texts), changed

    async def embed_query(self, text: str) -> list[float]:
        return self._unit(await self.embeddings.aembed_query(text))

    def _unit(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dims:
            raise ValueError(
                f"the embedding function returned {len(vector)} dimensions, "
                f"store.index.dims is {self.dims}"
            )
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [float(x) / norm for x in vector]


def text_hash(text: str) -> str:
    """What a field's stored vector was computed from (re-embedded only when it changes)."""
    return hashlib.sha256(text.encode()).hexdigest()


async def reindex(pool: Any, index: StoreIndex, page: int = 100) -> int:
    """Embed every live item again with ``index`` (``turnstile store reindex``), page by
    page (each page's texts in one batch, written in one transaction), then record the
    index's signature. With pgvector the HNSW index is dropped first (the new vectors may
    have another size) and built again at the end. Returns the items embedded."""
    from app.db import store_vectors as vector_rows

    async with pool.acquire() as conn:
        pgvector = await vector_rows.has_pgvector(conn)
        if pgvector:
            await vector_rows.drop_hnsw(conn)
    done = 0
    after: tuple[str, str] | None = None
    while True:
        async with pool.acquire() as conn:
            items = await vector_rows.items_after(conn, after, page)
        if not items:
            break
        texts = [(r, index.texts(r["value"])) for r in items]
        flat = [(r, f, t) for r, fields in texts for f, t in fields.items()]
        vectors = await index.embed([t for _, _, t in flat])
        async with pool.acquire() as conn, conn.transaction():
            for r, fields in texts:
                changed = [
                    (f, text_hash(t), v)
                    for (row, f, t), v in zip(flat, vectors, strict=True)
                    if row is r
                ]
                await vector_rows.replace(
                    conn, r["prefix"].split("."), r["key"], list(fields), changed
                )
        done += len(items)
        after = (items[-1]["prefix"], items[-1]["key"])
    async with pool.acquire() as conn:
        await vector_rows.discard_other_sizes(conn, index.dims)
        await vector_rows.set_signature(conn, index.config.signature)
        if pgvector:
            await vector_rows.ensure_hnsw(conn, index.dims)
    return done
