"""The live readers of run events, so runs made by a wait endpoint write their stream events
only while somebody reads them (``runs.wait`` without ``stream_resumable``: the waiter
takes the run's output, not its events).

Unlogged: it holds only who is reading right now; after a crash it is empty and each
reader's next renewal puts its row back.

Also: the columns that hold whole states (``threads.values``, ``runs.output``,
``run_events.data``) are TOASTed with lz4 where the server has it: about the size pglz
reaches on chat text, at a third of the database's CPU (10 MB: 119 against 331 ms). Values
already stored keep their compression; a server built without lz4 keeps pglz.

Revision ID: 0014_stream_watchers
Revises: 0013_indexes_for_growth
Create Date: 2026-12-03 15:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014_stream_watchers'
down_revision: str | None = '0013_indexes_for_growth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stream_watchers',
        sa.Column('watcher_id', postgresql.UUID(as_uuid=True), nullable=False,
                  comment='One live reader.'),
        sa.Column('watched', postgresql.UUID(as_uuid=True), nullable=False,
                  comment='The run (a join) or the thread (a thread stream) it reads.'),
        sa.Column('expires_at', postgresql.TIMESTAMP(timezone=True),
                  server_default=sa.text('now()'), nullable=False,
                  comment='Renewed while the reader reads; past it the row is void.'),
        sa.PrimaryKeyConstraint('watcher_id'),
        prefixes=['UNLOGGED'],
        comment='Who reads run_events live. A run made by a wait endpoint (kwargs '
        'events_when_watched) writes its stream events only while its run or thread is '
        'watched: nobody else could read them. Unlogged: a crash empties it, and readers '
        're-register.',
    )
    op.create_index('ix_stream_watchers_watched', 'stream_watchers', ['watched'])
    _compression('lz4')


STATE_COLUMNS = (('threads', 'values'), ('runs', 'output'), ('run_events', 'data'))


def _compression(method: str) -> None:
    """Set the state columns' TOAST compression, unless the server lacks ``method``."""
    statements = '; '.join(
        f'ALTER TABLE {table} ALTER COLUMN "{column}" SET COMPRESSION {method}'
        for table, column in STATE_COLUMNS
    )
    op.execute(
        f"""DO $$ BEGIN
              EXECUTE '{statements}';
            EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
              RAISE NOTICE 'no {method} compression on this server: pglz stays';
            END $$"""
    )


def downgrade() -> None:
    _compression('pglz')
    op.drop_index('ix_stream_watchers_watched', table_name='stream_watchers')
    op.drop_table('stream_watchers')
