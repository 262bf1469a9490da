"""Stream event log: run_events (SSE events of runs, replayed with Last-Event-ID).

Revision ID: 0003_run_events
Revises: 0002_checkpoints
Create Date: 2026-11-22 02:47:42.177977+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_run_events'
down_revision: str | None = '0002_checkpoints'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('run_events',
    sa.Column('event_id', sa.BigInteger(), sa.Identity(always=True), nullable=False, comment="Global, increasing. The wire id is '<created ms>-<event_id>'; a thread has one writer at a time, so ids grow in commit order within a run and a thread."),
    sa.Column('thread_id', sa.UUID(), nullable=False),
    sa.Column('run_id', sa.UUID(), nullable=True, comment='The run that produced the event; NULL for thread-level events (run_done, state_update) shown only on the thread stream.'),
    sa.Column('event', sa.Text(), nullable=False, comment="SSE event name: metadata, values, updates, messages, messages/partial, custom, debug, ..., error; subgraph events add '|<node>:<task id>'."),
    sa.Column('data', postgresql.JSON(astext_type=sa.Text()), nullable=False, comment="The event's data, as sent on the wire."),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('clock_timestamp()'), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], name=op.f('fk_run_events_run_id_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.thread_id'], name=op.f('fk_run_events_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_run_events')),
    comment='Stream events of runs (the SSE log): replayed with Last-Event-ID, read by any API process; deleted a while after the run ends (TURNSTILE_STREAM_TTL_SECONDS).'
    )
    op.create_index('ix_run_events_created_at', 'run_events', ['created_at'], unique=False)
    op.create_index('ix_run_events_run_id_event_id', 'run_events', ['run_id', 'event_id'], unique=False)
    op.create_index('ix_run_events_thread_id_event_id', 'run_events', ['thread_id', 'event_id'], unique=False)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('ix_run_events_thread_id_event_id', table_name='run_events')
    op.drop_index('ix_run_events_run_id_event_id', table_name='run_events')
    op.drop_index('ix_run_events_created_at', table_name='run_events')
    op.drop_table('run_events')
