"""Figures of the report, built from analysis results with ``figures``' plotting functions.

One forest plot per analysis: one block per lesion type, each from one model (inverse-variance
weights for scores; no weights for the binomial-normal GLMM, as R meta shows a GLMM), a
diamond only where the group is pooled (k >= the protocol's min_k; at k = 2 the two studies
side by side, with the Bayesian fit as the block's diamond when there is one), prediction
intervals from k = 3, the lesion-type comparison and the method under the axis, and footnotes
naming every excluded study with its reason and every derived, imputed or adjusted value.
Also the leakage summary, leave-one-out plots, the correlation and ICC sensitivity plots, and
a funnel plot only where k reaches the protocol's minimum for small-study assessment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..formatting import fmt_num, fmt_p
from .analyses import AnalysisResult, GroupFit
from .fitting import row_records
from .painter import Painter
from .protocol import Protocol

__all__ = ["Painter", "draw_all", "forest_spec", "plan_all"]

DAGGER = "†"


def _scale(res: AnalysisResult) -> float:
    return 100.0 if res.spec.kind == "proportion" else 1.0


def _het(fit: GroupFit) -> str | None:
    if not fit.pooled:
        return None
    parts = [f"τ² = {fmt_num(fit.tau2, 3)}", f"I² = {fmt_num(fit.i2, 1)}%"]
    if fit.scale == "proportion" and not math.isnan(fit.q_lrt):
        parts.append(f"Wald QE = {fmt_num(fit.q, 2)}, p {fmt_p(fit.q_pval, 3, equals=True)}; "
                     f"LRT = {fmt_num(fit.q_lrt, 2)}, p {fmt_p(fit.q_lrt_pval, 3, equals=True)}")
    elif not math.isnan(fit.q):
        parts.append(f"Q = {fmt_num(fit.q, 2)} (df = {fmt_num(fit.q_df, 0)}), "
                     f"p {fmt_p(fit.q_pval, 3, equals=True)}")
    return ("GLMM: " if fit.scale == "proportion" and "GLMM" in fit.model else "") + \
        "; ".join(parts)


def comparison_text(res: AnalysisResult) -> str | None:
    """The lesion-type comparison in one line under the forest plot."""
    c = res.comparison
    first, second = c.groups
    head = f"{first.capitalize()} vs {second}"
    if c.between:
        b = c.between
        t = b.get("primary_test") or {}
        conf = ", confounded by procedure" if c.confounded else ""
        line = (f"{head} (between studies{conf}): {b['measure']} {fmt_num(b['estimate'], 2)} "
                f"[{fmt_num(b['ci_low'], 2)}, {fmt_num(b['ci_high'], 2)}], "
                f"p {fmt_p(b['pval'], 3, equals=True)} ({t.get('statistic', '')}, common τ²)")
        sens = b.get("sensitivity_test") or {}
        if sens.get("pval") is not None:
            line += f"; separate τ² (sensitivity): p {fmt_p(sens['pval'], 3, equals=True)}"
        return line
    if c.within:
        favours = sorted({str(w.get("favours")) for w in c.within})
        return (f"{head}: within-study reports only ({len(c.within)}; favouring "
                f"{', '.join(favours)}). {c.reason or ''}").strip()
    return f"{head}: {c.reason}" if c.reason else None


def _row_label(row: Any) -> str:
    return str(row["label"]) + (f" {DAGGER}" if row["flags"] else "")


def _n_text(row: Any, proportion: bool) -> str:
    if not proportion:
        return str(int(row["n"]))
    events = row["events_observed"] if not pd.isna(row.get("events_observed")) else row["events"]
    total = row["total_observed"] if not pd.isna(row.get("total_observed")) else row["total"]
    return f"{int(events)}/{int(total)}"


def _summary(fit: GroupFit, label: str, scale: float) -> Any:
    from ..figures import ForestSummary

    return ForestSummary(
        label=label, estimate=fit.estimate * scale, ci_low=fit.ci_low * scale,
        ci_high=fit.ci_high * scale,
        pi_low=fit.pi_low * scale if not math.isnan(fit.pi_low) else None,
        pi_high=fit.pi_high * scale if not math.isnan(fit.pi_high) else None,
        heterogeneity_text=_het(fit))


def _bayes_summary(fit: GroupFit, scale: float) -> Any:
    from ..figures import ForestSummary

    b = fit.bayes or {}
    return ForestSummary(
        label=f"Bayesian, {fit.name} (k = {fit.k}; HN({b['tau_scale']:g}) prior on τ)",
        estimate=b["estimate"] * scale, ci_low=b["ci_low"] * scale,
        ci_high=b["ci_high"] * scale, heterogeneity_text="credible interval; not pooled by "
        "the frequentist model at k = 2")


def forest_spec(res: AnalysisResult, protocol: Protocol,
                concern: Mapping[str, str] | None = None) -> Any | None:
    """The ForestSpec of one analysis, or None when no study has usable data; ``concern``
    (study -> overall appraisal) fills the RoB column."""
    from ..figures import ForestBlock, ForestRow, ForestSpec

    inc = res.included
    if inc.empty:
        return None
    scale = _scale(res)
    proportion = res.spec.kind == "proportion"
    blocks = []
    for name in dict.fromkeys(inc["group"]):
        fit = res.subgroups[name]
        weights = dict(zip(fit.arms, fit.weights, strict=True)) if fit.pooled and \
            fit.weights else {}
        rows = []
        for r in row_records(inc[inc["group"] == name], _FOREST_COLUMNS):
            est = float(r["events"]) / float(r["total"]) if proportion else float(r["yi"])
            rows.append(ForestRow(
                label=_row_label(r), n_text=_n_text(r, proportion), estimate=est * scale,
                ci_low=float(r["ci_low"]) * scale, ci_high=float(r["ci_high"]) * scale,
                weight=weights.get(f"{r['study']}/{r['arm']}"),
                appraisal=(concern or {}).get(r["study"]) if concern is not None else None))
        summary = None
        if fit.pooled:
            summary = _summary(fit, f"Pooled {name} (k = {fit.k})", scale)
        elif fit.status == "side by side" and fit.bayes:
            summary = _bayes_summary(fit, scale)
        title = name.capitalize()
        if name not in protocol.subgroups.compared:
            title += " (reported apart from the comparison)"
        if fit.status in ("no events", "all events"):
            title += f" ({fit.status}: {fit.events}/{fit.total}, not pooled)"
        elif fit.status == "side by side":
            title += f" (k = {fit.k}: side by side, not pooled)"
        blocks.append(ForestBlock(title=title, rows=rows, summary=summary))
    if proportion:
        unit = res.spec.unit or "patient"
        xlabel = f"{res.spec.title} (%)"
        n_header = "events/" + {"vertebra": "vertebrae"}.get(unit, f"{unit}s")
        effect_label = "Proportion % [95% CI]"
        null, left, right = None, None, None
    else:
        n_header = "n"
        effect_label = "Change [95% CI]"
        if res.spec.outcome == "vas":
            xlabel = "VAS reduction from baseline (points, 0-10 scale)"
            null, left, right = 0.0, "pain worse", "pain relief"
        else:
            xlabel = f"{res.spec.instrument}: baseline minus follow-up"
            null, left, right = 0.0, None, None
    return ForestSpec(
        title=res.spec.title, blocks=blocks, subgroup_test_text=comparison_text(res),
        method_text=res.method[0].upper() + res.method[1:], xlabel=xlabel, favours_left=left,
        favours_right=right, effect_label=effect_label, n_header=n_header, null_value=null,
        footnote_lines=_footnotes(res), digits=1 if proportion else 2)


#: the input columns a forest row reads (``row_records``: absent ones left out)
_FOREST_COLUMNS = ("study", "arm", "label", "flags", "n", "yi", "ci_low", "ci_high", "events",
                   "total", "events_observed", "total_observed")


def _footnotes(res: AnalysisResult) -> list[str]:
    lines = []
    for r in row_records(res.excluded, ("arm", "arm_label", "label", "reason")):
        arm = "" if r["arm"] in (None, "all") else f" ({r['arm_label'] or r['arm']})"
        lines.append(f"Not pooled: {r['label']}{arm}: {r['reason']}")
    for r in row_records(res.included, ("label", "flags")):
        if r["flags"]:
            lines.append(f"{DAGGER} {r['label']}: " + "; ".join(r["flags"]))
    lines += list(res.notes)
    return lines


def _leakage_frames(results: Mapping[str, AnalysisResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    pooled, studies = [], []
    for res in results.values():
        if res.spec.outcome != "leakage" or res.spec.unit not in ("vertebra", "patient"):
            continue
        for name, fit in res.subgroups.items():
            if fit.pooled:
                pooled.append({"unit": res.spec.unit, "subgroup": name, "estimate": fit.estimate,
                               "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                               "pi_low": fit.pi_low, "pi_high": fit.pi_high, "k": fit.k})
        for r in row_records(res.included, ("group", "label", "events", "total", "ci_low",
                                            "ci_high")):
            studies.append({"unit": res.spec.unit, "subgroup": r["group"], "label": r["label"],
                            "proportion": float(r["events"]) / float(r["total"]),
                            "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])})
    cols_p = ["unit", "subgroup", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k"]
    cols_s = ["unit", "subgroup", "label", "proportion", "ci_low", "ci_high"]
    return pd.DataFrame(pooled, columns=cols_p), pd.DataFrame(studies, columns=cols_s)


def draw_all(results: Mapping[str, AnalysisResult], protocol: Protocol, folder: Path,
             previous: Path | None = None, extra: Mapping[str, tuple[Any, ...]] | None = None,
             concern: Mapping[str, str] | None = None, years: Mapping[str, int] | None = None,
             ) -> list[Path]:
    """Draw and save every figure of the report into ``folder``; returns the files.

    ``previous``: the figures folder of the last report, whose files are reused where a
    figure's inputs are unchanged. ``extra``: further figures, name -> (function, spec).
    ``concern``: each study's overall appraisal (the RoB column); ``years``: publication
    years (the order of cumulative meta-analyses).
    """
    painter = Painter(folder, previous)
    written = plan_all(painter, results, protocol, extra, concern, years)
    painter.finish()
    written.append(painter.write_keys())
    return written


def plan_all(painter: Painter, results: Mapping[str, AnalysisResult], protocol: Protocol,
             extra: Mapping[str, tuple[Any, ...]] | None = None,
             concern: Mapping[str, str] | None = None, years: Mapping[str, int] | None = None,
             ) -> list[Path]:
    """Hand every figure of ``draw_all`` to ``painter`` (drawn when the caller runs
    ``painter.jobs()`` or ``painter.finish()``); returns the files they will be."""
    from .. import figures

    written: list[Path] = []
    for aid, res in results.items():
        spec = forest_spec(res, protocol, concern)
        if spec is not None:
            written += painter.draw(f"forest_{aid}", figures.forest_plot, spec)
        written += _correlation(painter, res, protocol)
        written += _icc(painter, res, protocol)
        written += _leave_one_out(painter, res)
        written += _influence(painter, res, years or {})
        written += _funnel(painter, res, protocol)
    pooled, studies = _leakage_frames(results)
    if len(pooled) or len(studies):
        order = [*protocol.subgroups.compared, *protocol.subgroups.kept_apart]
        units = [u for u in ("patient", "vertebra") if u in set(studies["unit"])]
        written += painter.draw(
            "leakage_summary", figures.leakage_summary_plot, pooled, studies, units=units,
            subgroup_order=[g for g in order if g in set(studies["subgroup"])],
            title="Cement leakage by lesion type",
            footnote_lines=["Per-patient and per-vertebra rates are never mixed; per-vertebra "
                            "counts deflated by the design effect (ICC "
                            f"{protocol.unit_of_analysis.icc:g}). Pooled: binomial-normal "
                            "GLMM (k >= 3); studies: Clopper-Pearson 95% CI."])
    for name, (func, *args) in (extra or {}).items():
        written += painter.draw(name, func, *args)
    return written


def _correlation(painter: Painter, res: AnalysisResult, protocol: Protocol) -> list[Path]:
    from .. import figures

    sens = res.correlation
    if res.spec.kind != "change" or sens.empty:
        return []
    return painter.draw(
        f"sensitivity_{res.id}", figures.sensitivity_plot, sens["r"].to_list(),
        sens["estimate"].to_list(), sens["ci_low"].to_list(),
        sens["ci_high"].to_list(), groups=sens["group"].to_list(),
        reference_r=protocol.vas.correlation,
        ylabel=("Pooled VAS reduction (points)" if res.spec.outcome == "vas"
                else f"Pooled change in {res.spec.instrument}"),
        title=f"{res.spec.title}: sensitivity to the assumed pre/post correlation",
        footnote_lines=[res.method])


def _icc(painter: Painter, res: AnalysisResult, protocol: Protocol) -> list[Path]:
    from .. import figures

    grid = res.icc
    if grid.empty:
        return []
    grid = grid[grid["status"].isin(["pooled", "single study"])]
    if grid.empty:
        return []
    return painter.draw(
        f"sensitivity_icc_{res.id}", figures.sensitivity_plot, grid["icc"].to_list(),
        (grid["estimate"] * 100).to_list(), (grid["ci_low"] * 100).to_list(),
        (grid["ci_high"] * 100).to_list(), groups=grid["group"].to_list(),
        reference_r=protocol.unit_of_analysis.icc, null_value=None,
        xlabel="Assumed intraclass correlation of leakage within a patient (ICC)",
        ylabel="Leakage per vertebra (%)",
        title=f"{res.spec.title}: sensitivity to the ICC of the design effect",
        footnote_lines=["ICC 0 treats every vertebra as independent; the design effect is "
                        "1 + (m - 1) ICC with m each study's vertebrae per patient.",
                        res.method])


def _leave_one_out(painter: Painter, res: AnalysisResult) -> list[Path]:
    from .. import figures

    loo = res.leave_one_out
    out: list[Path] = []
    if loo.empty:
        return out
    scale = _scale(res)
    for group in dict.fromkeys(loo["group"]):
        rows = loo[loo["group"] == group].copy()
        for col in ("estimate", "ci_low", "ci_high"):
            rows[col] = rows[col] * scale
        fit = res.subgroups[group]
        foot = [res.method]
        if (rows["status"] != "pooled").any():
            foot.append("With k - 1 = 2 left, the Bayesian fit is shown (the protocol pools "
                        f"from k = {fit.k if fit.k < 3 else 3}).")
        out += painter.draw(
            f"leave_one_out_{res.id}_{group}", figures.leave_one_out_plot,
            rows.drop(columns=["status"]),
            _summary(fit, f"All {group} studies (k = {fit.k})", scale),
            xlabel=("Proportion (%)" if scale != 1.0 else "VAS reduction (points)"
                    if res.spec.outcome == "vas" else f"Change in {res.spec.instrument}"),
            title=f"{res.spec.title}, {group}: leave-one-out",
            null_value=0.0 if scale == 1.0 else None, footnote_lines=foot,
            digits=2 if scale == 1.0 else 1)
    return out


def _influence(painter: Painter, res: AnalysisResult, years: Mapping[str, int]) -> list[Path]:
    """Baujat plot and cumulative forest plot (by year) of each pooled score group."""
    from .. import figures
    from ..stats.diagnostics import baujat

    out: list[Path] = []
    for name, fit in res.subgroups.items():
        if not fit.pooled or fit.scale != "MC" or not hasattr(fit.fitted, "cumulative"):
            continue
        rows = res.included[res.included["group"] == name]
        labels = rows["label"].astype(str).to_list()
        x, y = baujat(rows["yi"].astype(float).to_numpy(), rows["vi"].astype(float).to_numpy())
        out += painter.draw(
            f"baujat_{res.id}_{name}", figures.baujat_plot, x.tolist(), y.tolist(), labels,
            title=f"{res.spec.title}, {name}: Baujat plot",
            footnote_lines=["Common-effect model (Baujat et al. 2002): x, the study's "
                            "contribution to Q; y, its influence on the pooled estimate."])
        order = sorted(range(len(rows)), key=lambda i: (years.get(rows["study"].iloc[i], 9999),
                                                         labels[i]))
        cum = fit.fitted.cumulative(order=order)
        table = pd.DataFrame({"label": [labels[i] for i in cum["added"]],
                              "estimate": cum["estimate"], "ci_low": cum["ci_low"],
                              "ci_high": cum["ci_high"], "k": cum["k"], "i2": cum["i2"]})
        out += painter.draw(
            f"cumulative_{res.id}_{name}", figures.cumulative_forest_plot, table,
            xlabel="VAS reduction (points)" if res.spec.outcome == "vas" else "Change",
            title=f"{res.spec.title}, {name}: cumulative meta-analysis by year",
            method_text=res.method, footnote_lines=[
                "Studies added in order of publication year (Lau et al. 1992); the first step "
                "is one study (a z interval, as metafor cumul)."])
    return out


def _funnel(painter: Painter, res: AnalysisResult, protocol: Protocol) -> list[Path]:
    from .. import figures

    out: list[Path] = []
    for name, fit in res.subgroups.items():
        if fit.k < protocol.model.small_study_min_k or not hasattr(fit.fitted, "egger_test"):
            continue
        rows = res.included[res.included["group"] == name]
        out += painter.draw(
            f"funnel_{res.id}_{name}", figures.funnel_plot, rows["yi"].astype(float).to_list(),
            [math.sqrt(v) for v in rows["vi"].astype(float)], float(fit.fitted.estimate),
            labels=rows["label"].to_list(), title=f"{res.spec.title}, {name}: funnel plot",
            footnote_lines=[res.small_study.get(name, "")])
    return out
