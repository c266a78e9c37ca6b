"""FHIR as EHRs and form tools write it: resources in each shape found in public examples
(written here from their structure; values worked by hand), malformed variants, and fuzzing.

Shapes:
* the German MII PROMs core dataset's PHQ-9 response (questionnaire mii-qst-pro-phq-9, linkIds
  PHQ.1 … PHQ.10, answers as LA codes, PHQ.10 the unscored "difficulty" question);
* an LHC-Forms / SDC response (items nested in a group /44249-1, linkIds and item.code with the
  LOINC item codes, a total item 44261-6 with valueDecimal);
* a GAD-7 total Observation in a searchset Bundle; an Observation panel with components;
* a transaction Bundle with Patient resources referenced by urn:uuid and identified by a clinic
  identifier system; answers by ordinal extension and by answer text.
"""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.db import repository
from dashboard.importers import import_file
from dashboard.importers.fhir import parse_fhir

LA = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
PHQ_ITEMS = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
             "44253-3", "44260-8"]


def _dump(doc) -> bytes:
    return json.dumps(doc).encode()


def _stored(engine, patient: str) -> pd.DataFrame:
    f = repository.load_frames(engine, item_columns=tuple(f"item_{i}" for i in range(1, 10)))
    return f.assessments[f.assessments["patient_id"] == patient]


def mii_phq9(answers: list[int], patient: str = "example") -> dict:
    items = [{"linkId": f"PHQ.{i + 1}", "answer": [{"valueCoding": {"code": LA[a]}}]}
             for i, a in enumerate(answers)]
    items.append({"linkId": "PHQ.10", "answer": [{"valueCoding": {"code": "LA6574-3"}}]})
    return {"resourceType": "QuestionnaireResponse", "id": "mii-exa-pro-phq-9-response",
            "status": "completed", "subject": {"reference": f"Patient/{patient}"},
            "authored": "2025-10-01T12:00:00Z", "questionnaire": "Questionnaire/mii-qst-pro-phq-9",
            "item": items}


def test_mii_phq9_response(engine):
    answers = [3, 3, 2, 1, 0, 1, 2, 0, 1]                      # sum 13; item 9 = 1
    r = import_file(engine, _dump(mii_phq9(answers)), name="mii.json")
    assert r.ok, r.problems()
    row = _stored(engine, "example").iloc[0]
    assert row["instrument"] == "PHQ9" and row["total"] == 13 and row["item_9"] == 1
    assert row["administered_at"] == pd.Timestamp("2025-10-01 12:00")  # offset dropped


def lhc_phq9(answers: list[int], total: float, patient: str = "P2") -> dict:
    inner = [{"linkId": f"/44249-1/{code}", "code": [{"system": "http://loinc.org",
                                                      "code": code}],
              "answer": [{"valueCoding": {"system": "http://loinc.org", "code": LA[a],
                                          "display": "x"}}]}
             for code, a in zip(PHQ_ITEMS, answers, strict=True)]
    inner.append({"linkId": "/44249-1/44261-6", "code": [{"code": "44261-6"}],
                  "answer": [{"valueDecimal": total}]})
    return {"resourceType": "QuestionnaireResponse", "id": "lhc1",
            "questionnaire": "http://loinc.org/q/44249-1",
            "subject": {"reference": f"Patient/{patient}"}, "authored": "2025-10-02",
            "item": [{"linkId": "/44249-1", "item": inner}]}


def test_lhc_forms_nested_response_with_stated_total(engine):
    answers = [1, 1, 1, 1, 1, 1, 1, 1, 0]
    assert import_file(engine, _dump(lhc_phq9(answers, 8.0)), name="lhc.json").ok
    assert _stored(engine, "P2").iloc[0]["total"] == 8
    wrong = import_file(engine, _dump(lhc_phq9(answers, 12.0, patient="P3")), name="l.json")
    assert not wrong.ok
    assert wrong.problems() == ["entry 1 (QuestionnaireResponse/lhc1), total: total 12 "
                                "disagrees with the item sum 8"]


def test_gad7_total_observation_in_a_searchset(engine):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"fullUrl": "x", "search": {"mode": "match"}, "resource": {
            "resourceType": "Observation", "id": "g1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "70274-6"}]},
            "subject": {"reference": "Patient/P4"}, "effectiveDateTime": "2025-10-03",
            "valueInteger": 11}}]}
    assert import_file(engine, _dump(bundle), name="s.json").ok
    assert _stored(engine, "P4").iloc[0][["instrument", "total"]].tolist() == ["GAD7", 11]


def test_observation_panel_with_components_and_answer_shapes(engine):
    comps = [{"code": {"coding": [{"code": c}]}, "valueCodeableConcept": {"coding": [
        {"code": LA[1]}]}} for c in PHQ_ITEMS[:8]]
    # item 9 by ordinal extension on the coding (no LA code)
    comps.append({"code": {"coding": [{"code": PHQ_ITEMS[8]}]}, "valueCodeableConcept": {
        "coding": [{"code": "local-2", "extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 2}]}]}})
    panel = {"resourceType": "Observation", "id": "panel",
             "code": {"coding": [{"code": "44249-1"}]}, "subject": {"reference": "Patient/P5"},
             "effectiveDateTime": "2025-10-04T09:00", "component": comps}
    assert import_file(engine, _dump(panel), name="p.json").ok
    row = _stored(engine, "P5").iloc[0]
    assert row["total"] == 10 and row["item_9"] == 2               # 8 x 1 + 2
    # answers by text (a coding display or a valueString), numbered link ids "q1"…
    text = {"resourceType": "QuestionnaireResponse", "questionnaire": "GAD-7",
            "subject": {"reference": "Patient/P6"}, "authored": "2025-10-05",
            "item": [{"linkId": f"q{i}", "answer": [{"valueString": "More than half the days"}]}
                     for i in range(1, 8)]}
    assert import_file(engine, _dump(text), name="t.json").ok
    assert _stored(engine, "P6").iloc[0]["total"] == 14


def test_transaction_bundle_with_patients_by_identifier(engine):
    system = "https://clinic.example/mrn"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:aaa", "resource": {
            "resourceType": "Patient", "id": "internal-1",
            "identifier": [{"system": system, "value": "MRN-77"}],
            "managingOrganization": {"reference": "Organization/north"}},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:bbb", "resource": {
            **mii_phq9([1] * 9), "subject": {"reference": "urn:uuid:aaa"}},
         "request": {"method": "POST", "url": "QuestionnaireResponse"}}]}
    r = import_file(engine, _dump(bundle), name="tx.json", patient_identifier_system=system)
    assert r.ok, r.problems()
    assert _stored(engine, "MRN-77").iloc[0]["total"] == 9
    f = repository.load_frames(engine)
    assert f.patients.set_index("patient_id").loc["MRN-77", "clinic_id"] == "north"
    # a subject whose Patient lacks the identifier: said, not guessed
    bad = dict(bundle)
    bad["entry"] = [bundle["entry"][1]]
    r = import_file(engine, _dump(bad), name="tx2.json", patient_identifier_system=system)
    assert not r.ok and "has no Patient with an identifier" in r.problems()[0]


def test_batch_response_and_document_bundles():
    obs = {"resourceType": "Observation", "code": {"coding": [{"code": "44261-6"}]},
           "subject": {"reference": "Patient/P9"}, "effectiveDateTime": "2025-10-06",
           "valueInteger": 7}
    for kind in ("batch-response", "document", "collection"):
        doc = {"resourceType": "Bundle", "type": kind, "entry": [
            {"response": {"status": "201 Created"}}, {"resource": obs}]}
        parsed = parse_fhir(_dump(doc), name="b.json", sha256="0")
        assert parsed.issues == [] and parsed.records["total"].tolist() == [7]


def test_malformed_variants_say_what_is_wrong():
    cases = {
        "entry": ({"resourceType": "Bundle", "entry": {"a": 1}}, "Bundle.entry is not a list"),
        "resource": ({"resourceType": "Bundle", "entry": [{"resource": "x"}]},
                     "not an object"),
        "item": ({**mii_phq9([0] * 9), "item": ["x"]}, "an item is str"),
        "answer": ({**mii_phq9([0] * 9), "item": [{"linkId": "PHQ.1", "answer": ["x"]}]},
                   "an answer is str"),
        "bool": ({"resourceType": "Observation", "code": {"coding": [{"code": "44261-6"}]},
                  "subject": {"reference": "Patient/P1"}, "effectiveDateTime": "2025-01-01",
                  "valueInteger": True}, "valueInteger is True, not a number"),
        "unknown answer": ({**mii_phq9([0] * 9), "item": [
            {"linkId": "PHQ.1", "answer": [{"valueCoding": {"code": "LA0000-0"}}]}]},
            "have no known score"),
        "no instrument": ({"resourceType": "QuestionnaireResponse", "authored": "2025-01-01",
                           "subject": {"reference": "Patient/P1"},
                           "item": [{"linkId": "1", "answer": [{"valueInteger": 1}]}]},
                          "cannot tell which instrument"),
        "future": ({**mii_phq9([0] * 9), "authored": "2100-01-01"}, "in the future"),
        "far": ({**mii_phq9([0] * 9), "authored": "9999-12-31"}, "far outside any plausible"),
    }
    for label, (doc, expected) in cases.items():
        parsed = parse_fhir(_dump(doc), name="m.json", sha256="0")
        text = " | ".join(str(i) for i in parsed.issues)
        assert expected in text, (label, text)
        assert all(str(i).startswith("entry ") for i in parsed.issues), (label, text)


FHIR_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
              st.text(max_size=8), st.sampled_from(["44261-6", "44250-9", "LA6571-9", "PHQ.1",
                                                    "Patient/P1", "2025-01-01", "PHQ-9"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(
                                ["resourceType", "item", "answer", "linkId", "code", "coding",
                                 "valueInteger", "valueCoding", "subject", "reference",
                                 "authored", "entry", "resource", "component", "questionnaire",
                                 "effectiveDateTime", "valueDecimal", "extension", "url"]),
                                inner, max_size=5)),
    max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=FHIR_VALUES, rtype=st.sampled_from(["QuestionnaireResponse", "Observation",
                                               "Bundle", "Patient", None]))
def test_fuzzed_resources_never_raise(doc, rtype):
    if isinstance(doc, dict) and rtype:
        doc = {**doc, "resourceType": rtype}
    from dashboard.importers.reading import FileError

    try:
        parsed = parse_fhir(_dump(doc), name="f.json", sha256="0")
    except FileError:
        return
    for issue in parsed.issues:
        assert str(issue)


def _vital(rid: str, when: str, code: str | None = None, value: float | None = None,
           components: dict[str, float] | None = None, subject: str = "Patient/p1") -> dict:
    res = {"resourceType": "Observation", "id": rid, "status": "final",
           "subject": {"reference": subject}, "effectiveDateTime": when,
           "code": {"coding": [{"system": "http://loinc.org", "code": code or "85354-9"}]}}
    if value is not None:
        res["valueQuantity"] = {"value": value, "unit": "mm[Hg]"}
    if components:
        res["component"] = [{"code": {"coding": [{"system": "http://loinc.org", "code": c}]},
                             "valueQuantity": {"value": v}} for c, v in components.items()]
    return {"resource": res}


def test_fhir_vital_signs_become_monitoring_rows_of_their_session(engine):
    """US Core vital-sign Observations (a blood-pressure panel with components, heart rate and
    SpO2 as their own resources) are merged per time and placed in the stored dosing session:
    a reading 10 minutes before the dose is pre-dose, 40 minutes after it post-dose."""
    assert import_file(engine, b"patient_id,session_at,kind,route,dose_mg\n"
                       b"P1,2025-03-03T10:00,dosing,IN,56\n", name="s.csv").ok
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": {"resourceType": "Patient", "id": "P1"}, "fullUrl": "Patient/P1"},
        _vital("bp1", "2025-03-03T09:50:00+01:00", components={"8480-6": 128, "8462-4": 82},
               subject="Patient/P1"),
        _vital("hr1", "2025-03-03T09:50:00+01:00", "8867-4", 71, subject="Patient/P1"),
        _vital("bp2", "2025-03-03T10:40:00+01:00", components={"8480-6": 171, "8462-4": 97},
               subject="Patient/P1"),
        _vital("ox2", "2025-03-03T10:40:00+01:00", "59408-5", 96, subject="Patient/P1"),
    ]}
    report = import_file(engine, json.dumps(bundle).encode(), name="vitals.json")
    assert report.ok, report.problems()
    assert report.kind == "monitoring" and report.rows_added == 2
    m = repository.load_safety(engine).monitoring.sort_values("minutes_after_dose")
    assert m["point"].tolist() == ["pre", "post"]
    assert m["minutes_after_dose"].tolist() == [-10.0, 40.0]
    assert m["systolic"].tolist() == [128.0, 171.0]
    assert m["heart_rate"].isna().tolist() == [False, True]
    assert m["spo2"].isna().tolist() == [True, False]


def test_fhir_vitals_outside_any_session_or_range_name_their_resource(engine):
    assert import_file(engine, b"patient_id,session_at,kind\nP1,2025-03-03T10:00,dosing\n",
                       name="s.csv").ok
    before = repository.counts(engine)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        _vital("far", "2025-03-10T10:00:00", "8480-6", 130, subject="Patient/P1"),
        _vital("odd", "2025-03-03T10:30:00", "8867-4", 400, subject="Patient/P1")]}
    report = import_file(engine, json.dumps(bundle).encode(), name="vitals.json")
    assert not report.ok and repository.counts(engine) == before
    assert report.problems() == [
        "entry 2 (Observation/odd), heart_rate: 400 is outside the plausible 20–250"]
    report = import_file(engine, json.dumps({"resourceType": "Bundle", "entry": [
        bundle["entry"][0]]}).encode(), name="vitals.json")
    assert report.problems() == [
        "entry 1 (Observation/far), effectiveDateTime: no dosing session of patient P1 within "
        "an hour after or six hours before 2025-03-10 10:00 is stored: import the sessions "
        "first"]


def test_a_fhir_file_with_scores_and_vitals_is_refused_whole(engine):
    bundle = {"resourceType": "Bundle", "entry": [
        _vital("bp", "2025-03-03T10:30:00", "8480-6", 130, subject="Patient/P1"),
        {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/P1"},
                      "effectiveDateTime": "2025-03-03",
                      "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                      "valueInteger": 12}}]}
    report = import_file(engine, json.dumps(bundle).encode(), name="mixed.json")
    assert report.file_error and "import them as two files" in report.file_error
