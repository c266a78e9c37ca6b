"""Expected course: percentile bands of scores by day for patients of similar baseline severity.

The percentile-band method of ``clinical-reference.md`` §5 (an empirical alternative to the
Finch, Lambert & Schaalje 2001 mixed model): courses are grouped by the severity band of their
baseline (the instrument's bands; PCL-5, which has none, by baseline thirds of its range), and
for each day bin the 10th, 50th and 90th percentiles of the scores are computed over courses (one
value per course per bin, its mean in the bin). Bins with fewer than ``min_courses`` courses are
not reported, so a band is never drawn from a handful of patients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from analysis import schemas as S
from analysis._validation import group_codes
from analysis.alignment import Alignment
from analysis.cohort import bin_days
from analysis.instruments import INSTRUMENTS
from analysis.settings import Settings

__all__ = ["baseline_band", "expected_course", "quantile_regression", "ExpectedModel",
           "expected_model", "fit_expected_model", "fit_expected_models", "model_quantiles",
           "models_to_frame", "models_from_frame", "induction_scores", "INDUCTION_COLUMNS",
           "patient_fold"]


def baseline_band(baseline: pd.Series, instrument: str) -> pd.Series:
    """Label of the severity band each baseline falls in (PCL-5: thirds of 0–80).

    >>> baseline_band(pd.Series([3, 12, 22]), "PHQ9").tolist()
    ['minimal', 'moderate', 'severe']
    """
    spec = INSTRUMENTS[instrument]
    if spec.severity_bands:
        lows = [b.low for b in spec.severity_bands]
        labels = np.array([b.label for b in spec.severity_bands], dtype=object)
    else:
        lows = [0, 27, 54]
        labels = np.array(["0–26", "27–53", "54–80"], dtype=object)
    values = baseline.to_numpy(dtype=float)
    idx = np.clip(np.searchsorted(lows, values, side="right") - 1, 0, len(labels) - 1)
    return pd.Series(np.where(np.isnan(values), None, labels[idx]), index=baseline.index,
                     dtype=object)


def expected_course(alignment: Alignment, *, instrument: str,
                    bins: Sequence[tuple[float, float, str]] | None = None,
                    min_courses: int = 20,
                    percentiles: tuple[float, float, float] = (10, 50, 90)) -> pd.DataFrame:
    """Percentile bands of the total by day bin, per baseline severity band.

    Parameters
    ----------
    alignment : Alignment
    instrument : str, keyword-only
    bins : day bins ``(low, high, label)`` (default ``settings.trajectory_bins``)
    min_courses : int, keyword-only
        Minimum courses in a (band, bin) cell for it to be reported (default 20).
    percentiles : the lower, middle and upper percentiles (default 10, 50, 90).

    Returns
    -------
    DataFrame with ``baseline_band``, ``bin``, ``bin_order``, ``day_low``, ``day_high``,
    ``n_courses``, ``p_low``, ``p_mid``, ``p_high`` (points).
    """
    settings = alignment.settings
    bins = list(bins or settings.trajectory_bins)
    a = alignment.assessments
    base = a[a["usable"] & (a[S.INSTRUMENT] == instrument) & a[S.BASELINE_TOTAL].notna()]
    base = base.drop_duplicates([S.PATIENT_ID, S.COURSE_ID])
    attrs = base[[S.PATIENT_ID, S.COURSE_ID]].assign(
        baseline_band=baseline_band(base[S.BASELINE_TOTAL], instrument).to_numpy())
    rows = a[a["usable"] & (a[S.INSTRUMENT] == instrument)]
    rows = rows.merge(attrs, on=[S.PATIENT_ID, S.COURSE_ID])
    rows = rows[(rows[S.DAY] > 0) | (rows[S.DAY] == rows[S.BASELINE_DAY])]
    idx, inside = bin_days(rows[S.DAY].to_numpy(dtype=float), bins)
    rows = rows[inside].assign(bin_order=idx[inside])
    highs = np.array([b[1] for b in bins], dtype=float)
    lows = np.array([b[0] for b in bins], dtype=float)
    per_course = rows.groupby(["baseline_band", S.PATIENT_ID, S.COURSE_ID, "bin_order"],
                              sort=False)[S.TOTAL].mean().reset_index()
    lo_p, mid_p, hi_p = percentiles
    g = per_course.groupby(["baseline_band", "bin_order"], sort=True)[S.TOTAL]
    out = g.agg(n_courses="size",
                p_low=lambda v: float(np.percentile(v, lo_p)),
                p_mid=lambda v: float(np.percentile(v, mid_p)),
                p_high=lambda v: float(np.percentile(v, hi_p))).reset_index()
    out = out[out["n_courses"] >= min_courses]
    labels = np.array([b[2] for b in bins], dtype=object)
    out["bin"] = labels[out["bin_order"].to_numpy()]
    out["day_low"] = np.where(np.isinf(lows), 0, lows)[out["bin_order"].to_numpy()]
    out["day_high"] = highs[out["bin_order"].to_numpy()]
    return out[["baseline_band", "bin", "bin_order", "day_low", "day_high", "n_courses",
                "p_low", "p_mid", "p_high"]].reset_index(drop=True)


def quantile_regression(x: np.ndarray, y: np.ndarray, tau: float) -> tuple[float, float]:
    """Linear quantile regression ``Q_tau(y | x) = a + b x`` (Koenker & Bassett 1978), solved
    exactly by linear programming (HiGHS) in its dual form (Koenker 2005, *Quantile
    Regression*, §6.2): max y'd subject to X'd = (1 - tau) X'1 and 0 <= d <= 1, whose two
    equality constraints' multipliers are (a, b). The dual has n bounded variables and two
    constraints where the primal has 2n + 2 variables and n constraints: the same optimum,
    15–20× faster at 3,000 scores. Cross-checked against the primal programme and
    ``statsmodels.QuantReg`` in the tests.

    >>> x = np.arange(10.0)
    >>> a, b = quantile_regression(x, 2 * x + 1, 0.5)
    >>> round(a, 6), round(b, 6)
    (1.0, 2.0)
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2:
        raise ValueError("quantile regression needs at least two points")
    design = np.c_[np.ones(n), x]
    res = linprog(-y, A_eq=design.T, b_eq=(1.0 - tau) * design.sum(axis=0), bounds=(0, 1),
                  method="highs")
    if res.status != 0:
        raise ValueError(f"quantile regression did not converge: {res.message}")
    a, b = -res.eqlin.marginals
    return float(a), float(b)


def patient_fold(patient_ids: pd.Series, folds: int) -> np.ndarray:
    """A stable fold number per patient (a hash of the id, the same in every run)."""
    return (pd.util.hash_pandas_object(pd.Series(patient_ids, dtype=str), index=False)
            .to_numpy() % folds).astype(int)


@dataclass(frozen=True)
class ExpectedModel:
    """The clinic's expected course of one instrument during induction, conditioned on the
    exact baseline: per day bin and quantile, ``Q_tau(score) = a + b * baseline``, fitted on the
    induction scores of the *other* folds of patients (cross-fitting, so a patient's own course
    never shapes their band).

    ``coefs`` has ``fold``, ``bin_order``, ``tau``, ``a``, ``b``, ``n_courses`` (courses behind
    the fit); a (fold, bin) with fewer than ``min_courses`` courses has no coefficients: history
    too thin to say what is expected.
    """

    instrument: str
    coefs: pd.DataFrame
    folds: int
    bins: tuple[tuple[float, float, str], ...]
    quantiles: tuple[float, ...]
    min_courses: int

    def predict(self, patient_ids: pd.Series, baseline: pd.Series, day: pd.Series
                ) -> pd.DataFrame:
        """The expected quantiles (points, clipped to the instrument's range) for each row;
        NaN where the history is too thin or the day is outside the induction bins.

        Returns a frame with one column ``q<percent>`` per quantile (``q90``) and
        ``n_courses`` (the courses behind the prediction), on the index of ``baseline``.
        """
        idx, inside = bin_days(np.asarray(day, dtype=float), self.bins)
        rows = pd.DataFrame({"fold": patient_fold(pd.Series(np.asarray(patient_ids)),
                                                  self.folds),
                             "bin_order": np.where(inside, idx, -1)}, index=baseline.index)
        out = pd.DataFrame(index=baseline.index)
        top = INSTRUMENTS[self.instrument].total_max
        base = np.asarray(baseline, dtype=float)
        for tau in self.quantiles:
            c = self.coefs[self.coefs["tau"] == tau]
            m = rows.merge(c, on=["fold", "bin_order"], how="left")
            value = m["a"].to_numpy(dtype=float) + m["b"].to_numpy(dtype=float) * base
            out[f"q{round(tau * 100)}"] = np.clip(value, 0, top)
            out["n_courses"] = m["n_courses"].to_numpy(dtype=float)
        return out


#: The columns of :func:`induction_scores` (what an expected-course model is fitted on).
INDUCTION_COLUMNS = [S.PATIENT_ID, S.COURSE_ID, S.INSTRUMENT, S.DAY, S.BASELINE_TOTAL, S.TOTAL]


def induction_scores(alignment: Alignment) -> pd.DataFrame:
    """The scores an expected-course model learns from: every usable induction score (after
    the first dose, up to induction end) of a course with a baseline, one row per score with
    :data:`INDUCTION_COLUMNS` (days and points). Each patient's rows depend on their own
    records only, so they are stored per patient at import (:mod:`analysis.derive`) and a
    network's models are fitted without lining up every score again.

    >>> from analysis.alignment import align
    >>> a = pd.DataFrame({"patient_id": "p", "instrument": "PHQ9",
    ...     "administered_at": pd.to_datetime(["2025-01-01", "2025-01-08", "2025-01-15"]),
    ...     "total": [20.0, 12.0, 9.0]})
    >>> s = pd.DataFrame({"patient_id": "p", "kind": "dosing",
    ...     "session_at": pd.to_datetime(["2025-01-02", "2025-01-06", "2025-01-09", "2025-01-13"])})
    >>> induction_scores(align(a, s))[["day", "baseline_total", "total"]].values.tolist()
    [[6.0, 20.0, 12.0]]
    """
    a = alignment.assessments
    a = a[a["usable"] & (a[S.PHASE] == "induction") & (a[S.DAY] > 0)
          & a[S.BASELINE_TOTAL].notna()]
    return a[INDUCTION_COLUMNS].reset_index(drop=True)


def expected_model(alignment: Alignment, *, instrument: str,
                   quantiles: Sequence[float] = (0.1, 0.5, 0.9), folds: int = 5,
                   min_courses: int | None = None, max_rows: int = 3000) -> ExpectedModel:
    """Fit :class:`ExpectedModel` on the induction scores of ``alignment``
    (:func:`fit_expected_model` of :func:`induction_scores`; see there for the parameters)."""
    return fit_expected_model(induction_scores(alignment), instrument=instrument,
                              settings=alignment.settings, quantiles=quantiles, folds=folds,
                              min_courses=min_courses, max_rows=max_rows)


def model_quantiles(settings: Settings) -> tuple[float, ...]:
    """The quantiles a clinic's models are fitted at: the patient page's band (10th, 50th and
    90th percentiles) and off track's ``off_track_percentile``.

    >>> model_quantiles(Settings(off_track_percentile=95))
    (0.1, 0.5, 0.9, 0.95)
    """
    return tuple(sorted({0.1, 0.5, 0.9, round(settings.off_track_percentile / 100, 6)}))


def models_to_frame(models: dict[str, ExpectedModel]) -> pd.DataFrame:
    """The coefficients of ``models`` in one frame (``instrument``, ``folds`` then
    :attr:`ExpectedModel.coefs`' columns): what is stored."""
    parts = [m.coefs.assign(instrument=code, folds=m.folds) for code, m in models.items()]
    cols = ["instrument", "folds", "fold", "bin_order", "tau", "a", "b", "n_courses"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "instrument" else float)
                             for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def models_from_frame(frame: pd.DataFrame, *, settings: Settings,
                      quantiles: Sequence[float]) -> dict[str, ExpectedModel] | None:
    """The models of :func:`models_to_frame` again, predicting at ``quantiles``; None when
    one of the quantiles was not fitted (the caller fits anew). An instrument whose every
    (fold, bin) had too thin a history has no coefficients, so no model: as when fitted
    (:meth:`ExpectedModel.predict` gives NaN throughout either way)."""
    taus = set(frame["tau"].round(6))
    if not {round(q, 6) for q in quantiles} <= taus and len(frame):
        return None
    bins = tuple(b for b in settings.trajectory_bins if b[1] > 0)
    out = {}
    for code, rows in frame.groupby("instrument", observed=True, sort=True):
        coefs = rows[rows["tau"].round(6).isin([round(q, 6) for q in quantiles])]
        coefs = coefs.drop(columns=["instrument", "folds"]).reset_index(drop=True).astype(
            {"fold": int, "bin_order": int, "tau": float, "a": float, "b": float,
             "n_courses": int})
        out[str(code)] = ExpectedModel(instrument=str(code), coefs=coefs,
                                       folds=int(rows["folds"].iloc[0]), bins=bins,
                                       quantiles=tuple(quantiles),
                                       min_courses=settings.expected_min_courses)
    return out


def fit_expected_models(scores: pd.DataFrame, *, settings: Settings,
                        quantiles: Sequence[float]) -> dict[str, ExpectedModel]:
    """:func:`fit_expected_model` of every instrument in ``scores`` (instrument code ->
    model)."""
    return {str(code): fit_expected_model(scores, instrument=str(code), settings=settings,
                                          quantiles=quantiles)
            for code in pd.unique(scores[S.INSTRUMENT].astype(str))}


def fit_expected_model(scores: pd.DataFrame, *, instrument: str, settings: Settings,
                       quantiles: Sequence[float] = (0.1, 0.5, 0.9), folds: int = 5,
                       min_courses: int | None = None, max_rows: int = 3000) -> ExpectedModel:
    """Fit :class:`ExpectedModel` on induction scores (:func:`induction_scores`, of one
    alignment or stored per patient).

    Parameters
    ----------
    scores : :data:`INDUCTION_COLUMNS`, one row per induction score
    instrument : str, keyword-only
    settings : the trajectory bins (those after day 0 are the model's day bins) and
        ``expected_min_courses``
    quantiles : the quantiles to fit (0.9 = the 90th percentile), keyword-only
    folds : patients are split into this many folds by a hash of their id; each fold's
        coefficients come from the others.
    min_courses : minimum courses behind a fit (default ``settings.expected_min_courses``).
    max_rows : at most this many scores per fit (a fixed-seed subsample beyond it: a linear
        quantile needs no more to be stable, and the fit stays fast at network scale).

    Notes
    -----
    Only induction scores (after the first dose, up to induction end) of courses with a
    baseline enter, one row per score (the comparison is of single scores, so the model is of
    single scores). Conditioning on the exact baseline replaces the severity bands of
    :func:`expected_course`, under which a score's chance of exceeding the band's 90th
    percentile mostly measured where the baseline sat inside its band. The rows are taken in
    the order of patient, course and day, so the fixed-seed subsample is the same whatever
    order the scores were stored in.
    """
    min_courses = settings.expected_min_courses if min_courses is None else min_courses
    bins = tuple(b for b in settings.trajectory_bins if b[1] > 0)
    a = scores[scores[S.INSTRUMENT] == instrument]
    a = a.sort_values([S.PATIENT_ID, S.COURSE_ID, S.DAY], kind="stable")
    idx, inside = bin_days(a[S.DAY].to_numpy(dtype=float), bins)
    a = a[inside]
    bin_order = idx[inside]
    fold = patient_fold(a[S.PATIENT_ID], folds)
    x_all = a[S.BASELINE_TOTAL].to_numpy(dtype=float)
    y_all = a[S.TOTAL].to_numpy(dtype=float)
    # each score's course as an integer code (counting distinct courses per fit on codes, not
    # on strings: at network scale the string version took most of the fitting time)
    course = group_codes(a[S.PATIENT_ID].to_numpy(), a[S.COURSE_ID].to_numpy())
    seen = np.zeros(int(course.max()) + 1 if course.size else 0, dtype=bool)
    rng = np.random.default_rng(0)
    rows = []
    for b in range(len(bins)):
        in_bin = bin_order == b
        for f in range(folds):
            train = np.nonzero(in_bin & (fold != f))[0]
            seen[:] = False
            seen[course[train]] = True
            n_courses = int(seen.sum())
            if n_courses < min_courses or train.size < 2:
                continue
            if train.size > max_rows:
                train = np.sort(rng.choice(train, max_rows, replace=False))
            for tau in quantiles:
                coef_a, coef_b = quantile_regression(x_all[train], y_all[train], tau)
                rows.append((f, b, tau, coef_a, coef_b, n_courses))
    coefs = pd.DataFrame(rows, columns=["fold", "bin_order", "tau", "a", "b", "n_courses"])
    coefs = coefs.astype({"fold": int, "bin_order": int, "tau": float, "a": float, "b": float,
                          "n_courses": int})
    return ExpectedModel(instrument=instrument, coefs=coefs, folds=folds, bins=bins,
                         quantiles=tuple(quantiles), min_courses=min_courses)
