"""Session state through one module: the filters every page applies, as one typed object."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from dashboard.labels import instrument_name

__all__ = ["Filters", "get_filters", "INSTRUMENT_KEY", "CLINIC_KEY", "ROUTE_KEY",
           "INDICATION_KEY", "CLINICIAN_KEY", "START_KEY", "END_KEY"]

INSTRUMENT_KEY = "filter_instrument"
CLINIC_KEY = "filter_clinics"
CLINICIAN_KEY = "filter_clinicians"
ROUTE_KEY = "filter_routes"
INDICATION_KEY = "filter_indications"
START_KEY = "filter_start"
END_KEY = "filter_end"


@dataclass(frozen=True, slots=True)
class Filters:
    """What the user narrowed the data to (empty tuples mean "all")."""

    instrument: str = "PHQ9"
    clinics: tuple[str, ...] = ()
    clinicians: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    indications: tuple[str, ...] = ()
    start: dt.date | None = None
    end: dt.date | None = None

    def describe(self) -> str:
        """The filters in words, for captions and export footnotes."""
        parts = [instrument_name(self.instrument)]
        for label, values in (("clinic", self.clinics), ("clinician", self.clinicians),
                              ("route", self.routes), ("indication", self.indications)):
            if values:
                parts.append(f"{label}: {', '.join(values)}")
        if self.start or self.end:
            parts.append(f"courses started {self.start or '…'} to {self.end or '…'}")
        return " · ".join(parts)


def get_filters() -> Filters:
    """The filters in force, read from the sidebar widgets' session-state keys."""
    s = st.session_state
    return Filters(instrument=s.get(INSTRUMENT_KEY, "PHQ9"),
                   clinics=tuple(s.get(CLINIC_KEY, ())), clinicians=tuple(s.get(CLINICIAN_KEY, ())),
                   routes=tuple(s.get(ROUTE_KEY, ())),
                   indications=tuple(s.get(INDICATION_KEY, ())),
                   start=s.get(START_KEY), end=s.get(END_KEY))
