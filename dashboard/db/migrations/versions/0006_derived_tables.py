"""derived results: each patient's courses, outcomes with bin means, latest contact

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 15:30:00

Filled by every import for the patients it touched and by ``kap-outcomes derive`` (which
``kap-outcomes init`` runs after this revision on a database holding records).
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'derived_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('settings_key', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_derived_state')),
    )
    op.create_table(
        'derived_buckets',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('n_rows', sa.Integer(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ('courses', 'outcomes', 'contacts')",
                           name=op.f('ck_derived_buckets_kind')),
        sa.CheckConstraint("bucket >= 0 AND bucket < 64", name=op.f('ck_derived_buckets_bucket')),
        sa.PrimaryKeyConstraint('kind', 'bucket', name=op.f('pk_derived_buckets')),
    )


def downgrade() -> None:
    op.drop_table('derived_buckets')
    op.drop_table('derived_state')
