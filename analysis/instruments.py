"""The three instruments as data: items, ranges, bands, cut-offs, LOINC codes, sources.

Every number here comes from ``clinical-reference.md`` (§0, §1, §2.4, §1.5); each threshold carries
its citation so that the dashboard can show it. Scoring and validation are generic functions in
:mod:`analysis.scoring`, driven by these specs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from analysis.exceptions import UnknownInstrumentError

__all__ = ["SeverityBand", "Instrument", "PHQ9", "GAD7", "PCL5", "INSTRUMENTS",
           "PCL5_CLUSTERS", "normalize_instrument"]


@dataclass(frozen=True, slots=True)
class SeverityBand:
    """A closed range of totals ``[low, high]`` with its label."""

    low: int
    high: int
    label: str


@dataclass(frozen=True, slots=True)
class Instrument:
    """Specification of one questionnaire.

    Attributes
    ----------
    code : canonical code (``PHQ9``, ``GAD7``, ``PCL5``).
    n_items, item_min, item_max : number of items and the integer range of each item.
    total_max : highest possible total (``n_items * item_max``); totals run from 0.
    severity_bands : contiguous bands covering ``0..total_max`` (empty for PCL-5, which has none).
    remission_below : a total strictly below this is remission (§0).
    caseness_at : a total at or above this is a "case" (§0), used for clinically significant change.
    reliable_change_points : default minimum change, in points, for reliable change (§0, §2.4).
    rc_sd, rc_reliability : the SD and reliability that reproduce the threshold by Jacobson–Truax
        (§2.5), shown with the results; ``None`` when the threshold is a published convention only.
    loinc_panel, loinc_total, loinc_items : LOINC codes (§1.5); ``None`` where none is verified.
    references : citation strings for the thresholds above.
    """

    code: str
    name: str
    n_items: int
    item_min: int
    item_max: int
    severity_bands: tuple[SeverityBand, ...]
    remission_below: float
    caseness_at: float
    reliable_change_points: float
    rc_sd: float | None
    rc_reliability: float | None
    loinc_panel: str | None
    loinc_total: str | None
    loinc_items: tuple[str, ...] | None
    references: tuple[str, ...]

    @property
    def total_max(self) -> int:
        """Highest possible total score."""
        return self.n_items * self.item_max

    @property
    def item_columns(self) -> tuple[str, ...]:
        """Column names of the items, ``item_1 … item_n``."""
        return tuple(f"item_{i}" for i in range(1, self.n_items + 1))

    def severity(self, total: float) -> str | None:
        """Severity label of a total (``None`` for PCL-5, or a missing total).

        >>> PHQ9.severity(10)
        'moderate'
        """
        if total != total or not self.severity_bands:  # NaN check without numpy
            return None
        if not 0 <= total <= self.total_max:
            raise ValueError(f"{total} is outside 0–{self.total_max} for {self.code}")
        # A band runs from its lower bound up to the next band's: prorated totals may be fractional.
        label = self.severity_bands[0].label
        for band in self.severity_bands:
            if total >= band.low:
                label = band.label
        return label


PHQ9 = Instrument(
    code="PHQ9", name="PHQ-9", n_items=9, item_min=0, item_max=3,
    severity_bands=(SeverityBand(0, 4, "minimal"), SeverityBand(5, 9, "mild"),
                    SeverityBand(10, 14, "moderate"), SeverityBand(15, 19, "moderately severe"),
                    SeverityBand(20, 27, "severe")),
    remission_below=5, caseness_at=10, reliable_change_points=6,
    rc_sd=5.5, rc_reliability=0.84,
    loinc_panel="44249-1", loinc_total="44261-6",
    loinc_items=("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5",
                 "44253-3", "44260-8"),
    references=(
        "Kroenke, Spitzer & Williams 2001, J Gen Intern Med 16:606-613 (items, bands 5/10/15/20)",
        "Remission < 5: Kaiser PHQ-9 study (appi.ps.201900295); McInnes et al. 2022",
        "Caseness >= 10 and reliable change >= 6: NHS Talking Therapies (IAPT) manual, secondary",
        "Jacobson & Truax 1991: 1.96*SD*sqrt(2(1-r)) with SD 5.5, r .84 gives 6.10 points",
    ),
)

GAD7 = Instrument(
    code="GAD7", name="GAD-7", n_items=7, item_min=0, item_max=3,
    severity_bands=(SeverityBand(0, 4, "minimal"), SeverityBand(5, 9, "mild"),
                    SeverityBand(10, 14, "moderate"), SeverityBand(15, 21, "severe")),
    remission_below=5, caseness_at=8, reliable_change_points=4,
    rc_sd=4.5, rc_reliability=0.92,
    loinc_panel="69737-5", loinc_total="70274-6",
    loinc_items=("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    references=(
        "Spitzer, Kroenke, Williams & Löwe 2006, Arch Intern Med 166:1092-1097 (items, bands)",
        "Remission < 5: common convention (not a published standard)",
        "Caseness >= 8 and reliable change >= 4: NHS Talking Therapies (IAPT) manual, secondary",
        "Jacobson & Truax 1991: SD 4.5, r .92 gives 3.53 points",
    ),
)

PCL5 = Instrument(
    code="PCL5", name="PCL-5", n_items=20, item_min=0, item_max=4,
    severity_bands=(),
    remission_below=33, caseness_at=33, reliable_change_points=10,
    rc_sd=None, rc_reliability=None,
    loinc_panel=None, loinc_total=None, loinc_items=None,
    references=(
        "Weathers et al. 2013 (NCPTSD); Blevins et al. 2015, J Trauma Stress 28:489-498",
        "Provisional PTSD at 31-33 (Forkus et al. 2022); remission < 33 is a convention",
        "Reliable / clinically meaningful change 10 points (NCPTSD)",
        "No verified LOINC codes: a local code system is used",
    ),
)

#: Registry of the supported instruments by canonical code.
INSTRUMENTS: Mapping[str, Instrument] = MappingProxyType({"PHQ9": PHQ9, "GAD7": GAD7, "PCL5": PCL5})

#: PCL-5 DSM-5 clusters: (label, item numbers, minimum items rated >= 2) (§1.2).
PCL5_CLUSTERS: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("B", (1, 2, 3, 4, 5), 1),
    ("C", (6, 7), 1),
    ("D", (8, 9, 10, 11, 12, 13, 14), 2),
    ("E", (15, 16, 17, 18, 19, 20), 2),
)

_ALIAS_RE = re.compile(r"[\s_\-]")


def normalize_instrument(name: object) -> str:
    """Canonical instrument code of a name as clinics write it.

    Case, spaces, dashes and underscores are ignored: ``PHQ-9``, ``phq 9`` and ``PHQ9`` are PHQ9.

    >>> normalize_instrument("phq 9"), normalize_instrument("GAD-7"), normalize_instrument("pcl_5")
    ('PHQ9', 'GAD7', 'PCL5')

    Raises
    ------
    UnknownInstrumentError
        When the name matches none of the three.
    """
    key = _ALIAS_RE.sub("", str(name)).upper()
    if key in INSTRUMENTS:
        return key
    raise UnknownInstrumentError(f"unknown instrument {name!r} (expected PHQ9, GAD7 or PCL5)")
