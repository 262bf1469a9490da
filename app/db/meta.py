"""The one SQLAlchemy MetaData of the schema, and the column defaults its tables share.

Constraint and index names come from this naming convention, so they are stable across
migrations: the error translator (app/db/errors.py) keys on them.
"""

from sqlalchemy import Column, MetaData, text
from sqlalchemy.dialects.postgresql import TIMESTAMP

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

NOW = text("now()")
EMPTY_OBJECT = text("'{}'::jsonb")
PATH_OPS = {"metadata": "jsonb_path_ops"}
"""The metadata GIN indexes' operator class: every metadata filter is a containment (``@>``),
which it answers from one entry per path and value (migration 0016)."""


def timestamp(name: str, *, nullable: bool = False, comment: str | None = None) -> Column[object]:
    """A ``timestamptz`` column; a NOT NULL one defaults to ``now()``."""
    return Column(
        name,
        TIMESTAMP(timezone=True),
        nullable=nullable,
        server_default=None if nullable else NOW,
        comment=comment,
    )
