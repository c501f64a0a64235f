"""Specs of the review-level figures, from the registry and the summary dictionaries: the
osteoblastic-vs-osteolytic comparison (the headline figure), the effect-direction plot, the
risk-of-bias traffic-light and summary plots, and the PRISMA 2020 flow diagram.

The comparison figure follows the tables and the text: a group below the protocol's ``min_k``
is not pooled, so it shows "not pooled, k = 2" and each study on its own line, never a
summary marker (not even the Bayesian fit, which the forest plot and the pooled-estimates
table report beside the studies); so does a group without events (or with only events),
which is not pooled at any k.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a table is made: the appraisal spec needs none
    import pandas as pd

__all__ = ["ITEM_WORDING", "appraisal_spec", "comparison_spec", "direction_spec",
           "prisma_counts"]

# The checklists' questions, shortened (JBI: Munn et al. 2020, Moola et al. 2017; NOS: Wells).
ITEM_WORDING = {
    "jbi_case_series": (
        "Clear criteria for inclusion", "Condition measured in a standard, reliable way",
        "Valid methods to identify the condition", "Consecutive inclusion",
        "Complete inclusion", "Clear reporting of demographics",
        "Clear reporting of clinical information", "Outcomes or follow-up clearly reported",
        "Presenting site or clinic described", "Appropriate statistical analysis"),
    "jbi_case_report": (
        "Demographics described", "History and timeline", "Condition on presentation",
        "Diagnostic tests and results", "Intervention described", "Condition after treatment",
        "Adverse events", "Takeaway lessons"),
    "nos_cohort": (
        "Representativeness of the exposed cohort", "Selection of the non-exposed cohort",
        "Ascertainment of exposure", "Outcome absent at start", "Comparable on the main factor",
        "Comparable on an additional factor", "Assessment of outcome",
        "Follow-up long enough", "Adequacy of follow-up"),
}
TOOL_TITLES = {"jbi_case_series": "JBI checklist for case series (Munn et al. 2020)",
               "jbi_case_report": "JBI checklist for case reports (Moola et al. 2017)",
               "nos_cohort": "Newcastle-Ottawa Scale, cohort (within-study lesion comparisons)"}
_DOMAINS = ("pain", "function", "quality_of_life", "clinical_response", "analgesic_use",
            "leakage", "complications", "vertebral_height", "technical")


def appraisal_spec(records: Sequence[Any], labels: Mapping[str, str],
                   concern: Mapping[str, str]) -> Any:
    """The traffic-light spec: one block per tool, every study (unappraised ones listed)."""
    from ..figures import AppraisalBlock, AppraisalRow, AppraisalSpec
    from ..registry.appraisal import TOOLS, expected_tool

    by_tool: dict[str, list[Any]] = {t: [] for t in TOOLS}
    for rec in records:
        a = rec.appraisal
        tool = a.tool if a is not None else expected_tool(rec.design, bool(rec.within_study))
        answers = None if a is None else [
            a.items[i].answer if i in a.items else None for i in TOOLS[tool]]
        by_tool[tool].append(AppraisalRow(labels.get(rec.key, rec.key), answers,
                                          concern.get(rec.key, "not appraised")))
    blocks = [AppraisalBlock(TOOL_TITLES[t], [f"Q{i + 1}" for i in range(len(TOOLS[t]))],
                             list(ITEM_WORDING[t]), rows)
              for t, rows in by_tool.items() if rows]
    return AppraisalSpec("Appraisal of the included studies", blocks, footnote_lines=[
        "Overall: high concern with any 'no', or any 'unclear' in a study read only as an "
        "abstract or a secondary source (no information); some concerns when items of a full "
        "text are unclear; low when every applicable item is 'yes' (evidence/protocol.yaml)."])


def appraisal_table(records: Sequence[Any], labels: Mapping[str, str],
                    concern: Mapping[str, str],
                    basis: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per study and item: the answer and its source or reason, the study's overall
    level and (``basis``) what that level rests on."""
    import pandas as pd

    from ..registry.appraisal import TOOLS

    rows = []
    for rec in records:
        a = rec.appraisal
        overall = {"overall": concern.get(rec.key, "not appraised"),
                   "overall_basis": (basis or {}).get(rec.key, "")}
        if a is None:
            rows.append({"study": rec.key, "label": labels.get(rec.key, rec.key), "tool": "",
                         "item": "", "answer": "not appraised", "source_or_reason": "",
                         **overall})
            continue
        for i, item_id in enumerate(TOOLS[a.tool]):
            item = a.items.get(item_id)
            rows.append({
                "study": rec.key, "label": labels.get(rec.key, rec.key), "tool": a.tool,
                "item": f"Q{i + 1} {ITEM_WORDING[a.tool][i]}",
                "answer": item.answer.replace("_", " ") if item else "",
                "source_or_reason": (item.source or item.reason or "") if item else "",
                **overall})
    return pd.DataFrame(rows)


def _counts(fit: Mapping[str, Any]) -> str:
    """"0/78": the group's observed events of its total."""
    return f"{fit.get('events'):g}/{fit.get('total'):g}"


def _side(fit: Mapping[str, Any] | None, group: str, what: str, scale: float,
          procedures: str) -> Any:
    from ..figures import GroupEstimate, StudyEstimate

    nan = math.nan
    if not fit:
        return GroupEstimate(nan, nan, nan, k=0, missing_text=f"no {group} series reported "
                                                                f"{what}")
    status = fit["status"]
    if status == "pooled" or status == "single study":
        return GroupEstimate(fit["estimate"] * scale, fit["ci_low"] * scale,
                             fit["ci_high"] * scale, k=fit["k"], patients=fit.get("patients"),
                             procedures=procedures)
    # side by side (k below min_k), no events (or all) or not estimable: not pooled, so the
    # studies, each on its own line (as the text says "not pooled")
    studies = [StudyEstimate(r.get("label") or r["study"], r["estimate"] * scale,
                             r["ci_low"] * scale, r["ci_high"] * scale)
               for r in fit.get("per_study") or []
               if None not in (r.get("estimate"), r.get("ci_low"), r.get("ci_high"))]
    if status in ("no events", "all events"):
        text = f"{status} ({_counts(fit)}), not pooled"
    else:
        text = f"{'not pooled' if status == 'side by side' else 'not estimable'}, k = {fit['k']}"
    return GroupEstimate(nan, nan, nan, k=fit["k"], patients=fit.get("patients"),
                         missing_text=text, procedures=procedures, studies=studies)


def _pooling_note(min_k: int) -> str:
    """The footnote naming what each k shows (pooled, each study, or the study itself)."""
    small = {2: "", 3: "k = 2 or "}.get(min_k, f"k = 2 to {min_k - 1} or ")
    return (f"Pooled where k >= {min_k} (REML, Hartung-Knapp with the ad hoc floor; "
            f"proportions: binomial-normal GLMM); {small}no events (or only events): not "
            f"pooled, each study on its own line (open markers); k = 1: the study itself.")


def comparison_spec(analyses: Mapping[str, Mapping[str, Any]], groups: Sequence[str],
                    windows: Mapping[str, str], min_k: int = 3) -> Any | None:
    """The headline figure: one row per analysis, panels by scale; ``min_k`` the protocol's
    fewest studies pooled (named in the footnote)."""
    from ..figures import ComparisonDifference, ComparisonPanel, ComparisonRow, ComparisonSpec

    # here, not at the top: the report builds the appraisal figures from this module before
    # it needs the fitting code that ``comparison`` imports
    from .comparison import procedures_text

    panels: dict[str, list[Any]] = {"points": [], "percent": []}
    for a in analyses.values():
        if a.get("role") == "secondary" and a.get("outcome") != "leakage":
            continue
        c = a.get("comparison") or {}
        subs = a.get("subgroups") or {}
        proportion = a.get("outcome") not in ("vas", "qol")
        if a.get("outcome") == "qol":
            continue  # on its own instrument's scale: shown in the table, not on these axes
        scale = 100.0 if proportion else 1.0
        what = ("VAS as mean and SD" if a.get("outcome") == "vas" else a["title"].lower())
        sides = [_side(subs.get(g), g, what, scale,
                       procedures_text((c.get("procedures") or {}).get(g) or []))
                 for g in groups]
        if not any(s.has_data or s.studies for s in sides):
            continue
        b = c.get("between")
        diff: Any = None
        if b:
            diff = ComparisonDifference(b["measure"], b["estimate"], b["ci_low"], b["ci_high"])
        elif c.get("within"):
            favours = sorted({str(w.get("favours")) for w in c["within"]})
            diff = f"within-study: favours {', '.join(favours)}"
        kind = {"within": "within-study", "between": "between-study"}.get(c.get("kind"), "none")
        label = a["title"].replace(" (design-effect adjusted)", ", adjusted")
        panels["percent" if proportion else "points"].append(
            ComparisonRow(label, sides, diff, kind))
    out = []
    if panels["points"]:
        out.append(ComparisonPanel("Pain (VAS, 0-10)", "Reduction from baseline (points)",
                                   panels["points"], null_value=0.0, digits=1))
    if panels["percent"]:
        out.append(ComparisonPanel("Cement leakage", "Proportion (%)", panels["percent"],
                                   unit="%", digits=0))
    if not out:
        return None
    return ComparisonSpec(
        "Osteoblastic vs osteolytic metastases", [g.capitalize() for g in groups], out,
        footnote_lines=[
            _pooling_note(min_k),
            "Differences: meta-regression on lesion type (MD) or the GLMM with lesion type as "
            "moderator (OR, osteoblastic vs osteolytic). Between-study contrasts are "
            "observational and confounded by procedure; within-study comparisons rank above "
            "them."])


def direction_spec(directions: pd.DataFrame, concern: Mapping[str, str],
                   signs: pd.DataFrame, left_out: Sequence[str] = ()) -> Any | None:
    """Effect-direction plot: before/after series by lesion type, and within-study
    comparisons of lesion types, each block with its own meaning of the arrows.

    One symbol per study and domain: the direction ``synthesis.cell_directions`` gives it
    (the rule the sign tests use too, Thomson & Thomas 2013). ``left_out``: labels of the
    studies the protocol's rule on unverified identity kept out, named in the footnote."""
    from ..figures import DirectionBlock, DirectionSpec
    from .arm_selection import is_missing
    from .fitting import row_records
    from .synthesis import CELL_SHARE_PERCENT, cell_directions

    if directions.empty:
        return None
    cells = cell_directions(directions)
    domains = [d for d in _DOMAINS if d in set(cells["domain"])]
    # the cells of each kind of evidence, group and study, keys sorted and cells without a
    # key left out (as pandas' groupby); read as plain records, as there are few
    by_key: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for cell in row_records(cells, ("evidence", "group", "study", "domain", "label",
                                    "direction", "significance", "patients")):
        if any(is_missing(cell[k]) for k in ("evidence", "group", "study")):
            continue
        by_key.setdefault((cell["evidence"], cell["group"]), {}).setdefault(
            cell["study"], []).append(cell)
    blocks = []
    for (evidence, group), studies in sorted(by_key.items()):
        out_rows = [_direction_row(studies[study], domains, evidence, group,
                                   concern.get(study)) for study in sorted(studies)]
        out_rows = [r for r in out_rows if r is not None]
        if not out_rows:
            continue
        if evidence == "within-study comparison":
            first = str(group).split(" vs ")[0]
            blocks.append(DirectionBlock(f"Within-study comparisons: {group}", out_rows,
                                         f"favours {first}", "favours the other lesion type",
                                         "no difference or conflicting"))
        else:
            blocks.append(DirectionBlock(f"Before/after series: {group}", out_rows,
                                         "benefit (less pain, better function or quality of "
                                         "life, fewer events)",
                                         "harm (worse, or events such as leakage)",
                                         "no change, mixed or conflicting"))
    if not blocks:
        return None
    run = signs[signs["pval"].notna()] if len(signs) else signs
    notes = [f"Sign test, {r.evidence}, {r.group}, {r.domain.replace('_', ' ')}: "
             f"{r.positive} of {r.positive + r.negative} studies {r.positive_means}, "
             f"p = {r.pval:.3f}" for r in run.itertuples()]
    if len(run) < len(signs):
        notes.append("Sign tests not run where fewer than 3 studies report a direction "
                     "(tables/sign_tests).")
    notes.append(f"Several entries of a study in one domain: the direction at least "
                 f"{CELL_SHARE_PERCENT}% of them give, else conflicting; the sign tests count "
                 f"the same (tables/effect_direction).")
    if left_out:
        notes.append(f"Left out, identity unverified: {'; '.join(left_out)}.")
    return DirectionSpec("Direction of effect by study and outcome domain (SWiM)",
                         [d.replace("_", " ") for d in domains], blocks, footnote_lines=notes)


def _direction_row(cells: Sequence[Mapping[str, Any]], domains: Sequence[str], evidence: str,
                   group: str, appraisal: str | None) -> Any | None:
    """One study's row of the plot from its resolved cells (None: no domain drawn)."""
    from ..figures import DirectionCell, DirectionRow
    from .arm_selection import is_missing

    drawn: list[Any] = [None] * len(domains)
    for r in cells:
        if r["domain"] not in domains:
            continue
        arrow = _arrow(r["direction"], evidence, group)
        significance = (r["significance"] if arrow != "unclear" and r["significance"] in
                        ("significant", "not_significant") else "not_tested")
        drawn[domains.index(r["domain"])] = DirectionCell(arrow, significance)
    if not any(drawn):
        return None
    patients = [r["patients"] for r in cells if not is_missing(r["patients"])]
    return DirectionRow(str(cells[0]["label"]), int(max(patients)) if patients else None, drawn,
                        appraisal=appraisal)


def _arrow(direction: str, evidence: str, group: str) -> str:
    if evidence == "within-study comparison":
        first = str(group).split(" vs ")[0]
        if direction == f"favours {first}":
            return "up"
        if direction.startswith("favours"):
            return "down"
        return "neutral" if direction in ("no difference", "mixed") else "unclear"
    return {"benefit": "up", "harm": "down", "no change": "neutral",
            "mixed": "neutral"}.get(direction, "unclear")


def _short(report_id: str) -> str:
    """'murphy2007' -> 'Murphy 2007' (a short name for a report listed in the flow)."""
    match = re.fullmatch(r"([a-z]+)(\d{4})([a-z0-9_]*)", report_id)
    if not match:
        return report_id
    return f"{match.group(1).capitalize()} {match.group(2)}"


DATABASE_KINDS = ("database", "register")
NOT_SPLIT = ("the screening record does not split reports by the kind of source that found "
             "them")


def _with_labels(text: str, labels: Mapping[str, str]) -> str:
    """Study keys in a screening label ('... the index paper (xu2021)') as the study's label
    ('Xu et al. 2021'), as the reader knows it."""
    if not labels:
        return text
    keys = sorted(labels, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b")
    return pattern.sub(lambda m: labels[m.group(1)], text)


def _sources(flow: Any, kinds: Sequence[str], labels: Mapping[str, str]) -> list[tuple[str, Any]]:
    """(label, count) of the identification sources of the given kinds."""
    from ..figures import PrismaCount

    return [(_with_labels(str(d.get("label") or d.get("id") or "source"), labels),
             d["count"] if d.get("count") is not None else
             PrismaCount(None, d.get("reason") or "not recorded"))
            for d in flow.identified if d.get("kind") in kinds]


def prisma_counts(flow: Any, analyses: Mapping[str, Mapping[str, Any]],
                  labels: Mapping[str, str] | None = None) -> Any:
    """The PRISMA spec from the screening record's boxes and the report's analyses.

    Sources go to the column of their kind (Page et al. 2021): databases and registers on
    the left, websites, citation searching and other methods on the right. A review that
    searched no database or register has one column, the other-methods one (the empty
    column is left out with a footnote). When both kinds were searched, the record does not
    say which source found which report, so the report counts of each column are shown as
    not recorded and only the included totals are given. ``labels``: study key -> label, so
    a key in a source's label reads as the study ('Xu et al. 2021').
    """
    from ..figures import PrismaCount, PrismaCounts, PrismaOtherSources

    labels = labels or {}

    def count(box: Any, what: str) -> Any:
        if box.count is None:
            return PrismaCount(None, box.reason or f"{what} not recorded")
        return box.count

    databases = _sources(flow, DATABASE_KINDS, labels)
    others = _sources(flow, ("other",), labels)
    removed = [("Duplicate records removed", count(flow.duplicates_removed, "duplicates")),
               ("Removed by automation tools", count(flow.automation_removed, "automation")),
               ("Removed for other reasons", count(flow.other_removed, "other removals"))]
    reports: dict[str, Any] = {
        "sought": count(flow.reports_sought, "reports sought"),
        "not_retrieved": count(flow.reports_not_retrieved, "reports not retrieved"),
        "assessed": count(flow.reports_assessed, "reports assessed"),
        "excluded": [(reason.replace("_", " "), n) for reason, n in
                     sorted(flow.excluded_by_reason.items())] or [("none", 0)],
        "not_retrieved_reasons": [(_short(str(d.get("id") or d.get("citation"))), 1)
                                  for d in flow.not_retrieved]}
    other_column = None
    if databases and others:
        unknown = PrismaCount(None, NOT_SPLIT)
        split = {"sought": unknown, "not_retrieved": unknown, "assessed": unknown,
                 "excluded": [("Reports excluded", unknown)], "not_retrieved_reasons": []}
        other_column = PrismaOtherSources(identified=others, **split)
        reports = split
    k_by = [(a["title"], len(a.get("studies") or [])) for a in analyses.values()
            if a.get("studies")]
    return PrismaCounts(
        identified=databases or others or [("Records", PrismaCount(None, "not recorded"))],
        removed=removed,
        screened=count(flow.records_screened, "records screened"),
        screened_excluded=count(flow.records_excluded, "records excluded"),
        included_studies=count(flow.studies_included, "studies included"),
        included_reports=count(flow.reports_of_included_studies, "reports of included studies"),
        analyses=k_by, other_sources=other_column,
        databases_searched=bool(databases) or not others,
        title="PRISMA 2020 flow of the review", check_sums=True,
        footnote_lines=["Counts derived from studies/ and evidence/screening.yaml; the number of "
                        "studies in each meta-analysis is taken from the report."], **reports)
