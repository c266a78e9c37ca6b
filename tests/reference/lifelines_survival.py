"""Golden numbers for tests/analysis/test_survival.py, from lifelines 0.30.3 (not run in CI)."""

import numpy as np
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import median_survival_times

rng = np.random.default_rng(7)
d = np.round(rng.exponential(30, 200), 1)
c = rng.random(200) < 0.3
kmf = KaplanMeierFitter().fit(d, event_observed=~c)
sf = kmf.survival_function_["KM_estimate"]
ci = kmf.confidence_interval_survival_function_
for t in (5.0, 10.0, 20.0, 30.0, 50.0, 80.0):
    i = sf.index[sf.index <= t][-1]
    print(t, float(sf.loc[i]), float(ci.iloc[:, 0].loc[i]), float(ci.iloc[:, 1].loc[i]))
m = median_survival_times(kmf.confidence_interval_)
print("median", kmf.median_survival_time_, "CI", m.iloc[0, 0], m.iloc[0, 1])
D = [3, 5, 5, 8, 12, 15, 6, 10, 20, 20]
C = [False] * 6 + [True] * 4
y_d, y_c = [1, 2, 2, 4, 5, 3, 6, 7], [False] * 5 + [True] * 3
print("two groups", logrank_test(D, y_d, event_observed_A=~np.array(C),
                                 event_observed_B=~np.array(y_c)).test_statistic)
rng = np.random.default_rng(3)
g = rng.choice(["IV", "IM", "IN", "SL"], 300)
dd = np.round(rng.exponential(np.where(g == "IV", 40, 25)), 0)
cc = rng.random(300) < 0.25
r = multivariate_logrank_test(dd, g, event_observed=~cc)
print("four groups", r.test_statistic, r.p_value)
rng = np.random.default_rng(11)
d3 = np.round(rng.exponential(20, 80))
c3 = rng.random(80) < 0.2
g3 = np.where(rng.random(80) < 0.5, "a", "b")
print("k-group formula, two groups", multivariate_logrank_test(d3, g3, ~c3).test_statistic)
