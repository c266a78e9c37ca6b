"""signal workflow states

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'signal_states',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('instrument', sa.String(length=8), nullable=False),
        sa.Column('score_at', sa.DateTime(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('assigned_to', sa.String(length=200), nullable=True),
        sa.Column('snooze_until', sa.Date(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('updated_by', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'acknowledged', 'snoozed', 'resolved')",
                           name=op.f('ck_signal_states_status')),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.patient_id'],
                                name=op.f('fk_signal_states_patient_id_patients')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signal_states')),
        sa.UniqueConstraint('patient_id', 'kind', 'instrument', 'score_at',
                            name='uq_signal_states_signal'),
    )
    op.create_index(op.f('ix_signal_states_patient_id'), 'signal_states', ['patient_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_signal_states_patient_id'), table_name='signal_states')
    op.drop_table('signal_states')
