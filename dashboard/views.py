"""View objects: what each page, export and report shows, decided once (no Streamlit, no SQL).

Every figure a person reads comes from here: the overview's cards, trajectories, KM curves, trend
and funnel; the breakdowns; the completeness counts. Small cells are pooled and withheld here,
from :mod:`analysis.suppression`, and every renderer (``dashboard.charts``, the pages, the CSV /
XLSX tables, chart exports and the PDF report) draws only from these objects: a chart cannot show
what a table withholds, and the same filters give the same counts everywhere.

Inputs are the per-course outcomes, the alignment and the course attributes *already restricted
to the filters* (:func:`course_mask` does that), plus the :class:`analysis.Settings` in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import (
    Settings,
    attrition_funnel,
    summarize_rates,
    week_bins,
)
from analysis import schemas as S
from analysis.cohort import WEEKS, long_bin_means, summarize_bin_means
from analysis.durability import GroupCurve, survival_subjects
from analysis.safety import (
    SAFETY_BREAKDOWNS,
    SAFETY_OUTCOMES,
    course_tolerance,
    discharge_summary,
    flag_values,
    safety_rates,
    serious_events,
)
from analysis.suppression import (
    pool_small_groups,
    withhold_counts,
    withhold_rates,
)
from analysis.survival import LogRankResult, kaplan_meier, logrank_test
from dashboard.labels import COMPLETENESS_SHORT

__all__ = ["SafetyView", "safety_view", "safety_trend", "safety_mask", "PatientSafetyView",
           "patient_safety_view", "benefit_risk_view", "protect_published_sums", "RateTable", "KMView", "FunnelView", "TrajectoryView",
           "TrendView", "OverviewView", "BreakdownView", "course_mask", "headline_rates", "breakdown_view", "km_view",
           "funnel_view", "overview_view", "completeness_view", "AT_RISK_DAYS"]

#: Days at which KM displays print the number still at risk (definitions.md).
AT_RISK_DAYS = (0, 30, 60, 90, 180)


def course_mask(attrs: pd.DataFrame, *, clinics: tuple[str, ...] = (),
                clinicians: tuple[str, ...] = (), routes: tuple[str, ...] = (),
                indications: tuple[str, ...] = (), start: dt.date | None = None,
                end: dt.date | None = None) -> pd.DataFrame:
    """The course attributes of the courses that pass the filters (empty tuple = all)."""
    m = pd.Series(True, index=attrs.index)
    for col, values in ((S.CLINIC_ID, clinics), (S.CLINICIAN_ID, clinicians),
                        (S.ROUTE, routes), (S.INDICATION, indications)):
        if values:
            m &= attrs[col].isin(values)
    return attrs[m & _in_period(attrs["first_dose_at"], start, end)]


def _in_period(when: pd.Series, start: dt.date | None, end: dt.date | None) -> pd.Series:
    """Whether each time falls from ``start`` through the whole day ``end`` (None: open)."""
    m = pd.Series(True, index=when.index)
    if start:
        m &= when >= pd.Timestamp(start)
    if end:
        m &= when < pd.Timestamp(end) + pd.Timedelta(days=1)
    return m


@dataclass(frozen=True)
class RateTable:
    """Rates with the withholding decided: ``table`` has ``group`` (``"all"`` overall),
    ``instrument``, ``outcome``, ``k``, ``n``, ``n_patients``, ``rate``, ``ci_low``, ``ci_high``
    (NaN where withheld), ``withheld`` (``""`` / ``"primary"`` / ``"protecting"``),
    ``n_withheld``; ``pooled`` names the groups merged into ``Other``."""

    table: pd.DataFrame
    by: str | None
    min_cell_size: int
    confidence_level: float
    pooled: tuple[str, ...] = ()
    unit: str = "course"  #: what ``k`` and ``n`` count: ``course`` or ``session``

    def outcome(self, outcome: str) -> pd.DataFrame:
        """The rows of one outcome."""
        return self.table[self.table["outcome"] == outcome]

    def cell(self, outcome: str, group: str = "all") -> pd.Series | None:
        """One decided cell (``None`` when no course has the outcome defined)."""
        t = self.table
        row = t[(t["outcome"] == outcome) & (t["group"] == group)]
        return None if row.empty else row.iloc[0]


def _decide(rates: pd.DataFrame, by: str | None, settings: Settings,
            overall: pd.DataFrame | None) -> pd.DataFrame:
    r = rates.rename(columns={by: "group"}) if by else rates.assign(group="all")
    if r.empty:
        return r.assign(group=pd.Series(dtype=str), withheld=pd.Series(dtype=str),
                        n_withheld=pd.Series(dtype=bool))
    return withhold_rates(r, by=["group"], min_cell_size=settings.min_cell_size,
                          overall=overall)


def headline_rates(outcomes: pd.DataFrame, *, instrument: str, settings: Settings) -> RateTable:
    """The overall rates of one instrument (the cards), withheld where small."""
    oi = outcomes[outcomes[S.INSTRUMENT] == instrument]
    raw = summarize_rates(oi, settings=settings)
    return RateTable(table=_decide(raw, None, settings, None), by=None,
                     min_cell_size=settings.min_cell_size,
                     confidence_level=settings.confidence_level)


def _pooled_attributes(outcomes: pd.DataFrame, attrs: pd.DataFrame, by: str,
                       settings: Settings) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Attributes with small groups of ``by`` pooled into ``Other`` (decided on the patients
    of the outcome rows in view)."""
    keys = outcomes[[S.PATIENT_ID, S.COURSE_ID]].drop_duplicates()
    a = attrs.merge(keys, on=[S.PATIENT_ID, S.COURSE_ID])
    pooled = pool_small_groups(a[by], a[S.PATIENT_ID], min_cell_size=settings.min_cell_size)
    merged = tuple(sorted(set(a[by].astype(str)[pooled.to_numpy() != a[by].astype(str)])))
    return a.assign(**{by: pooled.to_numpy()}), merged


@dataclass(frozen=True)
class KMView:
    """A Kaplan–Meier display: truncated curves of the groups shown, the groups withheld, the
    log-rank test among the groups shown, and the number at risk at :data:`AT_RISK_DAYS`
    (NaN where fewer than ``min_cell_size``)."""

    endpoint: str
    curves: tuple[GroupCurve, ...]
    withheld_groups: tuple[str, ...]
    logrank: LogRankResult | None
    at_risk: pd.DataFrame
    by: str | None
    min_cell_size: int
    confidence_level: float


def km_view(outcomes: pd.DataFrame, *, endpoint: str, instrument: str | None,
            settings: Settings, attributes: pd.DataFrame | None = None,
            by: str | None = None) -> KMView | None:
    """KM curves (overall or by an already pooled group), withheld where fewer than
    ``min_cell_size`` patients, cut where fewer are at risk; ``None`` when nothing is estimable
    or everything is withheld."""
    subjects = survival_subjects(outcomes, endpoint=endpoint, instrument=instrument,
                                 attributes=attributes, by=by)
    m = settings.min_cell_size
    patients = subjects.groupby("group")[S.PATIENT_ID].nunique()
    shown_groups = sorted(g for g, n in patients.items() if n >= m)
    withheld = [g for g in sorted(patients.index) if g not in shown_groups]
    if not shown_groups:
        return None
    subjects = subjects[subjects["group"].isin(shown_groups)]
    d = subjects["duration"].to_numpy(dtype=float)
    c = subjects["censored"].to_numpy(dtype=bool)
    g = subjects["group"].to_numpy()
    shown = [GroupCurve(grp, kaplan_meier(d[g == grp], c[g == grp],
                                          confidence_level=settings.confidence_level
                                          ).truncated(m)) for grp in shown_groups]
    # the log-rank test compares only the groups shown
    lr = logrank_test(d, c, g) if by and len(shown) > 1 and (~c).any() else None
    rows = {}
    for gc in shown:
        counts = gc.km.at_risk_at(AT_RISK_DAYS).astype(float)
        rows[gc.group] = np.where(counts >= m, counts, np.nan)
    at_risk = pd.DataFrame(rows, index=list(AT_RISK_DAYS)).T
    return KMView(endpoint=endpoint, curves=tuple(shown), withheld_groups=tuple(withheld),
                  logrank=lr, at_risk=at_risk, by=by, min_cell_size=m,
                  confidence_level=settings.confidence_level)


@dataclass(frozen=True)
class BreakdownView:
    """Rates and durability by one attribute, small groups pooled, cells withheld."""

    by: str
    instrument: str
    rates: RateTable
    durability: KMView | None


def breakdown_view(outcomes: pd.DataFrame, attributes: pd.DataFrame, *, instrument: str,
                   by: str, settings: Settings) -> BreakdownView:
    """One breakdown: the same pooled groups in the rates and the KM curves; the overall
    rates (the cards) are the published totals the protection accounts for."""
    oi = outcomes[outcomes[S.INSTRUMENT] == instrument]
    attrs, merged = _pooled_attributes(oi, attributes, by, settings)
    raw = summarize_rates(oi, attributes=attrs, by=[by], settings=settings)
    overall = summarize_rates(oi, settings=settings)
    table = RateTable(table=_decide(raw, by, settings, overall), by=by,
                      min_cell_size=settings.min_cell_size,
                      confidence_level=settings.confidence_level, pooled=merged)
    km = km_view(oi, endpoint="durability", instrument=instrument, settings=settings,
                 attributes=attrs, by=by)
    return BreakdownView(by=by, instrument=instrument, rates=table, durability=km)


@dataclass(frozen=True)
class FunnelView:
    """The attrition funnel with counts withheld from the same decisions as the rates:
    ``stages`` has ``stage``, ``n_courses`` (NaN where withheld), ``withheld``,
    ``share_of_started``, ``estimate``, ``ci_low``, ``ci_high`` (the 90-day KM step) and
    ``nested``."""

    instrument: str
    stages: pd.DataFrame
    min_cell_size: int
    confidence_level: float
    #: when the 90-day step is not estimable: (day, estimate, low, high) at the latest of the
    #: survival horizons that still has enough responders at risk, else None
    earlier: tuple[float, float, float, float] | None = None


def funnel_view(outcomes: pd.DataFrame, *, instrument: str, settings: Settings,
                headline: RateTable) -> FunnelView:
    """The funnel; its endpoint and responder steps are the response card's n and k and are
    withheld exactly when the card withholds them."""
    f = attrition_funnel(outcomes, instrument=instrument, settings=settings)
    decided = withhold_counts(f.assign(_set=f["nested"]), value="n_courses",
                              min_cell_size=settings.min_cell_size, total_published=False)
    f["withheld"] = decided["withheld"].to_numpy()
    cell = headline.cell("endpoint_response")
    if cell is not None:
        for stage, col in (("assessed_at_endpoint", "n"), ("responded", "k")):
            i = f.index[f["stage"] == stage][0]
            if pd.isna(cell[col]):
                f.loc[i, "withheld"] = cell["withheld"] or "primary"
            else:
                f.loc[i, "withheld"] = ""
    shown = f["withheld"] == ""
    f["n_courses"] = f["n_courses"].where(shown)
    f["share_of_started"] = f["share_of_started"].where(shown)
    last = f[f["stage"] == "in_response_at_90_days"].iloc[0]
    earlier = None if pd.isna(last["earlier_day"]) else (
        float(last["earlier_day"]), last["earlier_estimate"], last["earlier_low"],
        last["earlier_high"])
    return FunnelView(instrument=instrument, stages=f, min_cell_size=settings.min_cell_size,
                      confidence_level=settings.confidence_level, earlier=earlier)


@dataclass(frozen=True)
class TrajectoryView:
    """Mean change from baseline by day bin for one instrument; bins with fewer than
    ``min_cell_size`` patients are withheld (``withheld`` True, values NaN)."""

    instrument: str
    table: pd.DataFrame
    value: str


def trajectory_view(course_means: pd.DataFrame, *, instrument: str, settings: Settings,
                    ) -> TrajectoryView:
    """The change-from-baseline trajectory at the real day position of each bin, from each
    course's mean in each bin (``course_means``: the ``t0``… columns of
    :func:`analysis.cohort.wide_bin_means`, for the courses in view)."""
    rows = course_means[course_means[S.INSTRUMENT] == instrument]
    t = summarize_bin_means(long_bin_means(rows, "trajectory"), value="pct_change",
                            bins=settings.trajectory_bins, settings=settings)
    t["withheld"] = t["n_patients"] < settings.min_cell_size
    for col in ("mean", "ci_low", "ci_high", "n_courses", "n_patients"):
        t[col] = t[col].astype(float).mask(t["withheld"])
    return TrajectoryView(instrument=instrument, table=t, value="pct_change")


def weekly_view(course_means: pd.DataFrame, *, instrument: str, settings: Settings
                ) -> pd.DataFrame:
    """Share in response by week since the first dose; a week is withheld when it has fewer
    than ``min_cell_size`` patients, or fewer in or out of response."""
    rows = course_means[course_means[S.INSTRUMENT] == instrument]
    w = summarize_bin_means(long_bin_means(rows, "weekly"), value="is_response",
                            bins=week_bins(WEEKS), settings=settings)
    k = np.rint(w["mean"] * w["n_courses"])
    m = settings.min_cell_size
    w["withheld"] = (w["n_patients"] < m) | (k < m) | (w["n_courses"] - k < m)
    for col in ("mean", "ci_low", "ci_high"):
        w[col] = w[col].astype(float).mask(w["withheld"])
    w["n_courses"] = w["n_courses"].astype(float).mask(w["n_patients"] < m)
    return w


@dataclass(frozen=True)
class TrendView:
    """Response by month (or quarter) of course start: ``table`` has ``start_month`` (the
    period's label), ``k``, ``n``, ``rate``, ``ci_low``, ``ci_high`` (NaN where withheld),
    ``withheld``, ``immature`` (too recent for its endpoint to be judged: the period ended less
    than ``maturity_days`` before the data's last contact). ``period`` is ``"month"`` or
    ``"quarter"``."""

    instrument: str
    outcome: str
    table: pd.DataFrame
    maturity_days: float
    period: str = "month"


def _trend_table(oi: pd.DataFrame, attributes: pd.DataFrame, settings: Settings, outcome: str,
                 period: str, as_of: pd.Timestamp | None) -> pd.DataFrame:
    a = attributes
    if period == "quarter":
        q = a["first_dose_at"].dt.to_period("Q")
        a = a.assign(start_month=q.astype(str).str.replace("Q", " Q", regex=False))
        ends = {lab: p.end_time.normalize() for lab, p in
                zip(a["start_month"], q, strict=True)}
    raw = summarize_rates(oi, attributes=a, by=["start_month"], settings=settings,
                          outcomes_to_rate=[outcome])
    overall = summarize_rates(oi, settings=settings, outcomes_to_rate=[outcome])
    t = _decide(raw, "start_month", settings, overall).rename(columns={"group": "start_month"})
    if len(t) and as_of is not None:
        if period == "quarter":
            period_end = t["start_month"].map(ends)
        else:
            period_end = pd.to_datetime(t["start_month"] + "-01") + pd.offsets.MonthEnd(0)
        t["immature"] = (period_end + pd.Timedelta(days=settings.maturity_days)) > as_of
    else:
        t["immature"] = False
    return t.sort_values("start_month").reset_index(drop=True)


def trend_view(outcomes: pd.DataFrame, attributes: pd.DataFrame, *, instrument: str,
               settings: Settings, as_of: pd.Timestamp | None,
               outcome: str = "endpoint_response") -> TrendView:
    """The trend by month of course start, or by quarter when fewer than half of the months
    could be shown (a small clinic's months are mostly small cells); withheld with the card's
    total as the published total."""
    oi = outcomes[outcomes[S.INSTRUMENT] == instrument]
    period = "month"
    t = _trend_table(oi, attributes, settings, outcome, "month", as_of)
    if len(t) and t["rate"].notna().mean() < 0.5:
        period = "quarter"
        t = _trend_table(oi, attributes, settings, outcome, "quarter", as_of)
    return TrendView(instrument=instrument, outcome=outcome, table=t,
                     maturity_days=settings.maturity_days, period=period)


def protect_published_sums(cells: pd.DataFrame, windows: list[list[str]]) -> pd.DataFrame:
    """Cells decided one by one (``group``, ``k``, ``n``, ``rate``, ``ci_low``, ``ci_high``,
    ``withheld``, ``n_withheld``) whose sums over some ``windows`` of groups are published
    elsewhere — the report's quarters, whose sums are the period, the previous period and the
    12 months before on its first page. Where a window holds some withheld cell but not only
    withheld ones, every cell of it is withheld (marked protecting), until nothing changes: a
    lone withheld quarter can then not be worked out as the published sum minus the others.

    >>> t = pd.DataFrame({"group": ["Q1", "Q2", "Q3"], "k": [15.0, np.nan, 22.0],
    ...     "n": [26.0, 25.0, 38.0], "n_patients": [26.0, 25.0, 38.0], "rate": [.58, np.nan, .58],
    ...     "ci_low": [.4, np.nan, .4], "ci_high": [.7, np.nan, .7],
    ...     "withheld": ["", "primary", ""], "n_withheld": [False, False, False]})
    >>> protect_published_sums(t, [["Q1", "Q2", "Q3"]])["withheld"].tolist()
    ['protecting', 'primary', 'protecting']
    """
    out = cells.copy().reset_index(drop=True)
    changed = True
    while changed:
        changed = False
        for window in windows:
            inside = out["group"].isin(window).to_numpy()
            for hidden_col, cols in (("k", ("k", "rate", "ci_low", "ci_high")),
                                     ("n", ("n", "n_patients"))):
                hidden = out[hidden_col].isna().to_numpy() & inside
                if hidden.any() and (inside & ~hidden).any():
                    newly = inside & ~hidden
                    for col in cols:
                        out.loc[newly, col] = np.nan
                    if hidden_col == "n":
                        out.loc[newly, "n_withheld"] = True
                        for col in ("k", "rate", "ci_low", "ci_high"):
                            out.loc[newly, col] = np.nan
                    out.loc[newly & (out["withheld"] == "").to_numpy(), "withheld"] = "protecting"
                    changed = True
    return out


@dataclass(frozen=True)
class OverviewView:
    """Everything the overview (and the export page's overall charts) shows for one set of
    filters and one instrument."""

    instrument: str
    n_patients: int
    #: current patients (:func:`analysis.signals.is_current`) as of the signals' clock
    n_current: int
    n_courses: int
    headline: RateTable
    trajectory: TrajectoryView
    weekly: pd.DataFrame
    trend: TrendView
    funnel: FunnelView
    durability: KMView | None
    boosters: KMView | None
    settings: Settings


def overview_view(outcomes: pd.DataFrame, course_means: pd.DataFrame, attributes: pd.DataFrame,
                  *, instrument: str, settings: Settings, n_current: int,
                  as_of: pd.Timestamp | None) -> OverviewView:
    """The overview of the courses in ``outcomes`` and ``course_means`` (their bin means:
    :func:`analysis.cohort.wide_bin_means`), already filtered."""
    headline = headline_rates(outcomes, instrument=instrument, settings=settings)
    oi = outcomes[outcomes[S.INSTRUMENT] == instrument]
    return OverviewView(
        instrument=instrument,
        n_patients=int(outcomes[S.PATIENT_ID].nunique()),
        n_current=n_current,
        n_courses=int(len(outcomes.drop_duplicates([S.PATIENT_ID, S.COURSE_ID]))),
        headline=headline,
        trajectory=trajectory_view(course_means, instrument=instrument, settings=settings),
        weekly=weekly_view(course_means, instrument=instrument, settings=settings),
        trend=trend_view(outcomes, attributes, instrument=instrument, settings=settings,
                         as_of=as_of),
        funnel=funnel_view(outcomes, instrument=instrument, settings=settings,
                           headline=headline),
        durability=km_view(oi, endpoint="durability", instrument=instrument,
                           settings=settings),
        boosters=km_view(outcomes, endpoint="time_to_booster", instrument=None,
                         settings=settings),
        settings=settings)


def completeness_view(completeness: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """Courses per instrument by the reason their endpoint outcome is missing, with the share of
    the instrument's courses; counts withheld (each instrument's courses are a published total:
    the funnel's first step)."""
    c = completeness.assign(instrument=completeness[S.INSTRUMENT].astype("string")
                            .fillna("none"))
    table = c.groupby([S.INSTRUMENT, "endpoint_status"]).size().rename("courses").reset_index()
    table["share"] = table["courses"] / table.groupby(S.INSTRUMENT)["courses"].transform("sum")
    decided = withhold_counts(table, value="courses", min_cell_size=settings.min_cell_size,
                              set_keys=[S.INSTRUMENT])
    decided["share"] = decided["share"].where(decided["withheld"] == "")
    return decided



# --- one patient -----------------------------------------------------------------------------



def course_explanations(courses: pd.DataFrame, sessions: pd.DataFrame,
                        settings: Settings) -> list[str]:
    """Why the patient's runs of doses form the courses they do, in words.

    >>> c = pd.DataFrame({"course_number": [1, 2], "course_id": ["course-1", "course-2"],
    ...     "first_dose_at": pd.to_datetime(["2025-01-01", "2025-06-01"]),
    ...     "induction_doses": [4, 3], "booster_count": [1, 0],
    ...     "course_id_inferred": [True, True]})
    >>> s = pd.DataFrame({"kind": ["dosing"] * 8, "session_at": pd.to_datetime(
    ...     ["2025-01-01", "2025-01-04", "2025-01-08", "2025-01-11", "2025-02-20", "2025-06-01",
    ...      "2025-06-04", "2025-06-08"])})
    >>> print(course_explanations(c, s, __import__("analysis").Settings())[1])
    Course 2 began on 2025-06-01: that dose came 101 days after the previous one, more than the 90 days that end a course.
    """
    out = []
    doses = sessions[sessions["kind"].isin(["dosing", "booster"])].sort_values("session_at")
    for c in courses.sort_values("course_number").itertuples(index=False):
        start = pd.Timestamp(c.first_dose_at)
        boosters = (f" and {int(c.booster_count)} booster(s) within "
                    f"{settings.new_course_gap_days:g} days of the dose before each"
                    if c.booster_count else "")
        first = (f"Course {c.course_number} began on {start:%Y-%m-%d} with an induction series "
                 f"of {int(c.induction_doses)} dose(s) (each within "
                 f"{settings.induction_gap_days:g} days of the one before){boosters}.")
        if not c.course_id_inferred:
            out.append(first.replace(" began ", " (as given in the imported sessions) began "))
            continue
        before = doses[doses["session_at"] < start]
        if c.course_number == 1 or before.empty:
            out.append(first)
            continue
        gap = (start.normalize() - before["session_at"].iloc[-1].normalize()).days
        out.append(f"Course {c.course_number} began on {start:%Y-%m-%d}: that dose came {gap} "
                   f"days after the previous one, more than the {settings.new_course_gap_days:g}"
                   " days that end a course.")
    return out


def outcome_rows(outcomes: pd.DataFrame, completeness: pd.DataFrame) -> pd.DataFrame:
    """One patient's per-course outcomes in words: one row per course and instrument, whole
    days, and "—" with the reason where an outcome is unknown."""
    if outcomes.empty:
        return pd.DataFrame()
    comp = completeness.set_index([S.COURSE_ID, S.INSTRUMENT]) if len(completeness) else None
    rows = []
    for o in outcomes.itertuples(index=False):
        why_base = why_end = why_rapid = ""
        if comp is not None and (o.course_id, o.instrument) in comp.index:
            r = comp.loc[(o.course_id, o.instrument)]
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            why_base = COMPLETENESS_SHORT.get(r["baseline_status"], "")
            why_end = COMPLETENESS_SHORT.get(r["endpoint_status"], "")
            why_rapid = COMPLETENESS_SHORT.get(r["rapid_status"], "")

        def yes_no(value, why):
            return "—" + (f" ({why})" if why else "") if pd.isna(value) else (
                "yes" if bool(value) else "no")

        def number(value, why, fmt="{:.0f}"):
            return "—" + (f" ({why})" if why else "") if pd.isna(value) else fmt.format(value)

        start, end = number(o.baseline_total, why_base), number(o.endpoint_total, why_end)
        change = "" if pd.isna(o.endpoint_pct_change) else f" ({o.endpoint_pct_change:+.0%})"
        rows.append({
            "Course": f"{o.course_id} ({pd.Timestamp(o.first_dose_at):%Y-%m-%d})",
            "Instrument": str(o.instrument), "Induction doses": int(o.induction_doses),
            "Baseline → endpoint": (f"{start} → {end}{change}" if not start.startswith("—")
                                    and not end.startswith("—") else
                                    start if start.startswith("—") else f"{start} → {end}"),
            "Response": yes_no(o.endpoint_response, why_end or why_base),
            "Remission": yes_no(o.endpoint_remission, why_end or why_base or
                                "started below the caseness cut-off"),
            "Rapid response": yes_no(o.rapid_response, why_rapid),
            "First response (day)": number(np.floor(o.first_response_day)
                                           if pd.notna(o.first_response_day) else np.nan,
                                           "no response yet"),
            "Response lasted (days)": "—" if pd.isna(o.durability_days) else (
                f"{np.floor(o.durability_days):.0f}"
                + (" so far" if bool(o.durability_censored) else "")),
            "Boosters": int(o.booster_count)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PatientHeader:
    """What a clinician reads first about one patient."""

    patient_id: str
    clinic: str
    clinician: str
    indication: str
    route: str
    course: str
    phase: str
    last_contact: str
    next_due: str
    open_signals: int


def patient_header(patient_id: str, profile: dict, courses: pd.DataFrame,
                   assessments: pd.DataFrame, sessions: pd.DataFrame, *, settings: Settings,
                   as_of: pd.Timestamp, open_signals: int) -> PatientHeader:
    """The header fields (phase and day of course are as of ``as_of``)."""
    from analysis.caseload import schedule_status

    as_of = pd.Timestamp(as_of)
    contacts = pd.concat([assessments["administered_at"], sessions["session_at"]])
    last = contacts.max() if len(contacts) else None
    if courses.empty:
        course, phase, due, route = "no course yet", "—", "—", "—"
    else:
        c = courses.sort_values("course_number").iloc[-1]
        course = f"course {int(c['course_number'])} of {len(courses)}"
        mine = assessments[(assessments[S.COURSE_ID] == c[S.COURSE_ID])
                           & assessments[S.TOTAL].notna()]
        state, due_at, overdue = schedule_status(
            as_of=as_of, first_dose_at=c["first_dose_at"],
            induction_end_at=c["induction_end_at"],
            last_score_at=mine["administered_at"].max() if len(mine) else None,
            settings=settings)
        day = (as_of.normalize() - pd.Timestamp(c["first_dose_at"]).normalize()).days
        phase = f"{state}, day {day}"
        due = ("none routinely" if due_at is None else f"{due_at:%Y-%m-%d}"
               + (f" (overdue by {overdue} days)" if overdue else ""))
        route = str(c.get("route") or "—")
    return PatientHeader(
        patient_id=patient_id, clinic=str(profile.get("clinic_id") or "—"),
        clinician=str(profile.get("clinician_id") or "—"),
        indication=str(profile.get("indication") or "—"), route=route, course=course,
        phase=phase,
        last_contact="—" if last is None or pd.isna(last) else
        f"{last:%Y-%m-%d} ({(as_of.normalize() - last.normalize()).days} days ago)",
        next_due=due, open_signals=int(open_signals))


# --- session safety ------------------------------------------------------------------------


def safety_mask(table: pd.DataFrame, attrs: pd.DataFrame, *, clinics: tuple[str, ...] = (),
                clinicians: tuple[str, ...] = (), routes: tuple[str, ...] = (),
                indications: tuple[str, ...] = (), start: dt.date | None = None,
                end: dt.date | None = None) -> pd.DataFrame:
    """The session safety records under the filters: the clinic, clinician, route and
    indication of the session's course (:func:`course_mask`, as every outcome figure), and the
    period by the **session's** date (a safety figure is about sessions given in the period)."""
    keep = course_mask(attrs, clinics=clinics, clinicians=clinicians, routes=routes,
                       indications=indications)
    out = table.merge(keep[[S.PATIENT_ID, S.COURSE_ID, S.CLINIC_ID, S.INDICATION]],
                      on=[S.PATIENT_ID, S.COURSE_ID], how="inner")
    return out[_in_period(out[S.SESSION_AT], start, end)].reset_index(drop=True)


def _safety_rate_table(table: pd.DataFrame, *, by: str | None, unit: str, settings: Settings,
                       overall: pd.DataFrame | None = None) -> RateTable:
    """Safety rates by ``by`` (small groups pooled by patients), decided by the one
    withholding rule with the overall rates as the published totals."""
    pooled: tuple[str, ...] = ()
    t = table
    if by in ("route", "dose_band"):
        groups = t[by].astype(object).where(t[by].notna(), "unknown").astype(str)
        merged = pool_small_groups(groups, t[S.PATIENT_ID],
                                   min_cell_size=settings.min_cell_size)
        pooled = tuple(sorted(set(groups[merged.to_numpy() != groups.to_numpy()])))
        t = t.assign(**{by: merged.to_numpy()})
    raw = safety_rates(t, by=by, unit=unit, settings=settings)
    decided = _decide(raw, by, settings, overall)
    return RateTable(table=decided, by=by, min_cell_size=settings.min_cell_size,
                     confidence_level=settings.confidence_level, pooled=pooled, unit=unit)


@dataclass(frozen=True)
class SafetyView:
    """Everything the Safety page, the safety export and the report's safety section show,
    decided once: rates per session and per course, by route, dose band, session number and
    quarter; time to discharge; why monitoring was incomplete; serious events."""

    n_sessions: int
    n_patients: int
    n_courses: int
    headline: RateTable
    courses: RateTable
    by: dict[str, RateTable]
    monthly: RateTable        #: by month of the session
    quarterly: RateTable      #: by quarter of the session
    discharge: pd.DataFrame   #: by route: sessions, n_patients, median, q1, q3 (NaN: withheld)
    reasons: pd.DataFrame     #: incomplete_reason, sessions, patients, withheld
    serious: pd.DataFrame     #: every severe or serious event (patient-level; see data.py)
    n_serious: int
    #: the events' count as shared (exports, report): the count, or None when fewer than
    #: ``min_cell_size`` patients had them (a count of events must not reveal a small group)
    n_serious_shared: int | None
    min_cell_size: int
    confidence_level: float


def safety_view(table: pd.DataFrame, events: pd.DataFrame, *, settings: Settings
                ) -> SafetyView:
    """The safety figures of the sessions in ``table`` (already filtered, :func:`safety_mask`).

    >>> from analysis.safety import session_safety
    >>> s = pd.DataFrame({"patient_id": ["A"], "session_at": [pd.Timestamp("2025-01-06 10:00")],
    ...                   "kind": ["dosing"], "route": ["IN"], "dose_mg": [56.0]})
    >>> v = safety_view(session_safety(s, pd.DataFrame(), pd.DataFrame()), pd.DataFrame(),
    ...                 settings=Settings())
    >>> v.n_sessions, v.headline.cell("monitoring_complete")["withheld"]
    (1, 'primary')
    """
    m = settings.min_cell_size
    # each flag as 0/1/NaN once (every rate table below reads them)
    table = table.assign(**{o: flag_values(table[o]) for o in SAFETY_OUTCOMES
                            if o in table.columns})
    head_raw = safety_rates(table, unit="session", settings=settings)
    headline = RateTable(table=_decide(head_raw, None, settings, None), by=None,
                         min_cell_size=m, confidence_level=settings.confidence_level,
                         unit="session")
    courses = _safety_rate_table(table, by=None, unit="course", settings=settings)
    by = {name: _safety_rate_table(table, by=name, unit="session", settings=settings,
                                   overall=head_raw)
          for name in SAFETY_BREAKDOWNS}
    monthly = _safety_rate_table(table, by="month", unit="session", settings=settings,
                                 overall=head_raw)
    quarterly = _safety_rate_table(table, by="quarter", unit="session", settings=settings,
                                   overall=head_raw)
    discharge = discharge_summary(table, by="route")
    small = discharge["n_patients"] < m
    for col in ("median", "q1", "q3", "sessions", "n_patients"):
        discharge[col] = discharge[col].astype(float).mask(small)
    discharge["withheld"] = np.where(small, "primary", "")
    reasons = (table[table["incomplete_reason"] != ""].groupby("incomplete_reason")
               .agg(sessions=(S.PATIENT_ID, "size"), patients=(S.PATIENT_ID, "nunique"))
               .reset_index())
    if len(reasons):
        decided = withhold_counts(reasons, value="patients", min_cell_size=m)
        reasons["withheld"] = decided["withheld"].to_numpy()
        hidden = reasons["withheld"] != ""
        reasons["sessions"] = reasons["sessions"].astype(float).mask(hidden)
        reasons["patients"] = reasons["patients"].astype(float).mask(hidden)
    else:
        reasons["withheld"] = pd.Series(dtype=str)
    serious = serious_events(table, events).merge(
        table[[S.PATIENT_ID, S.SESSION_AT]].drop_duplicates(), on=[S.PATIENT_ID, S.SESSION_AT])
    return SafetyView(
        n_sessions=len(table), n_patients=int(table[S.PATIENT_ID].nunique()),
        n_courses=len(table[[S.PATIENT_ID, S.COURSE_ID]].drop_duplicates()),
        headline=headline, courses=courses, by=by, monthly=monthly, quarterly=quarterly,
        discharge=discharge,
        reasons=reasons, serious=serious, n_serious=len(serious),
        n_serious_shared=(len(serious) if len(serious) == 0
                          or serious[S.PATIENT_ID].nunique() >= m else None),
        min_cell_size=m,
        confidence_level=settings.confidence_level)


def safety_trend(view: SafetyView, outcome: str) -> tuple[RateTable, str]:
    """The trend of one flag by month, or by quarter when fewer than half of the months could
    be shown (the overview trend's rule): the table and ``"month"`` / ``"quarter"``."""
    months = view.monthly.outcome(outcome)
    if len(months) and months["rate"].notna().mean() >= 0.5:
        return view.monthly, "month"
    return view.quarterly, "quarter"


def benefit_risk_view(rates: RateTable, safety: RateTable, *,
                      safety_outcomes: tuple[str, ...] = ("any_adverse_event", "bp_excursion",
                                                          "sedated")) -> pd.DataFrame:
    """Benefit beside risk per group (route or dose band): the response rate per course (a
    breakdown's decided cells) and the safety rates per session (the Safety view's decided
    cells), each exactly as its own page shows it. A group pooled or withheld on one side is
    shown as such there.

    Returns ``group``, ``response``/``response_low``/``response_high``/``response_n``/
    ``response_withheld`` and for each safety outcome ``<o>``, ``<o>_low``, ``<o>_high``,
    ``<o>_n``, ``<o>_withheld``.
    """
    def cells(rt: RateTable, outcome: str, prefix: str) -> pd.DataFrame:
        t = rt.outcome(outcome)
        return pd.DataFrame({"group": t["group"].astype(str), prefix: t["rate"],
                             f"{prefix}_low": t["ci_low"], f"{prefix}_high": t["ci_high"],
                             f"{prefix}_n": t["n"], f"{prefix}_withheld": t["withheld"]})

    out = cells(rates, "endpoint_response", "response")
    for o in safety_outcomes:
        out = out.merge(cells(safety, o, o), on="group", how="outer")
    return out.sort_values("group", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class PatientSafetyView:
    """One patient's dosing sessions: flags per session, the readings behind them, events,
    and how dissociation and the blood-pressure rise changed over each course."""

    sessions: pd.DataFrame    #: analysis.safety.session_safety rows of the patient
    readings: pd.DataFrame    #: monitoring rows
    events: pd.DataFrame      #: adverse events
    tolerance: pd.DataFrame   #: analysis.safety.course_tolerance rows


def patient_safety_view(table: pd.DataFrame, monitoring: pd.DataFrame, events: pd.DataFrame
                        ) -> PatientSafetyView:
    """The patient's safety record (``table``, ``monitoring``, ``events`` already hold only
    that patient's rows)."""
    tol = course_tolerance(table) if len(table) else course_tolerance(table.head(0))
    return PatientSafetyView(
        sessions=table.sort_values(S.SESSION_AT).reset_index(drop=True),
        readings=monitoring.sort_values([S.SESSION_AT, "minutes_after_dose"]).reset_index(
            drop=True),
        events=events.reset_index(drop=True), tolerance=tol)
