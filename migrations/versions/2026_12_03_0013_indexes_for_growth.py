"""Indexes so searches, sorts and sweeps cost the same at a million rows as at ten thousand.

- ``threads``: every sort ``threads.search`` offers reads an index in order and stops at the
  page (``updated_at``, ``state_updated_at``; ``status`` with the ``thread_id`` tie-break,
  which also serves the status filter the old ``status`` index served).
- ``runs``: the temporary-thread sweep reads only stateless runs waiting for deletion (a
  partial index that stays tiny: those threads are deleted a minute after their run); the
  assistant delete finds the assistant's runs in flight without reading every run.
- ``store_items``: search's newest-first order.

On a large installation each index is built while the migration holds its table's lock
(seconds per million rows); run ``turnstile migrate`` in a quiet moment.

Revision ID: 0013_indexes_for_growth
Revises: 0012_pgvector
Create Date: 2026-12-03 13:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_indexes_for_growth'
down_revision: str | None = '0012_pgvector'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEMPORARY = "temporary AND (kwargs ->> 'on_completion') = 'delete'"
INFLIGHT = "status IN ('pending', 'running', 'queued')"


def upgrade() -> None:
    op.create_index('ix_threads_updated_at', 'threads', ['updated_at', 'thread_id'])
    op.create_index('ix_threads_state_updated_at', 'threads', ['state_updated_at', 'thread_id'])
    op.create_index('ix_threads_status_thread_id', 'threads', ['status', 'thread_id'])
    op.drop_index('ix_threads_status', table_name='threads')
    op.create_index(
        'ix_runs_temporary_ended_at', 'runs', ['ended_at'], postgresql_where=sa.text(TEMPORARY)
    )
    op.create_index(
        'ix_runs_assistant_id_inflight', 'runs', ['assistant_id'], postgresql_where=sa.text(INFLIGHT)
    )
    op.create_index('ix_store_items_updated_at', 'store_items', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_runs_assistant_id_inflight', table_name='runs')
    op.drop_index('ix_store_items_updated_at', table_name='store_items')
    op.drop_index('ix_runs_temporary_ended_at', table_name='runs')
    op.create_index('ix_threads_status', 'threads', ['status'])
    op.drop_index('ix_threads_status_thread_id', table_name='threads')
    op.drop_index('ix_threads_state_updated_at', table_name='threads')
    op.drop_index('ix_threads_updated_at', table_name='threads')
