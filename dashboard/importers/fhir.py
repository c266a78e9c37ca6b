"""FHIR R4 import: Bundles (JSON) or NDJSON of QuestionnaireResponse and Observation resources.

Mapping (LOINC codes of ``clinical-reference.md`` §1.5):

* ``Observation`` whose code is a total-score code (PHQ-9 44261-6, GAD-7 70274-6) gives a total;
  one whose code is an item code (44250-9 … 44260-8; 69725-0 … 69736-7) gives an item. Items and
  totals of one patient, instrument and ``effectiveDateTime`` form one assessment. Panel codes
  (44249-1, 69737-5) with ``hasMember`` are not needed: members are read directly.
* ``QuestionnaireResponse``: the instrument from ``questionnaire`` (a panel LOINC code in the
  canonical URL, or ``PHQ-9``/``GAD-7``/``PCL-5`` in it) or from the item codes; each ``item``
  whose ``linkId`` or first ``code`` is an item LOINC code (or ``item_<n>`` / ``<n>``) gives that
  item from ``valueInteger``, ``valueDecimal`` or a ``valueCoding`` answer code (LA6568-5 = 0,
  LA6569-3 = 1, LA6570-1 = 2, LA6571-9 = 3); a total-score code gives the total. ``authored`` is
  the time.
* ``subject.reference`` ``Patient/<id>`` gives ``patient_id``.

PCL-5 has no verified LOINC codes: it is accepted only through a questionnaire named PCL-5 with
``item_<n>`` link ids. Each resource's position (line in NDJSON, entry number in a Bundle) is
reported as its "line".
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from analysis.instruments import INSTRUMENTS
from dashboard.db.models import MAX_ITEMS
from dashboard.importers.parse import (
    DateOrder,
    Parsed,
    RowIssue,
    _finish,
    _Issues,
    _score,
    parse_datetimes,
)
from dashboard.importers.reading import FileError, RawFile, decode_utf8

__all__ = ["is_fhir", "parse_fhir"]

_TOTALS = {spec.loinc_total: code for code, spec in INSTRUMENTS.items() if spec.loinc_total}
_PANELS = {spec.loinc_panel: code for code, spec in INSTRUMENTS.items() if spec.loinc_panel}
_ITEMS = {loinc: (code, i + 1) for code, spec in INSTRUMENTS.items()
          for i, loinc in enumerate(spec.loinc_items or ())}
_ANSWERS = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}


def is_fhir(name: str, data: bytes) -> bool:
    """Whether a file looks like FHIR JSON or NDJSON."""
    head = data.lstrip()[:1]
    return name.lower().endswith((".json", ".ndjson")) or head in (b"{", b"[")


def _resources(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    text = decode_utf8(data)
    stripped = text.strip()
    if not stripped:
        raise FileError("the file is empty")
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        if doc.get("resourceType") == "Bundle":
            return [(i + 1, e.get("resource") or {}) for i, e in enumerate(doc.get("entry") or [])
                    if isinstance(e, dict)]
        return [(1, doc)]
    if isinstance(doc, list):
        return [(i + 1, r) for i, r in enumerate(doc) if isinstance(r, dict)]
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            res = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileError(f"line {n}: not JSON ({exc.msg})") from None
        if not isinstance(res, dict):
            raise FileError(f"line {n}: not a FHIR resource")
        out.append((n, res))
    return out


def _patient(res: dict[str, Any]) -> str:
    ref = ((res.get("subject") or {}).get("reference") or "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else ref


def _codes(concept: dict[str, Any] | None) -> list[str]:
    return [c.get("code", "") for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _value(obj: dict[str, Any]) -> object:
    for key in ("valueInteger", "valueDecimal"):
        if key in obj:
            return obj[key]
    if "valueQuantity" in obj:
        return (obj["valueQuantity"] or {}).get("value")
    for key in ("valueCoding", "valueCodeableConcept"):
        if key in obj:
            concept = obj[key] or {}
            codes = [concept.get("code")] if key == "valueCoding" else _codes(concept)
            for c in codes:
                if c in _ANSWERS:
                    return _ANSWERS[c]
            return f"unknown answer code {codes}"
    return None


def _questionnaire_instrument(res: dict[str, Any]) -> str | None:
    q = str(res.get("questionnaire") or "")
    for loinc, code in _PANELS.items():
        if loinc in q:
            return code
    key = q.upper().replace("-", "").replace("_", "")
    for code in INSTRUMENTS:
        if code in key:
            return code
    return None


def parse_fhir(data: bytes, *, name: str, sha256: str, date_order: DateOrder = "iso",
               max_missing_items: int = 0) -> Parsed:
    """Assessments from FHIR resources, with every unusable resource reported by position."""
    rows: list[dict[str, Any]] = []
    problems: list[RowIssue] = []
    for line, res in _resources(data):
        rtype = res.get("resourceType")
        if rtype == "Observation":
            codes = _codes(res.get("code"))
            code = next((c for c in codes if c in _TOTALS or c in _ITEMS), None)
            if code is None:
                if not any(c in _PANELS for c in codes):
                    problems.append(RowIssue(line, "code", f"no PHQ-9/GAD-7 LOINC code in {codes}"))
                continue
            instrument, item = (_TOTALS[code], None) if code in _TOTALS else _ITEMS[code]
            rows.append({"line": line, "patient_id": _patient(res), "instrument": instrument,
                         "when": res.get("effectiveDateTime") or "",
                         ("total" if item is None else f"item_{item}"): _value(res)})
        elif rtype == "QuestionnaireResponse":
            instrument = _questionnaire_instrument(res)
            row: dict[str, Any] = {"line": line, "patient_id": _patient(res),
                                   "when": res.get("authored") or ""}
            for it in res.get("item") or []:
                link = str(it.get("linkId") or "")
                codes = [link] + _codes({"coding": it.get("code") or []})
                answer = (it.get("answer") or [{}])[0]
                for c in codes:
                    if c in _ITEMS:
                        instrument = instrument or _ITEMS[c][0]
                        row[f"item_{_ITEMS[c][1]}"] = _value(answer)
                        break
                    if c in _TOTALS:
                        instrument = instrument or _TOTALS[c]
                        row["total"] = _value(answer)
                        break
                    num = c.lower().removeprefix("item_").removeprefix("item")
                    if num.isdigit() and 1 <= int(num) <= MAX_ITEMS:
                        row[f"item_{int(num)}"] = _value(answer)
                        break
            if instrument is None:
                problems.append(RowIssue(line, "questionnaire",
                                         "cannot tell which instrument this response is"))
                continue
            row["instrument"] = instrument
            rows.append(row)
        elif rtype in ("Patient", "Questionnaire", "Bundle"):
            continue
        else:
            problems.append(RowIssue(line, "resourceType", f"{rtype!r} is not imported"))
    if not rows and not problems:
        raise FileError("no QuestionnaireResponse or Observation resources found")
    frame = pd.DataFrame(rows)
    for col in ["line", "patient_id", "instrument", "when", "total"] + [
            f"item_{i}" for i in range(1, MAX_ITEMS + 1)]:
        if col not in frame.columns:
            frame[col] = None
    # Observations of one assessment (same patient, instrument, time) are merged into one row
    grouped = frame.groupby(["patient_id", "instrument", "when"], sort=False, dropna=False)
    merged = grouped.agg({c: "first" for c in frame.columns
                          if c not in ("patient_id", "instrument", "when")}).reset_index()
    raw = RawFile(name=name, sha256=sha256, frame=merged.astype(str),
                  lines=merged["line"].astype(int).tolist(), fmt="fhir")
    issues = _Issues(raw)
    issues.items.extend(problems)
    pid = merged["patient_id"].fillna("").astype(str)
    issues.add((pid == "").to_numpy(), "subject", "no Patient reference")
    when, reasons = parse_datetimes(merged["when"].fillna("").astype(str), date_order)
    issues.add(np.array([r is not None for r in reasons]), "effectiveDateTime", reasons)
    out = pd.DataFrame({"patient_id": pid.where(pid != "", None), "instrument":
                        merged["instrument"], "administered_at": when})
    for col in ["total"] + [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]:
        values = merged[col]
        num = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & num.isna()
        issues.add(bad.to_numpy(), col, lambda i, v=values: f"{v.iloc[i]!r} is not a number")
        out[col] = num.astype(float)
    _score(out, issues, max_missing_items, np.arange(len(out)))
    return _finish("assessments", raw, out, issues, [])
