"""What a PRISMA 2020 flow diagram shows, as frozen data (Page et al. 2021, BMJ 372:n71).

The counts of the template for new systematic reviews that searched databases and registers
and, optionally, other sources (websites, organisations, citation searching). Every count is
a number or explicitly unknown: ``PrismaCount(None, reason)`` is drawn "n = not recorded" with
the reason in a footnote, so the diagram never shows a made-up number. When the counts that
the template links are all known, their arithmetic is checked (records screened = identified -
removed, and so on), so a diagram cannot disagree with itself. A review that searched no
database or register (only websites, citation searching and the like) says so with
``databases_searched=False``: its one column is then the template's "other methods" column and
the empty databases-and-registers column is left out with a footnote saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError

__all__ = ["PrismaCount", "PrismaCounts", "PrismaOtherSources"]


@dataclass(frozen=True, slots=True)
class PrismaCount:
    """A count, or ``n=None`` with the reason it is not known (shown in a footnote)."""

    n: int | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.n is None:
            if not isinstance(self.reason, str) or not self.reason.strip():
                raise InputError("PrismaCount: n is None, so a reason (why the count is not "
                                 "known) is required")
        elif isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise InputError(f"PrismaCount: n must be an int >= 0 or None, got {self.n!r}")
        elif self.reason is not None:
            raise InputError(f"PrismaCount: n = {self.n} is known; give no reason")


def as_count(where: str, value: Any) -> PrismaCount:
    """``value`` (an int >= 0 or a PrismaCount) as a PrismaCount; None needs a reason."""
    if isinstance(value, PrismaCount):
        return value
    if value is None:
        raise InputError(f"{where}: None needs the reason the count is not known; "
                         "pass PrismaCount(None, 'reason')")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{where}: expected an int >= 0 or a PrismaCount, got {value!r}")
    return PrismaCount(value)


def as_lines(where: str, value: Any) -> tuple[tuple[str, PrismaCount], ...]:
    """A sequence of (label, count) pairs, checked."""
    if isinstance(value, str) or (isinstance(value, (tuple, list)) and len(value) == 2
                                  and isinstance(value[0], str)):
        raise InputError(f"{where}: expected a sequence of (label, n) pairs, got {value!r}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InputError(f"{where}[{i}]: expected a (label, n) pair, got {item!r}")
        label, count = item
        if not isinstance(label, str) or not label.strip():
            raise InputError(f"{where}[{i}]: label must be a non-empty str, got {label!r}")
        out.append((label, as_count(f"{where}[{i}] {label!r}", count)))
    return tuple(out)


def total(lines: Sequence[tuple[str, PrismaCount]]) -> int | None:
    """Sum of the counts, or None when any is unknown."""
    values = [c.n for _, c in lines]
    return None if any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def _check(where: str, name: str, value: int | None, expected: int | None, how: str) -> None:
    if value is not None and expected is not None and value != expected:
        raise InputError(f"{where}: {name} = {value}, but {how} = {expected}; fix the counts "
                         "(or pass check_sums=False and explain the difference in a footnote)")


@dataclass(frozen=True, slots=True)
class PrismaOtherSources:
    """The right-hand column of the template: records found by other methods.

    ``identified``: (source, n) pairs such as ("Citation searching", 12); ``excluded``: the
    reports excluded with their reasons; ``not_retrieved_reasons``: the reports not retrieved
    (by reason or by report) with their counts.
    """

    identified: Sequence[tuple[str, Any]]
    sought: Any
    not_retrieved: Any
    assessed: Any
    excluded: Sequence[tuple[str, Any]] = ()
    not_retrieved_reasons: Sequence[tuple[str, Any]] = ()

    def __post_init__(self) -> None:
        where = "PrismaOtherSources"
        object.__setattr__(self, "identified", as_lines(f"{where}: identified", self.identified))
        if not self.identified:
            raise InputError(f"{where}: identified is empty; give at least one source")
        for name in ("sought", "not_retrieved", "assessed"):
            object.__setattr__(self, name, as_count(f"{where}: {name}", getattr(self, name)))
        for name in ("excluded", "not_retrieved_reasons"):
            object.__setattr__(self, name, as_lines(f"{where}: {name}", getattr(self, name)))


@dataclass(frozen=True, slots=True)
class PrismaCounts:
    """Every box of the PRISMA 2020 flow diagram.

    ``identified``: (source, n) pairs of the databases/registers box, e.g.
    (("Databases", 412), ("Registers", 3)); ``removed``: the records removed before screening,
    e.g. (("Duplicate records removed", 120),); ``excluded``: reports excluded with reasons as
    (reason, n) pairs; ``analyses``: optional (analysis label, k studies) pairs listed in the
    "Included" box. Counts are ints or ``PrismaCount``. With ``check_sums`` the template's
    arithmetic is checked wherever every count involved is known. ``databases_searched=False``:
    no database or register was searched, so ``identified`` lists the other methods and the
    column is headed "Identification of studies via other methods" (Page et al. 2021); there
    is then no second column (``other_sources`` must be None).
    """

    identified: Sequence[tuple[str, Any]]
    removed: Sequence[tuple[str, Any]]
    screened: Any
    screened_excluded: Any
    sought: Any
    not_retrieved: Any
    assessed: Any
    excluded: Sequence[tuple[str, Any]]
    included_studies: Any
    included_reports: Any = None
    analyses: Sequence[tuple[str, int]] = ()
    not_retrieved_reasons: Sequence[tuple[str, Any]] = ()
    other_sources: PrismaOtherSources | None = None
    title: str | None = None
    footnote_lines: Sequence[str] = ()
    check_sums: bool = True
    databases_searched: bool = True

    def __post_init__(self) -> None:
        where = "PrismaCounts"
        if not self.databases_searched and self.other_sources is not None:
            raise InputError(f"{where}: databases_searched is False, so the other methods are "
                             "the main column; give them as identified, not other_sources")
        for name in ("identified", "removed", "excluded", "not_retrieved_reasons"):
            object.__setattr__(self, name, as_lines(f"{where}: {name}", getattr(self, name)))
        if not self.identified:
            raise InputError(f"{where}: identified is empty; give at least one source")
        for name in ("screened", "screened_excluded", "sought", "not_retrieved", "assessed",
                     "included_studies"):
            object.__setattr__(self, name, as_count(f"{where}: {name}", getattr(self, name)))
        if self.included_reports is not None:
            object.__setattr__(self, "included_reports",
                               as_count(f"{where}: included_reports", self.included_reports))
        analyses = []
        for i, item in enumerate(self.analyses):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise InputError(f"{where}: analyses[{i}]: expected (label, k), got {item!r}")
            label, k = item
            if not isinstance(label, str) or not label.strip():
                raise InputError(f"{where}: analyses[{i}]: label must be a non-empty str")
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise InputError(f"{where}: analyses[{i}] {label!r}: k must be an int >= 1, "
                                 f"got {k!r}")
            n_inc = self.included_studies.n
            if n_inc is not None and k > n_inc:
                raise InputError(f"{where}: analyses[{i}] {label!r}: k = {k} is more than "
                                 f"the {n_inc} studies included")
            analyses.append((label, k))
        object.__setattr__(self, "analyses", tuple(analyses))
        if self.other_sources is not None and not isinstance(self.other_sources,
                                                             PrismaOtherSources):
            raise InputError(f"{where}: other_sources must be a PrismaOtherSources or None")
        if isinstance(self.footnote_lines, str):
            raise InputError(f"{where}: footnote_lines must be a list of str, not one str")
        object.__setattr__(self, "footnote_lines", tuple(str(s) for s in self.footnote_lines))
        if self.check_sums:
            self._check_sums(where)

    def _check_sums(self, where: str) -> None:
        def sub(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a - b

        ident, removed = total(self.identified), total(self.removed)  # type: ignore[arg-type]
        _check(where, "screened", self.screened.n, sub(ident, removed),
               "identified - removed before screening")
        _check(where, "sought", self.sought.n, sub(self.screened.n, self.screened_excluded.n),
               "screened - records excluded")
        _check(where, "assessed", self.assessed.n, sub(self.sought.n, self.not_retrieved.n),
               "sought - not retrieved")
        _check(where, "not_retrieved", self.not_retrieved.n,
               total(self.not_retrieved_reasons) if self.not_retrieved_reasons else None,  # type: ignore[arg-type]
               "the sum of not_retrieved_reasons")
        reports = sub(self.assessed.n, total(self.excluded))  # type: ignore[arg-type]
        other = self.other_sources
        if other is not None:
            _check(f"{where}: other_sources", "assessed", other.assessed.n,
                   sub(other.sought.n, other.not_retrieved.n), "sought - not retrieved")
            _check(f"{where}: other_sources", "not_retrieved", other.not_retrieved.n,
                   total(other.not_retrieved_reasons) if other.not_retrieved_reasons else None,  # type: ignore[arg-type]
                   "the sum of not_retrieved_reasons")
            extra = sub(other.assessed.n, total(other.excluded))  # type: ignore[arg-type]
            reports = None if reports is None or extra is None else reports + extra
        inc_reports = self.included_reports.n if self.included_reports is not None else None
        _check(where, "included_reports", inc_reports, reports,
               "reports assessed - reports excluded")
        studies = self.included_studies.n
        if studies is not None:
            ceiling = inc_reports if inc_reports is not None else reports
            if ceiling is not None and studies > ceiling:
                raise InputError(f"{where}: included_studies = {studies} is more than the "
                                 f"{ceiling} reports included (each study needs a report)")
