"""Fencing that cannot repeat: runs.lease_token, and the heartbeating workers table.

Revision ID: 0009_workers_and_lease_token
Revises: 0008_cron_auth_user
Create Date: 2026-12-02 06:10:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009_workers_and_lease_token'
down_revision: str | None = '0008_cron_auth_user'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.add_column('runs', sa.Column('lease_token', sa.UUID(), nullable=True, comment='Random per claim: with lease_epoch it fences every write of the attempt, and unlike the epoch it cannot repeat if PostgreSQL loses its last transactions.'))
    op.create_table('workers',
    sa.Column('worker_id', sa.Text(), nullable=False, comment='The lease owner name (host:pid:n).'),
    sa.Column('host', sa.Text(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('version', sa.Text(), nullable=True, comment='Turnstile version of the process.'),
    sa.Column('started_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('heartbeat_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False, comment='Renewed by the process\'s lease thread; a worker whose heartbeat is older than 5 beats (at most a lease period) is dead, and its runs are re-queued.'),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_workers')),
    comment='Processes that run runs (serve with workers, turnstile worker): one row each, heartbeating. Recovery trusts this table, not host and pid.'
    )
    op.create_index(op.f('ix_workers_heartbeat_at'), 'workers', ['heartbeat_at'], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index(op.f('ix_workers_heartbeat_at'), table_name='workers')
    op.drop_table('workers')
    op.drop_column('runs', 'lease_token')
