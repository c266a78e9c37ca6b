"""Disclosure audit: no withheld count can be worked out from what a view publishes.

For every published view (a breakdown table with the overall figures on the cards, a monthly
trend with the same cards, a completeness table with the funnel's course count, the funnel), the
audit reads the *rendered* tables (marks and numbers, as a person would see them), and for every
withheld count computes its feasible interval from everything published in that view with its
own linear programme (``scipy.optimize.linprog``: min and max subject to the published totals and
margins, counts >= 0, k <= n). It asserts each interval is at least ``min_cell_size`` wide. This
is independent of :mod:`analysis.suppression`'s own decision code: it sees only the output.

Run over the bundled sample, generated clinics of several sizes and seeds, and tables made by
hypothesis. (It failed on the cascade of the first implementation: e.g. a lone withheld rate
protected by a cell whose sum left the withheld count within a range of 3.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from analysis import Settings, align, completeness, course_attributes, per_course_outcomes
from analysis.suppression import withhold_rates
from dashboard import views
from dashboard.exports.tables import counts_table, funnel_table, rates_table
from sample_data.generate import generate

M = 11


def _num(v) -> float | None:
    """A published number, or None for a mark (withheld)."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None if pd.isna(v) else float(v)


def _interval(obj: np.ndarray, a_ub, b_ub, a_eq, b_eq, bounds) -> tuple[float, float]:
    out = []
    for sign in (1.0, -1.0):
        res = linprog(sign * obj, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds,
                      method="highs")
        if res.status == 3:
            out.append(-sign * np.inf)
        else:
            assert res.status == 0, res.message
            out.append(sign * res.fun)
    return out[0], out[1]


def audit_rate_set(ks: list, ns: list, total_k, total_n) -> list[tuple[str, float, float]]:
    """Feasible intervals of every withheld k, n - k and n of one set of disjoint cells.

    ``ks`` / ``ns``: published values (numbers or marks); totals: numbers or None."""
    m = len(ks)
    kv = [_num(v) for v in ks]
    nv = [_num(v) for v in ns]
    bounds = [(0, None) if v is None else (v, v) for v in kv] + \
             [(0, None) if v is None else (v, v) for v in nv]
    a_ub = np.zeros((m, 2 * m))
    for i in range(m):
        a_ub[i, i], a_ub[i, m + i] = 1, -1         # k_i <= n_i
    b_ub = np.zeros(m)
    a_eq, b_eq = [], []
    if total_k is not None:
        a_eq.append(np.r_[np.ones(m), np.zeros(m)])
        b_eq.append(total_k)
    if total_n is not None:
        a_eq.append(np.r_[np.zeros(m), np.ones(m)])
        b_eq.append(total_n)
    a_eq = np.array(a_eq) if a_eq else None
    b_eq = np.array(b_eq) if b_eq else None
    found = []
    for i in range(m):
        if kv[i] is None:
            e = np.zeros(2 * m)
            e[i] = 1
            found.append((f"k[{i}]", *_interval(e, a_ub, b_ub, a_eq, b_eq, bounds)))
            c = np.zeros(2 * m)
            c[m + i], c[i] = 1, -1
            found.append((f"n-k[{i}]", *_interval(c, a_ub, b_ub, a_eq, b_eq, bounds)))
        if nv[i] is None:
            e = np.zeros(2 * m)
            e[m + i] = 1
            found.append((f"n[{i}]", *_interval(e, a_ub, b_ub, a_eq, b_eq, bounds)))
    return found


def assert_rates_view_safe(table: pd.DataFrame, overall: pd.DataFrame, *, by: str) -> int:
    """Audit a published rates table (rendered) against the published overall table (rendered).
    Returns how many withheld quantities were audited."""
    audited = 0
    for (instr, outcome), part in table.groupby(["instrument", "outcome"]):
        o = overall[(overall["instrument"] == instr) & (overall["outcome"] == outcome)]
        tk = _num(o["k"].iloc[0]) if len(o) else None
        tn = _num(o["n"].iloc[0]) if len(o) else None
        for name, lo, hi in audit_rate_set(part["k"].tolist(), part["n"].tolist(), tk, tn):
            audited += 1
            assert hi - lo >= M, (f"{instr} {outcome} by {by}: withheld {name} of "
                                  f"{part[by].tolist()} is within [{lo}, {hi}]")
    return audited


def assert_counts_safe(values: list, total) -> int:
    """Audit one set of disjoint published counts whose total is published."""
    kv = [_num(v) for v in values]
    hidden = [i for i, v in enumerate(kv) if v is None]
    if not hidden or total is None:
        return 0
    s = total - sum(v for v in kv if v is not None)
    for i in hidden:
        obj = np.zeros(len(kv))
        obj[i] = 1
        bounds = [(0, None) if v is None else (v, v) for v in kv]
        lo, hi = _interval(obj, None, None, np.ones((1, len(kv))), np.array([total]), bounds)
        assert hi - lo >= M, f"withheld count {i} of {values} (total {total}) in [{lo}, {hi}]"
    assert s >= 0
    return len(hidden)


def _clinic(n_patients: int, seed: int):
    data = generate(n_patients, seed=seed, with_items=False)
    al = align(data.assessments, data.sessions)
    o = per_course_outcomes(al)
    return al, o, course_attributes(al, data.patients)


@pytest.fixture(scope="module")
def sample(sample_alignment, sample_frames):
    patients, _, _ = sample_frames
    return sample_alignment, per_course_outcomes(sample_alignment), \
        course_attributes(sample_alignment, patients)


def _audit_clinic(al, o, attrs, settings: Settings) -> int:
    audited = 0
    for instrument in ("PHQ9", "GAD7", "PCL5"):
        head = views.headline_rates(o, instrument=instrument, settings=settings)
        overall = rates_table(head)
        for by in ("route", "indication", "clinic_id", "clinician_id", "course_type"):
            view = views.breakdown_view(o, attrs, instrument=instrument, by=by,
                                        settings=settings)
            audited += assert_rates_view_safe(rates_table(view.rates), overall, by=by)
        trend = views.trend_view(o, attrs, instrument=instrument, settings=settings,
                                 as_of=None).table
        t = rates_table(views.RateTable(trend.rename(columns={"start_month": "group"}),
                                        by="start_month", min_cell_size=M,
                                        confidence_level=0.95))
        audited += assert_rates_view_safe(t, overall, by="start_month")
        # the funnel's steps are the card's n and k; its first step is the completeness total
        funnel = funnel_table(views.funnel_view(o, instrument=instrument, settings=settings,
                                                headline=head)).set_index("stage")
        card = overall[overall["outcome"] == "endpoint_response"]
        if len(card):
            assert funnel.loc["assessed_at_endpoint", "courses"] == card["n"].iloc[0]
            assert funnel.loc["responded", "courses"] == card["k"].iloc[0]
        comp = views.completeness_view(completeness(al, o), settings=settings)
        comp = counts_table(comp, value="courses", min_cell_size=M)
        part = comp[comp["instrument"] == instrument]
        audited += assert_counts_safe(part["courses"].tolist(),
                                      _num(funnel.loc["started", "courses"]))
    return audited


def test_sample_views_disclose_no_withheld_count(sample):
    assert _audit_clinic(*sample, Settings()) > 20  # there is something to audit


@pytest.mark.parametrize(("n_patients", "seed"), [(60, 1), (150, 7), (400, 11), (1200, 3)])
def test_generated_clinics_disclose_no_withheld_count(n_patients, seed):
    _audit_clinic(*_clinic(n_patients, seed), Settings())


@st.composite
def rate_tables(draw):
    groups = draw(st.integers(2, 7))
    rows = []
    for g in range(groups):
        n = draw(st.integers(1, 80))
        k = draw(st.integers(0, n))
        pts = draw(st.integers(max(1, n // 3), n))
        rows.append((f"g{g}", k, n, pts))
    t = pd.DataFrame(rows, columns=["group", "k", "n", "n_patients"])
    return t.assign(instrument="PHQ9", outcome="endpoint_response",
                    rate=t["k"] / t["n"], ci_low=0.0, ci_high=1.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rate_tables(), st.sampled_from([5, 11]))
def test_hypothesis_tables_disclose_no_withheld_count(t, m):
    global M
    overall = pd.DataFrame({"instrument": ["PHQ9"], "outcome": ["endpoint_response"],
                            "k": [t["k"].sum()], "n": [t["n"].sum()],
                            "n_patients": [t["n_patients"].sum()]})
    decided = withhold_rates(t, by=["group"], min_cell_size=m, overall=overall)
    head = withhold_rates(overall.assign(group="all", rate=np.nan, ci_low=np.nan,
                                         ci_high=np.nan), by=["group"], min_cell_size=m)
    shown = rates_table(views.RateTable(decided, by="group", min_cell_size=m,
                                        confidence_level=0.95))
    published = rates_table(views.RateTable(head, by=None, min_cell_size=m,
                                            confidence_level=0.95))
    old, M = M, m
    try:
        assert_rates_view_safe(shown, published, by="group")
    finally:
        M = old
    # primary cells are always withheld; protecting cells only where needed
    small = (t["n_patients"] < m) | (t["k"] < m) | (t["n"] - t["k"] < m)
    assert (decided.loc[small.to_numpy(), "withheld"] == "primary").all()
