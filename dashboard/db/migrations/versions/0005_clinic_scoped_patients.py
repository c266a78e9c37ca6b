"""clinic-scoped patient ids: the natural key of a patient is clinic + the clinic's own id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 15:00:00

Every stored patient keeps its key (``patient_id``, referred to by sessions, assessments,
courses and signal states); its source id is that key, which was unique database-wide.
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a NOT NULL column only with a default; every row is then filled
        op.execute("ALTER TABLE patients ADD COLUMN source_id VARCHAR(64) NOT NULL DEFAULT ''")
        op.execute("UPDATE patients SET source_id = patient_id")
    else:
        op.add_column('patients', sa.Column('source_id', sa.String(length=64), nullable=True))
        op.execute("UPDATE patients SET source_id = patient_id")
        op.alter_column('patients', 'source_id', nullable=False)
    op.create_index(op.f('ix_patients_source_id'), 'patients', ['source_id'], unique=False)
    # a unique index is how SQLite adds a uniqueness rule to an existing table
    op.create_index('uq_patients_clinic_source', 'patients', ['clinic_id', 'source_id'],
                    unique=True)


def downgrade() -> None:
    op.drop_index('uq_patients_clinic_source', table_name='patients')
    op.drop_index(op.f('ix_patients_source_id'), table_name='patients')
    with op.batch_alter_table('patients') as batch_op:
        batch_op.drop_column('source_id')
