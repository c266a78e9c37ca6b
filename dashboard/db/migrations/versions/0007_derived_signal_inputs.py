"""derived results gain completeness, sessions, standing, signal inputs, induction scores
and the clinic's expected-course models

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 18:00:00

The table of derived buckets is made anew with the wider list of kinds (its rows are derived:
``kap-outcomes init`` rebuilds them after this revision, as after 0006), so the kind check is
replaced the same way on both back-ends without a table rebuild of SQLite's own.
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_KINDS = ("courses", "outcomes", "contacts", "completeness", "sessions", "standing",
          "signals", "candidates", "induction", "models")


def _create(kinds: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{k}'" for k in kinds)
    op.create_table(
        'derived_buckets',
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('bucket', sa.Integer(), nullable=False),
        sa.Column('n_rows', sa.Integer(), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(f"kind IN ({listed})", name=op.f('ck_derived_buckets_kind')),
        sa.CheckConstraint("bucket >= 0 AND bucket < 64", name=op.f('ck_derived_buckets_bucket')),
        sa.PrimaryKeyConstraint('kind', 'bucket', name=op.f('pk_derived_buckets')),
    )


def upgrade() -> None:
    op.drop_table('derived_buckets')
    op.execute("DELETE FROM derived_state")
    _create(_KINDS)


def downgrade() -> None:
    op.drop_table('derived_buckets')
    op.execute("DELETE FROM derived_state")
    _create(_KINDS[:3])
