"""FHIR R4 import: QuestionnaireResponse and Observation resources as EHRs and form tools write
them, in Bundles of any type, a JSON array, one resource, or NDJSON.

Codes (``clinical-reference.md`` §1.5, each verified there against a primary or IG source):
PHQ-9 panel 44249-1, total 44261-6, items 44250-9 44255-8 44259-0 44254-1 44251-7 44258-2
44252-5 44253-3 44260-8 (item 9), difficulty question 69722-7 (not scored: ignored); GAD-7 panel
69737-5, total 70274-6, items 69725-0 68509-9 69733-4 69734-2 69735-9 69689-8 69736-7; answer
codes LA6568-5 = 0, LA6569-3 = 1, LA6570-1 = 2, LA6571-9 = 3 ("Not at all" … "Nearly every
day"). PCL-5 has no verified LOINC code: it is read through a questionnaire named PCL-5.

QuestionnaireResponse, in the shapes found in the wild:

* items at any depth of nested groups (``item`` within ``item``, and within ``answer``);
* the item number from ``item.code`` (LOINC), from a LOINC code in the ``linkId`` (``/44250-9``,
  ``44250-9``), or — once the instrument is known — from a numbered ``linkId`` (``PHQ.1``,
  ``phq9_1``, ``q1``, ``1``, ``item_1``); numbers past the instrument's items (PHQ-9's tenth,
  "difficulty" question) are not scored and ignored;
* the instrument from the questionnaire's URL, name or title, a panel code, or the item codes;
* answers from ``valueInteger`` / ``valueDecimal``, a ``valueCoding`` LA code, an
  ``ordinalValue`` / ``itemWeight`` extension on the answer or its coding, or a coding whose
  display (or a ``valueString``) is the answer text;
* a stated total (LOINC total code) is checked against the items' sum.

Observation: a total or an item by its LOINC code; a panel with ``component`` s (each an item
or the total); a panel with ``hasMember`` is a grouping (its members are read as they come).
``Patient`` resources in the file give the patient id behind a reference (``Patient/1``,
``urn:uuid:…``), or an ``identifier`` of the system the clinic names
(``patient_identifier_system``), and the clinic (``managingOrganization``) when given.

Vital signs (session monitoring, ``safety-reference.md``): Observations coded 8480-6 (systolic
blood pressure), 8462-4 (diastolic), 8867-4 (heart rate), 59408-5 or 2708-6 (oxygen saturation,
pulse oximetry), alone or as ``component`` s of a blood-pressure panel (85354-9) or any
Observation, with ``valueQuantity``. Readings of one patient at one time are one monitoring
row; the importer places each row in the patient's stored dosing session around that time (a
reading up to an hour before the dose is pre-dose, later ones post-dose) and says which
resource has no session. A file holds scores or vital signs, not both.

Every problem names its resource: ``entry 3 (QuestionnaireResponse/abc)`` in a Bundle or array,
``line 3 (…)`` in NDJSON. Hostile shapes (wrong types anywhere, deep nesting, huge numbers) give
such a message, never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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
    plausible_dates,
)
from dashboard.importers.reading import FileError, RawFile, decode_utf8

__all__ = ["is_fhir", "parse_fhir"]

_TOTALS = {spec.loinc_total: code for code, spec in INSTRUMENTS.items() if spec.loinc_total}
_PANELS = {spec.loinc_panel: code for code, spec in INSTRUMENTS.items() if spec.loinc_panel}
_ITEMS = {loinc: (code, i + 1) for code, spec in INSTRUMENTS.items()
          for i, loinc in enumerate(spec.loinc_items or ())}
#: Questions that are asked but not scored (clinical-reference §1.5: PHQ-9 difficulty item).
_UNSCORED = {"69722-7"}
_ANSWERS = {"LA6568-5": 0, "LA6569-3": 1, "LA6570-1": 2, "LA6571-9": 3}
#: Answer texts (PHQ-9 / GAD-7 frequency anchors; PCL-5 severity anchors), lower case.
_ANSWER_TEXT = {"not at all": 0, "several days": 1, "more than half the days": 2,
                "nearly every day": 3, "nearly everyday": 3, "a little bit": 1,
                "moderately": 2, "quite a bit": 3, "extremely": 4}
_ORDINAL_URLS = ("http://hl7.org/fhir/StructureDefinition/ordinalValue",
                 "http://hl7.org/fhir/StructureDefinition/itemWeight",
                 "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value")
_LOINC_RE = re.compile(r"(\d{4,5}-\d)")
_NUMBER_RE = re.compile(r"(\d{1,2})$")
_NAME_KEYS = {"phq9": "PHQ9", "gad7": "GAD7", "pcl5": "PCL5"}
#: Vital-sign LOINC codes and the monitoring column each fills (US Core vital signs).
VITALS = {"8480-6": "systolic", "8462-4": "diastolic", "8867-4": "heart_rate",
          "59408-5": "spo2", "2708-6": "spo2"}
_VITAL_MAX = 1000
_MAX_VALUE = 1000  # no answer or total of these instruments comes near


class _Bad(Exception):
    """A resource that cannot be read; the message says why."""


def is_fhir(name: str, data: bytes) -> bool:
    """Whether a file looks like FHIR JSON or NDJSON."""
    head = data.lstrip()[:1]
    return name.lower().endswith((".json", ".ndjson")) or head in (b"{", b"[")


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise FileError("the JSON is nested too deeply to be a FHIR resource") from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise FileError("the JSON holds a number with thousands of digits: not a score") \
            from None


def _resources(data: bytes, ndjson: bool) -> Iterator[tuple[str, int, Any]]:
    """(kind of position, position, resource) for every resource of the file."""
    text = decode_utf8(data)
    stripped = text.strip()
    if not stripped:
        raise FileError("the file is empty")
    doc = None
    if not ndjson:
        try:
            doc = _loads(stripped)
        except json.JSONDecodeError:
            doc = None
    if isinstance(doc, dict):
        yield from _bundle_or_one(doc, "entry", 1)
        return
    if isinstance(doc, list):
        for i, res in enumerate(doc, start=1):
            yield from _bundle_or_one(res, "entry", i)
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            res = _loads(line)
        except json.JSONDecodeError as exc:
            raise FileError(f"line {n}: not JSON ({exc.msg})") from None
        yield from _bundle_or_one(res, "line", n)


def _bundle_or_one(res: Any, where: str, pos: int) -> Iterator[tuple[str, int, Any]]:
    if isinstance(res, dict) and res.get("resourceType") == "Bundle":
        entries = res.get("entry", [])
        if entries is None:
            return
        if not isinstance(entries, list):
            yield where, pos, _Bad("Bundle.entry is not a list")
            return
        for i, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                yield "entry", i, _Bad("the entry is not an object")
                continue
            inner = entry.get("resource")
            if inner is None and isinstance(entry.get("response"), dict):
                continue  # a batch-response entry without a resource
            if isinstance(inner, dict) and inner.get("resourceType") == "Bundle":
                yield from _bundle_or_one(inner, "entry", i)
                continue
            if isinstance(inner, dict) and isinstance(entry.get("fullUrl"), str):
                inner["_fullUrl"] = entry["fullUrl"]  # how other entries may refer to it
            yield "entry", i, inner if isinstance(inner, dict) else _Bad(
                "the entry's resource is not an object")
        return
    yield where, pos, res if isinstance(res, dict) else _Bad("not a FHIR resource (an object)")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _codes(concept: Any) -> list[str]:
    """The codes of a CodeableConcept, a Coding, or a list of Codings."""
    if isinstance(concept, list):
        codings = concept
    else:
        c = _dict(concept)
        codings = _list(c.get("coding")) if "coding" in c else [c]
    return [_str(x.get("code")) for x in codings if isinstance(x, dict) and _str(x.get("code"))]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{what} is {value!r}, not a number")
    if not np.isfinite(value) or abs(value) > _MAX_VALUE:
        raise _Bad(f"{what} {value!r} is out of any score's range")
    return float(value)


def _ordinal(obj: dict[str, Any]) -> float | None:
    for ext in _list(obj.get("extension")):
        if isinstance(ext, dict) and ext.get("url") in _ORDINAL_URLS:
            for key in ("valueDecimal", "valueInteger"):
                if key in ext:
                    return _number(ext[key], "the ordinal value")
    return None


def _answer_value(answer: Any) -> float | None:
    """The score of one answer (see the module notes); None for an empty answer."""
    a = _dict(answer)
    if not a:
        raise _Bad(f"an answer is {type(answer).__name__}, not an object")
    for key in ("valueInteger", "valueDecimal"):
        if key in a:
            return _number(a[key], key)
    if "valueQuantity" in a:
        return _number(_dict(a["valueQuantity"]).get("value"), "valueQuantity.value")
    ordinal = _ordinal(a)
    if ordinal is not None:
        return ordinal
    for key in ("valueCoding", "valueCodeableConcept"):
        if key in a:
            concept = a[key]
            codings = [concept] if key == "valueCoding" else _list(_dict(concept).get("coding"))
            for coding in codings:
                coding = _dict(coding)
                ordinal = _ordinal(coding)
                if ordinal is not None:
                    return ordinal
                if _str(coding.get("code")) in _ANSWERS:
                    return float(_ANSWERS[coding["code"]])
                text = _str(coding.get("display")).strip().lower()
                if text in _ANSWER_TEXT:
                    return float(_ANSWER_TEXT[text])
            codes = [_str(_dict(c).get("code")) for c in codings]
            raise _Bad(f"answer code(s) {codes} have no known score")
    if "valueString" in a:
        text = _str(a["valueString"]).strip().lower()
        if text in _ANSWER_TEXT:
            return float(_ANSWER_TEXT[text])
        if re.fullmatch(r"[0-9]{1,3}", text):
            return float(text)
        raise _Bad(f"answer text {a['valueString']!r:.40} has no known score")
    return None


def _instrument_from_text(*texts: str) -> str | None:
    for text in texts:
        for loinc, code in _PANELS.items():
            if loinc in text:
                return code
        key = re.sub(r"[^a-z0-9]", "", text.lower())
        for name, code in _NAME_KEYS.items():
            if name in key:
                return code
    return None


def _walk(items: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every item at any depth (nested groups and items under answers)."""
    if depth > 20:
        raise _Bad("items are nested more than 20 levels deep")
    for it in _list(items) if items is not None else []:
        if not isinstance(it, dict):
            raise _Bad(f"an item is {type(it).__name__}, not an object")
        yield it
        yield from _walk(it.get("item"), depth + 1)
        for ans in _list(it.get("answer")):
            if isinstance(ans, dict) and "item" in ans:
                yield from _walk(ans.get("item"), depth + 1)
    if items is not None and not isinstance(items, list):
        raise _Bad("item is not a list")


def _item_slot(it: dict[str, Any], instrument: str | None) -> tuple[str | None, str | None]:
    """(instrument, ``item_<n>`` / ``total`` / ``skip``) of one item, or (None, None)."""
    link = _str(it.get("linkId"))
    codes = _codes(it.get("code")) + _LOINC_RE.findall(link)
    for c in codes:
        if c in _ITEMS:
            code, n = _ITEMS[c]
            return code, f"item_{n}"
        if c in _TOTALS:
            return _TOTALS[c], "total"
        if c in _UNSCORED:
            return instrument, "skip"
    if instrument is not None:
        m = _NUMBER_RE.search(link.strip())
        if m and not _LOINC_RE.search(link):
            n = int(m.group(1))
            if 1 <= n <= INSTRUMENTS[instrument].n_items:
                return instrument, f"item_{n}"
            return instrument, "skip"  # e.g. PHQ-9's tenth, "difficulty" question
    return None, None


def _read_response(res: dict[str, Any]) -> dict[str, Any]:
    q = res.get("questionnaire")
    named = _instrument_from_text(_str(q), _str(res.get("title")), _str(res.get("name")),
                                  *(_str(_dict(e).get("valueString"))
                                    for e in _list(res.get("extension"))))
    items = list(_walk(res.get("item")))
    instrument = named
    if instrument is None:  # from the item codes
        for it in items:
            found, _ = _item_slot(it, None)
            if found:
                instrument = found
                break
    if instrument is None:
        raise _Bad("cannot tell which instrument this response is (questionnaire, title or "
                   "item codes)")
    row: dict[str, Any] = {"instrument": instrument}
    for it in items:
        found, slot = _item_slot(it, instrument)
        if slot in (None, "skip") or found != instrument:
            continue
        answers = _list(it.get("answer"))
        if not answers:
            continue
        value = _answer_value(answers[0])
        if value is not None:
            row[slot] = value
    if not any(k.startswith("item_") or k == "total" for k in row):
        raise _Bad(f"no {INSTRUMENTS[instrument].name} items or total could be read")
    row["when"] = _str(res.get("authored"))
    return row


def _read_vitals(res: dict[str, Any]) -> dict[str, Any] | None:
    """The vital signs of an Observation (its own code or its components), or None when it
    holds none."""
    parts = [res, *[_dict(c) for c in _list(res.get("component"))]]
    row: dict[str, Any] = {}
    for part in parts:
        for c in _codes(part.get("code")):
            if c in VITALS:
                quantity = _dict(part.get("valueQuantity"))
                if "valueQuantity" not in part:
                    if "dataAbsentReason" in part:
                        break
                    raise _Bad(f"{c} has no valueQuantity")
                value = quantity.get("value")
                if isinstance(value, bool) or not isinstance(value, int | float) or \
                        not np.isfinite(value) or abs(value) > _VITAL_MAX:
                    raise _Bad(f"{c} valueQuantity.value is {value!r}, not a measurement")
                row[VITALS[c]] = float(value)
                break
    if not row:
        return None
    period = _dict(res.get("effectivePeriod"))
    row["when"] = (_str(res.get("effectiveDateTime")) or _str(period.get("start"))
                   or _str(res.get("issued")))
    return row


def _read_observation(res: dict[str, Any]) -> dict[str, Any] | None:
    codes = _codes(res.get("code"))
    row: dict[str, Any] = {}
    value_keys = ("valueInteger", "valueDecimal", "valueQuantity", "valueCodeableConcept",
                  "valueCoding", "valueString")
    for c in codes:
        if c in _TOTALS or c in _ITEMS:
            instrument, n = (_TOTALS[c], None) if c in _TOTALS else _ITEMS[c]
            row["instrument"] = instrument
            row["total" if n is None else f"item_{n}"] = _answer_value(
                {k: v for k, v in res.items() if k in value_keys or k == "extension"})
            break
        if c in _PANELS:
            row["instrument"] = _PANELS[c]
            for comp in _list(res.get("component")):
                comp = _dict(comp)
                for cc in _codes(comp.get("code")):
                    if cc in _ITEMS or cc in _TOTALS:
                        code, n = (_TOTALS[cc], None) if cc in _TOTALS else _ITEMS[cc]
                        if code == _PANELS[c]:
                            row["total" if n is None else f"item_{n}"] = _answer_value(
                                {k: v for k, v in comp.items() if k in value_keys})
                        break
            if not any(k.startswith("item_") or k == "total" for k in row):
                if _list(res.get("hasMember")):
                    return None  # a grouping: its members are read on their own
                raise _Bad("a panel with no items, total or members")
            break
    else:
        raise _Bad(f"no PHQ-9/GAD-7 LOINC code in {codes[:5]}")
    period = _dict(res.get("effectivePeriod"))
    row["when"] = (_str(res.get("effectiveDateTime")) or _str(period.get("start"))
                   or _str(res.get("issued")))
    return row


def parse_fhir(data: bytes, *, name: str, sha256: str, date_order: DateOrder = "iso",
               max_missing_items: int = 0, patient_identifier_system: str | None = None,
               max_errors: int = 1000) -> Parsed:
    """Assessments from FHIR resources, with every unusable resource reported by position."""
    rows: list[dict[str, Any]] = []
    problems: list[RowIssue] = []
    patients: dict[str, tuple[str, str | None]] = {}  # reference -> (patient id, clinic)
    pending: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    vitals: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    position = 0
    for where, pos, res in _resources(data, name.lower().endswith(".ndjson")):
        position += 1
        label = f"{where} {pos}"
        if isinstance(res, _Bad):
            problems.append(RowIssue(position, label, str(res)))
            continue
        rtype = _str(res.get("resourceType"))
        rid = _str(res.get("id"))
        label = f"{where} {pos} ({rtype or 'resource'}{'/' + rid if rid else ''})"
        try:
            if rtype == "Patient":
                pid = _patient_id(res, patient_identifier_system)
                clinic = _str(_dict(res.get("managingOrganization")).get("reference"))
                clinic = clinic.split("/", 1)[1] if clinic.startswith("Organization/") else None
                for ref in (f"Patient/{rid}" if rid else None, _str(res.get("_fullUrl"))):
                    if ref:
                        patients[ref] = (pid, clinic)
                continue
            if rtype == "QuestionnaireResponse":
                row = _read_response(res)
            elif rtype == "Observation":
                row = _read_vitals(res)
                if row is not None:
                    vitals.append((position, label, row, _dict(res.get("subject"))))
                    continue
                row = _read_observation(res)
                if row is None:
                    continue
            elif rtype in ("Questionnaire", "Bundle", "Organization", "Practitioner",
                           "Encounter", "OperationOutcome"):
                continue
            else:
                raise _Bad(f"a {rtype or 'resource without resourceType'} is not imported")
            pending.append((position, label, row, _dict(res.get("subject"))))
        except _Bad as exc:
            problems.append(RowIssue(position, label, str(exc)))
    if vitals and pending:
        raise FileError(f"the file holds both questionnaire scores ({len(pending)} "
                        f"resource(s)) and vital signs ({len(vitals)}): import them as two "
                        "files")
    if vitals:
        return _parse_vitals(vitals, patients, problems, name=name, sha256=sha256,
                             date_order=date_order, system=patient_identifier_system,
                             max_errors=max_errors)
    for position, label, row, subject in pending:
        pid, clinic = _subject(subject, patients, patient_identifier_system, position, label,
                               problems)
        if pid is None:
            continue
        rows.append({"line": position, "where": label, "patient_id": pid,
                     **({"clinic_id": clinic} if clinic else {}), **row})
    if not rows and not problems:
        raise FileError("no QuestionnaireResponse or Observation resources found")
    frame = pd.DataFrame(rows)
    for col in ["line", "where", "patient_id", "instrument", "when", "total"] + [
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
    where = merged["where"].fillna("").astype(str).to_numpy()
    pid = merged["patient_id"].fillna("").astype(str)
    issues.add((pid == "").to_numpy(), "subject", "no Patient reference")
    when, reasons = parse_datetimes(merged["when"].fillna("").astype(str), date_order)
    issues.add(np.array([r is not None for r in reasons]), "authored / effectiveDateTime",
               reasons.__getitem__)
    when = plausible_dates(when, issues, "authored / effectiveDateTime")
    out = pd.DataFrame({"patient_id": pid.where(pid != "", None), "instrument":
                        merged["instrument"], "administered_at": when})
    if "clinic_id" in merged.columns:
        out["clinic_id"] = merged["clinic_id"].where(merged["clinic_id"].notna(), None)
    for col in ["total"] + [f"item_{i}" for i in range(1, MAX_ITEMS + 1)]:
        out[col] = pd.to_numeric(merged[col], errors="coerce").astype(float)
    # the scoring rules (analysis.scoring) check a stated total against the items' sum
    _score(out, issues, max_missing_items, np.arange(len(out)))
    # name each resource in its messages (entry N (Type/id)) rather than a "line"
    by_line = dict(zip(merged["line"].astype(int), where, strict=True))
    issues.items = [RowIssue(i.line, by_line.get(i.line, i.column) + ", " + i.column
                             if i.line in by_line and not i.column.startswith(("entry",
                                                                              "line"))
                             else i.column, i.reason) for i in issues.items]
    parsed = _finish("assessments", raw, out, issues, [])
    parsed.records = parsed.records.drop(columns=["where"], errors="ignore")
    if len(parsed.issues) > max_errors:
        parsed.warnings.append(f"{len(parsed.issues) - max_errors} more problem(s) not listed")
        parsed.issues = parsed.issues[:max_errors]
    return parsed


def _subject(subject: dict[str, Any], patients: dict[str, tuple[str, str | None]],
             system: str | None, position: int, label: str, problems: list[RowIssue]
             ) -> tuple[str | None, str | None]:
    """(patient id, clinic) of a resource's subject; (None, None) after reporting a problem."""
    ref = _str(subject.get("reference"))
    ident = _dict(subject.get("identifier"))
    if ref in patients:
        return patients[ref]
    if ident and (system is None or ident.get("system") == system):
        return _str(ident.get("value")), None
    if system and ref:
        problems.append(RowIssue(position, label, f"subject {ref[:60]!r} has no Patient "
                                 f"with an identifier of {system}"))
        return None, None
    return (ref.split("/", 1)[1] if ref.startswith("Patient/") else ref), None


def _parse_vitals(vitals: list[tuple[int, str, dict[str, Any], dict[str, Any]]],
                  patients: dict[str, tuple[str, str | None]], problems: list[RowIssue], *,
                  name: str, sha256: str, date_order: DateOrder, system: str | None,
                  max_errors: int) -> Parsed:
    """Monitoring records from vital-sign Observations: readings of one patient at one time
    merged into one row, checked by the monitoring rules of :mod:`dashboard.importers.parse`
    (one home for the ranges). Each row carries ``measured_at``; the importer places it in a
    stored dosing session (:func:`dashboard.importers.service.import_file`)."""
    from dashboard.importers.parse import parse

    rows = []
    for position, label, row, subject in vitals:
        pid, _ = _subject(subject, patients, system, position, label, problems)
        if pid is not None:
            rows.append({"line": position, "where": label, "patient_id": pid, **row})
    frame = pd.DataFrame(rows, columns=["line", "where", "patient_id", "when", "systolic",
                                        "diastolic", "heart_rate", "spo2"])
    merged = frame.groupby(["patient_id", "when"], sort=False, dropna=False).agg(
        {c: "first" for c in ("line", "where", "systolic", "diastolic", "heart_rate", "spo2")}
    ).reset_index()
    cells = pd.DataFrame({"patient_id": merged["patient_id"], "session_at": merged["when"],
                          "point": "post", "minutes_after_dose": "1"})
    for col in ("systolic", "diastolic", "heart_rate", "spo2"):
        cells[col] = merged[col].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    raw = RawFile(name=name, sha256=sha256, frame=cells.fillna("").astype(str),
                  lines=merged["line"].astype(int).tolist(), fmt="fhir")
    parsed = parse(raw, kind="monitoring", date_order=date_order)
    where = dict(zip(merged["line"].astype(int), merged["where"].astype(str), strict=True))
    renamed = {"session_at": "effectiveDateTime"}
    parsed.issues = sorted(problems + [
        RowIssue(i.line, f"{where.get(i.line, '')}, {renamed.get(i.column, i.column)}",
                 i.reason) for i in parsed.issues])
    parsed.records["measured_at"] = parsed.records["session_at"]
    parsed.records["where"] = parsed.records["line"].map(where)
    if len(parsed.issues) > max_errors:
        parsed.warnings.append(f"{len(parsed.issues) - max_errors} more problem(s) not listed")
        parsed.issues = parsed.issues[:max_errors]
    return parsed


def _patient_id(res: dict[str, Any], system: str | None) -> str:
    if system:
        for ident in _list(res.get("identifier")):
            ident = _dict(ident)
            if ident.get("system") == system and _str(ident.get("value")):
                return _str(ident["value"])
        raise _Bad(f"the Patient has no identifier of {system}")
    return _str(res.get("id"))
