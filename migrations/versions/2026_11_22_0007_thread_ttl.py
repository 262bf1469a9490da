"""Thread TTL: ttl_minutes, ttl_strategy, expires_at on threads.

Revision ID: 0007_thread_ttl
Revises: 0006_crons
Create Date: 2026-11-22 03:50:15.136616+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007_thread_ttl'
down_revision: str | None = '0006_crons'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.add_column('threads', sa.Column('ttl_minutes', sa.Float(), nullable=True, comment='Time to live after the last activity.'))
    op.add_column('threads', sa.Column('ttl_strategy', sa.Text(), nullable=True, comment='What expiry does: delete (the thread) | keep_latest (prune to one checkpoint).'))
    op.add_column('threads', sa.Column('expires_at', postgresql.TIMESTAMP(timezone=True), nullable=True, comment='When the TTL sweep acts; renewed by each run.'))
    op.create_index('ix_threads_expires_at', 'threads', ['expires_at'], unique=False, postgresql_where=sa.text('expires_at IS NOT NULL'))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('ix_threads_expires_at', table_name='threads', postgresql_where=sa.text('expires_at IS NOT NULL'))
    op.drop_column('threads', 'expires_at')
    op.drop_column('threads', 'ttl_strategy')
    op.drop_column('threads', 'ttl_minutes')
