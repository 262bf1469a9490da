"""Crons remember their creator for custom auth: crons.auth_user.

Revision ID: 0008_cron_auth_user
Revises: 0007_thread_ttl
Create Date: 2026-12-01 22:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_cron_auth_user'
down_revision: str | None = '0007_thread_ttl'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.add_column('crons', sa.Column('auth_user', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='Who created the cron, as custom auth saw them (identity, permissions...); its runs get it as langgraph_auth_user. NULL without custom auth.'))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_column('crons', 'auth_user')
