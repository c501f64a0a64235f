"""What the report writes into its staging folder, from the loaded registry.

``write_contents`` runs the analyses and writes, in this order: the tables (study
characteristics, pooled estimates, the osteoblastic-vs-osteolytic comparison, within-study
comparisons, directions of effect and sign tests, baseline-robust pain measures, sensitivity
scenarios, data quality, each analysis' study-level input), the figures, the citable text
(Markdown and LaTeX), the cited bibliography and ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_contents"]


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _input_table(data: Any) -> Any:
    frame = data.copy()
    frame["flags"] = frame["flags"].map(lambda f: "; ".join(f) if f else "")
    return frame


def write_contents(staging: Path, loaded: tuple[Any, ...], sha: str,
                   previous: Path | None = None, screening_path: Path | None = None,
                   ) -> dict[str, Any]:
    """Write every output into ``staging``; returns the summary dictionary."""
    from ..registry.screening import load_screening, prisma_flow
    from . import (
        certainty,
        figure_panels,
        figure_specs,
        methods_text,
        prose,
        result_tables,
        synthesis,
    )
    from .analyses import run_analyses
    from .appraisal_view import appraisal_basis, appraisal_concern, no_information
    from .report import _json_safe, _summary_json
    from .report_page import build_page
    from .tables import INPUT_WORDS, TABLE_WORDS, data_quality, study_characteristics, write_table

    bibliography, protocol, records, table, findings = loaded
    screening = (load_screening(screening_path, records)
                 if screening_path is not None and screening_path.is_file() else None)
    results = run_analyses(records, table, protocol, bibliography, findings)
    summary = _summary_json(results, sha, bibliography)
    analyses = summary["analyses"]
    labels = {key: bibliography.label(key) for key in bibliography}
    group_of = protocol.subgroups.group_of

    unverified = protocol.rules.unverified_studies
    directions = synthesis.direction_rows(records, analyses, labels, group_of, unverified)
    left_out = synthesis.unverified_left_out(records, unverified)
    signs = synthesis.sign_tests(directions)
    concern = appraisal_concern(records, protocol)
    within = synthesis.within_table(records, labels, concern)
    summary["synthesis"] = {
        "within_study": within.to_dict(orient="records"),
        "directions": directions.to_dict(orient="records"),
        "sign_tests": signs.to_dict(orient="records"),
        "left_out_unverified": left_out,
    }
    procedures = {aid: {f"{r.study}/{r.arm}": str(r.procedure) for r in res.included.itertuples()}
                  for aid, res in results.items()}
    ratings = certainty.rate_all(analyses, procedures, concern, directions, protocol,
                                 no_information(records, protocol))
    summary["certainty"] = {aid: {g: c.to_dict() for g, c in groups.items()}
                            for aid, groups in ratings.items()}
    windows = {w.id: w.label for w in protocol.windows}
    sof = certainty.summary_of_findings(analyses, ratings, procedures, windows)

    tables = staging / "tables"
    frames: dict[str, Any] = {
        "summary_of_findings": sof,
        "study_characteristics": study_characteristics(records, bibliography),
        "pooled_estimates": result_tables.pooled_estimates(analyses, labels),
        "comparison": result_tables.comparison_table(analyses),
        "within_study": within, "effect_direction": synthesis.direction_table(directions),
        "sign_tests": signs,
        "baseline_robust": result_tables.baseline_robust(analyses),
        "sensitivity": result_tables.sensitivity_table(analyses, summary["sensitivity"]),
        "data_quality": data_quality(records, analyses, [
            f for f in findings if getattr(f, "severity", "") != "error"]),
        "appraisal": figure_panels.appraisal_table(records, labels, concern,
                                                   appraisal_basis(records, protocol)),
    }
    titles = {
        "summary_of_findings": "Summary of findings (GRADE; non-randomised evidence starts at "
                               "low certainty)",
        "study_characteristics": "Study characteristics",
        "pooled_estimates": "Pooled estimates (one model per result)",
        "comparison": "Osteoblastic vs osteolytic: each lesion type, the difference, and the "
                      "kind of evidence (within-study evidence ranks above between-study "
                      "contrasts)",
        "within_study": "Within-study comparisons of lesion types (the direct evidence)",
        "effect_direction": "Direction of effect by study and outcome domain (SWiM; Thomson & "
                            "Thomas 2013)",
        "sign_tests": "Sign tests of the reported directions (run where at least 3 studies "
                      "report one)",
        "baseline_robust": "Pain: mean change beside baseline-robust measures (ratio of means, "
                           "follow-up mean), each with its I²",
        "sensitivity": "Sensitivity analyses",
        "data_quality": "Data-quality findings",
        "appraisal": "Appraisal of every study: each item's answer with its source or reason",
    }
    notes = {"effect_direction": synthesis.direction_notes(left_out, labels),
             "sign_tests": [synthesis.CELL_RULE]}
    for name, frame in frames.items():
        write_table(frame, tables, name, titles[name], notes.get(name, ()),
                    words=TABLE_WORDS.get(name))
    for aid, res in results.items():
        write_table(_input_table(res.data), tables / "inputs", f"{aid}",
                    f"Study-level input: {res.spec.title}", words=INPUT_WORDS)

    from .. import figures

    extra: dict[str, tuple[Any, ...]] = {}
    if records:
        appraisal = figure_panels.appraisal_spec(records, labels, concern)
        extra["appraisal"] = (figures.traffic_light_plot, appraisal)
        extra["appraisal_summary"] = (figures.appraisal_summary_plot, appraisal)
    comparison = figure_panels.comparison_spec(analyses, protocol.subgroups.compared[:2],
                                               windows, protocol.model.min_k)
    if comparison is not None:
        extra["comparison"] = (figures.comparison_plot, comparison)
    direction = figure_panels.direction_spec(directions, concern, signs,
                                             [labels.get(k, k) for k in left_out])
    if direction is not None:
        extra["effect_direction"] = (figures.effect_direction_plot, direction)
    if screening is not None:
        flow = prisma_flow(screening, records)
        summary["prisma"] = flow.to_dict()
        extra["prisma"] = (figures.prisma_flow_diagram,
                           figure_panels.prisma_counts(flow, analyses, labels))
    years = {k: int(bibliography[k]["year"]) for k in bibliography
             if str(bibliography[k].get("year", "")).isdigit()}
    figure_specs.draw_all(results, protocol, staging / "figures",
                          previous=previous / "figures" if previous is not None else None,
                          extra=extra, concern=concern, years=years)

    context = {"n_studies": len(records),
               "n_abstract_only": sum(1 for r in records if r.source_access != "full_text"),
               "unverified": sorted(r.key for r in records
                                    if getattr(getattr(r, "identity", None), "verified", True)
                                    is False)}
    _write_text(staging / "estimates.md", methods_text.estimates_document(
        summary, labels, protocol, context, prose.markdown_style(summary["citation_names"])))
    _write_text(staging / "estimates.tex", methods_text.estimates_document(
        summary, labels, protocol, context, prose.latex_style(summary["citation_names"])))
    cited = sorted({k for r in results.values() for k in r.contributing}
                   | {w["study"] for a in analyses.values()
                      for w in (a.get("comparison") or {}).get("within") or []})
    _write_text(staging / "references.bib", bibliography.to_bibtex(cited))
    _write_text(staging / "report.html", build_page(staging, summary, frames, protocol,
                                                    bibliography, labels, context, cited))
    _write_text(staging / "summary.json",
                json.dumps(_json_safe(summary), sort_keys=True, indent=2, ensure_ascii=False)
                + "\n")
    return summary
