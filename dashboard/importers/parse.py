"""Turning a file's text cells into typed records, with every bad cell reported.

Rules (``data-formats.md``): headers matched case-insensitively ignoring spaces, dashes and
underscores; instrument aliases (``PHQ-9``, ``phq 9``…); ISO 8601 dates, with or without time and
offset (an offset is dropped: times are the clinic's wall-clock time); slash dates only with an
explicit ``dayfirst``/``monthfirst`` choice, never guessed. Each problem is a :class:`RowIssue`
with the file line, the column and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analysis.exceptions import UnknownInstrumentError
from analysis.instruments import INSTRUMENTS, normalize_instrument
from analysis.schemas import DISSOCIATION_MAX, VITAL_RANGES
from analysis.scoring import find_score_problems, score_items
from dashboard.db.models import ID_LENGTH, MAX_ITEMS, MINUTES_RANGE, WEIGHT_RANGE_KG
from dashboard.db.repository import NATURAL_KEYS
from dashboard.importers.limits import ASCII_NUMBER, limits, printable_problem
from dashboard.importers.reading import FileError, RawFile, normalize_header

__all__ = ["RowIssue", "Parsed", "parse", "detect_kind", "Kind", "DateOrder"]

Kind = Literal["patients", "sessions", "assessments", "monitoring", "adverse_events"]
DateOrder = Literal["iso", "dayfirst", "monthfirst"]

_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "patients": {
        "patient_id": ("patientid", "patient", "pid", "clientid", "subjectid"),
        "clinic_id": ("clinicid", "clinic", "site", "siteid", "location"),
        "clinician_id": ("clinicianid", "clinician", "provider", "providerid", "therapist"),
        "indication": ("indication", "diagnosis", "dx", "primaryindication"),
        "birth_year": ("birthyear", "yearofbirth", "yob"),
        "sex": ("sex", "gender"),
    },
    "sessions": {
        "patient_id": ("patientid", "patient", "pid", "clientid", "subjectid"),
        "session_at": ("sessionat", "sessiondate", "sessiondatetime", "date", "datetime",
                       "visitdate", "start", "startedat"),
        "kind": ("kind", "sessionkind", "sessiontype", "type", "visittype"),
        "route": ("route", "administrationroute"),
        "dose_mg": ("dosemg", "dose", "dosemilligrams"),
        "course_id": ("courseid", "course", "series", "episode"),
        "clinician_id": ("clinicianid", "clinician", "provider", "providerid", "therapist"),
        "clinic_id": ("clinicid", "clinic", "site", "siteid", "location"),
        "weight_kg": ("weightkg", "weight", "bodyweight", "bodyweightkg"),
    },
    "monitoring": {
        "patient_id": ("patientid", "patient", "pid", "clientid", "subjectid"),
        "session_at": ("sessionat", "sessiondate", "sessiondatetime", "dosedat", "doseat"),
        "point": ("point", "timepoint", "phase", "when"),
        "minutes_after_dose": ("minutesafterdose", "minutes", "minutesfromdose", "minute",
                               "minutespostdose"),
        "systolic": ("systolic", "sbp", "systolicbp", "systolicmmhg"),
        "diastolic": ("diastolic", "dbp", "diastolicbp", "diastolicmmhg"),
        "heart_rate": ("heartrate", "hr", "pulse", "heartratebpm"),
        "spo2": ("spo2", "oxygensaturation", "sao2", "pulseox"),
        "sedation_moaas": ("sedationmoaas", "moaas", "moaa/s", "sedation"),
        "dissociation": ("dissociation", "cadss", "dissociationscore"),
        "dissociation_scale": ("dissociationscale", "scale"),
        "clinic_id": ("clinicid", "clinic", "site", "siteid", "location"),
    },
    "adverse_events": {
        "patient_id": ("patientid", "patient", "pid", "clientid", "subjectid"),
        "session_at": ("sessionat", "sessiondate", "sessiondatetime", "dosedat", "doseat"),
        "event": ("event", "adverseevent", "ae", "eventtype"),
        "severity": ("severity", "grade"),
        "serious": ("serious", "sae", "isserious"),
        "resolved_before_discharge": ("resolvedbeforedischarge", "resolved",
                                      "resolvedatdischarge"),
        "clinic_id": ("clinicid", "clinic", "site", "siteid", "location"),
    },
    "assessments": {
        "patient_id": ("patientid", "patient", "pid", "clientid", "subjectid"),
        "clinic_id": ("clinicid", "clinic", "site", "siteid", "location"),
        "instrument": ("instrument", "measure", "questionnaire", "scale"),
        "administered_at": ("administeredat", "date", "datetime", "completedat", "completed",
                            "assessedat", "visitdate", "submittedat"),
        "total": ("total", "score", "totalscore"),
        **{f"item_{i}": (f"item{i}", f"q{i}", f"question{i}") for i in range(1, MAX_ITEMS + 1)},
    },
}
_WIDE = {code: (code.lower() + "total", code.lower(), code.lower() + "score")
         for code in INSTRUMENTS}

_KINDS = {"dosing": "dosing", "infusion": "dosing", "ketamine": "dosing", "dose": "dosing",
          "dosingsession": "dosing", "booster": "booster", "boosterinfusion": "booster",
          "integration": "integration", "integrationsession": "integration",
          "preparation": "preparation", "prep": "preparation", "intake": "preparation"}
_ROUTES = {"iv": "IV", "intravenous": "IV", "im": "IM", "intramuscular": "IM", "in": "IN",
           "intranasal": "IN", "nasal": "IN", "esketamine": "IN", "spravato": "IN", "sl": "SL",
           "sublingual": "SL", "lozenge": "SL", "troche": "SL", "rdt": "SL", "po": "PO",
           "oral": "PO"}
_INDICATIONS = {"trd": "TRD", "treatmentresistantdepression": "TRD", "mdd": "MDD",
                "depression": "MDD", "majordepressivedisorder": "MDD", "gad": "GAD",
                "anxiety": "GAD", "generalizedanxietydisorder": "GAD",
                "generalisedanxietydisorder": "GAD", "ptsd": "PTSD",
                "posttraumaticstressdisorder": "PTSD", "sud": "SUD",
                "substanceusedisorder": "SUD", "aud": "SUD", "ocd": "OCD",
                "obsessivecompulsivedisorder": "OCD"}

_ISO_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?))?"
                     r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$", re.ASCII)
_SLASH_RE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?$")
_POINTS = {"pre": "pre", "predose": "pre", "before": "pre", "baseline": "pre",
           "post": "post", "postdose": "post", "after": "post", "during": "post",
           "peak": "post", "discharge": "discharge", "readyfordischarge": "discharge",
           "ready": "discharge", "end": "discharge"}
_SCALES = {"cadss": "CADSS", "010": "0-10", "nrs": "0-10", "0to10": "0-10", "rating": "0-10"}
_EVENTS = {"nausea": "nausea", "vomiting": "vomiting", "emesis": "vomiting",
           "dizziness": "dizziness", "dizzy": "dizziness", "vertigo": "dizziness",
           "headache": "headache", "elevatedbloodpressure": "elevated_blood_pressure",
           "hypertension": "elevated_blood_pressure",
           "highbloodpressure": "elevated_blood_pressure",
           "anxietyagitation": "anxiety_agitation", "anxiety": "anxiety_agitation",
           "agitation": "anxiety_agitation", "excessivesedation": "excessive_sedation",
           "oversedation": "excessive_sedation", "other": "other"}
_YES = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False,
        "false": False, "0": False}
_NOT_NUMBER_CHAR = re.compile(r"[^0-9+\-.,eE \t\n]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, order=True)
class RowIssue:
    """A rejected cell: file line, column and reason."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        if self.column.startswith(("entry ", "line ")):  # FHIR: the resource names itself
            return f"{self.column}: {self.reason}"
        return f"line {self.line}, {self.column}: {self.reason}"


@dataclass
class Parsed:
    """Typed records of one file plus everything wrong with it.

    ``records`` carries a ``line`` column (file line of each row). ``duplicates`` counts rows
    repeated identically inside the file (kept once).
    """

    kind: Kind
    records: pd.DataFrame
    issues: list[RowIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows_total: int = 0
    duplicates: int = 0


def _keys(raw: RawFile) -> dict[str, str]:
    return {normalize_header(c): c for c in raw.frame.columns if normalize_header(c)}


def detect_kind(raw: RawFile) -> Kind:
    """Guess what a file holds from its headers."""
    keys = set(_keys(raw))
    if keys & {"point", "timepoint", "minutesafterdose", "systolic", "sbp", "moaas",
               "sedationmoaas", "spo2"}:
        return "monitoring"
    if keys & {"event", "adverseevent", "severity", "serious"}:
        return "adverse_events"
    if "instrument" in keys or "measure" in keys or "questionnaire" in keys or \
            any(k in keys for names in _WIDE.values() for k in names):
        return "assessments"
    if keys & {"kind", "sessiontype", "route", "sessionat", "sessiondate", "dosemg", "visittype"}:
        return "sessions"
    return "patients"


def _columns(raw: RawFile, kind: Kind) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> original header, and the headers that matched nothing."""
    keys = _keys(raw)
    found: dict[str, str] = {}
    used = set()
    for canonical, aliases in _ALIASES[kind].items():
        for alias in aliases:
            if alias in keys:
                if canonical in found:
                    raise FileError(f"columns {found[canonical]!r} and {keys[alias]!r} both "
                                    f"mean {canonical}; keep one")
                found[canonical] = keys[alias]
                used.add(alias)
    unused = [orig for key, orig in keys.items() if key not in used]
    return found, unused


def _text(raw: RawFile, column: str | None, *, strip: bool = True) -> pd.Series:
    if column is None:
        return pd.Series([""] * len(raw.frame), dtype=object)
    values = raw.frame[column].astype(str)
    return values.str.strip() if strip else values


class _Issues:
    def __init__(self, raw: RawFile):
        self.lines = np.asarray(raw.lines)
        self.items: list[RowIssue] = []

    def add(self, mask: np.ndarray | pd.Series, column: str, reason: object) -> None:
        """Report ``column`` on every masked row; ``reason`` is a string or ``f(position)``."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        for i in np.nonzero(mask)[0]:
            text = reason(int(i)) if callable(reason) else reason
            self.items.append(RowIssue(int(self.lines[i]), column, str(text)))


def _ids(values: pd.Series, issues: _Issues, column: str, *, required: bool) -> pd.Series:
    empty = values == ""
    if required:
        issues.add(empty, column, "missing")
    issues.add(values.str.len() > ID_LENGTH, column, f"longer than {ID_LENGTH} characters")
    control = values.str.contains(_CONTROL_RE).to_numpy(dtype=bool)
    issues.add(control, column, "contains control characters")
    issues.add(printable_problem(values) & ~control, column,
               "contains invisible or non-printing characters (zero-width, right-to-left "
               "marks, line separators): ids must be plain printable text")
    return values.where(~empty, None)


def parse_datetimes(values: pd.Series, order: DateOrder) -> tuple[pd.Series, list[str | None]]:
    """Naive timestamps and a reason (or None) per value; blank gives NaT with reason "missing"."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    reasons: list[str | None] = [None] * len(values)
    # years no clinic record can have are answered before any parsing: pandas 3 reads year 1
    # or 9999 (non-nanosecond) and then cannot store them (OutOfBoundsDatetime)
    lead = values.str[:4]
    year = pd.to_numeric(lead.where(lead.str.isdigit().fillna(False).astype(bool)),
                         errors="coerce")
    far = ((year < 1900) | (year > 2200)).fillna(False).to_numpy(dtype=bool)
    if far.any():
        vals = values.to_numpy()
        for i in np.nonzero(far)[0]:
            reasons[i] = f"{vals[i]!r} is far outside any plausible date (year {vals[i][:4]})"
        keep = ~far
        sub, sub_reasons = parse_datetimes(values[keep], order)
        out[keep] = sub.to_numpy()
        for pos, r in zip(np.nonzero(keep)[0], sub_reasons, strict=True):
            reasons[pos] = r
        return out, reasons
    # fast path: plain ISO dates / date-times without offset, checked by shape, in C
    lengths = values.str.len().to_numpy()
    plain = np.isin(lengths, (10, 16, 19)) & values.str[4:5].eq("-").to_numpy() & \
        values.str[7:8].eq("-").to_numpy()
    # a time must look like T10:00 or T10:00:00 (an offset such as "+05" makes 19 characters
    # too: those go to the careful path, which drops the offset)
    timed = lengths > 10
    plain &= ~timed | (values.str[10:11].isin(["T", " "]).to_numpy()
                       & values.str[13:14].eq(":").to_numpy())
    plain &= (lengths != 19) | values.str[16:17].eq(":").to_numpy()
    if plain.any():
        fast = pd.to_datetime(values[plain].str.replace("T", " ", regex=False),
                              format="ISO8601", errors="coerce")
        if fast.dtype == "datetime64[ns]" or str(fast.dtype).startswith("datetime64"):
            out[plain] = fast.astype("datetime64[ns]")
    rest = ~out.notna().to_numpy()
    if not rest.any():
        return out, reasons
    sub_out, sub_reasons = _parse_datetimes_slow(values[rest], order)
    out[rest] = sub_out.to_numpy()
    for pos, r in zip(np.nonzero(rest)[0], sub_reasons, strict=True):
        reasons[pos] = r
    return out, reasons


def _parse_datetimes_slow(values: pd.Series, order: DateOrder
                          ) -> tuple[pd.Series, list[str | None]]:
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    reasons: list[str | None] = [None] * len(values)
    iso = values.str.extract(_ISO_RE)
    is_iso = iso[0].notna().to_numpy()
    if is_iso.any():
        clock = iso.loc[is_iso, 1].fillna("00:00")
        clock = clock.where(clock.str.len() != 2, clock + ":00")  # "T10" is 10:00
        text = iso.loc[is_iso, 0] + " " + clock
        out[is_iso] = pd.to_datetime(text, format="mixed", errors="coerce")
    slash = values.str.extract(_SLASH_RE)
    is_slash = slash[0].notna().to_numpy()
    if is_slash.any() and order != "iso":
        day, month = (slash[0], slash[1]) if order == "dayfirst" else (slash[1], slash[0])
        text = (slash[2] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + " "
                + slash[3].fillna("00:00"))
        out[is_slash] = pd.to_datetime(text[is_slash], format="mixed", errors="coerce")
    vals = values.to_numpy()
    parsed = out.notna().to_numpy()
    for i in np.nonzero(~parsed)[0]:
        v = vals[i]
        if v == "":
            reasons[i] = "missing"
        elif is_slash[i] and order == "iso":
            reasons[i] = (f"{v!r} is a slash date: say whether it is day-first or month-first "
                          "(--dayfirst / --monthfirst); it is never guessed")
        elif is_iso[i] and not 1900 <= int(v[:4]) <= 2200:
            reasons[i] = f"{v!r} is far outside any plausible date (year {v[:4]})"
        elif is_iso[i] or is_slash[i]:
            reasons[i] = f"{v!r} is not a real date"
        else:
            reasons[i] = f"{v!r} is not a date (expected ISO 8601, e.g. 2025-03-14 or 2025-03-14T09:30)"
    return out, reasons


def _numbers(values: pd.Series, issues: _Issues, column: str) -> pd.Series:
    """Floats of a text column: blank is missing; a decimal comma is accepted; bad is reported."""
    arr = values.to_numpy(dtype=object)
    blank = arr == ""
    if blank.all():
        return pd.Series(np.nan, index=values.index)
    try:  # fast path: every filled cell is a plain number (C-level float conversion)
        parsed = np.full(arr.size, np.nan)
        parsed[~blank] = arr[~blank].astype(float)
        num = pd.Series(parsed, index=values.index)
    except (ValueError, TypeError):
        num = pd.to_numeric(values, errors="coerce")  # accepts surrounding white space
    failed = num.isna().to_numpy() & (values.to_numpy() != "")
    if failed.any():
        sub = values[failed].str.strip()
        retry = pd.to_numeric(sub.str.replace(",", ".", regex=False), errors="coerce")
        num[failed] = retry.to_numpy()
        failed[failed] = (sub != "").to_numpy() & retry.isna().to_numpy()
    bad = failed | ~np.isfinite(num.fillna(0).to_numpy())
    # float() also reads "1_5", other scripts' digits and full-width digits: plain ASCII only
    filled = ~blank & ~bad
    odd = np.zeros(len(values), dtype=bool)
    if filled.any():
        cells = values.to_numpy(dtype=object)[filled]
        # one C-level scan of the whole column: every cell float() read that holds only these
        # characters is a plain number; only otherwise is each cell matched on its own
        if _NOT_NUMBER_CHAR.search("\n".join(cells)):
            odd[filled] = ~values[filled].str.match(ASCII_NUMBER).to_numpy(dtype=bool)
    vals = values.to_numpy()
    cap = limits().max_cell_shown
    issues.add(bad, column, lambda i: f"{_shown(vals[i].strip(), cap)} is not a number")
    issues.add(odd, column, lambda i: f"{_shown(vals[i].strip(), cap)} is not a plain number "
               "(ASCII digits 0-9, no separators)")
    bad |= odd
    return num.where(~bad).astype(float)


def _shown(value: str, cap: int) -> str:
    """A bad cell as quoted in a message, cut to ``cap`` characters."""
    return repr(value if len(value) <= cap else value[:cap] + "…")


def _dates(raw: RawFile, col: str | None, issues: _Issues, name: str,
           order: DateOrder) -> pd.Series:
    values, reasons = parse_datetimes(_text(raw, col), order)
    issues.add(np.array([r is not None for r in reasons]), name, reasons.__getitem__)
    return plausible_dates(values, issues, name)


def plausible_dates(values: pd.Series, issues: _Issues, name: str) -> pd.Series:
    """Dates outside the plausible window (``limits``: from 2000 to tomorrow) are errors."""
    lim = limits()
    latest = pd.Timestamp.now() + pd.Timedelta(days=lim.future_days)
    early = (values < lim.earliest).to_numpy()
    late = (values > latest).to_numpy()
    issues.add(early, name, lambda i: f"{values.iloc[i]:%Y-%m-%d} is before "
               f"{lim.earliest:%Y-%m-%d} (KAP_OUTCOMES_EARLIEST_DATE): a typo?")
    issues.add(late, name, lambda i: f"{values.iloc[i]:%Y-%m-%d} is in the future")
    return values.where(~(early | late))


def parse(raw: RawFile, *, kind: Kind | None = None, date_order: DateOrder = "iso",
          max_missing_items: int = 0) -> Parsed:
    """Typed records and every problem of a file (nothing is written anywhere).

    Raises
    ------
    FileError
        When a required column is missing or the headers are contradictory.
    """
    detected = kind is None
    kind = kind or detect_kind(raw)
    if kind == "assessments" and any(normalize_header(c) in {k for names in _WIDE.values()
                                                             for k in names}
                                     for c in raw.frame.columns):
        return _parse_wide(raw, date_order, max_missing_items)
    cols, unused = _columns(raw, kind)
    required = {"patients": ("patient_id",), "sessions": ("patient_id", "session_at", "kind"),
                "assessments": ("patient_id", "instrument", "administered_at"),
                "monitoring": ("patient_id", "session_at", "point"),
                "adverse_events": ("patient_id", "session_at", "event", "severity",
                                   "serious")}[kind]
    missing = [c for c in required if c not in cols]
    if missing:
        found = ", ".join(repr(str(c))[:40] for c in list(raw.frame.columns)[:12])
        if detected and not any(c in cols for c in ("patient_id",)):
            raise FileError(
                f"cannot tell what this file holds from its columns ({found}). A patients file "
                "needs patient_id (optional clinic_id, clinician_id, indication, birth_year, "
                "sex); a sessions file needs patient_id, session_at and kind (optional route, "
                "dose_mg, course_id, clinician_id); an assessments file needs patient_id, "
                "instrument, administered_at and a total or item_1 … item_n (or the wide form "
                "phq9_total …). Choose the kind if the headers are unusual.")
        raise FileError(f"a {kind} file needs the column(s) {', '.join(missing)}; "
                        f"its columns are {found}")
    if kind == "assessments" and "total" not in cols and not any(
            c.startswith("item_") for c in cols):
        raise FileError("an assessments file needs a total column or item columns")
    issues = _Issues(raw)
    parser = {"patients": _patients, "sessions": _sessions, "assessments": _assessments,
              "monitoring": _monitoring, "adverse_events": _adverse_events}[kind]
    records = parser(raw, cols, issues, date_order, max_missing_items)
    warnings = [f"column {c!r} is not used" for c in unused]
    return _finish(kind, raw, records, issues, warnings)


def _finish(kind: Kind, raw: RawFile, records: pd.DataFrame, issues: _Issues,
            warnings: list[str]) -> Parsed:
    records["line"] = np.asarray(raw.lines)[records.pop("_pos").to_numpy()] \
        if "_pos" in records else raw.lines
    parsed = Parsed(kind=kind, records=records, issues=sorted(issues.items), warnings=warnings,
                    rows_total=len(raw.frame))
    _within_file_duplicates(parsed)
    return parsed


def _within_file_duplicates(parsed: Parsed) -> None:
    """Identical repeats are kept once; repeats that disagree are errors."""
    rec = parsed.records
    key = list(NATURAL_KEYS[parsed.kind])
    if rec.empty:
        return
    if "clinic_id" in rec.columns:
        key = ["clinic_id", *key]  # one id may name a patient of each clinic
    dup = rec.duplicated(key, keep=False)
    if not dup.any():
        return
    values = [c for c in rec.columns if c != "line"]
    exact = rec.duplicated(values, keep="first")
    first_line = rec[dup].groupby(key, dropna=False)["line"].transform("min")
    clash = dup & ~rec.duplicated(values, keep=False)
    for pos in np.nonzero(clash.to_numpy())[0]:
        line = int(rec["line"].iloc[pos])
        other = int(first_line.loc[rec.index[pos]])
        if line != other:
            parsed.issues.append(RowIssue(line, key[-1], f"contradicts line {other} (same "
                                          f"{', '.join(key)}, different values)"))
    parsed.duplicates = int(exact.sum())
    parsed.records = rec[~exact].reset_index(drop=True)
    parsed.issues.sort()


def _patients(raw, cols, issues, order, max_missing):
    out = pd.DataFrame({"patient_id": _ids(_text(raw, cols.get("patient_id")), issues,
                                           "patient_id", required=True)})
    # no clinic: the patient's stored clinic, else ``main`` (decided at import)
    out["clinic_id"] = _ids(_text(raw, cols.get("clinic_id")), issues, "clinic_id",
                            required=False)
    out["clinician_id"] = _ids(_text(raw, cols.get("clinician_id")), issues, "clinician_id",
                               required=False)
    ind = _text(raw, cols.get("indication"))
    out["indication"] = [(_INDICATIONS.get(normalize_header(v), "OTHER") if v else None)
                         for v in ind]
    by = _numbers(_text(raw, cols.get("birth_year")), issues, "birth_year")
    bad = by.notna() & ((by < 1900) | (by > 2100) | (by != by.round()))
    issues.add(bad, "birth_year", lambda i: f"{by.iloc[i]:g} is not a plausible birth year")
    out["birth_year"] = by.where(~bad).astype("Int64")
    sex = _text(raw, cols.get("sex"))
    issues.add(sex.str.len() > 20, "sex", "longer than 20 characters")
    issues.add(sex.str.contains(_CONTROL_RE), "sex", "contains control characters")
    out["sex"] = sex.where(sex != "", None)
    return out


def _map_distinct(text: pd.Series, fn) -> pd.Series:
    """``text.map(fn)`` (objects, None where ``fn`` gives None), with ``fn`` called once per
    distinct value: a call per row on Arrow strings took 2 s of an 800k-session file.

    >>> _map_distinct(pd.Series(["a", "b", "a"]), str.upper).tolist()
    ['A', 'B', 'A']
    """
    codes, uniques = pd.factorize(text)
    values = np.empty(len(uniques) + 1, dtype=object)
    values[:-1] = [fn(u) for u in uniques]
    values[-1] = None
    return pd.Series(values[codes], index=text.index, dtype=object)


def _sessions(raw, cols, issues, order, max_missing):
    out = pd.DataFrame({"patient_id": _ids(_text(raw, cols["patient_id"]), issues, "patient_id",
                                           required=True)})
    out["session_at"] = _dates(raw, cols["session_at"], issues, "session_at", order)
    kind = _text(raw, cols["kind"])
    norm = _map_distinct(kind, lambda v: _KINDS.get(normalize_header(v)))
    issues.add(norm.isna(), "kind", lambda i: (
        "missing" if not kind.iloc[i] else f"{kind.iloc[i]!r} is not a session kind (dosing, "
                                           "booster, integration, preparation)"))
    out["kind"] = norm
    route = _text(raw, cols.get("route"))
    rnorm = _map_distinct(route, lambda v: _ROUTES.get(normalize_header(v)) if v else None)
    issues.add((route != "") & rnorm.isna(), "route",
               lambda i: f"{route.iloc[i]!r} is not a route (IV, IM, IN, SL, PO)")
    dosing = norm.isin(["dosing", "booster"])
    out["route"] = pd.Series(np.where(dosing, rnorm, None), index=rnorm.index, dtype=object)
    dose = _numbers(_text(raw, cols.get("dose_mg")), issues, "dose_mg")
    issues.add(dose < 0, "dose_mg", lambda i: f"{dose.iloc[i]:g} is negative")
    top = limits().max_dose_mg
    issues.add(dose > top, "dose_mg", lambda i: f"{dose.iloc[i]:g} mg is above {top:g} mg "
               "(KAP_OUTCOMES_MAX_DOSE_MG): a unit error?")
    out["dose_mg"] = dose.where(dosing)
    weight = _numbers(_text(raw, cols.get("weight_kg")), issues, "weight_kg")
    low, high = WEIGHT_RANGE_KG
    issues.add((weight < low) | (weight > high), "weight_kg",
               lambda i: f"{weight.iloc[i]:g} kg is outside {low}–{high} kg: a unit error?")
    out["weight_kg"] = weight.where(dosing & (weight >= low) & (weight <= high))
    out["course_id"] = _ids(_text(raw, cols.get("course_id")), issues, "course_id",
                            required=False)
    out["clinician_id"] = _ids(_text(raw, cols.get("clinician_id")), issues, "clinician_id",
                               required=False)
    _clinic_column(out, raw, cols, issues)
    return out


def _coded(raw: RawFile, col: str | None, issues: _Issues, name: str,
           codes: dict[str, object], allowed: str, *, required: bool) -> pd.Series:
    """A coded column: each cell looked up (case, spaces, dashes ignored) in ``codes``."""
    text = _text(raw, col)
    value = _map_distinct(text, lambda v: codes.get(normalize_header(v)) if v else None)
    bad = (text != "") & value.isna()
    issues.add(bad, name, lambda i: f"{_shown(text.iloc[i], 40)} is not one of {allowed}")
    if required:
        issues.add(text == "", name, "missing")
    return value.astype(object).where(value.notna(), None)


def _monitoring(raw, cols, issues, order, max_missing):
    """Monitoring rows: one measurement time of one dosing session (safety-reference.md)."""
    out = pd.DataFrame({"patient_id": _ids(_text(raw, cols["patient_id"]), issues, "patient_id",
                                           required=True)})
    out["session_at"] = _dates(raw, cols["session_at"], issues, "session_at", order)
    point = _coded(raw, cols["point"], issues, "point", _POINTS, "pre, post, discharge",
                   required=True)
    out["point"] = point
    minutes = _numbers(_text(raw, cols.get("minutes_after_dose")), issues, "minutes_after_dose")
    minutes = minutes.where(~(minutes.isna() & (point == "pre")), 0.0)  # blank pre: at the dose
    lo, hi = MINUTES_RANGE
    issues.add(minutes.isna() & point.isin(["post", "discharge"]) & (
        _text(raw, cols.get("minutes_after_dose")) == ""), "minutes_after_dose",
        "missing (a post-dose or discharge row needs its minutes after the dose)")
    issues.add((minutes < lo) | (minutes > hi), "minutes_after_dose",
               lambda i: f"{minutes.iloc[i]:g} is more than a day from the dose")
    issues.add((point == "pre") & (minutes > 0), "minutes_after_dose",
               lambda i: f"{minutes.iloc[i]:g}: a pre-dose row is at 0 or before (negative)")
    issues.add(point.isin(["post", "discharge"]) & (minutes <= 0), "minutes_after_dose",
               lambda i: f"{minutes.iloc[i]:g}: a {point.iloc[i]} row is after the dose (> 0)")
    out["minutes_after_dose"] = minutes
    measured = np.zeros(len(out), dtype=bool)
    for name, (low, high) in VITAL_RANGES.items():
        v = _numbers(_text(raw, cols.get(name)), issues, name)
        issues.add((v < low) | (v > high), name,
                   lambda i, v=v, low=low, high=high: f"{v.iloc[i]:g} is outside the "
                   f"plausible {low}–{high}")
        if name == "sedation_moaas":
            issues.add(v.notna() & (v != v.round()), name,
                       lambda i, v=v: f"{v.iloc[i]:g}: MOAA/S is a whole number 0–5")
        out[name] = v.where((v >= low) & (v <= high))
        measured |= (_text(raw, cols.get(name)) != "").to_numpy()
    both = out["systolic"].notna() & out["diastolic"].notna()
    issues.add(both & (out["systolic"] <= out["diastolic"]), "diastolic",
               lambda i: f"{out['diastolic'].iloc[i]:g} is not below the systolic "
               f"{out['systolic'].iloc[i]:g}: swapped columns?")
    diss = _numbers(_text(raw, cols.get("dissociation")), issues, "dissociation")
    scale = _coded(raw, cols.get("dissociation_scale"), issues, "dissociation_scale",
                   {**_SCALES, **{normalize_header(k): k for k in DISSOCIATION_MAX}},
                   "CADSS, 0-10", required=False)
    issues.add(diss.notna() & scale.isna() & (_text(raw, cols.get("dissociation_scale")) == ""),
               "dissociation_scale", "missing: say which scale the dissociation value is on "
               "(CADSS 0–92 or a 0–10 rating)")
    top = scale.map(DISSOCIATION_MAX).astype(float)
    issues.add(diss.notna() & ((diss < 0) | (diss > top)), "dissociation",
               lambda i: f"{diss.iloc[i]:g} is outside the {scale.iloc[i]} range "
               f"0–{top.iloc[i]:g}")
    out["dissociation"] = diss.where((diss >= 0) & (diss <= top))
    out["dissociation_scale"] = scale.where(diss.notna(), None)
    measured |= (_text(raw, cols.get("dissociation")) != "").to_numpy()
    issues.add(~measured & (point != "discharge").to_numpy() & point.notna().to_numpy(),
               "point", "no measurement on this row (blood pressure, heart rate, SpO2, "
               "sedation or dissociation)")
    out["sedation_moaas"] = out["sedation_moaas"].round().astype("Int64")
    _clinic_column(out, raw, cols, issues)
    return out


def _adverse_events(raw, cols, issues, order, max_missing):
    """Adverse events: one row per event of a dosing session (safety-reference.md)."""
    out = pd.DataFrame({"patient_id": _ids(_text(raw, cols["patient_id"]), issues, "patient_id",
                                           required=True)})
    out["session_at"] = _dates(raw, cols["session_at"], issues, "session_at", order)
    out["event"] = _coded(raw, cols["event"], issues, "event", _EVENTS,
                          "nausea, vomiting, dizziness, headache, elevated_blood_pressure, "
                          "anxiety_agitation, excessive_sedation, other", required=True)
    out["severity"] = _coded(raw, cols["severity"], issues, "severity",
                             {"mild": "mild", "moderate": "moderate", "severe": "severe"},
                             "mild, moderate, severe", required=True)
    out["serious"] = _coded(raw, cols["serious"], issues, "serious", _YES, "yes, no",
                            required=True)
    out["resolved_before_discharge"] = _coded(raw, cols.get("resolved_before_discharge"), issues,
                                              "resolved_before_discharge", _YES, "yes, no",
                                              required=False)
    _clinic_column(out, raw, cols, issues)
    return out


def _clinic_column(out: pd.DataFrame, raw: RawFile, cols: dict[str, str],
                   issues: _Issues) -> None:
    """A clinic column is never ignored: with the patient id it names the patient (the
    natural key is clinic + patient id) and places a new one, at import."""
    if "clinic_id" in cols:
        out["clinic_id"] = _ids(_text(raw, cols["clinic_id"]), issues, "clinic_id",
                                required=False)


def _assessments(raw, cols, issues, order, max_missing):
    n = len(raw.frame)
    out = pd.DataFrame({"patient_id": _ids(_text(raw, cols["patient_id"]), issues, "patient_id",
                                           required=True)})
    instr_text = _text(raw, cols["instrument"])
    def code(v: str) -> str | None:
        try:
            return normalize_instrument(v) if v else None
        except UnknownInstrumentError:
            return None

    instrument = _map_distinct(instr_text, code)
    issues.add(instrument.isna(), "instrument", lambda i: (
        "missing" if not instr_text.iloc[i] else f"{instr_text.iloc[i]!r} is not PHQ9, GAD7 or PCL5"))
    out["instrument"] = instrument
    out["administered_at"] = _dates(raw, cols["administered_at"], issues, "administered_at",
                                    order)
    out["total"] = _numbers(_text(raw, cols.get("total"), strip=False), issues, "total")
    for i in range(1, MAX_ITEMS + 1):
        name = f"item_{i}"
        out[name] = _numbers(_text(raw, cols.get(name), strip=False), issues, name) \
            if name in cols else np.nan
    given = np.zeros(n, dtype=bool)
    for c in ["total"] + [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]:
        if c in cols:
            given |= out[c].notna().to_numpy() | (raw.frame[cols[c]].to_numpy() != "")
    _score(out, issues, max_missing, np.arange(n), given)
    _clinic_column(out, raw, cols, issues)
    return out


def _score(out: pd.DataFrame, issues: _Issues, max_missing: int, positions: np.ndarray,
           given: np.ndarray | None = None) -> None:
    """Check items/totals per instrument (analysis.scoring rules) and fill totals from items.

    ``given`` marks rows with any total or item cell filled in (even if unparseable); by default
    the parsed values decide.
    """
    items = [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]
    if given is None:
        given = out[["total"] + items].notna().any(axis=1).to_numpy()
    issues.add(~given & out["instrument"].notna().to_numpy(), "total", "no total and no items")
    out["prorated"] = False
    for code, spec in INSTRUMENTS.items():
        rows = np.nonzero((out["instrument"] == code).to_numpy())[0]
        if rows.size == 0:
            continue
        part = out.iloc[rows]
        extra = [c for c in items[spec.n_items:] if part[c].notna().any()]
        for c in extra:
            mask = np.zeros(len(out), dtype=bool)
            mask[rows[part[c].notna().to_numpy()]] = True
            issues.add(mask, c, f"{code} has {spec.n_items} items")
        problems = find_score_problems(part.reset_index(drop=True), spec)
        for r, column, reason in problems:
            mask = np.zeros(len(out), dtype=bool)
            mask[rows[int(r)]] = True
            issues.add(mask, column, reason)
        ok = ~np.isin(np.arange(rows.size), [int(r) for r, _, _ in problems])
        if ok.any():
            scored = score_items(part.iloc[ok].reset_index(drop=True), spec,
                                 max_missing_items=max_missing)
            out.iloc[rows[ok], out.columns.get_loc("total")] = scored["total"].to_numpy()
            out.iloc[rows[ok], out.columns.get_loc("prorated")] = scored["prorated"].to_numpy()
    out["_pos"] = positions


def _parse_wide(raw: RawFile, order: DateOrder, max_missing: int) -> Parsed:
    """Wide form: one visit per row, ``<instr>_total`` and ``<instr>_item_<n>`` columns."""
    keys = _keys(raw)
    issues = _Issues(raw)
    pid_col = next((keys[a] for a in _ALIASES["assessments"]["patient_id"] if a in keys), None)
    at_col = next((keys[a] for a in _ALIASES["assessments"]["administered_at"] if a in keys), None)
    if pid_col is None or at_col is None:
        raise FileError("a wide assessments file needs patient_id and administered_at columns")
    pid = _ids(_text(raw, pid_col), issues, "patient_id", required=True)
    when = _dates(raw, at_col, issues, "administered_at", order)
    parts = []
    used = {normalize_header(pid_col), normalize_header(at_col)}
    for code, spec in INSTRUMENTS.items():
        total_col = next((keys[a] for a in _WIDE[code] if a in keys), None)
        item_cols = {}
        for i in range(1, spec.n_items + 1):
            for alias in (f"{code.lower()}item{i}", f"{code.lower()}q{i}"):
                if alias in keys:
                    item_cols[i] = keys[alias]
                    used.add(alias)
        if total_col is None and not item_cols:
            continue
        if total_col:
            used.add(normalize_header(total_col))
        block = pd.DataFrame({"patient_id": pid, "instrument": code, "administered_at": when})
        block["total"] = (_numbers(_text(raw, total_col), issues, normalize_header(total_col))
                          if total_col else np.nan)
        for i in range(1, MAX_ITEMS + 1):
            block[f"item_{i}"] = (_numbers(_text(raw, item_cols[i]), issues,
                                           f"{code.lower()}_item_{i}")
                                  if i in item_cols else np.nan)
        given = block[["total"] + [f"item_{i}" for i in item_cols]].notna().any(axis=1)
        block["_pos"] = np.arange(len(block))
        parts.append(block[given.to_numpy()])
    if not parts:
        raise FileError("no PHQ9/GAD7/PCL5 total or item columns found")
    out = pd.concat(parts, ignore_index=True)
    positions = out.pop("_pos").to_numpy()
    sub = _Issues(raw)
    sub.lines = np.asarray(raw.lines)[positions]
    _score(out, sub, max_missing, positions)
    issues.items.extend(sub.items)
    warnings = [f"column {orig!r} is not used" for key, orig in keys.items() if key not in used]
    return _finish("assessments", raw, out, issues, warnings)
