"""Cohort statistics: rates with Wilson intervals, mean trajectories, breakdowns, attrition.

* Rates: ``k / n`` over the courses where the outcome is defined, with the Wilson score interval
  (Wilson 1927; Newcombe 1998), computed in closed form (cross-checked against
  ``scipy.stats.binomtest(...).proportion_ci(method="wilson")`` in the tests).
* Means: t-intervals ``mean ± t_{n-1} * sd / sqrt(n)``, one value per course per bin (the mean of
  the course's scores in that bin), so a patient assessed often does not weigh more.
* Breakdowns: any of ``clinic_id``, ``clinician_id``, ``route``, ``indication``, ``course_type``
  (first course vs. returning patient) or ``start_month``, from :func:`course_attributes`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis import schemas as S
from analysis.alignment import Alignment
from analysis.durability import survival_subjects
from analysis.settings import Settings
from analysis.survival import kaplan_meier

__all__ = ["compare_proportions", "RATE_OUTCOMES", "BREAKDOWNS", "bin_days", "wilson_interval", "summarize_rates",
           "course_attributes", "mean_trajectory", "week_bins", "attrition_funnel", "dose_band",
           "FUNNEL_STAGES", "course_bin_means", "wide_bin_means", "long_bin_means",
           "summarize_bin_means", "BIN_SERIES", "WEEKS"]

#: Binary per-course outcomes summarised as rates.
RATE_OUTCOMES = ("endpoint_response", "endpoint_remission", "rapid_response",
                 "reliable_improvement", "reliable_deterioration",
                 "clinically_significant_improvement")

#: Course attributes a breakdown may use.
BREAKDOWNS = (S.CLINIC_ID, S.CLINICIAN_ID, S.ROUTE, S.INDICATION, "course_type", "start_month",
              "dose_band")

#: The nested stages of the attrition funnel (``completed_induction`` is reported beside them).
FUNNEL_STAGES = ("started", "with_baseline", "assessed_at_endpoint", "responded",
                 "in_response_at_90_days")


def wilson_interval(k: int | np.ndarray, n: int | np.ndarray, *,
                    confidence_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes out of ``n`` (vectorised; NaN where n = 0).

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    >>> low, high = wilson_interval(6, 10)
    >>> round(float(low), 5), round(float(high), 5)
    (0.31267, 0.83182)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence_level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return low, high


def dose_band(route: pd.Series, dose_mg: pd.Series, weight_kg: pd.Series | None = None, *,
              settings: Settings | None = None) -> pd.Series:
    """Route-specific dose band: mg/kg where the weight is known, else mg.

    Bands never mix routes (esketamine mg and racemic ketamine mg/kg are not comparable), so
    the label names the route: ``"IV 0.5 to <0.75 mg/kg"``, ``"IN 70 to <100 mg"``.

    >>> dose_band(pd.Series(["IV", "IN", "IV"]), pd.Series([35.0, 84.0, None]),
    ...           pd.Series([70.0, None, 70.0])).tolist()
    ['IV 0.5 to <0.75 mg/kg', 'IN 70 to <100 mg', None]
    """
    settings = settings or Settings()
    dose = pd.to_numeric(dose_mg, errors="coerce").to_numpy(dtype=float)
    weight = (pd.to_numeric(weight_kg, errors="coerce").to_numpy(dtype=float)
              if weight_kg is not None else np.full(dose.size, np.nan))
    per_kg = np.where(weight > 0, dose / np.where(weight > 0, weight, 1), np.nan)

    def labels(values: np.ndarray, edges: Sequence[float], unit: str) -> np.ndarray:
        edges = list(edges)
        names = ([f"<{edges[0]:g} {unit}"]
                 + [f"{a:g} to <{b:g} {unit}" for a, b in zip(edges, edges[1:], strict=False)]
                 + [f"≥{edges[-1]:g} {unit}"])
        idx = np.searchsorted(np.asarray(edges, dtype=float), values, side="right")
        out = np.array(names, dtype=object)[np.clip(idx, 0, len(names) - 1)]
        return np.where(np.isnan(values), None, out)

    by_kg = labels(per_kg, settings.dose_band_mg_per_kg, "mg/kg")
    by_mg = labels(dose, settings.dose_band_mg, "mg")
    band = np.where(pd.notna(by_kg), by_kg, by_mg)
    r = route.astype(object).to_numpy()
    out = [f"{a} {b}" if isinstance(a, str) and b is not None else None
           for a, b in zip(r, band, strict=True)]
    return pd.Series(out, index=route.index, dtype=object)


def course_attributes(alignment: Alignment, patients: pd.DataFrame | None = None) -> pd.DataFrame:
    """Attributes of each course for breakdowns.

    Parameters
    ----------
    alignment : Alignment
    patients : DataFrame, optional
        ``patient_id`` with optional ``clinic_id``, ``clinician_id``, ``indication``.

    Returns
    -------
    DataFrame, one row per (patient, course): ``patient_id``, ``course_id``, ``course_number``,
    ``course_type`` (``first`` / ``returning``), ``route`` (of the first dose), ``clinic_id``
    (``main`` when unknown), ``clinician_id`` (the patient's primary clinician, else the first
    dose's), ``indication`` (``unknown`` when not given), ``start_month`` (``YYYY-MM``),
    ``dose_band`` (of the first dose, :func:`dose_band`; ``unknown`` without a dose),
    ``first_dose_at``, ``induction_doses``, ``booster_count``.
    """
    c = alignment.courses
    out = c[[S.PATIENT_ID, S.COURSE_ID, S.COURSE_NUMBER, S.ROUTE, S.CLINICIAN_ID, "first_dose_at",
             "induction_doses", "booster_count"]].copy()
    out["course_type"] = np.where(out[S.COURSE_NUMBER] == 1, "first", "returning")
    out["start_month"] = out["first_dose_at"].dt.strftime("%Y-%m")
    s = alignment.sessions
    if "dose_index" in s.columns and S.DOSE_MG in s.columns and len(s):
        first = s[s["is_dose"] & (s["dose_index"] == 1)].drop_duplicates(
            [S.PATIENT_ID, S.COURSE_ID])
        band = dose_band(first[S.ROUTE], first[S.DOSE_MG],
                         first[S.WEIGHT_KG] if S.WEIGHT_KG in first.columns else None,
                         settings=alignment.settings)
        keys = first[[S.PATIENT_ID, S.COURSE_ID]].assign(dose_band=band.to_numpy())
        out = out.merge(keys, on=[S.PATIENT_ID, S.COURSE_ID], how="left")
    else:
        out["dose_band"] = None
    if patients is not None and len(patients):
        p = patients.copy()
        p[S.PATIENT_ID] = p[S.PATIENT_ID].astype(str)
        cols = [col for col in (S.CLINIC_ID, S.CLINICIAN_ID, S.INDICATION) if col in p.columns]
        p = p[[S.PATIENT_ID] + cols].drop_duplicates(S.PATIENT_ID)
        out = out.merge(p.rename(columns={S.CLINICIAN_ID: "_primary"}), on=S.PATIENT_ID,
                        how="left")
        if "_primary" in out.columns:
            out[S.CLINICIAN_ID] = out["_primary"].fillna(out[S.CLINICIAN_ID])
            out = out.drop(columns="_primary")
    for col, default in ((S.CLINIC_ID, "main"), (S.INDICATION, "unknown"),
                         (S.CLINICIAN_ID, "unknown"), (S.ROUTE, "unknown"),
                         ("dose_band", "unknown")):
        if col not in out.columns:
            out[col] = default
        out[col] = out[col].astype("string").fillna(default)
    return out


def _validate_by(by: Sequence[str]) -> list[str]:
    by = list(by)
    bad = [b for b in by if b not in BREAKDOWNS]
    if bad:
        raise ValueError(f"unknown breakdown {bad}; choose from {BREAKDOWNS}")
    return by


def summarize_rates(outcomes: pd.DataFrame, *, attributes: pd.DataFrame | None = None,
                    by: Sequence[str] = (), settings: Settings | None = None,
                    outcomes_to_rate: Sequence[str] = RATE_OUTCOMES) -> pd.DataFrame:
    """Rates of the binary outcomes with Wilson intervals, per instrument and group.

    Parameters
    ----------
    outcomes : DataFrame
        :func:`analysis.outcomes.per_course_outcomes`.
    attributes : DataFrame, keyword-only
        :func:`course_attributes`; required when ``by`` is given.
    by : sequence of str, keyword-only
        Breakdown columns (see :data:`BREAKDOWNS`).

    Returns
    -------
    DataFrame with ``by`` columns, ``instrument``, ``outcome``, ``k`` (courses with the outcome),
    ``n`` (courses where it is defined), ``n_patients`` (distinct patients among those ``n``),
    ``rate``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> o = pd.DataFrame({"patient_id": list("abcd"), "course_id": "1", "instrument": "PHQ9",
    ...                   "endpoint_response": pd.array([True, False, True, None], "boolean")})
    >>> r = summarize_rates(o, outcomes_to_rate=["endpoint_response"])
    >>> int(r.k[0]), int(r.n[0]), round(float(r.rate[0]), 4)
    (2, 3, 0.6667)
    """
    settings = settings or Settings()
    by = _validate_by(by)
    frame = outcomes
    if by:
        if attributes is None:
            raise ValueError("attributes are needed for a breakdown")
        frame = outcomes.merge(attributes[[S.PATIENT_ID, S.COURSE_ID] + by],
                               on=[S.PATIENT_ID, S.COURSE_ID], how="left")
    keys = by + [S.INSTRUMENT]
    long = frame[keys + [S.PATIENT_ID] + list(outcomes_to_rate)].melt(
        id_vars=keys + [S.PATIENT_ID], var_name="outcome", value_name="_v")
    long = long[long["_v"].notna()]
    long["_v"] = long["_v"].astype(bool)
    if long.empty:
        return pd.DataFrame(columns=keys + ["outcome", "k", "n", "n_patients", "rate",
                                            "ci_low", "ci_high"])
    agg = long.groupby(keys + ["outcome"], sort=True, observed=True).agg(
        k=("_v", "sum"), n=("_v", "size"), n_patients=(S.PATIENT_ID, "nunique")).reset_index()
    agg["k"] = agg["k"].astype(int)
    agg["rate"] = agg["k"] / agg["n"]
    agg["ci_low"], agg["ci_high"] = wilson_interval(agg["k"].to_numpy(), agg["n"].to_numpy(),
                                                    confidence_level=settings.confidence_level)
    return agg


def compare_proportions(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that two proportions ``k1/n1`` and ``k2/n2``
    of *disjoint* groups (two periods of different courses) are equal.

    >>> round(compare_proportions(30, 60, 15, 60), 4)   # scipy.stats.fisher_exact
    0.008
    """
    if min(n1, n2) <= 0:
        raise ValueError("both groups need at least one member")
    table = [[int(k1), int(n1 - k1)], [int(k2), int(n2 - k2)]]
    return float(stats.fisher_exact(table).pvalue)


def bin_days(day: np.ndarray, bins: Sequence[tuple[float, float, str]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Index of the half-open ``(low, high]`` bin holding each day, and whether one does.

    A first bin with ``low = -inf`` takes every day up to its ``high``.

    >>> idx, inside = bin_days(np.array([-3.0, 0.0, 0.5, 3.0, 200.0]),
    ...                        [(-np.inf, 0, "0"), (0, 3, "1–3"), (3, 7, "4–7")])
    >>> idx[inside].tolist(), inside.tolist()
    ([0, 0, 1, 1], [True, True, True, True, False])
    """
    lows = np.array([b[0] for b in bins], dtype=float)
    highs = np.array([b[1] for b in bins], dtype=float)
    idx = np.searchsorted(highs, day, side="left")
    inside = idx < len(bins)
    inside[inside] &= (day[inside] > lows[idx[inside]]) | np.isneginf(lows[idx[inside]])
    return idx, inside


def week_bins(max_weeks: int = 12) -> tuple[tuple[float, float, str], ...]:
    """Bins of whole weeks since the first dose: ``(0, 7] → "week 1"`` and so on."""
    return tuple((7.0 * (w - 1), 7.0 * w, f"week {w}") for w in range(1, max_weeks + 1))


#: The weeks of the share-in-response-by-week view (:func:`week_bins`).
WEEKS = 12

#: The per-course bin means each course carries with its outcomes (:func:`wide_bin_means`):
#: series name -> (value averaged, column prefix). ``trajectory`` uses the settings' bins,
#: ``weekly`` :func:`week_bins` (:data:`WEEKS`).
BIN_SERIES = {"trajectory": ("pct_change", "t"), "weekly": ("is_response", "w")}


def course_bin_means(alignment: Alignment, *, value: str,
                     bins: Sequence[tuple[float, float, str]] | None = None,
                     instrument: str | None = None) -> pd.DataFrame:
    """Each course's mean ``value`` in each day bin: the statistic :func:`mean_trajectory`
    averages over courses (one value per course per bin, so a course scored daily weighs no
    more than one scored weekly).

    Every usable score counts, boosters included; the day <= 0 bin holds the baseline score
    only. For ``pct_change`` and ``is_response`` only scores with a baseline count.

    Returns ``patient_id``, ``course_id``, ``instrument``, ``bin_order``, ``mean``.
    """
    if value not in ("total", "pct_change", "is_response"):
        raise ValueError(f"value must be total, pct_change or is_response, got {value!r}")
    bins = list(bins or alignment.settings.trajectory_bins)
    a = alignment.assessments
    keep = a["usable"].to_numpy(dtype=bool, copy=True)
    if instrument is not None:
        keep &= (a[S.INSTRUMENT] == instrument).to_numpy()
    if value != "total":
        keep &= (a[S.BASELINE_TOTAL].notna() & a[S.PCT_CHANGE].notna()).to_numpy()
    a = a.loc[keep, [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, S.DAY, value, S.BASELINE_DAY]]
    day = a[S.DAY].to_numpy(dtype=float)
    first = (day > 0) | (day == a[S.BASELINE_DAY].to_numpy(dtype=float))
    a, day = a[first], day[first]
    idx, inside = bin_days(day, bins)
    a = a[inside].assign(bin_order=idx[inside], _v=a[value].to_numpy(dtype=float)[inside])
    out = a.groupby([S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, "bin_order"], sort=False,
                    observed=True)["_v"].mean().reset_index()
    return out.rename(columns={"_v": "mean"})


def wide_bin_means(alignment: Alignment) -> pd.DataFrame:
    """Every course's bin means of every :data:`BIN_SERIES`, one row per course and instrument
    and one column per bin (``t0``… for the trajectory bins, ``w0``… for the weeks): what
    the derived tables store beside the outcomes, so an overview never needs the scores."""
    parts = []
    for series, (value, prefix) in BIN_SERIES.items():
        bins = alignment.settings.trajectory_bins if series == "trajectory" else \
            week_bins(WEEKS)
        long = course_bin_means(alignment, value=value, bins=bins)
        wide = long.pivot_table(index=[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT],
                                columns="bin_order", values="mean", aggfunc="first",
                                observed=True)
        wide = wide.reindex(columns=range(len(bins)))
        wide.columns = [f"{prefix}{i}" for i in range(len(bins))]
        parts.append(wide)
    out = parts[0].join(parts[1], how="outer")
    return out.reset_index()


def long_bin_means(wide: pd.DataFrame, series: str) -> pd.DataFrame:
    """The per-course bin means of one series back in long form (the inverse of
    :func:`wide_bin_means` for the rows given)."""
    prefix = BIN_SERIES[series][1]
    cols = [c for c in wide.columns if c.startswith(prefix) and c[len(prefix):].isdigit()]
    long = wide[[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, *cols]].melt(
        id_vars=[S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT], var_name="bin_order",
        value_name="mean")
    long = long[long["mean"].notna()]
    return long.assign(bin_order=long["bin_order"].str[len(prefix):].astype(int))


def summarize_bin_means(per_course: pd.DataFrame, *, value: str,
                        bins: Sequence[tuple[float, float, str]], settings: Settings,
                        attributes: pd.DataFrame | None = None, by: Sequence[str] = ()
                        ) -> pd.DataFrame:
    """Mean over courses of their bin means (:func:`course_bin_means`) with its interval:
    Wilson for ``is_response`` shares, Student t otherwise. Output as :func:`mean_trajectory`.
    """
    by = _validate_by(by)
    bins = list(bins)
    a = per_course
    if by:
        if attributes is None:
            raise ValueError("attributes are needed for a breakdown")
        a = a.merge(attributes[[S.PATIENT_ID, S.COURSE_ID] + by], on=[S.PATIENT_ID, S.COURSE_ID])
    edges_low = np.array([b[0] for b in bins], dtype=float)
    edges_high = np.array([b[1] for b in bins], dtype=float)
    g = a.groupby(by + ["bin_order"], sort=True)
    out = g.agg(n_courses=("mean", "size"), n_patients=(S.PATIENT_ID, "nunique"),
                mean=("mean", "mean"), sd=("mean", "std"), _k=("mean", "sum")).reset_index()
    n = out["n_courses"].to_numpy(dtype=float)
    if value == "is_response":
        out["ci_low"], out["ci_high"] = wilson_interval(out["_k"].to_numpy(), n,
                                                        confidence_level=settings.confidence_level)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            tq = stats.t.ppf(0.5 + settings.confidence_level / 2, np.maximum(n - 1, 1))
            half = np.where(n > 1, tq * out["sd"].to_numpy() / np.sqrt(n), np.nan)
        out["ci_low"] = out["mean"] - half
        out["ci_high"] = out["mean"] + half
    labels = np.array([b[2] for b in bins], dtype=object)
    lows = np.where(np.isinf(edges_low), edges_high, edges_low)
    out["bin_order"] = out["bin_order"].astype(int)
    out["bin"] = labels[out["bin_order"].to_numpy()]
    out["day_mid"] = ((lows + edges_high) / 2)[out["bin_order"].to_numpy()]
    return out[by + ["bin", "bin_order", "day_mid", "n_courses", "n_patients", "mean",
                     "ci_low", "ci_high"]]


def mean_trajectory(alignment: Alignment, *, instrument: str, value: str = "total",
                    bins: Sequence[tuple[float, float, str]] | None = None,
                    attributes: pd.DataFrame | None = None, by: Sequence[str] = ()
                    ) -> pd.DataFrame:
    """Mean score (or change, or response share) by bins of days since the first dose.

    Parameters
    ----------
    alignment : Alignment
    instrument : str, keyword-only
    value : ``"total"``, ``"pct_change"`` or ``"is_response"``, keyword-only
        For ``is_response`` the mean is a share with a Wilson interval; otherwise a t-interval.
    bins : sequence of (low, high, label), keyword-only
        Half-open ``(low, high]`` day bins; default ``settings.trajectory_bins`` (0, 1–3, 4–7,
        8–14, 15–28, 29–56, 57–90, 91–180). The first bin (day <= 0) holds the baseline score.
    attributes, by : optional breakdown, as in :func:`summarize_rates`.

    Returns
    -------
    DataFrame with ``by`` columns, ``bin`` (label), ``bin_order``, ``day_mid`` (bin centre, days),
    ``n_courses``, ``n_patients``, ``mean``, ``ci_low``, ``ci_high``.

    Notes
    -----
    Every usable score counts, boosters included: it is the course as patients lived it. Each
    course contributes one value per bin (its mean in the bin): :func:`course_bin_means`, then
    :func:`summarize_bin_means`.
    """
    bins = list(bins or alignment.settings.trajectory_bins)
    per_course = course_bin_means(alignment, value=value, bins=bins, instrument=instrument)
    return summarize_bin_means(per_course, value=value, bins=bins, settings=alignment.settings,
                               attributes=attributes, by=by)


def attrition_funnel(outcomes: pd.DataFrame, *, instrument: str,
                     settings: Settings | None = None, horizon_days: float = 90) -> pd.DataFrame:
    """From courses started to courses still in response at 90 days, for one instrument.

    The stages nest the very sets the headline rates count (``definitions.md``, denominators):
    ``started`` (every course assessed with the instrument) → ``with_baseline`` (a baseline
    above 0) → ``assessed_at_endpoint`` (= the response rate's n) → ``responded`` (= its k) →
    ``in_response_at_90_days``: the Kaplan–Meier estimate of durability among those responders at
    ``horizon_days`` with its CI (never a raw count of those followed that long), NaN when fewer
    than ``min_cell_size`` responders are still at risk then. A side row
    ``completed_induction`` (at least ``min_induction_doses_completed`` doses, ``nested`` False)
    is reported beside the chain: it does not nest with the endpoint (a course may reach its
    endpoint after fewer doses), so placing it in the chain would make the funnel's responders
    differ from the response rate's.

    Returns
    -------
    DataFrame with ``stage``, ``n_courses`` (NaN for the KM stage), ``share_of_started``,
    ``estimate``, ``ci_low``, ``ci_high`` (the KM stage only), ``nested``, and, when the
    horizon is not estimable, ``earlier_day`` / ``earlier_estimate`` / ``earlier_low`` /
    ``earlier_high``: the estimate at the latest ``survival_horizons_days`` that is.

    Examples
    --------
    >>> o = pd.DataFrame({"patient_id": list("abc"), "course_id": "1", "instrument": "PHQ9",
    ...     "baseline_total": [20.0, 15, None], "induction_doses": [6, 2, 4],
    ...     "endpoint_response": pd.array([True, False, None], "boolean"),
    ...     "durability_days": [100.0, None, None],
    ...     "durability_censored": pd.array([True, None, None], "boolean")})
    >>> attrition_funnel(o, instrument="PHQ9")["n_courses"].tolist()[:4]
    [3.0, 2.0, 2.0, 1.0]
    """
    settings = settings or Settings()
    o = outcomes[outcomes[S.INSTRUMENT] == instrument]
    started = len(o)
    base = int((o[S.BASELINE_TOTAL] > 0).sum())
    resp = o["endpoint_response"]
    assessed = int(resp.notna().sum())
    responders = o[resp.fillna(False).astype(bool)]
    responded = len(responders)
    completed = int((o["induction_doses"] >= settings.min_induction_doses_completed).sum())
    est = low = high = np.nan
    earlier = [np.nan] * 4  # day, estimate, low, high
    m = settings.min_cell_size
    subjects = survival_subjects(o, endpoint="durability", instrument=instrument)
    if len(subjects):  # the durability curve's own courses: the responders above
        km = kaplan_meier(subjects["duration"].to_numpy(), subjects["censored"].to_numpy(),
                          confidence_level=settings.confidence_level)
        if km.at_risk_at([horizon_days])[0] >= m:
            est, ci = km.survival_at(horizon_days)
            low, high = ci.low, ci.high
        elif subjects[S.PATIENT_ID].nunique() >= m:
            # not estimable at the horizon: the latest survival horizon that still is
            for h in sorted(settings.survival_horizons_days, reverse=True):
                if h < horizon_days and km.at_risk_at([h])[0] >= m:
                    value, ci = km.survival_at(h)
                    earlier = [float(h), value, ci.low, ci.high]
                    break
    n0 = max(started, 1)
    counts = [started, base, assessed, responded, np.nan, completed]
    return pd.DataFrame({
        "stage": list(FUNNEL_STAGES) + ["completed_induction"],
        "n_courses": [float(c) for c in counts],
        "share_of_started": [c / n0 for c in counts],
        "estimate": [np.nan] * 4 + [est, np.nan], "ci_low": [np.nan] * 4 + [low, np.nan],
        "ci_high": [np.nan] * 4 + [high, np.nan],
        "nested": [True] * 5 + [False],
        **{name: [np.nan] * 4 + [value, np.nan] for name, value in zip(
            ("earlier_day", "earlier_estimate", "earlier_low", "earlier_high"), earlier,
            strict=True)}})
