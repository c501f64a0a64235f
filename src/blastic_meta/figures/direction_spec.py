"""What an effect-direction plot shows, as frozen data (Thomson & Thomas 2013; SWiM, Campbell
et al. 2020): studies in blocks, outcome domains as columns, one direction per cell.

A direction is "up" (▲), "down" (▼), "neutral" (◄►: no change, no difference or mixed) or
"unclear" (?); what up and down mean is stated by each block (``up_means``, ``down_means``),
because it differs between kinds of evidence: before/after series read ▲ as improvement,
within-study comparisons of lesion types read ▲ as favouring the first lesion type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from .judgement import check_judgement

__all__ = ["DirectionBlock", "DirectionCell", "DirectionRow", "DirectionSpec"]

DIRECTIONS = ("up", "down", "neutral", "unclear")
SIGNIFICANCE = ("significant", "not_significant", "not_tested")
SMALL_N, LARGE_N = 50, 300  # small < 50 <= medium <= 300 < large (patients)


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: must be a non-empty str, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class DirectionCell:
    """One study's result in one domain: its direction and whether it was significant.

    ``significance``: "significant" (drawn filled), "not_significant" or "not_tested"
    (drawn open). An "unclear" direction carries no significance.
    """

    direction: str
    significance: str = "not_tested"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InputError(f"DirectionCell: direction must be one of {list(DIRECTIONS)}, "
                             f"got {self.direction!r}")
        if self.significance not in SIGNIFICANCE:
            raise InputError(f"DirectionCell: significance must be one of {list(SIGNIFICANCE)}"
                             f", got {self.significance!r}")
        if self.direction == "unclear" and self.significance == "significant":
            raise InputError("DirectionCell: an 'unclear' direction cannot be 'significant'")

    @property
    def filled(self) -> bool:
        return self.significance == "significant"


@dataclass(frozen=True, slots=True)
class DirectionRow:
    """One study: label, patients (None: not reported), one cell per domain (None: the
    domain was not reported), optional overall appraisal shown as a chip by the label."""

    label: str
    n: int | None
    cells: Sequence[DirectionCell | None]
    appraisal: str | None = None

    def __post_init__(self) -> None:
        where = f"DirectionRow {self.label!r}"
        _text(f"{where}: label", self.label)
        if self.n is not None and (isinstance(self.n, bool) or not isinstance(self.n, int)
                                   or self.n < 1):
            raise InputError(f"{where}: n must be an int >= 1 or None, got {self.n!r}")
        if isinstance(self.cells, DirectionCell):
            raise InputError(f"{where}: cells must be a sequence (one per domain)")
        cells = tuple(self.cells)
        for i, cell in enumerate(cells):
            if cell is not None and not isinstance(cell, DirectionCell):
                raise InputError(f"{where}: cells[{i}] must be a DirectionCell or None, got "
                                 f"{type(cell).__name__}")
        object.__setattr__(self, "cells", cells)
        if self.appraisal is not None:
            check_judgement(f"{where}: appraisal", self.appraisal)

    @property
    def size(self) -> str:
        """"small", "medium", "large" by patients, or "unknown" when n is not reported."""
        if self.n is None:
            return "unknown"
        return "small" if self.n < SMALL_N else "large" if self.n > LARGE_N else "medium"


@dataclass(frozen=True, slots=True)
class DirectionBlock:
    """Studies of one kind of evidence and what their arrows mean.

    ``up_means`` / ``down_means`` / ``neutral_means`` complete "▲ = ...", e.g. "improvement
    after treatment" or "favours osteoblastic"; the legend of the block says exactly that.
    """

    title: str
    rows: Sequence[DirectionRow]
    up_means: str
    down_means: str
    neutral_means: str = "no change or mixed"

    def __post_init__(self) -> None:
        where = f"DirectionBlock {self.title!r}"
        for name in ("title", "up_means", "down_means", "neutral_means"):
            _text(f"{where}: {name}", getattr(self, name))
        rows = tuple(self.rows)
        if not rows:
            raise InputError(f"{where}: rows is empty; leave the block out")
        for i, row in enumerate(rows):
            if not isinstance(row, DirectionRow):
                raise InputError(f"{where}: rows[{i}] is not a DirectionRow")
        object.__setattr__(self, "rows", rows)


@dataclass(frozen=True, slots=True)
class DirectionSpec:
    """A whole effect-direction plot: title, outcome domains (columns), blocks, footnotes."""

    title: str | None
    domains: Sequence[str]
    blocks: Sequence[DirectionBlock]
    footnote_lines: Sequence[str] = ()

    def __post_init__(self) -> None:
        where = f"DirectionSpec {self.title!r}"
        if isinstance(self.domains, str):
            raise InputError(f"{where}: domains must be a list of str, not one str")
        domains = tuple(self.domains)
        if not domains:
            raise InputError(f"{where}: domains is empty; give the outcome domains (columns)")
        for i, d in enumerate(domains):
            _text(f"{where}: domains[{i}]", d)
        if isinstance(self.blocks, DirectionBlock):
            raise InputError(f"{where}: blocks must be a sequence of DirectionBlock")
        blocks = tuple(self.blocks)
        if not blocks:
            raise InputError(f"{where}: blocks is empty; nothing to plot")
        for i, block in enumerate(blocks):
            if not isinstance(block, DirectionBlock):
                raise InputError(f"{where}: blocks[{i}] is not a DirectionBlock")
            for row in block.rows:
                if len(row.cells) != len(domains):
                    raise InputError(f"{where}: row {row.label!r} of block {block.title!r} has "
                                     f"{len(row.cells)} cells, there are {len(domains)} domains")
        if isinstance(self.footnote_lines, str):
            raise InputError(f"{where}: footnote_lines must be a list of str, not one str")
        object.__setattr__(self, "domains", domains)
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "footnote_lines", tuple(str(s) for s in self.footnote_lines))
