"""derived tables: each patient's courses, outcomes with bin means, latest contact

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 15:30:00

Filled by every import for the patients it touched and by ``kap-outcomes derive`` (which
``kap-outcomes init`` runs after this revision on a database holding data).
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_COURSES = [
    ('course_number', sa.Integer()),
    ('route', sa.String(length=64)),
    ('clinician_id', sa.String(length=64)),
    ('first_dose_at', sa.DateTime()),
    ('induction_doses', sa.Integer()),
    ('booster_count', sa.Integer()),
    ('course_type', sa.String(length=64)),
    ('start_month', sa.String(length=64)),
    ('dose_band', sa.String(length=64)),
    ('clinic_id', sa.String(length=64)),
    ('indication', sa.String(length=64)),
]
_OUTCOMES = [
    ('baseline_total', sa.Float()),
    ('baseline_day', sa.Float()),
    ('first_dose_at', sa.DateTime()),
    ('induction_doses', sa.Integer()),
    ('induction_end_day', sa.Float()),
    ('rapid_response', sa.Boolean()),
    ('early_pct_change', sa.Float()),
    ('days_to_response', sa.Float()),
    ('response_censored', sa.Boolean()),
    ('endpoint_total', sa.Float()),
    ('endpoint_day', sa.Float()),
    ('endpoint_pct_change', sa.Float()),
    ('endpoint_response', sa.Boolean()),
    ('endpoint_remission', sa.Boolean()),
    ('reliable_improvement', sa.Boolean()),
    ('reliable_deterioration', sa.Boolean()),
    ('clinically_significant_improvement', sa.Boolean()),
    ('first_response_day', sa.Float()),
    ('relapse_day', sa.Float()),
    ('durability_days', sa.Float()),
    ('durability_censored', sa.Boolean()),
    ('booster_count', sa.Integer()),
    ('days_to_first_booster', sa.Float()),
    ('booster_censored', sa.Boolean()),
    *[(f't{i}', sa.Float()) for i in range(16)],   # trajectory bins (at most 16)
    *[(f'w{i}', sa.Float()) for i in range(12)],   # weeks 1-12
]


def _patient() -> sa.Column:
    return sa.Column('patient_id', sa.String(length=64), nullable=False)


def upgrade() -> None:
    op.create_table(
        'derived_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('settings_key', sa.String(length=16), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_derived_state')),
    )
    op.create_table(
        'derived_courses', _patient(),
        sa.Column('course_id', sa.String(length=64), nullable=False),
        *[sa.Column(name, kind, nullable=True) for name, kind in _COURSES],
        sa.ForeignKeyConstraint(['patient_id'], ['patients.patient_id'],
                                name=op.f('fk_derived_courses_patient_id_patients')),
        sa.PrimaryKeyConstraint('patient_id', 'course_id', name=op.f('pk_derived_courses')),
    )
    op.create_table(
        'derived_outcomes', _patient(),
        sa.Column('course_id', sa.String(length=64), nullable=False),
        sa.Column('instrument', sa.String(length=8), nullable=False),
        *[sa.Column(name, kind, nullable=True) for name, kind in _OUTCOMES],
        sa.ForeignKeyConstraint(['patient_id'], ['patients.patient_id'],
                                name=op.f('fk_derived_outcomes_patient_id_patients')),
        sa.PrimaryKeyConstraint('patient_id', 'course_id', 'instrument',
                                name=op.f('pk_derived_outcomes')),
    )
    op.create_table(
        'derived_contacts', _patient(),
        sa.Column('last_contact', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.patient_id'],
                                name=op.f('fk_derived_contacts_patient_id_patients')),
        sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_derived_contacts')),
    )


def downgrade() -> None:
    for table in ('derived_contacts', 'derived_outcomes', 'derived_courses', 'derived_state'):
        op.drop_table(table)
