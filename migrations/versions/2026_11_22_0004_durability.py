"""Durability: periodic_jobs (one tick of housekeeping across processes), busy_threads view.

Revision ID: 0004_durability
Revises: 0003_run_events
Create Date: 2026-11-22 03:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004_durability'
down_revision: str | None = '0003_run_events'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUSY_THREADS = """
CREATE VIEW busy_threads AS
SELECT r.thread_id,
       r.run_id,
       r.status AS run_status,
       coalesce(r.started_at, r.created_at) AS since,
       r.lease_owner AS worker,
       r.attempt,
       r.lease_expires_at,
       (SELECT count(*) FROM runs q
         WHERE q.thread_id = r.thread_id AND q.status = 'queued') AS queued_runs
  FROM runs r
 WHERE r.status IN ('pending', 'running')
"""


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('periodic_jobs',
    sa.Column('name', sa.Text(), nullable=False, comment='The job: requeue_expired, sweep_events, ...'),
    sa.Column('next_at', postgresql.TIMESTAMP(timezone=True), nullable=False, comment='When the job is next due. A process runs a due job only if its UPDATE moves this forward, so each tick runs once across all processes.'),
    sa.Column('last_owner', sa.Text(), nullable=True, comment='The worker that ran the last tick.'),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_periodic_jobs')),
    comment='Periodic housekeeping shared by every process (one row per job).'
    )
    op.execute(BUSY_THREADS)
    op.execute(
        "COMMENT ON VIEW busy_threads IS 'Which threads are busy: the active (pending or "
        "running) run of each, since when, on which worker (lease_owner host:pid:n), which "
        "attempt, and how many runs wait behind it.'"
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.execute("DROP VIEW busy_threads")
    op.drop_table('periodic_jobs')
