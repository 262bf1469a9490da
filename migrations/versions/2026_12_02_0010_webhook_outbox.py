"""Webhook outbox: deliveries written in the run's finish, sent and retried by any worker.

Revision ID: 0010_webhook_outbox
Revises: 0009_workers_and_lease_token
Create Date: 2026-12-02 06:12:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010_webhook_outbox'
down_revision: str | None = '0009_workers_and_lease_token'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('webhook_deliveries',
    sa.Column('delivery_id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('run_id', sa.UUID(), nullable=False, comment='The run that ended.'),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='The body POSTed (the run as shown).'),
    sa.Column('status', sa.Text(), server_default=sa.text("'pending'"), nullable=False, comment='pending (to send) | delivered (a 2xx answered) | failed (gave up).'),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When a sender may try next (backoff).'),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_deliveries_status')),
    sa.PrimaryKeyConstraint('delivery_id', name=op.f('pk_webhook_deliveries')),
    comment='The webhook outbox: written in the run\'s finishing transaction, sent by any worker process, retried with backoff; survives restarts.'
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('uq_webhook_deliveries_run_id', 'webhook_deliveries', ['run_id'], unique=True)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('uq_webhook_deliveries_run_id', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('webhook_deliveries')
