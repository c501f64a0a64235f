"""What a forest plot shows, as frozen data: rows, pooled summaries, blocks, the whole spec.

Each class checks its own numbers on construction (a CI that does not hold its estimate, weights
that do not sum to 100, a log scale with a value <= 0), so a bad figure fails where it is
described, with the row named, and never half-drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from ._common import check_number, is_nan, set_interval
from .judgement import check_judgement

__all__ = ["ForestBlock", "ForestRow", "ForestSpec", "ForestSummary"]

PI_LABEL = "Prediction interval"
NOT_ESTIMABLE = "not estimable"


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One study row: label, n text ("25" or "3/25"), estimate with CI, weight in percent.

    ``appraisal`` (optional): the study's overall risk-of-bias judgement, "low", "some",
    "high" or "not appraised", drawn as a chip in a "RoB" column (shown when any row has one).
    """

    label: str
    n_text: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    note: str | None = None
    appraisal: str | None = None

    def __post_init__(self) -> None:
        where = f"ForestRow {self.label!r}"
        set_interval(self, where, allow_nan=True)
        object.__setattr__(self, "n_text", str(self.n_text))
        if not isinstance(self.label, str):
            raise InputError(f"{where}: label must be a str, got {type(self.label).__name__}")
        if self.weight is not None and is_nan(self.weight):
            object.__setattr__(self, "weight", None)  # NaN weight (e.g. k = 1) = no weight
        if self.weight is not None:
            weight = check_number(f"{where}: weight", self.weight)
            if weight < 0:
                raise InputError(f"{where}: weight must be >= 0 (percent), got {weight}")
            object.__setattr__(self, "weight", weight)
        if self.appraisal is not None:
            check_judgement(f"{where}: appraisal", self.appraisal)


@dataclass(frozen=True, slots=True)
class ForestSummary:
    """A pooled estimate drawn as a diamond; PI bar and heterogeneity line when given.

    A NaN prediction interval (k too small) is treated as absent.
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None = None
    pi_high: float | None = None
    heterogeneity_text: str | None = None

    def __post_init__(self) -> None:
        where = f"ForestSummary {self.label!r}"
        if not isinstance(self.label, str):
            raise InputError(f"{where}: label must be a str, got {type(self.label).__name__}")
        set_interval(self, where, allow_nan=False)
        pis = [None if v is None else check_number(f"{where}: pi", v, allow_nan=True)
               for v in (self.pi_low, self.pi_high)]
        if any(v is None or math.isnan(v) for v in pis):
            if any(v is not None and not math.isnan(v) for v in pis):
                raise InputError(f"{where}: give both pi_low and pi_high or neither, got {pis}")
            pis = [None, None]
        elif pis[0] > pis[1]:  # type: ignore[operator]
            raise InputError(f"{where}: need pi_low <= pi_high, got {pis}")
        object.__setattr__(self, "pi_low", pis[0])
        object.__setattr__(self, "pi_high", pis[1])


@dataclass(frozen=True, slots=True)
class ForestBlock:
    """A subgroup: optional header, its study rows, optional pooled summary."""

    title: str | None
    rows: Sequence[ForestRow]
    summary: ForestSummary | None = None

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        if not rows:
            raise InputError(f"ForestBlock {self.title!r} has no rows; leave the block out")
        for i, row in enumerate(rows):
            if not isinstance(row, ForestRow):
                raise InputError(f"ForestBlock {self.title!r}: rows[{i}] is not a ForestRow")
        object.__setattr__(self, "rows", rows)


@dataclass(frozen=True, slots=True)
class ForestSpec:
    """Everything one forest plot shows, as plain text and numbers.

    ``weight``: percent of the overall analysis when ``overall`` is given (the weights shown
    sum to 100 over the figure), else percent within each block. Rows without a weight are
    left out of that check (e.g. a block shown but not pooled). ``null_value`` is the line of
    no effect (None: no line, e.g. proportions). With ``log_scale`` the values are on the ratio
    scale (e.g. RR) and the axis is logarithmic. ``xlim`` (optional) overrides the automatic
    limits; whiskers beyond the limits end in an arrow.
    """

    title: str | None
    blocks: Sequence[ForestBlock]
    overall: ForestSummary | None = None
    subgroup_test_text: str | None = None
    method_text: str | None = None
    xlabel: str = ""
    favours_left: str | None = None
    favours_right: str | None = None
    effect_label: str = "Estimate [95% CI]"
    n_header: str = "n"
    null_value: float | None = 0.0
    log_scale: bool = False
    footnote_lines: Sequence[str] = ()
    digits: int = 2
    xlim: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        where = f"ForestSpec {self.title!r}"
        if isinstance(self.blocks, ForestBlock):
            raise InputError(f"{where}: blocks must be a sequence of ForestBlock")
        blocks = tuple(self.blocks)
        if not blocks or not any(b.rows for b in blocks):
            raise InputError(f"{where} has no study rows; nothing to plot")
        object.__setattr__(self, "blocks", blocks)
        if isinstance(self.footnote_lines, str):
            raise InputError(f"{where}: footnote_lines must be a list of str, not one str")
        object.__setattr__(self, "footnote_lines", tuple(str(s) for s in self.footnote_lines))
        if not isinstance(self.digits, int) or not 0 <= self.digits <= 6:
            raise InputError(f"{where}: digits must be an int in 0..6, got {self.digits!r}")
        if self.null_value is not None:
            null = check_number(f"{where}: null_value", self.null_value)
            object.__setattr__(self, "null_value", null)
        if self.xlim is not None:
            lo, hi = (check_number(f"{where}: xlim", v) for v in self.xlim)
            if not lo < hi:
                raise InputError(f"{where}: xlim must be (low, high) with low < high")
            object.__setattr__(self, "xlim", (lo, hi))
        if self.log_scale:
            values = [v for v in _all_values(self) if not math.isnan(v)]
            if min(values) <= 0:
                raise InputError(f"{where}: log_scale needs every estimate, CI, PI, null_value "
                                 f"and xlim value > 0 (ratio scale), got {min(values)}")
        self._check_weights(where, blocks)

    def _check_weights(self, where: str, blocks: tuple[ForestBlock, ...]) -> None:
        groups = [[r for b in blocks for r in b.rows]] if self.overall else [b.rows for b in blocks]
        for rows in groups:
            weights = [r.weight for r in rows if r.weight is not None]
            if weights and abs(sum(weights) - 100.0) > 0.5:
                if self.overall:
                    hint = ("with `overall` given, the rows must carry the overall model's "
                            "weights and every study of the overall model must be a row "
                            "(rows with weight None are skipped)")
                else:
                    hint = "without `overall`, each block's rows carry that block's weights"
                raise InputError(f"{where}: weights are percent and must sum to 100; the rows "
                                 f"carry {sum(weights):.2f}%: {hint}")


def _all_values(spec: ForestSpec) -> list[float]:
    values: list[float] = []
    for block in spec.blocks:
        values += [v for r in block.rows for v in (r.estimate, r.ci_low, r.ci_high)]
    for s in summaries(spec):
        values += [s.estimate, s.ci_low, s.ci_high]
        values += [v for v in (s.pi_low, s.pi_high) if v is not None]
    values += [v for v in (spec.null_value,) if v is not None]
    values += list(spec.xlim or ())
    return values


def summaries(spec: ForestSpec) -> list[ForestSummary]:
    found = [b.summary for b in spec.blocks if b.summary is not None]
    return [*found, spec.overall] if spec.overall is not None else found


def fmt(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_ci(est: float, lo: float, hi: float, digits: int) -> str:
    if math.isnan(est):
        return NOT_ESTIMABLE
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"
