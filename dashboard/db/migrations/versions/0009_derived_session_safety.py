"""derived results gain the session safety records

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 07:00:00

The kind check of the derived buckets admits ``safety`` (one record per dosing session, so the
Safety page never reads every monitoring row). As in 0007 the table is made anew: its rows are
derived, and ``kap-outcomes init`` rebuilds them after this revision.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_BEFORE = ("courses", "outcomes", "contacts", "completeness", "sessions", "standing",
           "signals", "candidates", "induction", "models")


def _make(kinds: tuple[str, ...]) -> None:
    op.drop_table('derived_buckets')
    op.execute("DELETE FROM derived_state")
    op.create_table(
        'derived_buckets',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('n_rows', sa.Integer(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("kind IN ({})".format(", ".join(f"'{k}'" for k in kinds)),
                           name=op.f('ck_derived_buckets_kind')),
        sa.CheckConstraint("bucket >= 0 AND bucket < 64", name=op.f('ck_derived_buckets_bucket')),
        sa.PrimaryKeyConstraint('kind', 'bucket', name=op.f('pk_derived_buckets')),
    )


def upgrade() -> None:
    _make((*_BEFORE, "safety"))


def downgrade() -> None:
    _make(_BEFORE)
