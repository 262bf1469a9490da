"""Store: store_items (long-term memory by namespace and key, with TTL).

Revision ID: 0005_store
Revises: 0004_durability
Create Date: 2026-11-22 03:37:52.584879+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005_store'
down_revision: str | None = '0004_durability'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Fail fast instead of queueing behind a long transaction on a busy table.
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.create_table('store_items',
    sa.Column('prefix', sa.Text(collation='C'), nullable=False, comment="The namespace, labels joined with '.' (labels cannot contain '.')."),
    sa.Column('key', sa.Text(collation='C'), nullable=False),
    sa.Column('value', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='The item: a JSON object.'),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ttl_minutes', sa.Float(), nullable=True, comment='Time to live, renewed by reads that refresh it.'),
    sa.Column('expires_at', postgresql.TIMESTAMP(timezone=True), nullable=True, comment='NULL: kept forever; deleted by a sweep once past.'),
    sa.PrimaryKeyConstraint('prefix', 'key', name=op.f('pk_store_items')),
    comment='Long-term memory (the store): items by namespace and key, read by the API and by graphs at run time.'
    )
    op.create_index('ix_store_items_expires_at', 'store_items', ['expires_at'], unique=False, postgresql_where=sa.text('expires_at IS NOT NULL'))
    op.create_index('ix_store_items_prefix', 'store_items', ['prefix'], unique=False, postgresql_ops={'prefix': 'text_pattern_ops'})


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '10s'")
    op.drop_index('ix_store_items_prefix', table_name='store_items', postgresql_ops={'prefix': 'text_pattern_ops'})
    op.drop_index('ix_store_items_expires_at', table_name='store_items', postgresql_where=sa.text('expires_at IS NOT NULL'))
    op.drop_table('store_items')
