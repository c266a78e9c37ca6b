"""SQLAlchemy 2 models: clinics, clinicians, patients, courses, sessions, assessments, imports, audit.

Constraints live in the database, not only in Python: natural keys are unique, ranges and codes
are CHECKed (per-instrument total and item ranges included), foreign keys are enforced.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from analysis.instruments import INSTRUMENTS
from analysis.schemas import (
    ADVERSE_EVENTS,
    DISSOCIATION_MAX,
    DISSOCIATION_SCALES,
    INDICATIONS,
    MONITORING_POINTS,
    ROUTES,
    SESSION_KINDS,
    SEVERITIES,
    VITAL_RANGES,
)

__all__ = ["Base", "Clinic", "Clinician", "Patient", "Course", "Session", "Assessment", "AppUser",
           "assessments_table", "SignalState", "SIGNAL_STATUSES", "Monitoring", "AdverseEvent",
           "IMPORT_KINDS", "WEIGHT_RANGE_KG", "MINUTES_RANGE",
           "ImportBatch", "AuditEvent", "MAX_ITEMS", "ID_LENGTH", "DerivedState",
           "DerivedBucket", "DERIVED_BUCKETS", "DERIVED_KINDS", "MODELS_KIND"]

MAX_ITEMS = 20
ID_LENGTH = 64
#: What an import may hold (``import_batches.kind``).
IMPORT_KINDS = ("patients", "sessions", "assessments", "monitoring", "adverse_events")
#: A patient's weight as a session records it (kg).
WEIGHT_RANGE_KG = (20, 400)
#: Minutes after the dose a monitoring row may carry (a day either side).
MINUTES_RANGE = (-1440, 1440)

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _instrument_checks() -> list[CheckConstraint]:
    """Totals and items within each instrument's range; items past n_items must be empty."""
    total = " OR ".join(
        f"(instrument = '{c}' AND total >= 0 AND total <= {s.total_max})"
        for c, s in INSTRUMENTS.items())
    checks = [CheckConstraint(f"total IS NULL OR {total}", name="total_range"),
              CheckConstraint(_in("instrument", tuple(INSTRUMENTS)), name="instrument_code")]
    for i in range(1, MAX_ITEMS + 1):
        parts = []
        for c, s in INSTRUMENTS.items():
            if i <= s.n_items:
                parts.append(f"(instrument = '{c}' AND item_{i} >= {s.item_min} "
                             f"AND item_{i} <= {s.item_max})")
        checks.append(CheckConstraint(f"item_{i} IS NULL OR {' OR '.join(parts)}",
                                      name=f"item_{i}_range"))
    return checks


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Clinic(Base):
    __tablename__ = "clinics"
    clinic_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))


class Clinician(Base):
    __tablename__ = "clinicians"
    clinician_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    clinic_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.clinic_id"))


class ImportBatch(Base):
    """One import of one file (provenance): what came in, what was added, skipped, rejected."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime)
    imported_by: Mapped[str | None] = mapped_column(String(200))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_added: Mapped[int] = mapped_column(Integer)
    rows_skipped: Mapped[int] = mapped_column(Integer)
    patients_created: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint(_in("kind", IMPORT_KINDS), name="kind"),
        CheckConstraint("rows_total >= 0 AND rows_added >= 0 AND rows_skipped >= 0", name="counts"),
    )


class Patient(Base):
    """A patient, known to the clinic by ``source_id`` (the id in the clinic's files): the
    natural key is clinic + source id, so two clinics may use the same id for two people.

    ``patient_id`` is the key every other table refers to and the id the dashboard shows: the
    source id itself when no other clinic's patient had it first, else ``source@clinic``
    (shortened with a hash past 64 characters). It never changes once given. See
    :func:`dashboard.importers.patient_keys.patient_key`.
    """

    __tablename__ = "patients"
    patient_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.clinic_id"), index=True)
    clinician_id: Mapped[str | None] = mapped_column(ForeignKey("clinicians.clinician_id"))
    indication: Mapped[str | None] = mapped_column(String(20))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(20))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    __table_args__ = (
        # a unique index (not a constraint): what SQLite can add to an existing table
        Index("uq_patients_clinic_source", "clinic_id", "source_id", unique=True),
        CheckConstraint(f"indication IS NULL OR {_in('indication', INDICATIONS)}",
                        name="indication"),
        CheckConstraint("birth_year IS NULL OR (birth_year >= 1900 AND birth_year <= 2100)",
                        name="birth_year"),
    )


class Course(Base):
    """A course id as the clinic gave it (courses without one are inferred by the analysis)."""

    __tablename__ = "courses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    course_key: Mapped[str] = mapped_column(String(ID_LENGTH))
    __table_args__ = (UniqueConstraint("patient_id", "course_key", name="uq_courses_patient_course"),)


class Session(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # no index of its own: the natural key (patient_id first) serves lookups by patient
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"))
    session_at: Mapped[dt.datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(20))
    route: Mapped[str | None] = mapped_column(String(4))
    dose_mg: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    clinician_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    __table_args__ = (
        UniqueConstraint("patient_id", "session_at", "kind", name="uq_sessions_natural_key"),
        CheckConstraint(_in("kind", SESSION_KINDS), name="kind"),
        CheckConstraint(f"route IS NULL OR {_in('route', ROUTES)}", name="route"),
        CheckConstraint("dose_mg IS NULL OR dose_mg >= 0", name="dose"),
        CheckConstraint(f"weight_kg IS NULL OR (weight_kg >= {WEIGHT_RANGE_KG[0]} AND "
                        f"weight_kg <= {WEIGHT_RANGE_KG[1]})", name="weight"),
    )


def _range(column: str, low: float, high: float) -> str:
    return f"{column} IS NULL OR ({column} >= {low} AND {column} <= {high})"


class Monitoring(Base):
    """One measurement of a dosing session: blood pressure, heart rate, SpO2, sedation
    (MOAA/S), dissociation (with its scale), before the dose, after it or at discharge."""

    __tablename__ = "session_monitoring"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    point: Mapped[str] = mapped_column(String(10))
    minutes_after_dose: Mapped[float] = mapped_column(Float)
    systolic: Mapped[float | None] = mapped_column(Float)
    diastolic: Mapped[float | None] = mapped_column(Float)
    heart_rate: Mapped[float | None] = mapped_column(Float)
    spo2: Mapped[float | None] = mapped_column(Float)
    sedation_moaas: Mapped[int | None] = mapped_column(SmallInteger)
    dissociation: Mapped[float | None] = mapped_column(Float)
    dissociation_scale: Mapped[str | None] = mapped_column(String(8))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    __table_args__ = (
        UniqueConstraint("session_id", "point", "minutes_after_dose",
                         name="uq_session_monitoring_natural_key"),
        CheckConstraint(_in("point", MONITORING_POINTS), name="point"),
        CheckConstraint(f"minutes_after_dose >= {MINUTES_RANGE[0]} AND minutes_after_dose <= "
                        f"{MINUTES_RANGE[1]} AND ((point = 'pre' AND minutes_after_dose <= 0) "
                        "OR (point <> 'pre' AND minutes_after_dose > 0))", name="minutes"),
        *[CheckConstraint(_range(c, lo, hi), name=f"{c}_range")
          for c, (lo, hi) in VITAL_RANGES.items()],
        CheckConstraint("systolic IS NULL OR diastolic IS NULL OR systolic > diastolic",
                        name="bp_order"),
        CheckConstraint(f"dissociation_scale IS NULL OR "
                        f"{_in('dissociation_scale', DISSOCIATION_SCALES)}", name="scale"),
        CheckConstraint("dissociation IS NULL OR (dissociation >= 0 AND ("
                        + " OR ".join(f"(dissociation_scale = '{k}' AND dissociation <= {v})"
                                      for k, v in DISSOCIATION_MAX.items()) + "))",
                        name="dissociation_range"),
    )


class AdverseEvent(Base):
    """One adverse event of a dosing session, as the clinic recorded it."""

    __tablename__ = "adverse_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    event: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    serious: Mapped[bool] = mapped_column(Boolean)
    resolved_before_discharge: Mapped[bool | None] = mapped_column(Boolean)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    __table_args__ = (
        UniqueConstraint("session_id", "event", name="uq_adverse_events_natural_key"),
        CheckConstraint(_in("event", ADVERSE_EVENTS), name="event"),
        CheckConstraint(_in("severity", SEVERITIES), name="severity"),
    )


assessments_table = Table(
    "assessments", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # no index of its own: the natural key (patient_id first) serves lookups by patient
    Column("patient_id", ForeignKey("patients.patient_id"), nullable=False),
    Column("instrument", String(8), nullable=False),
    Column("administered_at", DateTime, nullable=False),
    Column("total", Float),
    Column("prorated", Boolean, nullable=False, default=False),
    Column("import_id", ForeignKey("import_batches.id")),
    *[Column(f"item_{i}", SmallInteger) for i in range(1, MAX_ITEMS + 1)],
    UniqueConstraint("patient_id", "instrument", "administered_at", name="uq_assessments_natural_key"),
    *_instrument_checks(),
)


class Assessment(Base):
    """One administered questionnaire: total (may be prorated) and items ``item_1 … item_20``."""

    __table__ = assessments_table


class AppUser(Base):
    """A local account (clinic mode without an identity provider) or an OIDC user's role.

    ``username`` is the login name or, for OIDC, the e-mail the provider returns. The password
    hash is argon2id (NULL for OIDC-only users). ``clinics`` is a comma-separated list of clinic
    ids scoping a director.
    """

    __tablename__ = "app_users"
    username: Mapped[str] = mapped_column(String(200), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    clinics: Mapped[str | None] = mapped_column(String(500))
    clinician_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (
        CheckConstraint("role IN ('director', 'clinician', 'quality', 'admin')", name="role"),
    )


class AuditEvent(Base):
    """Who viewed which patient, who imported or exported what, and when (no scores, no PHI)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    target_kind: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)


#: Workflow states of a signal.
SIGNAL_STATUSES = ("open", "acknowledged", "snoozed", "resolved")


class SignalState(Base):
    """What a clinician did with one signal: acknowledged, assigned, snoozed or resolved.

    A signal is identified by its patient, kind, instrument and the score that raised it
    (``score_at``): a resolved signal comes back only when a newer score raises it again.
    """

    __tablename__ = "signal_states"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.patient_id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    instrument: Mapped[str] = mapped_column(String(8))
    score_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20))
    assigned_to: Mapped[str | None] = mapped_column(String(200))
    snooze_until: Mapped[dt.date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "instrument", "score_at",
                         name="uq_signal_states_signal"),
        CheckConstraint("status IN ('open', 'acknowledged', 'snoozed', 'resolved')",
                        name="status"),
    )


# --- derived results: what each patient's records imply (analysis.derive), kept up to date in
# every import's own transaction for the patients it touched, under one settings key ---------

#: Patients are spread over this many buckets (by a hash of their key); a bucket's derived rows
#: of one kind are stored together, column by column (Parquet), so an import rewrites only the
#: buckets of the patients it touched and a reader loads a network's outcomes in a fraction of
#: a second (a row-by-row read of 263k outcomes took 4.5 s on SQLite).
DERIVED_BUCKETS = 64
#: The kinds of derived frames (:class:`analysis.derive.Derived` attributes).
DERIVED_KINDS = ("courses", "outcomes", "contacts", "completeness", "sessions", "standing",
                 "signals", "candidates", "induction", "safety")
#: The clinic's expected-course models (fitted on every patient's induction scores, so not per
#: patient): stored as bucket 0 of this kind, refitted by every import that derives patients.
MODELS_KIND = "models"


class DerivedState(Base):
    """Under which settings the derived results were made (one row, ``id`` 1): results made
    under other settings are never read; a rebuild (``kap-outcomes derive``) makes them anew."""

    __tablename__ = "derived_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    settings_key: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class DerivedBucket(Base):
    """The derived rows of one kind (:data:`DERIVED_KINDS`) of the patients of one bucket, as
    a Parquet file (columns keep their types; no schema to migrate when an outcome is
    added)."""

    __tablename__ = "derived_buckets"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_rows: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (
        CheckConstraint(_in("kind", (*DERIVED_KINDS, MODELS_KIND)), name="kind"),
        CheckConstraint(f"bucket >= 0 AND bucket < {DERIVED_BUCKETS}", name="bucket"),
    )
