"""Semantic store search: an embedding per indexed field of an item, and what they were made with.

Revision ID: 0011_store_vectors
Revises: 0010_webhook_outbox
Create Date: 2026-12-03 08:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011_store_vectors'
down_revision: str | None = '0010_webhook_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('store_vectors',
    sa.Column('prefix', sa.Text(collation='C'), nullable=False),
    sa.Column('key', sa.Text(collation='C'), nullable=False),
    sa.Column('field', sa.Text(), nullable=False, comment='The JSON path of the text (store.index.fields).'),
    sa.Column('text_hash', sa.Text(), nullable=False, comment='SHA-256 of the embedded text.'),
    sa.Column('embedding', postgresql.ARRAY(sa.REAL()), nullable=False, comment='Unit-length embedding of the field\'s text (store.index.dims values).'),
    sa.ForeignKeyConstraint(['prefix', 'key'], ['store_items.prefix', 'store_items.key'], name=op.f('fk_store_vectors_prefix_store_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('prefix', 'key', 'field', name=op.f('pk_store_vectors')),
    comment='Semantic search of the store: one embedding per indexed field of an item.'
    )
    op.create_table('store_index',
    sa.Column('id', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('signature', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='The store.index (embed, dims, fields) the stored vectors were made with.'),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_store_index_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_index')),
    comment='One row: what the store\'s vectors were computed with (a change needs `turnstile store reindex`).'
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_table('store_index')
    op.drop_table('store_vectors')
