"""``checkpoint_blobs`` rows only for channels that have a value.

A checkpoint's ``channel_versions`` names every channel, also those without a value at that
version (a consumed ``__start__``, an unset branch). Earlier versions wrote a row of type
``empty`` for each; reads skipped them. Now no row is written for such a channel (a third of
a chat thread's blob rows), and the reads, which find none, do not change. The existing
``empty`` rows stay and are read as before; only the column comments change here.

Revision ID: 0017_no_empty_blobs
Revises: 0016_metadata_path_ops
Create Date: 2026-12-03 21:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_no_empty_blobs'
down_revision: str | None = '0016_metadata_path_ops'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TYPE_BEFORE = (
    "Serializer type tag (msgpack, bytes, null, ...); 'empty' = the channel had no value at "
    'this version.'
)
BLOB_BEFORE = "Serialized value; NULL when type = 'empty'."
TYPE_AFTER = (
    "Serializer type tag (msgpack, bytes, null, ...; '+zstd' appended: zstd-compressed). A "
    "channel without a value at a version has no row; 'empty' rows, written by versions "
    'before 0017, mean the same and are skipped by reads.'
)
BLOB_AFTER = "Serialized value; NULL in the older 'empty' rows."


COLUMNS = (('type', sa.Text(), False), ('blob', sa.LargeBinary(), True))


def _comment(comments: tuple[str, str], before: tuple[str, str]) -> None:
    for (column, type_, nullable), comment, existing in zip(
        COLUMNS, comments, before, strict=True
    ):
        op.alter_column(
            'checkpoint_blobs',
            column,
            existing_type=type_,
            existing_nullable=nullable,
            comment=comment,
            existing_comment=existing,
        )


def upgrade() -> None:
    _comment((TYPE_AFTER, BLOB_AFTER), (TYPE_BEFORE, BLOB_BEFORE))


def downgrade() -> None:
    _comment((TYPE_BEFORE, BLOB_BEFORE), (TYPE_AFTER, BLOB_AFTER))
