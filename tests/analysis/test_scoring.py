"""Scoring: totals, prorating, validation, safety flags, PCL-5 clusters (§1.2–§1.4)."""

import numpy as np
import pandas as pd
import pytest

from analysis.exceptions import ScoringError
from analysis.instruments import GAD7, PHQ9
from analysis.scoring import (
    find_score_problems,
    pcl5_clusters,
    safety_flags,
    score_assessments,
    score_items,
    severity_labels,
)


def phq(*items, total=None):
    row = {f"item_{i}": v for i, v in enumerate(items, start=1)}
    if total is not None:
        row["total"] = total
    return row


def test_total_is_item_sum():
    df = pd.DataFrame([phq(3, 2, 2, 1, 1, 0, 3, 2, 1)])
    out = score_items(df, PHQ9)
    assert out.loc[0, "total"] == 15  # 3+2+2+1+1+0+3+2+1
    assert not out.loc[0, "prorated"]


def test_missing_item_gives_no_total_by_default():
    df = pd.DataFrame([phq(3, 2, 2, 1, None, 0, 3, 2, 1)])
    out = score_items(df, PHQ9)
    assert np.isnan(out.loc[0, "total"]) and out.loc[0, "n_missing_items"] == 1


def test_prorated_when_allowed_and_marked():
    # 8 answered items sum to 14 -> 14 * 9 / 8 = 15.75
    df = pd.DataFrame([phq(3, 2, 2, 1, None, 0, 3, 2, 1)])
    out = score_items(df, PHQ9, max_missing_items=1)
    assert out.loc[0, "total"] == pytest.approx(15.75)
    assert out.loc[0, "prorated"]


def test_item_9_is_never_prorated():
    df = pd.DataFrame([phq(3, 2, 2, 1, 1, 0, 3, 2, None)])
    out = score_items(df, PHQ9, max_missing_items=2)
    assert np.isnan(out.loc[0, "total"])


def test_too_many_missing_items():
    df = pd.DataFrame([{**{f"item_{i}": 1 for i in range(1, 6)}}])  # GAD-7 with items 6, 7 missing
    assert np.isnan(score_items(df, GAD7, max_missing_items=1).loc[0, "total"])
    assert score_items(df, GAD7, max_missing_items=2).loc[0, "total"] == pytest.approx(7.0)


def test_given_total_wins_and_is_checked():
    ok = pd.DataFrame([phq(1, 1, 1, 1, 1, 1, 1, 1, 1, total=9)])
    assert score_items(ok, PHQ9).loc[0, "total"] == 9
    bad = pd.DataFrame([phq(1, 1, 1, 1, 1, 1, 1, 1, 1, total=10)])
    with pytest.raises(ScoringError, match="total 10 disagrees with the item sum 9"):
        score_items(bad, PHQ9)


def test_total_with_partial_items_must_be_reachable():
    # answered sum 8 with one item missing: a total in 8..11 is possible, 12 is not
    fine = pd.DataFrame([phq(1, 1, 1, 1, 1, 1, 1, 1, None, total=11)])
    assert find_score_problems(fine, PHQ9) == []
    bad = pd.DataFrame([phq(1, 1, 1, 1, 1, 1, 1, 1, None, total=12)])
    assert find_score_problems(bad, PHQ9)[0][1] == "total"


def test_every_bad_cell_is_reported():
    df = pd.DataFrame([phq(4, 0, 0, 0, 0, 0, 0, 0, 0), phq(0, 0, -1, 0, 0, 0, 0, 0, 1.5),
                       {"total": 28}], index=[10, 11, 12])
    problems = find_score_problems(df, PHQ9)
    assert problems == [
        (10, "item_1", "4 is outside 0–3 for PHQ9"),
        (11, "item_3", "-1 is outside 0–3 for PHQ9"),
        (11, "item_9", "1.5 is not a whole number"),
        (12, "total", "28 is outside 0–27 for PHQ9"),
    ]
    with pytest.raises(ScoringError) as err:
        score_items(df, PHQ9)
    assert len(err.value.problems) == 4


def test_severity_labels_vectorised():
    s = severity_labels(pd.Series([0, 4.9, 5, 19.5, 20, np.nan]), PHQ9)
    assert s.tolist()[:5] == ["minimal", "minimal", "mild", "moderately severe", "severe"]
    assert pd.isna(s.iloc[5])


def test_safety_flag_from_item_alone():
    # item 9 = 2 with a low total is still high priority (Simon 2013: item 9 predicts beyond total)
    assert safety_flags(pd.Series([2.0])).iloc[0] == "high_priority"
    assert safety_flags(pd.Series([np.nan, 0, 1])).tolist() == ["unknown", "none", "review"]


def pcl(values):
    return pd.DataFrame([{f"item_{i}": v for i, v in enumerate(values, start=1)}])


def test_pcl5_cluster_scores_and_rule():
    # B: items 1-5, C: 6-7, D: 8-14, E: 15-20 (Weathers 2013)
    v = [2, 0, 0, 0, 0,  2, 0,  2, 2, 0, 0, 0, 0, 0,  3, 2, 0, 0, 0, 0]
    out = pcl5_clusters(pcl(v))
    assert out.loc[0, ["cluster_b", "cluster_c", "cluster_d", "cluster_e"]].tolist() == [2, 2, 4, 5]
    assert out.loc[0, "provisional_ptsd"]


def test_pcl5_rule_fails_when_one_cluster_short():
    v = [2, 0, 0, 0, 0,  2, 0,  2, 1, 1, 1, 1, 1, 1,  3, 2, 0, 0, 0, 0]  # D has only one item >= 2
    assert not pcl5_clusters(pcl(v)).loc[0, "provisional_ptsd"]


def test_pcl5_missing_items():
    met = [2, None, 0, 0, 0,  2, 0,  2, 2, 0, 0, 0, 0, 0,  3, 2, 0, 0, 0, 0]  # B met despite a gap
    assert pcl5_clusters(pcl(met)).loc[0, "provisional_ptsd"]
    unknown = [0, None, 0, 0, 0,  2, 0,  2, 2, 0, 0, 0, 0, 0,  3, 2, 0, 0, 0, 0]
    assert pd.isna(pcl5_clusters(pcl(unknown)).loc[0, "provisional_ptsd"])
    assert np.isnan(pcl5_clusters(pcl(unknown)).loc[0, "cluster_b"])
    failed = [0, None, 0, 0, 0,  0, 0,  2, 2, 0, 0, 0, 0, 0,  3, 2, 0, 0, 0, 0]  # C complete, fails
    value = pcl5_clusters(pcl(failed)).loc[0, "provisional_ptsd"]
    assert value is not pd.NA and not value


def test_score_assessments_mixed_instruments():
    df = pd.DataFrame([
        {"instrument": "PHQ9", **phq(1, 1, 1, 1, 1, 1, 1, 1, 2)},
        {"instrument": "GAD7", "total": 12},
        {"instrument": "PCL5", **{f"item_{i}": 1 for i in range(1, 21)}},
    ])
    out = score_assessments(df)
    assert out["total"].tolist() == [10.0, 12.0, 20.0]
    assert out["severity"].tolist()[:2] == ["moderate", "moderate"]
    assert out.loc[0, "safety_flag"] == "high_priority" and pd.isna(out.loc[1, "safety_flag"])


def test_score_assessments_reports_every_instrument():
    df = pd.DataFrame([{"instrument": "PHQ9", "total": 30}, {"instrument": "GAD7", "item_1": 9}])
    with pytest.raises(ScoringError) as err:
        score_assessments(df)
    assert [(r, c) for r, c, _ in err.value.problems] == [(0, "total"), (1, "item_1")]
