"""Reliable and clinically significant change (``clinical-reference.md`` §2.1–§2.3).

Formulas
--------
Jacobson & Truax (1991), with the sqrt(2) of Christensen & Mendoza (1986):

.. math::
    SE_m = SD_1 \\sqrt{1 - r_{xx}}, \\quad S_{diff} = \\sqrt{2 SE_m^2}, \\quad
    RCI = (x_2 - x_1) / S_{diff}

Gulliksen–Lord–Novick, as in the R package ``clinicalsignificance`` (``calc_rci.cs_gln``):

.. math::
    RCI_{GLN} = \\frac{(x_2 - M) - r (x_1 - M)}{SD \\sqrt{1 - r^2}}

Clinical cut-offs for a lower-is-better scale: a = M_d - 2 SD_d, b = M_f + 2 SD_f,
c = (SD_f M_d + SD_d M_f) / (SD_f + SD_d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.settings import reliable_change_threshold

__all__ = ["RCIParams", "reliable_change_index", "gln_rci", "ClinicalCutoffs",
           "clinical_cutoffs", "reliable_change_threshold"]


@dataclass(frozen=True, slots=True)
class RCIParams:
    """Parameters of a reliable-change computation: pre-treatment SD, reliability, z."""

    sd: float
    reliability: float
    z: float = 1.96

    def __post_init__(self) -> None:
        if self.sd <= 0 or not 0 <= self.reliability < 1 or self.z <= 0:
            raise ValueError(f"need sd > 0, 0 <= reliability < 1, z > 0; got {self}")

    @property
    def se_measurement(self) -> float:
        """Standard error of measurement ``SD * sqrt(1 - r)`` (points)."""
        return self.sd * math.sqrt(1.0 - self.reliability)

    @property
    def s_diff(self) -> float:
        """Standard error of a difference ``sqrt(2) * SE_m`` (points)."""
        return math.sqrt(2.0) * self.se_measurement

    @property
    def threshold(self) -> float:
        """Minimum raw change that is reliable: ``z * S_diff`` (points)."""
        return reliable_change_threshold(self.sd, self.reliability, z=self.z)


def reliable_change_index(pre: float | np.ndarray, post: float | np.ndarray,
                          params: RCIParams) -> float | np.ndarray:
    """Jacobson–Truax reliable change index ``(post - pre) / S_diff``.

    Negative is improvement on PHQ-9, GAD-7 and PCL-5; ``|RCI| > z`` is reliable.

    >>> round(reliable_change_index(18, 9, RCIParams(sd=5.5, reliability=0.84)), 6)
    -2.89271
    """
    return (np.asarray(post, dtype=float) - np.asarray(pre, dtype=float)) / params.s_diff \
        if np.ndim(pre) or np.ndim(post) else (float(post) - float(pre)) / params.s_diff


def gln_rci(pre: float, post: float, *, mean_pre: float, params: RCIParams) -> float:
    """Gulliksen–Lord–Novick reliable change index (regression towards the mean corrected).

    >>> round(gln_rci(18, 9, mean_pre=15.4, params=RCIParams(sd=5.5, reliability=0.84)), 6)
    -2.876459
    """
    r = params.reliability
    predicted_gap = (post - mean_pre) - r * (pre - mean_pre)
    return predicted_gap / (params.sd * math.sqrt(1.0 - r * r))


@dataclass(frozen=True, slots=True)
class ClinicalCutoffs:
    """Jacobson–Truax cut-offs a, b, c (points; the post score must fall below them)."""

    a: float
    b: float
    c: float


def clinical_cutoffs(*, mean_dysfunctional: float, sd_dysfunctional: float,
                     mean_functional: float, sd_functional: float) -> ClinicalCutoffs:
    """Cut-offs a, b, c of Jacobson & Truax (1991) for a lower-is-better scale.

    >>> cut = clinical_cutoffs(mean_dysfunctional=15.4, sd_dysfunctional=5.5,
    ...                        mean_functional=2.9, sd_functional=3.5)
    >>> round(cut.a, 6), round(cut.b, 6), round(cut.c, 6)
    (4.4, 9.9, 7.761111)
    """
    if sd_dysfunctional <= 0 or sd_functional <= 0:
        raise ValueError("standard deviations must be > 0")
    a = mean_dysfunctional - 2 * sd_dysfunctional
    b = mean_functional + 2 * sd_functional
    c = ((sd_functional * mean_dysfunctional + sd_dysfunctional * mean_functional)
         / (sd_functional + sd_dysfunctional))
    return ClinicalCutoffs(a=a, b=b, c=c)
