"""session safety: monitoring, adverse events, a session's weight

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_OLD_KINDS = "kind IN ('patients', 'sessions', 'assessments')"
_NEW_KINDS = "kind IN ('patients', 'sessions', 'assessments', 'monitoring', 'adverse_events')"
_WEIGHT = "weight_kg IS NULL OR (weight_kg >= 20 AND weight_kg <= 400)"


def _widen_sqlite_check(table: str, old: str, new: str) -> None:
    """Replace a CHECK by a wider one in SQLite's stored schema (the documented procedure for
    loosening a constraint without rebuilding the table: a rebuild would drop a table that
    others refer to, which the enforced foreign keys refuse inside a transaction). Every stored
    row satisfies the wider CHECK."""
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql("UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
                         "WHERE type = 'table' AND name = ?", (old, new, table))
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    stored = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                  "name = ?", (table,)).scalar_one()
    if new not in stored:
        raise RuntimeError(f"could not widen the CHECK of {table}: its stored schema differs "
                           "from revision 0001's")


def _vital(name: str, low: int, high: int) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{name} IS NULL OR ({name} >= {low} AND {name} <= {high})",
                              name=op.f(f'ck_session_monitoring_{name}_range'))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        _widen_sqlite_check('import_batches', _OLD_KINDS, _NEW_KINDS)
        op.execute(f"ALTER TABLE sessions ADD COLUMN weight_kg FLOAT CONSTRAINT "
                   f"ck_sessions_weight CHECK ({_WEIGHT})")
    else:
        op.drop_constraint(op.f('ck_import_batches_kind'), 'import_batches', type_='check')
        op.create_check_constraint(op.f('ck_import_batches_kind'), 'import_batches',
                                   sa.text(_NEW_KINDS))
        op.add_column('sessions', sa.Column('weight_kg', sa.Float(), nullable=True))
        op.create_check_constraint(op.f('ck_sessions_weight'), 'sessions', sa.text(_WEIGHT))
    op.create_table(
        'session_monitoring',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('point', sa.String(length=10), nullable=False),
        sa.Column('minutes_after_dose', sa.Float(), nullable=False),
        sa.Column('systolic', sa.Float(), nullable=True),
        sa.Column('diastolic', sa.Float(), nullable=True),
        sa.Column('heart_rate', sa.Float(), nullable=True),
        sa.Column('spo2', sa.Float(), nullable=True),
        sa.Column('sedation_moaas', sa.SmallInteger(), nullable=True),
        sa.Column('dissociation', sa.Float(), nullable=True),
        sa.Column('dissociation_scale', sa.String(length=8), nullable=True),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("point IN ('pre', 'post', 'discharge')",
                           name=op.f('ck_session_monitoring_point')),
        sa.CheckConstraint("minutes_after_dose >= -1440 AND minutes_after_dose <= 1440 AND "
                           "((point = 'pre' AND minutes_after_dose <= 0) OR (point <> 'pre' "
                           "AND minutes_after_dose > 0))",
                           name=op.f('ck_session_monitoring_minutes')),
        _vital('systolic', 40, 300), _vital('diastolic', 20, 200),
        _vital('heart_rate', 20, 250), _vital('spo2', 50, 100),
        _vital('sedation_moaas', 0, 5),
        sa.CheckConstraint("systolic IS NULL OR diastolic IS NULL OR systolic > diastolic",
                           name=op.f('ck_session_monitoring_bp_order')),
        sa.CheckConstraint("dissociation_scale IS NULL OR dissociation_scale IN ('CADSS', "
                           "'0-10')", name=op.f('ck_session_monitoring_scale')),
        sa.CheckConstraint("dissociation IS NULL OR (dissociation >= 0 AND ((dissociation_scale "
                           "= 'CADSS' AND dissociation <= 92) OR (dissociation_scale = '0-10' "
                           "AND dissociation <= 10)))",
                           name=op.f('ck_session_monitoring_dissociation_range')),
        sa.ForeignKeyConstraint(['import_id'], ['import_batches.id'],
                                name=op.f('fk_session_monitoring_import_id_import_batches')),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'],
                                name=op.f('fk_session_monitoring_session_id_sessions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_session_monitoring')),
        sa.UniqueConstraint('session_id', 'point', 'minutes_after_dose',
                            name='uq_session_monitoring_natural_key'),
    )
    op.create_index(op.f('ix_session_monitoring_session_id'), 'session_monitoring',
                    ['session_id'], unique=False)
    op.create_table(
        'adverse_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('serious', sa.Boolean(), nullable=False),
        sa.Column('resolved_before_discharge', sa.Boolean(), nullable=True),
        sa.Column('import_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("event IN ('nausea', 'vomiting', 'dizziness', 'headache', "
                           "'elevated_blood_pressure', 'anxiety_agitation', "
                           "'excessive_sedation', 'other')",
                           name=op.f('ck_adverse_events_event')),
        sa.CheckConstraint("severity IN ('mild', 'moderate', 'severe')",
                           name=op.f('ck_adverse_events_severity')),
        sa.ForeignKeyConstraint(['import_id'], ['import_batches.id'],
                                name=op.f('fk_adverse_events_import_id_import_batches')),
        sa.ForeignKeyConstraint(['session_id'], ['sessions.id'],
                                name=op.f('fk_adverse_events_session_id_sessions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_events')),
        sa.UniqueConstraint('session_id', 'event', name='uq_adverse_events_natural_key'),
    )
    op.create_index(op.f('ix_adverse_events_session_id'), 'adverse_events', ['session_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_adverse_events_session_id'), table_name='adverse_events')
    op.drop_table('adverse_events')
    op.drop_index(op.f('ix_session_monitoring_session_id'), table_name='session_monitoring')
    op.drop_table('session_monitoring')
    with op.batch_alter_table('sessions') as batch_op:
        batch_op.drop_column('weight_kg')
