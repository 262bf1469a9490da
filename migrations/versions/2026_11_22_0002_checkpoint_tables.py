"""Checkpoint tables: checkpoints, checkpoint_blobs, checkpoint_writes (PostgresSaver storage).

Revision ID: 0002_checkpoints
Revises: 0001_core
Create Date: 2026-11-22 02:06:50.345949+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002_checkpoints'
down_revision: str | None = '0001_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('checkpoint_blobs',
    sa.Column('thread_id', sa.Text(collation='C'), nullable=False, comment='LangGraph thread id (configurable.thread_id) as text; not a foreign key, it may name something other than a server thread.'),
    sa.Column('checkpoint_ns', sa.Text(collation='C'), server_default=sa.text("''"), nullable=False, comment="Checkpoint namespace: '' for the root graph, 'node:task_id|...' for subgraphs."),
    sa.Column('channel', sa.Text(collation='C'), nullable=False, comment='Channel (state key) name.'),
    sa.Column('version', sa.Text(collation='C'), nullable=False, comment="Channel version as text, as it appears in checkpoint->'channel_versions'."),
    sa.Column('type', sa.Text(), nullable=False, comment="Serializer type tag (msgpack, bytes, null, ...); 'empty' = the channel had no value at this version."),
    sa.Column('blob', sa.LargeBinary(), nullable=True, comment="Serialized value; NULL when type = 'empty'."),
    sa.PrimaryKeyConstraint('thread_id', 'checkpoint_ns', 'channel', 'version', name=op.f('pk_checkpoint_blobs')),
    comment='Channel values by version, shared by every checkpoint whose channel_versions names that version.'
    )
    op.create_table('checkpoint_writes',
    sa.Column('thread_id', sa.Text(collation='C'), nullable=False, comment='LangGraph thread id (configurable.thread_id) as text; not a foreign key, it may name something other than a server thread.'),
    sa.Column('checkpoint_ns', sa.Text(collation='C'), server_default=sa.text("''"), nullable=False, comment="Checkpoint namespace: '' for the root graph, 'node:task_id|...' for subgraphs."),
    sa.Column('checkpoint_id', sa.Text(collation='C'), nullable=False, comment='The checkpoint these writes follow (no foreign key).'),
    sa.Column('task_id', sa.Text(collation='C'), nullable=False, comment='The task that produced the write.'),
    sa.Column('idx', sa.Integer(), nullable=False, comment="Position in the task's writes; negative for special channels (-1 error, -2 scheduled, -3 interrupt, -4 resume), which are overwritten."),
    sa.Column('channel', sa.Text(collation='C'), nullable=False, comment='Channel written (or __error__, __interrupt__, __resume__...).'),
    sa.Column('type', sa.Text(), nullable=False, comment='Serializer type tag of blob.'),
    sa.Column('blob', sa.LargeBinary(), nullable=False, comment='Serialized value written.'),
    sa.Column('task_path', sa.Text(collation='C'), server_default=sa.text("''"), nullable=False, comment='Task path; pending writes are returned ordered by (task_path, task_id, idx).'),
    sa.Column('run_id', sa.Text(collation='C'), nullable=True, comment="Run that wrote the row (config metadata.run_id), e.g. a resume value written on an earlier run's checkpoint; deleted with the run."),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written (informational; ordering uses checkpoint_id).'),
    sa.PrimaryKeyConstraint('thread_id', 'checkpoint_ns', 'checkpoint_id', 'task_id', 'idx', name=op.f('pk_checkpoint_writes')),
    comment='Pending writes of tasks, attached to the checkpoint they follow (written by PostgresSaver.aput_writes).'
    )
    op.create_index('ix_checkpoint_writes_run_id', 'checkpoint_writes', ['run_id'], unique=False, postgresql_where=sa.text('run_id IS NOT NULL'))
    op.create_table('checkpoints',
    sa.Column('thread_id', sa.Text(collation='C'), nullable=False, comment='LangGraph thread id (configurable.thread_id) as text; not a foreign key, it may name something other than a server thread.'),
    sa.Column('checkpoint_ns', sa.Text(collation='C'), server_default=sa.text("''"), nullable=False, comment="Checkpoint namespace: '' for the root graph, 'node:task_id|...' for subgraphs."),
    sa.Column('checkpoint_id', sa.Text(collation='C'), nullable=False, comment='uuid6 of the checkpoint; time-ordered, greatest = latest.'),
    sa.Column('parent_checkpoint_id', sa.Text(collation='C'), nullable=True, comment='The checkpoint this one was derived from (same thread and namespace).'),
    sa.Column('run_id', sa.Text(collation='C'), nullable=True, comment="metadata.run_id copied into a column: a run's checkpoints are deleted by it (rollback, delete_for_runs)."),
    sa.Column('checkpoint', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='The Checkpoint document without channel_values: v, id, ts, channel_versions, versions_seen, updated_channels. Values are in checkpoint_blobs by channel_versions.'),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False, comment='CheckpointMetadata (source, step, parents, run_id, user keys); list filters match it with @>.'),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the row was written (informational; ordering uses checkpoint_id).'),
    sa.PrimaryKeyConstraint('thread_id', 'checkpoint_ns', 'checkpoint_id', name=op.f('pk_checkpoints')),
    comment='LangGraph checkpoints, one row per checkpoint (written by PostgresSaver.aput).'
    )
    op.create_index('ix_checkpoints_run_id', 'checkpoints', ['run_id'], unique=False, postgresql_where=sa.text('run_id IS NOT NULL'))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('ix_checkpoints_run_id', table_name='checkpoints', postgresql_where=sa.text('run_id IS NOT NULL'))
    op.drop_table('checkpoints')
    op.drop_index('ix_checkpoint_writes_run_id', table_name='checkpoint_writes', postgresql_where=sa.text('run_id IS NOT NULL'))
    op.drop_table('checkpoint_writes')
    op.drop_table('checkpoint_blobs')
