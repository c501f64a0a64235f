"""The PRISMA 2020 record of the search and selection (Page et al. 2021): evidence/screening.yaml.

The file records what the researcher did and only that: the sources searched and their hit
counts (``null`` with a ``reason`` when not recorded), records removed before screening,
records screened and excluded, reports that could not be retrieved, reports excluded after
assessment (with a reason code), and further reports of included studies. Every count that
follows from the registry is derived, never typed: studies included = study files; reports of
included studies = study files read in their own report + ``additional_reports``; reports
assessed = reports of included studies + excluded reports; reports sought = reports assessed +
reports not retrieved. A count the file does type under ``counts:`` is checked against the
registry, so the record cannot drift from studies/. ``prisma_flow`` returns the boxes of the
flow diagram as plain data; the review adds the per-analysis counts and draws it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from ..errors import StudyRecordError
from ._base import CountInt, Key, Text, _err, _Model
from .findings import Finding, model_fields_at, structural_findings
from .records import StudyRecord
from .yamlio import YamlDocument, YamlError, dotted, line_for, load_document

__all__ = [
    "EXCLUSION_REASONS",
    "Box",
    "PrismaFlow",
    "Screening",
    "check_screening",
    "load_screening",
    "prisma_flow",
]

EXCLUSION_REASONS = (
    "not_primary_study",         # a review or meta-analysis, not a report of a cohort
    "wrong_population",          # not vertebral metastases or myeloma (e.g. osteoporotic)
    "population_not_separable",  # metastatic and other fractures together, not reported apart
    "wrong_intervention",        # not vertebral augmentation
    "no_usable_data",            # the text read gives no value the review could record
    "other",                     # say which in detail
)
ExclusionReason = Literal["not_primary_study", "wrong_population", "population_not_separable",
                          "wrong_intervention", "no_usable_data", "other"]
_TYPED = ("studies_included", "reports_of_included_studies", "reports_assessed",
          "reports_excluded", "reports_not_retrieved", "reports_sought")


class Count(_Model):
    """A count the researcher recorded, or null with the reason it was not recorded."""

    count: CountInt | None = None
    reason: Text | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _reason(self) -> Any:
        if self.count is None and self.reason is None:
            raise _err("reason-missing", "count: null needs a reason: (why it is unknown)")
        return self


class Source(_Model):
    """One source searched (PRISMA: databases, registers, or other methods)."""

    id: Key
    kind: Literal["database", "register", "other"]
    label: Text
    records: CountInt | None = None
    reason: Text | None = None
    note: Text | None = None

    @model_validator(mode="after")
    def _reason(self) -> Any:
        if self.records is None and self.reason is None:
            raise _err("reason-missing", "records: null needs a reason: (why it is unknown)")
        return self


class Removed(_Model):
    duplicates: Count | None = None
    automation: Count | None = None
    other: Count | None = None


class NotRetrieved(_Model):
    """A report sought but not retrieved; ``study`` when the study is included nonetheless."""

    id: Key
    citation: Text
    reason: Text
    study: Key | None = Field(None, description="study file whose data come from other reports")
    note: Text | None = None


class Excluded(_Model):
    """A report assessed for eligibility and excluded."""

    id: Key
    citation: Text
    reason: ExclusionReason
    detail: Text = Field(description="what in the report led to the exclusion")
    note: Text | None = None


class AdditionalReport(_Model):
    """A further report of an included study (conference abstract, preprint, earlier report)."""

    id: Key
    study: Key
    citation: Text
    note: Text | None = None


class TypedCounts(_Model):
    studies_included: CountInt | None = None
    reports_of_included_studies: CountInt | None = None
    reports_assessed: CountInt | None = None
    reports_excluded: CountInt | None = None
    reports_not_retrieved: CountInt | None = None
    reports_sought: CountInt | None = None


class Screening(_Model):
    """evidence/screening.yaml."""

    version: Literal[1] = 1
    identification: tuple[Source, ...] = Field(min_length=1)
    removed_before_screening: Removed = Removed()
    records_screened: Count
    records_excluded: Count
    not_retrieved: tuple[NotRetrieved, ...] = ()
    excluded: tuple[Excluded, ...] = ()
    additional_reports: tuple[AdditionalReport, ...] = ()
    counts: TypedCounts = TypedCounts()
    note: Text | None = None


@dataclass(frozen=True)
class Box:
    """One box of the flow diagram: a count (None when unknown, with the reason)."""

    count: int | None
    reason: str | None = None
    derived: bool = False
    note: str | None = None


@dataclass(frozen=True)
class PrismaFlow:
    """The PRISMA 2020 boxes as plain data (``to_dict`` for JSON)."""

    identified: tuple[dict[str, Any], ...]
    identified_by_kind: dict[str, Box]
    duplicates_removed: Box
    automation_removed: Box
    other_removed: Box
    records_screened: Box
    records_excluded: Box
    reports_sought: Box
    reports_not_retrieved: Box
    not_retrieved: tuple[dict[str, Any], ...]
    reports_assessed: Box
    reports_excluded: Box
    excluded_by_reason: dict[str, int]
    excluded: tuple[dict[str, Any], ...]
    studies_included: Box
    reports_of_included_studies: Box
    included_through_other_reports: tuple[str, ...]
    included_by_source_access: dict[str, int]
    unverified_identity: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples become lists)."""
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _box(count: Count | None, what: str) -> Box:
    if count is None:
        return Box(None, f"{what} not given in the screening record")
    return Box(count.count, count.reason, False, count.note)


def _sum_or_none(values: Sequence[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _removed_total(removed: Removed) -> int | None:
    """Records removed before screening (an absent entry: none removed; None if unknown)."""
    return _sum_or_none([c.count for c in (removed.duplicates, removed.automation,
                                           removed.other) if c is not None])


def prisma_flow(screening: Screening, records: Sequence[StudyRecord]) -> PrismaFlow:
    """The flow diagram's boxes: what the file records plus what follows from ``records``."""
    secondary = tuple(sorted(r.key for r in records if r.source_access == "secondary_only"))
    own = len(records) - len(secondary)
    reports_included = own + len(screening.additional_reports)
    n_excluded = len(screening.excluded)
    assessed = reports_included + n_excluded
    sought = assessed + len(screening.not_retrieved)
    by_kind = {}
    for kind in ("database", "register", "other"):
        sources = [s for s in screening.identification if s.kind == kind]
        total = _sum_or_none([s.records for s in sources])
        reason = (None if total is not None else
                  "; ".join(f"{s.id}: {s.reason}" for s in sources if s.records is None))
        by_kind[kind] = Box(total, reason, note=None if sources else f"no {kind} source")
    removed = screening.removed_before_screening
    screened = _box(screening.records_screened, "records screened")
    identified = _sum_or_none([s.records for s in screening.identification])
    minus = _removed_total(removed)
    if screened.count is None and identified is not None and minus is not None:
        screened = Box(identified - minus, None, True,
                       "identified minus records removed before screening")
    excluded_box = _box(screening.records_excluded, "records excluded")
    if excluded_box.count is None and screened.count is not None:
        excluded_box = Box(screened.count - sought, None, True,
                           "records screened minus reports sought for retrieval")
    return PrismaFlow(
        identified=tuple({"id": s.id, "kind": s.kind, "label": s.label, "count": s.records,
                          "reason": s.reason} for s in screening.identification),
        identified_by_kind=by_kind,
        duplicates_removed=_box(removed.duplicates, "duplicates"),
        automation_removed=_box(removed.automation, "records removed by automation tools"),
        other_removed=_box(removed.other, "records removed for other reasons"),
        records_screened=screened,
        records_excluded=excluded_box,
        reports_sought=Box(sought, derived=True,
                           note="reports assessed + reports not retrieved"),
        reports_not_retrieved=Box(len(screening.not_retrieved), derived=True),
        not_retrieved=tuple({"id": n.id, "citation": n.citation, "reason": n.reason,
                             "study": n.study} for n in screening.not_retrieved),
        reports_assessed=Box(assessed, derived=True,
                             note="reports of included studies + reports excluded"),
        reports_excluded=Box(n_excluded, derived=True),
        excluded_by_reason=dict(sorted(Counter(e.reason for e in screening.excluded).items())),
        excluded=tuple({"id": e.id, "citation": e.citation, "reason": e.reason,
                        "detail": e.detail} for e in screening.excluded),
        studies_included=Box(len(records), derived=True, note="study files in studies/"),
        reports_of_included_studies=Box(
            reports_included, derived=True,
            note="study files read in their own report + additional reports"),
        included_through_other_reports=secondary,
        included_by_source_access=dict(sorted(Counter(r.source_access
                                                      for r in records).items())),
        unverified_identity=tuple(sorted(r.key for r in records if not r.identity_verified)),
    )


# --- validation ------------------------------------------------------------------------------

def _structural(exc: ValidationError, doc: YamlDocument) -> list[Finding]:
    out = []
    for f in structural_findings(exc, doc):
        if f.code == "unknown-field":
            parts = tuple(int(p) if p.isdigit() else p
                          for p in f.field.replace("[", ".").replace("]", "").split("."))
            allowed = model_fields_at(parts, Screening)
            close = difflib.get_close_matches(str(parts[-1]), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            f = Finding(f.path, f.line, f.field, f.severity,
                        f"unknown field {parts[-1]!r}{hint}", f.code)
        out.append(f)
    return out


def _consistency(screening: Screening, records: Sequence[StudyRecord], doc: YamlDocument,
                 complete: bool) -> list[Finding]:
    out: list[Finding] = []

    def add(where: tuple[Any, ...], code: str, message: str) -> None:
        out.append(Finding(doc.path, line_for(where, doc.lines), dotted(where), "error",
                           message, code))

    keys = {r.key: r for r in records}
    seen: dict[str, tuple[Any, ...]] = {}
    for name in ("not_retrieved", "excluded", "additional_reports"):
        for i, entry in enumerate(getattr(screening, name)):
            where = (name, i, "id")
            if entry.id in seen:
                add(where, "duplicate-id", f"id {entry.id!r} is used twice (first at "
                    f"{dotted(seen[entry.id])})")
            seen.setdefault(entry.id, where)
    for i, entry in enumerate(screening.excluded):
        if entry.id in keys:
            add(("excluded", i, "id"), "screening-excluded-included",
                f"{entry.id!r} is listed as excluded but studies/ includes it")
    named = set()
    for i, entry in enumerate(screening.not_retrieved):
        if entry.study is None:
            continue
        named.add(entry.study)
        rec = keys.get(entry.study)
        if rec is None:
            if complete:
                add(("not_retrieved", i, "study"), "screening-study-unknown",
                    f"no study file {entry.study!r} in studies/")
        elif rec.source_access != "secondary_only":
            add(("not_retrieved", i, "study"), "screening-not-retrieved",
                f"{entry.study!r} has source_access {rec.source_access}: its report was read, "
                "so it was retrieved")
    for rec in records:
        if rec.source_access == "secondary_only" and rec.key not in named:
            add(("not_retrieved",), "screening-not-retrieved",
                f"{rec.key!r} is read only in other papers (secondary_only): list its report "
                "under not_retrieved with study: " + rec.key)
    for i, entry in enumerate(screening.additional_reports):
        if entry.study not in keys and complete:
            add(("additional_reports", i, "study"), "screening-study-unknown",
                f"no study file {entry.study!r} in studies/")
    if not complete:
        return out  # a study file failed to load: derived counts would be wrong
    flow = prisma_flow(screening, records)
    for name in _TYPED:
        typed = getattr(screening.counts, name)
        derived = getattr(flow, name).count
        if typed is not None and typed != derived:
            add(("counts", name), "screening-count",
                f"{name} is typed as {typed} but the registry gives {derived} "
                f"({getattr(flow, name).note or 'derived'})")
    sought = flow.reports_sought.count or 0
    screened, rec_excluded = screening.records_screened.count, screening.records_excluded.count
    if screened is not None and rec_excluded is not None and screened - rec_excluded != sought:
        add(("records_excluded", "count"), "screening-count",
            f"records screened ({screened}) minus records excluded ({rec_excluded}) must equal "
            f"the reports sought for retrieval ({sought})")
    elif screened is not None and screened < sought:
        add(("records_screened", "count"), "screening-count",
            f"{screened} records screened, fewer than the {sought} reports sought")
    identified = _sum_or_none([s.records for s in screening.identification])
    minus = _removed_total(screening.removed_before_screening)
    if screened is not None and identified is not None and minus is not None \
            and identified - minus != screened:
        add(("records_screened", "count"), "screening-count",
            f"{identified} records identified minus {minus} removed before screening is not "
            f"the {screened} records screened")
    return out


def check_screening(path: str | Path, records: Sequence[StudyRecord], *,
                    complete: bool = True) -> tuple[Screening | None, list[Finding]]:
    """Load and check ``path`` against ``records``: the record (None if invalid) and findings.

    An absent file is a warning (``screening-missing``). ``complete=False`` (a study file
    failed to load) skips the comparisons of counts, which would be wrong.
    """
    path = Path(path)
    if not path.is_file():
        return None, [Finding(str(path), 1, "(file)", "warning",
                              "no PRISMA screening record (docs/study-format.md, "
                              "'The screening record')", "screening-missing")]
    try:
        doc = load_document(path)
    except YamlError as exc:
        return None, [Finding(exc.path, exc.line, exc.field, "error", exc.message, exc.code)]
    if not isinstance(doc.data, dict):
        return None, [Finding(doc.path, 1, "(top)", "error",
                              "the screening record is a mapping of fields", "type")]
    try:
        screening = Screening.model_validate(doc.data)
    except ValidationError as exc:
        return None, _structural(exc, doc)
    return screening, _consistency(screening, records, doc, complete)


def load_screening(path: str | Path, records: Sequence[StudyRecord]) -> Screening:
    """The validated screening record; StudyRecordError listing every error otherwise."""
    screening, findings = check_screening(path, records)
    errors = [f for f in findings if f.severity == "error" or screening is None]
    if errors or screening is None:
        raise StudyRecordError("\n".join(str(f) for f in errors))
    return screening
