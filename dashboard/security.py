"""Who may see what: users, roles, password hashing and the access rules (no Streamlit here).

Roles (issue "Access control and audit"):

* ``director`` — every aggregate view and export; patient views for patients of their clinics.
* ``clinician`` — aggregate views; patient views and signals for their own patients only
  (patients whose primary clinician is them).
* ``quality`` — aggregate views and exports only; no patient-level page or data.
* ``admin`` — users, roles, imports and the audit log; no patient-level data.
* ``local`` — the single user of local mode (the app bound to localhost on one's own machine):
  everything.

The rules are enforced where the data are read (:mod:`dashboard.data`), not only by hiding
pages: a clinician who types another patient's id gets nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["ROLES", "User", "LOCAL_USER", "AccessDenied", "hash_password", "verify_password",
           "can_view_patient", "can_see_patient_pages", "can_export", "can_import",
           "can_admin", "can_print_patient_report", "parse_clinics"]

ROLES = ("director", "clinician", "quality", "admin")
_hasher = PasswordHasher()  # argon2id with the library's current defaults


class AccessDenied(PermissionError):
    """The signed-in user may not see this (the message names no patient data)."""


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in user. ``clinics`` scopes a director; ``clinician_id`` identifies a clinician."""

    username: str
    role: str
    clinics: tuple[str, ...] = ()
    clinician_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in (*ROLES, "local"):
            raise ValueError(f"unknown role {self.role!r}; choose from {ROLES}")


#: The user of local mode.
LOCAL_USER = User(username="local", role="local")


def parse_clinics(stored: str | None) -> tuple[str, ...]:
    """A director's clinics as stored: a JSON list (a clinic id may contain a comma); older
    rows held a comma-separated string.

    >>> parse_clinics('["north", "a,b"]'), parse_clinics("north,coast"), parse_clinics(None)
    (('north', 'a,b'), ('north', 'coast'), ())
    """
    if not stored:
        return ()
    if stored.startswith("["):
        try:
            values = json.loads(stored)
            return tuple(str(v) for v in values if str(v))
        except ValueError:
            pass
    return tuple(c for c in stored.split(",") if c)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the hash string carries its parameters)."""
    if len(password) < 10:
        raise ValueError("passwords need at least 10 characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (constant-time inside argon2)."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def can_see_patient_pages(user: User) -> bool:
    """Patient trajectory and signals pages."""
    return user.role in ("local", "director", "clinician")


def can_see_safety(user: User) -> bool:
    """The Safety page (aggregates; its serious-event list names patients only for roles with
    patient pages)."""
    return user.role in ("local", "director", "clinician", "quality")


def can_print_patient_report(user: User) -> bool:
    """The progress report handed to a patient: their clinician (or the single local user);
    the patient check itself is :func:`can_view_patient`, which limits a clinician to their
    own patients."""
    return user.role in ("local", "clinician")


def can_view_patient(user: User, *, clinic_id: str | None, clinician_id: str | None) -> bool:
    """Whether ``user`` may see one patient whose clinic and primary clinician are given."""
    if user.role == "local":
        return True
    if user.role == "director":
        return clinic_id is not None and clinic_id in user.clinics
    if user.role == "clinician":
        return user.clinician_id is not None and clinician_id == user.clinician_id
    return False


def can_export(user: User) -> bool:
    """Charts, tables and reports for sharing."""
    return user.role in ("local", "director", "quality")


def can_import(user: User) -> bool:
    """The Data page (uploads and imports)."""
    return user.role in ("local", "admin")


def can_admin(user: User) -> bool:
    """Users, roles and the audit log."""
    return user.role in ("local", "admin")
