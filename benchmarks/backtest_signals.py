"""Back-test of the fading signal on generated clinics whose truth is known.

Run: ``python -m benchmarks.backtest_signals [--patients 5000] [--seed 21]``

The fading rule (:func:`analysis.signals.fading_history`): the mean of the last two scores more
than a reliable change above the best two-score mean since the response, before a confirmed
relapse. The generator records, per course, whether it is a responder and the day its response starts to
fade (``loss_day``), and when boosters were given. For each PHQ-9 course that responded, the
first day the fading rule fires (:func:`analysis.signals.fading_history`) is compared with

* the observed event: a confirmed relapse or the first booster, whichever comes first — lead
  time = event day − first signal day (signals after the event do not count);
* the truth: a signal is a false alarm when it fires more than 7 days before the true onset of
  fading (or in a course whose response never faded during follow-up).
"""

from __future__ import annotations

import argparse

import numpy as np

from analysis import align, per_course_outcomes, score_assessments
from analysis.signals import fading_history
from sample_data.generate import generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    data = generate(args.patients, seed=args.seed)
    al = align(score_assessments(data.assessments), data.sessions)
    out = per_course_outcomes(al)
    out = out[(out["instrument"] == "PHQ9") & out["first_response_day"].notna()]
    hist = fading_history(al)
    hist = hist[(hist["instrument"] == "PHQ9") & (hist["episode"] == 0)]
    first_sig = hist[hist["fading"]].groupby(["patient_id", "course_id"])["day"].min()
    truth = data.truth.assign(start=data.truth["course_start"].dt.normalize())
    courses = al.courses.assign(start=al.courses["first_dose_at"].dt.normalize())
    courses = courses.merge(truth, on=["patient_id", "start"], how="left")
    c = out.merge(courses[["patient_id", "course_id", "loss_day", "last_contact_day"]],
                  on=["patient_id", "course_id"])
    c["signal_day"] = c.set_index(["patient_id", "course_id"]).index.map(first_sig)
    booster_day = c["induction_end_day"] + c["days_to_first_booster"].where(
        ~c["booster_censored"].astype(bool))
    c["event_day"] = np.fmin(c["relapse_day"], booster_day)
    has_event = c["event_day"].notna()
    fired_before = c["signal_day"].notna() & (c["signal_day"] <= c["event_day"])
    lead = (c["event_day"] - c["signal_day"])[has_event & fired_before]
    fired = c["signal_day"].notna()
    true_loss = c["loss_day"].where(c["loss_day"] <= c["last_contact_day"])
    false_alarm = fired & (true_loss.isna() | (c["signal_day"] < true_loss - 7))
    never_lost = true_loss.isna()
    print(f"{args.patients} patients, {len(c)} responding PHQ-9 courses; "
          f"{int(has_event.sum())} with a relapse or booster observed")
    print(f"fading fired before the relapse/booster in {int((has_event & fired_before).sum())} "
          f"of {int(has_event.sum())} ({(has_event & fired_before).sum() / max(has_event.sum(), 1):.0%})")
    if len(lead):
        print(f"lead time before the relapse/booster: median {lead.median():.0f} days "
              f"(IQR {lead.quantile(0.25):.0f}–{lead.quantile(0.75):.0f}); "
              f"same day (untimed scores on the booster's date) in {(lead == 0).mean():.0%}")
    print(f"false alarms (fired > 7 days before the true onset, or never faded): "
          f"{int(false_alarm.sum())} of {int(fired.sum())} signalling courses "
          f"({false_alarm.sum() / max(fired.sum(), 1):.0%}); among {int(never_lost.sum())} "
          f"courses whose response never faded in follow-up, "
          f"{(fired & never_lost).sum() / max(never_lost.sum(), 1):.0%} had a signal")
    # the course signals together: fading, or a confirmed relapse (which now stays listed)
    any_sig = hist[hist["fading"] | hist["relapsed"]].groupby(["patient_id", "course_id"])[
        "day"].min()
    c["any_day"] = c.set_index(["patient_id", "course_id"]).index.map(any_sig)
    boosted = booster_day.notna()
    before_booster = c["any_day"].notna() & (c["any_day"] <= booster_day)
    lead_b = (booster_day - c["any_day"])[boosted & before_booster]
    print(f"fading or relapsed listed on or before the first booster in "
          f"{int((boosted & before_booster).sum())} of {int(boosted.sum())} boosted courses "
          f"({(boosted & before_booster).sum() / max(boosted.sum(), 1):.0%}); lead time median "
          f"{lead_b.median():.0f} days (IQR {lead_b.quantile(0.25):.0f}–"
          f"{lead_b.quantile(0.75):.0f})")
    onset = (c["signal_day"] - true_loss)[fired & true_loss.notna()]
    if len(onset):
        print(f"signal day minus true onset of fading: median {onset.median():.0f} days "
              f"(IQR {onset.quantile(0.25):.0f}–{onset.quantile(0.75):.0f})")


if __name__ == "__main__":
    main()
