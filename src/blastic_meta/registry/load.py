"""Load the study registry: validated records and one long table for analysis.

``load_studies`` runs every check of ``validation.py`` and refuses to return anything when a
file has an error (all errors are listed in one StudyRecordError); warnings are left to
``blastic-meta validate``. The long table has one row per study x arm x outcome x time point,
and one row per responder, leakage, symptomatic-leakage, leak-site and complication entry.
Only reported numbers go into the numeric columns; reviewer-derived counts sit in
``derived_events`` / ``derived_total`` with the method in ``derived``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StudyRecordError
from .appraisal import TOOLS, ConcernRule, summarise_appraisal
from .citations import Bibliography, load_bibliography
from .records import Arm, StudyRecord, percent_of
from .synthesis import narrative_rows, within_study_rows
from .validation import Finding, check_studies
from .yamlio import dump_yaml, parse_yaml

if TYPE_CHECKING:  # pandas is imported where a table is made: reading records needs none
    import pandas as pd

__all__ = [
    "APPRAISAL_COLUMNS",
    "NARRATIVE_COLUMNS",
    "STUDY_LEVEL_COLUMNS",
    "TABLE_COLUMNS",
    "WITHIN_STUDY_COLUMNS",
    "appraisal_table",
    "dump_study",
    "load_studies",
    "narrative_table",
    "parse_study",
    "study_level_table",
    "study_table",
    "within_study_table",
]

TABLE_COLUMNS = (
    "study", "arm", "arm_label", "lesion_type", "design", "procedure", "outcome", "outcome_id",
    "instrument", "scale_min", "scale_max", "timepoint", "days", "n", "mean", "sd", "sd_kind",
    "median", "q1", "q3", "min", "max", "events", "total", "percent", "unit",
    "candidate_units", "symptomatic", "patients", "vertebrae", "source", "via", "ambiguous",
    "derived", "derived_events", "derived_total", "p_value", "note",
)
_FLOAT_COLUMNS = ("scale_min", "scale_max", "mean", "sd", "median", "q1", "q3", "min", "max",
                  "percent")
_COUNT_COLUMNS = ("days", "n", "events", "total", "patients", "vertebrae", "derived_events",
                  "derived_total")


def _p_text(p: Any) -> str | None:
    if p is None or isinstance(p, str):
        return p
    return p.value


def _base(rec: StudyRecord, arm: Arm) -> dict[str, Any]:
    return {
        "study": rec.key,
        "arm": arm.id,
        "arm_label": arm.label,
        "lesion_type": arm.lesion_type,
        "design": rec.design,
        "procedure": arm.procedure or rec.procedure,
        "patients": arm.patients.value,
        "vertebrae": arm.vertebrae.value if arm.vertebrae else None,
    }


def _derived_text(entry: Any) -> str | None:
    parts = []
    if getattr(entry, "derived", None) is not None:
        parts.append(entry.derived.method)
    for name in ("derived_events", "derived_total"):
        value = getattr(entry, name, None)
        if value is not None:
            parts.append(f"{name.removeprefix('derived_')}: {value.method}")
    return "; ".join(parts) or None


def _count_row(base: dict[str, Any], outcome: str, instrument: str | None, entry: Any,
               unit: str, **extra: Any) -> dict[str, Any]:
    de = getattr(entry, "derived_events", None)
    dt = getattr(entry, "derived_total", None)
    row = dict(base, outcome=outcome, instrument=instrument, events=entry.events,
               total=entry.total, percent=percent_of(entry.percent), unit=unit,
               source=entry.source, via=entry.via, ambiguous=entry.ambiguous,
               derived=_derived_text(entry), derived_events=de.value if de else None,
               derived_total=dt.value if dt else None, note=entry.note)
    row.update(extra)
    return row


def _arm_rows(rec: StudyRecord, arm: Arm) -> list[dict[str, Any]]:
    base = _base(rec, arm)
    rows: list[dict[str, Any]] = []
    for outcome in arm.outcomes:
        scale = outcome.scale
        for tp in outcome.timepoints:
            rows.append(dict(
                base, outcome=outcome.outcome, outcome_id=outcome.id,
                instrument=outcome.instrument,
                scale_min=scale.min if scale else None, scale_max=scale.max if scale else None,
                timepoint=tp.label, days=tp.days, n=tp.n, mean=tp.mean, sd=tp.sd,
                sd_kind=tp.sd_kind, median=tp.median, q1=tp.q1, q3=tp.q3, min=tp.min,
                max=tp.max, source=tp.source, via=tp.via,
                ambiguous=tp.ambiguous or outcome.ambiguous, derived=_derived_text(tp),
                p_value=_p_text(tp.p_value), note=tp.note,
            ))
    for r in arm.responders:
        rows.append(_count_row(base, "responder", r.definition, r, r.unit,
                               timepoint=r.timepoint_label, days=r.days,
                               candidate_units="|".join(r.candidate_units) or None,
                               ambiguous=r.ambiguous or r.unit == "ambiguous"))
    for j, leak in enumerate(arm.leakage):
        label = leak.id or f"leakage[{j}]"
        candidates = "|".join(leak.candidate_units) or None
        rows.append(_count_row(base, "leakage", label, leak, leak.unit,
                               candidate_units=candidates, ambiguous=leak.is_ambiguous))
        s = leak.symptomatic
        if s is not None:
            same_unit = s.unit in (None, leak.unit)
            row = _count_row(base, "leakage_symptomatic", label, s, s.unit or leak.unit,
                             symptomatic=True, candidate_units=candidates if same_unit else None,
                             ambiguous=s.ambiguous or (same_unit and leak.is_ambiguous))
            rows.append(row)
        for site, counts in leak.sites.items():
            same_unit = counts.unit in (None, leak.unit)
            rows.append(_count_row(base, "leakage_site", site, counts, counts.unit or leak.unit,
                                   candidate_units=candidates if same_unit else None,
                                   ambiguous=counts.ambiguous or (same_unit
                                                                  and leak.is_ambiguous)))
    for c in arm.complications:
        rows.append(_count_row(base, "complication", c.description, c, c.unit,
                               candidate_units="|".join(c.candidate_units) or None,
                               ambiguous=c.ambiguous or c.unit == "ambiguous"))
    return rows


def study_table(records: list[StudyRecord]) -> pd.DataFrame:
    """The long table of ``records`` (columns ``TABLE_COLUMNS``, documented in the module)."""
    import pandas as pd

    rows = [row for rec in records for arm in rec.arms for row in _arm_rows(rec, arm)]
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for name in _FLOAT_COLUMNS:
        table[name] = pd.to_numeric(table[name], errors="raise").astype("float64")
    for name in _COUNT_COLUMNS:
        table[name] = table[name].astype("Int64")
    table["ambiguous"] = table["ambiguous"].fillna(False).astype(bool)
    table["symptomatic"] = table["symptomatic"].astype(object).where(
        table["symptomatic"].notna(), None)
    return table.reset_index(drop=True)


STUDY_LEVEL_COLUMNS = (
    "study", "design", "source_access", "identity_verified", "identity_reason", "tool",
    "appraised_from", "yes", "no", "unclear", "not_applicable", "applicable", "no_information",
    "concern", "concern_basis", "within_study", "narrative",
)
APPRAISAL_COLUMNS = ("study", "tool", "appraised_from", "item", "answer", "source", "via",
                     "reason", "note")
NARRATIVE_COLUMNS = ("study", "entry", "domain", "outcome", "direction", "significance", "arms",
                     "timepoint", "p_value", "finding", "source", "via")
WITHIN_STUDY_COLUMNS = ("study", "id", "domain", "outcome", "type_a", "type_b", "favours",
                        "significance", "p_value", "arms", "timepoints", "days", "values",
                        "finding", "source", "via")


def study_level_table(records: list[StudyRecord],
                      rule: ConcernRule | None = None) -> pd.DataFrame:
    """One row per study: identity, the appraisal's counts and level of concern under
    ``rule`` (``appraisal.ConcernRule``), and how many within-study and narrative findings it
    has. ``identity_verified`` is False only for studies the file marks unverified."""
    import pandas as pd

    rows = []
    for rec in records:
        summary = summarise_appraisal(rec, rule).to_dict()
        rows.append({
            "study": rec.key, "design": rec.design, "source_access": rec.source_access,
            "identity_verified": rec.identity_verified,
            "identity_reason": rec.identity.reason if rec.identity is not None else None,
            **{k: summary[k] for k in ("tool", "appraised_from", "yes", "no", "unclear",
                                       "not_applicable", "applicable", "no_information",
                                       "concern")},
            "concern_basis": summary["basis"],
            "within_study": len(rec.within_study), "narrative": len(rec.narrative),
        })
    table = pd.DataFrame(rows, columns=list(STUDY_LEVEL_COLUMNS))
    for name in ("yes", "no", "unclear", "not_applicable", "applicable", "no_information",
                 "within_study", "narrative"):
        table[name] = table[name].astype("int64")
    table["identity_verified"] = table["identity_verified"].astype(bool)
    return table


def appraisal_table(records: list[StudyRecord]) -> pd.DataFrame:
    """One row per appraised item, in the order of the tool's checklist."""
    import pandas as pd

    rows = []
    for rec in records:
        a = rec.appraisal
        if a is None:
            continue
        names = [n for n in TOOLS[a.tool] if n in a.items]
        names += sorted(n for n in a.items if n not in names)
        for name in names:
            item = a.items[name]
            rows.append({"study": rec.key, "tool": a.tool, "appraised_from": a.appraised_from,
                         "item": name, "answer": item.answer, "source": item.source,
                         "via": item.via, "reason": item.reason, "note": item.note})
    return pd.DataFrame(rows, columns=list(APPRAISAL_COLUMNS))


def narrative_table(records: list[StudyRecord]) -> pd.DataFrame:
    """One row per narrative finding: domain, direction, significance (for SWiM and the
    effect-direction plot)."""
    import pandas as pd

    return pd.DataFrame(narrative_rows(records), columns=list(NARRATIVE_COLUMNS))


def within_study_table(records: list[StudyRecord]) -> pd.DataFrame:
    """One row per within-study comparison of two lesion types."""
    import pandas as pd

    return pd.DataFrame(within_study_rows(records), columns=list(WITHIN_STUDY_COLUMNS))


def load_studies(studies_dir: str | Path,
                 bibliography: str | Path | Bibliography,
                 ) -> tuple[list[StudyRecord], pd.DataFrame]:
    """Validated records (sorted by key) and the long table of ``studies_dir``.

    ``bibliography`` is the path of ``references.bib`` or a loaded ``Bibliography``.
    Raises StudyRecordError listing every error (``path:line: field: message``).
    """
    records, table, _ = load_checked(studies_dir, bibliography)
    return records, table


def load_checked(studies_dir: str | Path, bibliography: str | Path | Bibliography, *,
                 on_error: str = "") -> tuple[list[StudyRecord], pd.DataFrame, list[Finding]]:
    """``load_studies`` plus every finding of the validation (warnings included).

    ``on_error`` is appended to the closing line of the error message (e.g. what the caller
    left untouched).
    """
    records, findings = load_records(studies_dir, bibliography, on_error=on_error)
    return records, study_table(records), findings


def load_records(studies_dir: str | Path, bibliography: str | Path | Bibliography, *,
                 on_error: str = "") -> tuple[list[StudyRecord], list[Finding]]:
    """``load_checked`` without the long table (``study_table`` makes it): the records,
    sorted by key, and every finding of the validation."""
    bib = bibliography if isinstance(bibliography, Bibliography) else load_bibliography(
        bibliography)
    loaded, findings = check_studies(studies_dir, bib)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        lines = [str(f) for f in errors]
        lines.append(f"{len(errors)} error(s) in {studies_dir}{on_error}")
        raise StudyRecordError("\n".join(lines))
    return sorted((rec for rec, _ in loaded), key=lambda r: r.key), list(findings)


def parse_study(text: str | bytes, name: str = "<string>") -> StudyRecord:
    """One study from YAML text: a record, or StudyRecordError listing every problem.

    Only the file's own structure is checked (no bibliography, no cross-field checks).
    """
    from pydantic import ValidationError

    from .findings import structural_findings

    doc = parse_yaml(text, name)
    if not isinstance(doc.data, dict):
        raise StudyRecordError(f"{name}:1: (top): a study file is a mapping of fields")
    try:
        return StudyRecord.model_validate(doc.data)
    except ValidationError as exc:
        raise StudyRecordError("\n".join(str(f) for f in structural_findings(exc, doc))) from None


def dump_study(record: StudyRecord) -> str:
    """YAML text of a record that loads back to an equal record (without comments)."""
    from .validation import SCHEMA_COMMENT

    data = record.model_dump(mode="json", exclude_defaults=True)
    return SCHEMA_COMMENT + "\n" + dump_yaml(data)
