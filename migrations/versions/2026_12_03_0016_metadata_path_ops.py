"""The metadata GIN indexes of threads and assistants with ``jsonb_path_ops``.

Every metadata filter is a containment (``metadata @> {...}``: searches, counts, custom
auth's owner filter, the assistant delete's threads). The default ``jsonb_ops`` indexes each
key and each value as entries of their own, so ``{"user_id": "user-42"}`` also walks the
posting tree of the key ``user_id``, which holds every thread: at a million threads, 320
index pages to find 1,000 (2.7 ms of a 4 ms count). ``jsonb_path_ops`` indexes one hash per
path and value, answers ``@>`` from the 1,000 entries alone (4 pages, 0.2 ms), is half the
size, and each thread update adds fewer entries. It cannot serve the key-existence
operators (``?``, ``?|``, ``?&``), which nothing here uses on metadata.

On a large installation the index is rebuilt while the migration holds the table's lock
(about 1.5 s per million threads); run ``turnstile migrate`` in a quiet moment.

Revision ID: 0016_metadata_path_ops
Revises: 0015_thread_count
Create Date: 2026-12-03 19:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016_metadata_path_ops'
down_revision: str | None = '0015_thread_count'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (('ix_threads_metadata', 'threads'), ('ix_assistants_metadata', 'assistants'))


def _rebuild(ops: dict[str, str] | None) -> None:
    for name, table in INDEXES:
        op.drop_index(name, table_name=table)
        extra = {'postgresql_ops': ops} if ops else {}
        op.create_index(name, table, ['metadata'], postgresql_using='gin', **extra)


def upgrade() -> None:
    _rebuild({'metadata': 'jsonb_path_ops'})


def downgrade() -> None:
    _rebuild(None)
