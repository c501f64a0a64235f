"""What the lesion-type comparison figure shows, as frozen data filled from plain numbers.

One ``ComparisonRow`` per outcome and time window: the estimate of each lesion type (group)
with its CI, k and patients, or the reason it is missing (with, for a group too small to
pool, each of its studies on its own line); the difference between the groups;
the kind of evidence behind it; the procedures of each group. Rows on one scale share a
``ComparisonPanel`` (and its x axis). Checks name the row and field at fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from ._common import check_number, set_interval

__all__ = ["ComparisonDifference", "ComparisonPanel", "ComparisonRow", "ComparisonSpec",
           "GroupEstimate", "StudyEstimate"]

EVIDENCE = ("within-study", "between-study", "none")
RATIO_MEASURES = ("OR", "RR", "HR", "IRR", "ROM")


def _count(where: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: must be an int >= 0 or None, got {value!r}")
    return value


def _optional_text(where: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(f"{where}: must be a non-empty str or None, got {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class StudyEstimate:
    """One study of a group that is not pooled: its label, estimate and CI."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float

    def __post_init__(self) -> None:
        where = f"StudyEstimate {self.label!r}"
        if not isinstance(self.label, str) or not self.label.strip():
            raise InputError(f"{where}: label must be a non-empty str")
        set_interval(self, where, allow_nan=False)


@dataclass(frozen=True, slots=True)
class GroupEstimate:
    """One lesion type's estimate in one row. All of estimate, ci_low, ci_high NaN means no
    summary estimate; ``missing_text`` then says why (e.g. "no osteolytic series reported VAS
    as mean and SD", or "not pooled, k = 2"), and ``studies`` may list the group's studies,
    each drawn on its own line (side by side, never pooled: a group with a summary estimate
    takes no studies). ``k`` studies and ``patients`` are shown as small text; ``procedures``
    in its column.
    """

    estimate: float
    ci_low: float
    ci_high: float
    k: int | None = None
    patients: int | None = None
    missing_text: str | None = None
    procedures: str | None = None
    studies: Sequence[StudyEstimate] = ()

    def __post_init__(self) -> None:
        where = "GroupEstimate"
        set_interval(self, where, allow_nan=True)
        object.__setattr__(self, "k", _count(f"{where}: k", self.k))
        object.__setattr__(self, "patients", _count(f"{where}: patients", self.patients))
        _optional_text(f"{where}: missing_text", self.missing_text)
        _optional_text(f"{where}: procedures", self.procedures)
        if not self.has_data and self.missing_text is None:
            raise InputError(f"{where}: estimate is NaN (no data), so missing_text must say why")
        if self.has_data and self.missing_text is not None:
            raise InputError(f"{where}: an estimate is given, so missing_text must be None")
        if isinstance(self.studies, StudyEstimate):
            raise InputError(f"{where}: studies must be a sequence of StudyEstimate")
        studies = tuple(self.studies)
        for i, study in enumerate(studies):
            if not isinstance(study, StudyEstimate):
                raise InputError(f"{where}: studies[{i}] must be a StudyEstimate")
        if studies and self.has_data:
            raise InputError(f"{where}: a pooled estimate is given, so studies must be empty "
                             "(studies are shown only where the group is not pooled)")
        object.__setattr__(self, "studies", studies)

    @property
    def has_data(self) -> bool:
        """Whether the group has a summary estimate (pooled, or its single study)."""
        return not math.isnan(self.estimate)

    @property
    def intervals(self) -> list[tuple[float, float]]:
        """Every CI drawn for the group: its estimate's, or each study's."""
        if self.has_data:
            return [(self.ci_low, self.ci_high)]
        return [(s.ci_low, s.ci_high) for s in self.studies]


@dataclass(frozen=True, slots=True)
class ComparisonDifference:
    """The between-group difference, e.g. ``ComparisonDifference("MD", 1.2, -0.4, 2.8)``.

    NaN values read "not estimable". ``digits`` defaults to 2 for ratio measures (OR, RR,
    HR, IRR, ROM) and to the panel's digits otherwise.
    """

    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    digits: int | None = None

    def __post_init__(self) -> None:
        where = f"ComparisonDifference {self.measure!r}"
        if not isinstance(self.measure, str) or not self.measure.strip():
            raise InputError(f"{where}: measure must be a non-empty str such as 'MD' or 'OR'")
        _, lo, _ = set_interval(self, where, allow_nan=True)
        if self.measure in RATIO_MEASURES and not math.isnan(lo) and lo <= 0:
            raise InputError(f"{where}: a ratio and its CI must be > 0, got ci_low = {lo}")
        if self.digits is not None and (not isinstance(self.digits, int)
                                        or not 0 <= self.digits <= 6):
            raise InputError(f"{where}: digits must be an int in 0..6 or None")


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One outcome and time window: a ``GroupEstimate`` per group of the spec (in its order),
    the difference (a ``ComparisonDifference``, a text, or None for "—"), the evidence
    ("within-study", "between-study" or "none")."""

    label: str
    sides: Sequence[GroupEstimate]
    difference: ComparisonDifference | str | None
    evidence: str

    def __post_init__(self) -> None:
        where = f"ComparisonRow {self.label!r}"
        if not isinstance(self.label, str) or not self.label.strip():
            raise InputError(f"{where}: label must be a non-empty str")
        sides = tuple(self.sides)
        for i, side in enumerate(sides):
            if not isinstance(side, GroupEstimate):
                raise InputError(f"{where}: sides[{i}] must be a GroupEstimate")
        object.__setattr__(self, "sides", sides)
        if not (self.difference is None or isinstance(self.difference, ComparisonDifference)
                or (isinstance(self.difference, str) and self.difference.strip())):
            raise InputError(f"{where}: difference must be a ComparisonDifference, a non-empty "
                             "str or None")
        if self.evidence not in EVIDENCE:
            raise InputError(f"{where}: evidence must be one of {list(EVIDENCE)}, got "
                             f"{self.evidence!r}")


@dataclass(frozen=True, slots=True)
class ComparisonPanel:
    """Rows on one scale, with their own x axis: ``xlabel``, optional line of no effect
    (``null_value``), optional ``xlim``; ``unit`` (e.g. "%") follows estimates in the text;
    ``digits`` for estimates and non-ratio differences."""

    title: str
    xlabel: str
    rows: Sequence[ComparisonRow]
    null_value: float | None = None
    xlim: tuple[float, float] | None = None
    unit: str = ""
    digits: int = 1

    def __post_init__(self) -> None:
        where = f"ComparisonPanel {self.title!r}"
        if not isinstance(self.title, str) or not self.title.strip():
            raise InputError(f"{where}: title must be a non-empty str")
        rows = tuple(self.rows)
        if not rows:
            raise InputError(f"{where}: rows is empty; leave the panel out")
        for i, row in enumerate(rows):
            if not isinstance(row, ComparisonRow):
                raise InputError(f"{where}: rows[{i}] is not a ComparisonRow")
        object.__setattr__(self, "rows", rows)
        if self.null_value is not None:
            object.__setattr__(self, "null_value",
                               check_number(f"{where}: null_value", self.null_value))
        if self.xlim is not None:
            lo, hi = (check_number(f"{where}: xlim", v) for v in self.xlim)
            if not lo < hi:
                raise InputError(f"{where}: xlim must be (low, high) with low < high")
            object.__setattr__(self, "xlim", (lo, hi))
        if not isinstance(self.digits, int) or not 0 <= self.digits <= 6:
            raise InputError(f"{where}: digits must be an int in 0..6, got {self.digits!r}")
        if not any(s.intervals for r in rows for s in r.sides) and self.xlim is None:
            raise InputError(f"{where}: no row has an estimate; give xlim to draw the axis")


@dataclass(frozen=True, slots=True)
class ComparisonSpec:
    """The whole figure: the groups compared (e.g. ("Osteoblastic", "Osteolytic")), the
    panels, and footnote lines. Every row has one ``GroupEstimate`` per group."""

    title: str | None
    groups: Sequence[str]
    panels: Sequence[ComparisonPanel]
    footnote_lines: Sequence[str] = ()
    difference_header: str = "Difference [95% CI]"

    def __post_init__(self) -> None:
        where = f"ComparisonSpec {self.title!r}"
        if isinstance(self.groups, str):
            raise InputError(f"{where}: groups must be a list of str, not one str")
        groups = tuple(self.groups)
        if not 2 <= len(groups) <= 4:
            raise InputError(f"{where}: groups must name 2 to 4 groups, got {len(groups)}")
        for i, g in enumerate(groups):
            if not isinstance(g, str) or not g.strip():
                raise InputError(f"{where}: groups[{i}] must be a non-empty str")
        if len(set(groups)) != len(groups):
            raise InputError(f"{where}: groups must be distinct, got {list(groups)}")
        if isinstance(self.panels, ComparisonPanel):
            raise InputError(f"{where}: panels must be a sequence of ComparisonPanel")
        panels = tuple(self.panels)
        if not panels:
            raise InputError(f"{where}: panels is empty; nothing to plot")
        for i, panel in enumerate(panels):
            if not isinstance(panel, ComparisonPanel):
                raise InputError(f"{where}: panels[{i}] is not a ComparisonPanel")
            for row in panel.rows:
                if len(row.sides) != len(groups):
                    raise InputError(f"{where}: row {row.label!r} of panel {panel.title!r} has "
                                     f"{len(row.sides)} sides, there are {len(groups)} groups")
        if isinstance(self.footnote_lines, str):
            raise InputError(f"{where}: footnote_lines must be a list of str, not one str")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "panels", panels)
        object.__setattr__(self, "footnote_lines", tuple(str(s) for s in self.footnote_lines))
