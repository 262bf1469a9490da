"""Core tables: assistants and their versions, threads, runs (with the one-active-run index).

Revision ID: 0001_core
Revises: (none)
Create Date: 2026-11-22 02:04:15.863377+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001_core'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('assistants',
    sa.Column('assistant_id', sa.UUID(), nullable=False),
    sa.Column('graph_id', sa.Text(), nullable=False, comment='Key of the graph in langgraph.json.'),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('context', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False, comment='The version currently served; its row is in assistant_versions.'),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('assistant_id', name=op.f('pk_assistants')),
    comment="Assistants: a graph plus configuration. One system assistant per graph (id = uuid5 of the graph id, metadata.created_by = 'system')."
    )
    op.create_index('ix_assistants_graph_id', 'assistants', ['graph_id'], unique=False)
    op.create_index('ix_assistants_metadata', 'assistants', ['metadata'], unique=False, postgresql_using='gin')
    op.create_table('threads',
    sa.Column('thread_id', sa.UUID(), nullable=False),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('state_updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False, comment="When the thread's values last changed (run end, state update)."),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('status', sa.Text(), server_default=sa.text("'idle'"), nullable=False, comment='idle | busy (a run is pending, queued or running) | interrupted | error.'),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('values', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='Channel values of the latest checkpoint.'),
    sa.Column('interrupts', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='Pending interrupts keyed by task id: {task_id: [{id, value}]}.'),
    sa.Column('error', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='{error, message} of the last failed run.'),
    sa.CheckConstraint("status IN ('idle', 'busy', 'interrupted', 'error')", name=op.f('ck_threads_status')),
    sa.PrimaryKeyConstraint('thread_id', name=op.f('pk_threads')),
    comment='Threads: a conversation whose state lives in the checkpoint tables.'
    )
    op.create_index('ix_threads_created_at', 'threads', ['created_at'], unique=False)
    op.create_index('ix_threads_metadata', 'threads', ['metadata'], unique=False, postgresql_using='gin')
    op.create_index('ix_threads_status', 'threads', ['status'], unique=False)
    op.create_table('assistant_versions',
    sa.Column('assistant_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('graph_id', sa.Text(), nullable=False),
    sa.Column('config', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('context', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['assistant_id'], ['assistants.assistant_id'], name=op.f('fk_assistant_versions_assistant_id_assistants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('assistant_id', 'version', name=op.f('pk_assistant_versions')),
    comment='Every version of every assistant; PATCH adds one, set_latest points back at one.'
    )
    op.create_table('runs',
    sa.Column('run_id', sa.UUID(), nullable=False),
    sa.Column('thread_id', sa.UUID(), nullable=False),
    sa.Column('assistant_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False, comment="pending (may start now) | queued (waits behind the thread's active run; shown as pending) | running | success | error | timeout | interrupted."),
    sa.Column('multitask_strategy', sa.Text(), server_default=sa.text("'enqueue'"), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('kwargs', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='What the run was asked to do: input, command, config, context, stream_mode...'),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('ended_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('attempt', sa.Integer(), server_default=sa.text('0'), nullable=False, comment='How many times a worker has claimed this run.'),
    sa.Column('lease_owner', sa.Text(), nullable=True, comment='Worker holding the run (host:pid:n).'),
    sa.Column('lease_epoch', sa.BigInteger(), server_default=sa.text('0'), nullable=False, comment='Bumped at every claim; writes for the run are fenced by it.'),
    sa.Column('lease_expires_at', postgresql.TIMESTAMP(timezone=True), nullable=True, comment='Lease end unless renewed by a heartbeat.'),
    sa.Column('cancel_action', sa.Text(), nullable=True, comment='Set when cancellation was requested: interrupt | rollback.'),
    sa.Column('error', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='{error, message} when status = error.'),
    sa.Column('output', postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment='What join/wait return once the run ended: final values (+ __interrupt__) or {__error__}.'),
    sa.Column('temporary', sa.Boolean(), server_default=sa.text('false'), nullable=False, comment='Stateless run: its thread is deleted when it ends (on_completion=delete).'),
    sa.CheckConstraint("multitask_strategy IN ('reject', 'interrupt', 'rollback', 'enqueue')", name=op.f('ck_runs_multitask_strategy')),
    sa.CheckConstraint("status IN ('pending', 'queued', 'running', 'success', 'error', 'timeout', 'interrupted')", name=op.f('ck_runs_status')),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.thread_id'], name=op.f('fk_runs_thread_id_threads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_runs')),
    comment='Runs. At most one pending-or-running run per thread (uq_runs_one_active_per_thread).'
    )
    op.create_index('ix_runs_lease_expires_at', 'runs', ['lease_expires_at'], unique=False, postgresql_where=sa.text("status = 'running'"))
    op.create_index('ix_runs_pending', 'runs', ['created_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_runs_queued', 'runs', ['thread_id', 'created_at'], unique=False, postgresql_where=sa.text("status = 'queued'"))
    op.create_index('ix_runs_thread_id_created_at', 'runs', ['thread_id', 'created_at'], unique=False)
    op.create_index('uq_runs_one_active_per_thread', 'runs', ['thread_id'], unique=True, postgresql_where=sa.text("status IN ('pending', 'running')"))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('uq_runs_one_active_per_thread', table_name='runs', postgresql_where=sa.text("status IN ('pending', 'running')"))
    op.drop_index('ix_runs_thread_id_created_at', table_name='runs')
    op.drop_index('ix_runs_queued', table_name='runs', postgresql_where=sa.text("status = 'queued'"))
    op.drop_index('ix_runs_pending', table_name='runs', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_runs_lease_expires_at', table_name='runs', postgresql_where=sa.text("status = 'running'"))
    op.drop_table('runs')
    op.drop_table('assistant_versions')
    op.drop_index('ix_threads_status', table_name='threads')
    op.drop_index('ix_threads_metadata', table_name='threads', postgresql_using='gin')
    op.drop_index('ix_threads_created_at', table_name='threads')
    op.drop_table('threads')
    op.drop_index('ix_assistants_metadata', table_name='assistants', postgresql_using='gin')
    op.drop_index('ix_assistants_graph_id', table_name='assistants')
    op.drop_table('assistants')
