"""The number of threads, kept by triggers, so ``threads.count`` without a filter reads 16
rows instead of an index entry per thread (60 ms at a million threads).

``thread_counts`` holds the count in 16 shards; its sum is the number of threads. After each
statement that inserts or deletes threads, one trigger adds the number of rows it inserted
(its transition table) to the shard of the session (``pg_backend_pid() % 16``), or subtracts
those it deleted, so creates on different connections do not wait for one row's lock. A
statement that changed nothing leaves the counter alone; a TRUNCATE zeroes it. The counter
changes in the thread rows' own transaction: a snapshot that sees some threads sees the
matching sum, a rolled-back insert leaves both as they were.

The count of the threads already there is taken with writes to ``threads`` blocked (the
lock the triggers' creation takes anyway, held to the commit): it is exact from the start.

Revision ID: 0015_thread_count
Revises: 0014_stream_watchers
Create Date: 2026-12-03 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015_thread_count'
down_revision: str | None = '0014_stream_watchers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 16
SHARD = f'pg_backend_pid() % {SHARDS}'

FUNCTIONS = (
    f"""CREATE FUNCTION thread_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE added bigint := (SELECT count(*) FROM inserted);
BEGIN
  IF added > 0 THEN
    UPDATE thread_counts SET n = n + added WHERE shard = {SHARD};
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION thread_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE removed bigint := (SELECT count(*) FROM deleted);
BEGIN
  IF removed > 0 THEN
    UPDATE thread_counts SET n = n - removed WHERE shard = {SHARD};
  END IF;
  RETURN NULL;
END $$""",
    """CREATE FUNCTION thread_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE thread_counts SET n = 0 WHERE n <> 0;
  RETURN NULL;
END $$""",
)

TRIGGERS = (
    """CREATE TRIGGER thread_counts_insert AFTER INSERT ON threads
         REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT
         EXECUTE FUNCTION thread_counts_inserted()""",
    """CREATE TRIGGER thread_counts_delete AFTER DELETE ON threads
         REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT
         EXECUTE FUNCTION thread_counts_deleted()""",
    """CREATE TRIGGER thread_counts_truncate AFTER TRUNCATE ON threads
         FOR EACH STATEMENT EXECUTE FUNCTION thread_counts_truncated()""",
)


def upgrade() -> None:
    op.create_table(
        'thread_counts',
        sa.Column('shard', sa.SmallInteger(), autoincrement=False, nullable=False,
                  comment='pg_backend_pid() % 16 of the sessions that write it.'),
        sa.Column('n', sa.BigInteger(), nullable=False,
                  comment='Threads inserted less threads deleted by those sessions (may be '
                  'negative).'),
        sa.PrimaryKeyConstraint('shard'),
        comment='The number of threads: sum(n), kept exact by statement triggers on threads '
        '(threads.count without a filter reads it). SELECT sum(n) FROM thread_counts.',
    )
    # Writes to threads wait from here to the commit (SHARE ROW EXCLUSIVE: the mode
    # CREATE TRIGGER takes; like SHARE it lets reads through), so no thread is created or
    # deleted between the count and the triggers.
    op.execute('LOCK TABLE threads IN SHARE ROW EXCLUSIVE MODE')
    for statement in (*FUNCTIONS, *TRIGGERS):
        op.execute(statement)
    op.execute(
        f"""INSERT INTO thread_counts (shard, n)
            SELECT s, CASE WHEN s = 0 THEN (SELECT count(*) FROM threads) ELSE 0 END
              FROM generate_series(0, {SHARDS - 1}) AS s"""
    )


def downgrade() -> None:
    for trigger in ('insert', 'delete', 'truncate'):
        op.execute(f'DROP TRIGGER thread_counts_{trigger} ON threads')
    for function in ('inserted', 'deleted', 'truncated'):
        op.execute(f'DROP FUNCTION thread_counts_{function}()')
    op.drop_table('thread_counts')
