"""What the report writes into its staging folder, from the loaded registry.

``write_contents`` runs the analyses and writes the tables (study characteristics, pooled
estimates, the osteoblastic-vs-osteolytic comparison, within-study comparisons, directions of
effect and sign tests, baseline-robust pain measures, sensitivity scenarios, data quality,
each analysis' study-level input), the figures, the citable text (Markdown and LaTeX), the
cited bibliography and ``summary.json``.

Work that does not depend on other work runs side by side (``workers``). Figures are drawn
by a ``workers.Server``, which the report starts before reading the registry so that it
imports matplotlib meanwhile: the appraisal figures, which need only the records, while the
main analyses are fitted; then the other figures on every CPU, beside a pool running the
sensitivity scenarios. What is written does not depend on this order or on the number of
CPUs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .workers import Server

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
                   *, drawer: Server) -> dict[str, Any]:
    """Write every output into ``staging``; returns the summary dictionary.

    ``loaded`` is what ``report._load`` returns; its long table may be None (it is then
    made here, once the appraisal figures are sent). ``drawer`` (a ``workers.Server``
    prepared with ``figures.preload``, which the caller closes) draws the figures.
    """
    from .. import figures
    from . import figure_panels
    from .appraisal_view import appraisal_concern
    from .painter import Painter
    from .workers import fork_map, run_job

    bibliography, protocol, records, table, findings = loaded
    labels = {key: bibliography.label(key) for key in bibliography}
    concern = appraisal_concern(records, protocol)
    painter = Painter(staging / "figures", previous / "figures" if previous is not None else None)
    if records:  # these need only the records: drawn while the analyses run
        appraisal = figure_panels.appraisal_spec(records, labels, concern)
        painter.draw("appraisal", figures.traffic_light_plot, appraisal)
        painter.draw("appraisal_summary", figures.appraisal_summary_plot, appraisal)
    jobs = painter.jobs()  # none when reused from the previous report
    early = drawer.submit(jobs, workers=1) if jobs else None  # beside the main analyses
    # imported once the appraisal figures are on their way: the server draws meanwhile
    from ..registry.screening import load_screening
    from .analyses import collect_scenarios, run_analyses, scenario_tasks, with_sensitivity
    from .report import _json_safe, _summary_json
    from .report_page import build_page

    screening = (load_screening(screening_path, records)
                 if screening_path is not None and screening_path.is_file() else None)
    if table is None:
        from ..registry.load import study_table

        table = study_table(records)
    cache: dict[Any, Any] = {}
    results = run_analyses(records, table, protocol, bibliography, findings,
                           scenarios=False, cache=cache)
    summary = _summary_json(results, sha, bibliography)
    directions, signs, left_out = _synthesis(summary, records, labels, protocol, concern)
    _plan_figures(painter, results, summary, protocol, bibliography, labels, concern,
                  directions, signs, left_out, screening, records)
    # the scenarios and the figures are independent: they run side by side, the figures
    # on the server's workers (one per CPU), the scenarios on one CPU fewer (in this
    # process, on two CPUs), so that no more processes than needed share the CPUs
    jobs = painter.jobs()
    drawings = drawer.submit(jobs) if jobs else None
    cpus = os.cpu_count() or 1
    scenarios = fork_map(run_job, scenario_tasks(records, table, protocol, bibliography,
                                                 findings, cache),
                         max(1, cpus - 1) if jobs else cpus)
    results = with_sensitivity(results, collect_scenarios(protocol, scenarios))
    summary["sensitivity"] = {aid: dict(r.sensitivity) for aid, r in results.items()}
    # the tables and texts need no figure: written while the server still draws
    frames, context, cited = _write_documents(staging, summary, results, loaded, labels,
                                              concern, directions, signs, left_out)
    _write_text(staging / "summary.json",
                json.dumps(_json_safe(summary), sort_keys=True, indent=2, ensure_ascii=False)
                + "\n")
    for batch in (drawings, early):
        if batch is not None:
            drawer.results(batch)
    painter.write_keys()
    # the page holds the figures' SVG: made once they are drawn (it changes no summary)
    _write_text(staging / "report.html", build_page(staging, summary, frames, protocol,
                                                    bibliography, labels, context, cited))
    return summary


def _write_documents(staging: Path, summary: dict[str, Any], results: Any,
                     loaded: tuple[Any, ...], labels: dict[str, str], concern: dict[str, str],
                     directions: Any, signs: Any, left_out: list[str],
                     ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The tables, the citable text and the cited bibliography (everything but the figures,
    report.html and summary.json), with the certainty ratings and within-study comparisons
    filed in ``summary``; returns the tables, the text's context and the cited keys."""
    from . import certainty, figure_panels, methods_text, prose, result_tables, synthesis
    from .appraisal_view import appraisal_basis, no_information
    from .tables import INPUT_WORDS, TABLE_WORDS, data_quality, study_characteristics, write_table

    bibliography, protocol, records, _, findings = loaded
    analyses = summary["analyses"]

    procedures = {aid: {f"{r.study}/{r.arm}": str(r.procedure) for r in res.included.itertuples()}
                  for aid, res in results.items()}
    ratings = certainty.rate_all(analyses, procedures, concern, directions, protocol,
                                 no_information(records, protocol))
    summary["certainty"] = {aid: {g: c.to_dict() for g, c in groups.items()}
                            for aid, groups in ratings.items()}
    windows = {w.id: w.label for w in protocol.windows}
    sof = certainty.summary_of_findings(analyses, ratings, procedures, windows)
    within = synthesis.within_table(records, labels, concern)
    summary["synthesis"]["within_study"] = within.to_dict(orient="records")

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
    return frames, context, cited


def _synthesis(summary: dict[str, Any], records: Any, labels: dict[str, str], protocol: Any,
               concern: dict[str, str]) -> tuple[Any, Any, list[str]]:
    """Directions of effect, their sign tests and the unverified studies left out, filed in
    ``summary["synthesis"]``."""
    from . import synthesis

    unverified = protocol.rules.unverified_studies
    directions = synthesis.direction_rows(records, summary["analyses"], labels,
                                          protocol.subgroups.group_of, unverified)
    left_out = synthesis.unverified_left_out(records, unverified)
    signs = synthesis.sign_tests(directions)
    summary["synthesis"] = {
        "directions": directions.to_dict(orient="records"),
        "sign_tests": signs.to_dict(orient="records"),
        "left_out_unverified": left_out,
    }
    return directions, signs, left_out


def _plan_figures(painter: Any, results: Any, summary: dict[str, Any], protocol: Any,
                  bibliography: Any, labels: dict[str, str], concern: dict[str, str],
                  directions: Any, signs: Any, left_out: list[str], screening: Any,
                  records: Any) -> None:
    """Hand the figures that need the analyses to ``painter`` (the PRISMA flow is filed in
    ``summary["prisma"]``)."""
    from .. import figures
    from ..registry.screening import prisma_flow
    from . import figure_panels, figure_specs

    analyses = summary["analyses"]
    windows = {w.id: w.label for w in protocol.windows}
    extra: dict[str, tuple[Any, ...]] = {}
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
    figure_specs.plan_all(painter, results, protocol, extra=extra, concern=concern, years=years)
