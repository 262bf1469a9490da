"""Typing aliases for asyncpg objects (asyncpg's classes are not subscriptable at runtime)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import asyncpg
    import asyncpg.pool

    Conn: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]
else:
    Conn = Any
