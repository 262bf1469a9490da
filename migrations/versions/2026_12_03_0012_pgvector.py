"""pgvector where it is available: semantic store search then scores in C (same ranking).

Creating the extension needs it installed on the server (the embedded PostgreSQL has it)
and the right to create it; where either is missing this does nothing, and the search
scores with SQL on the ``real[]`` vectors instead (app/db/store_vectors.py).

Revision ID: 0012_pgvector
Revises: 0011_store_vectors
Create Date: 2026-12-03 08:40:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012_pgvector'
down_revision: str | None = '0011_store_vectors'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """DO $$
        BEGIN
          IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') THEN
            CREATE EXTENSION IF NOT EXISTS vector;
          END IF;
        EXCEPTION WHEN insufficient_privilege THEN
          RAISE NOTICE 'pgvector is installed but cannot be created here: exact SQL scoring';
        END $$"""
    )


def downgrade() -> None:
    # Left in place: other software may use it, and dropping it would need to know.
    pass
