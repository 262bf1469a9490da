"""Crons: scheduled runs (per thread or stateless).

Revision ID: 0006_crons
Revises: 0005_store
Create Date: 2026-11-22 03:44:01.903455+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006_crons'
down_revision: str | None = '0005_store'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('crons',
    sa.Column('cron_id', sa.UUID(), nullable=False),
    sa.Column('assistant_id', sa.UUID(), nullable=False),
    sa.Column('thread_id', sa.UUID(), nullable=True, comment='The thread each tick runs on; NULL: a new thread per tick (stateless).'),
    sa.Column('schedule', sa.Text(), nullable=False, comment='Cron expression (5 fields, or 6 with seconds last).'),
    sa.Column('timezone', sa.Text(), nullable=True, comment='IANA zone the schedule is read in (UTC if NULL).'),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='The run body each tick creates.'),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('end_time', postgresql.TIMESTAMP(timezone=True), nullable=True, comment='No tick after this time.'),
    sa.Column('next_run_date', postgresql.TIMESTAMP(timezone=True), nullable=True, comment='The next tick; NULL once past end_time.'),
    sa.Column('on_run_completed', sa.Text(), nullable=True, comment="Stateless crons: delete | keep the tick's thread."),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.thread_id'], name=op.f('fk_crons_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cron_id', name=op.f('pk_crons')),
    comment='Scheduled runs. The scheduler of any process fires a due cron under a row lock, in the transaction that creates its run and moves next_run_date, so each tick fires once.'
    )
    op.create_index('ix_crons_assistant_id', 'crons', ['assistant_id'], unique=False)
    op.create_index('ix_crons_next_run_date', 'crons', ['next_run_date'], unique=False, postgresql_where=sa.text('enabled'))
    op.create_index('ix_crons_thread_id', 'crons', ['thread_id'], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('ix_crons_thread_id', table_name='crons')
    op.drop_index('ix_crons_next_run_date', table_name='crons', postgresql_where=sa.text('enabled'))
    op.drop_index('ix_crons_assistant_id', table_name='crons')
    op.drop_table('crons')
