"""Every table of the schema, gathered on one MetaData (Alembic's target)."""

from app.db import background_tables, checkpoint_tables, models  # noqa: F401  (registers the tables)
from app.db.meta import metadata

__all__ = ["metadata"]
