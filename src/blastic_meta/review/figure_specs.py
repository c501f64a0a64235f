"""Figures of the report, built from analysis results with ``figures``' plotting functions.

One forest plot per analysis (subgroup blocks with diamonds and heterogeneity lines, the
overall diamond over the compared lesion types, prediction intervals, the test for subgroup
differences, the method line and a footnote naming every excluded study with its reason and
every derived or imputed value); the leakage summary (per vertebra and per patient side by
side); the correlation-sensitivity and leave-one-out plots; a funnel plot only where
k reaches the protocol's minimum for small-study assessment.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from ..formatting import fmt_num, fmt_p
from .analyses import AnalysisResult, GroupFit, SubgroupTest
from .protocol import Protocol

__all__ = ["KEYS_FILE", "Painter", "draw_all", "forest_spec"]

DAGGER = "†"
KEYS_FILE = "figure_keys.json"


def _stable(value: Any) -> str:
    """An exact, order-stable text of a figure's inputs (floats by repr)."""
    if isinstance(value, pd.DataFrame):
        return repr(value.to_dict(orient="split"))
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k!r}:{_stable(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    return repr(value)


def _code_version() -> str:
    from .. import figures

    h = hashlib.sha256(metadata.version("matplotlib").encode())
    drawing = sorted(Path(figures.__file__ or "").parent.glob("*.py"))
    for path in [*drawing, Path(sys.modules[__name__].__file__ or "")]:
        h.update(path.read_bytes())
    return h.hexdigest()


class Painter:
    """Draws and saves figures; reuses a previous run's files when the inputs are identical.

    Each figure's key hashes its plotting function, every argument (exactly) and the plotting
    code and matplotlib version, so a reused file is byte-for-byte what drawing it again would
    give; only the 300 dpi rendering time is saved on reruns.
    """

    def __init__(self, folder: Path, previous: Path | None = None) -> None:
        self.folder = folder
        self.previous = previous
        self.keys: dict[str, str] = {}
        self._old: dict[str, str] = {}
        self._code = _code_version()
        if previous is not None and (previous / KEYS_FILE).is_file():
            try:
                self._old = json.loads((previous / KEYS_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._old = {}

    def draw(self, name: str, func: Any, *args: Any, **kwargs: Any) -> list[Path]:
        from .. import figures

        key = hashlib.sha256("\0".join(
            [self._code, func.__name__, _stable(args), _stable(kwargs)]).encode()).hexdigest()
        self.keys[name] = key
        targets = [self.folder / f"{name}.svg", self.folder / f"{name}.png"]
        if self.previous is not None and self._old.get(name) == key:
            sources = [self.previous / t.name for t in targets]
            if all(src.is_file() for src in sources):
                self.folder.mkdir(parents=True, exist_ok=True)
                for src, dst in zip(sources, targets, strict=True):
                    shutil.copyfile(src, dst)
                return targets
        return figures.save_figure(func(*args, **kwargs), self.folder / name)

    def write_keys(self) -> Path:
        path = self.folder / KEYS_FILE
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.keys, sort_keys=True, indent=1) + "\n",
                        encoding="utf-8", newline="\n")
        return path


def _scale(res: AnalysisResult) -> float:
    return 100.0 if res.spec.kind == "proportion" else 1.0


def _het(fit: GroupFit) -> str | None:
    if fit.status != "pooled":
        return "single study: not pooled"
    parts = [f"τ² = {fmt_num(fit.tau2, 3)}", f"I² = {fmt_num(fit.i2, 1)}%"]
    if not math.isnan(fit.q):
        parts.append(f"Q = {fmt_num(fit.q, 2)} (df = {fmt_num(fit.q_df, 0)}), "
                     f"p {fmt_p(fit.q_pval, 3, equals=True)}")
    return "; ".join(parts)


def _test_text(tests: Sequence[SubgroupTest]) -> str | None:
    notes = {t.note for t in tests}
    if tests and len(notes) == 1 and None not in notes:
        return f"Test for subgroup differences: {notes.pop()}"
    parts = []
    for t in tests:
        if t.assessable:
            df = fmt_num(t.df, 0) + (f", {fmt_num(t.df2, 0)}" if t.statistic == "F" else "")
            parts.append(f"{t.tau2} τ²: {t.statistic} = {fmt_num(t.q_between, 2)} (df = {df}), "
                         f"p {fmt_p(t.pval, 3, equals=True)}")
        else:
            parts.append(f"{t.tau2} τ²: {t.note}")
    if not parts:
        return None
    groups = " vs ".join(tests[0].groups) if tests and tests[0].groups else ""
    return f"Test for subgroup differences ({groups}): " + "; ".join(parts)


def _row_label(row: Any, multi_arm: bool) -> str:
    label = str(row["label"])
    if multi_arm:
        label += f" ({row['arm_label'] or row['arm']})"
    return label + (f" {DAGGER}" if row["flags"] else "")


def _summary(fit: GroupFit, label: str, scale: float) -> Any:
    from ..figures import ForestSummary

    pooled = fit.status == "pooled"
    return ForestSummary(
        label=label, estimate=fit.estimate * scale, ci_low=fit.ci_low * scale,
        ci_high=fit.ci_high * scale,
        pi_low=fit.pi_low * scale if pooled else None,
        pi_high=fit.pi_high * scale if pooled else None,
        heterogeneity_text=_het(fit))


def forest_spec(res: AnalysisResult, protocol: Protocol) -> Any | None:
    """The ForestSpec of one analysis, or None when no study has usable data."""
    from ..figures import ForestBlock, ForestRow, ForestSpec

    inc = res.included
    if inc.empty:
        return None
    scale = _scale(res)
    proportion = res.spec.kind == "proportion"
    arms_per_study = res.data.groupby("study")["arm"].nunique()
    overall = res.overall
    weight_of: dict[str, float] = {}
    if overall is not None:
        weight_of = dict(zip(overall.arms, overall.weights, strict=True))
    blocks = []
    for name in dict.fromkeys(inc["group"]):
        fit = res.subgroups.get(name)
        rows_df = inc[inc["group"] == name]
        local = dict(zip(fit.arms, fit.weights, strict=True)) if fit is not None else {}
        rows = []
        for _, r in rows_df.iterrows():
            arm_key = f"{r['study']}/{r['arm']}"
            weight = weight_of.get(arm_key) if overall is not None else local.get(arm_key)
            if proportion:
                est = float(r["events"]) / float(r["total"])
                n_text = f"{int(r['events'])}/{int(r['total'])}"
            else:
                est = float(r["yi"])
                n_text = str(int(r["n"]))
            rows.append(ForestRow(
                label=_row_label(r, arms_per_study.get(r["study"], 1) > 1), n_text=n_text,
                estimate=est * scale, ci_low=float(r["ci_low"]) * scale,
                ci_high=float(r["ci_high"]) * scale, weight=weight))
        pooled = fit is not None and fit.status == "pooled"
        summary = _summary(fit, f"Pooled {name} (k = {fit.k})", scale) if pooled else None
        title = name.capitalize()
        if overall is not None and name not in protocol.subgroups.compared:
            title += " (kept apart, not in the overall estimate)"
        blocks.append(ForestBlock(title=title, rows=rows, summary=summary))
    foot = _footnotes(res)
    if proportion:
        unit = res.spec.unit or "patient"
        xlabel = f"{res.spec.title} (%): lower is better"
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
            better, worse = "improvement", "worsening"
            if not res.spec.lower_is_better:
                better, worse = worse, better
            null, left, right = 0.0, worse, better
    return ForestSpec(
        title=res.spec.title, blocks=blocks,
        overall=_summary(overall, f"Overall ({' + '.join(protocol.subgroups.compared)}, "
                                  f"k = {overall.k})", scale) if overall is not None else None,
        subgroup_test_text=_test_text(res.subgroup_tests), method_text=res.method,
        xlabel=xlabel, favours_left=left, favours_right=right, effect_label=effect_label,
        n_header=n_header, null_value=null, footnote_lines=foot,
        digits=1 if proportion else 2)


def _within_spec(res: AnalysisResult) -> Any | None:
    """Within-study contrasts (one study, two lesion types), apart from the subgroup plot."""
    from ..figures import ForestBlock, ForestRow, ForestSpec

    if not res.within:
        return None
    proportion = res.spec.kind == "proportion"
    rows = []
    for w in res.within:
        values = (w.yi, w.ci_low, w.ci_high)
        if proportion:  # log odds ratio shown as odds ratio
            values = tuple(math.exp(v) for v in values)
        rows.append(ForestRow(label=w.label, n_text="", estimate=values[0], ci_low=values[1],
                              ci_high=values[2]))
    first, second = res.within[0].groups
    return ForestSpec(
        title=f"{res.spec.title}: within-study comparisons ({first} vs {second})",
        blocks=[ForestBlock(title=None, rows=rows)],
        xlabel=("Odds ratio of leakage, " if proportion else "Difference in VAS reduction, ")
        + f"{first} vs {second}",
        effect_label="OR [95% CI]" if proportion else "Difference [95% CI]", n_header="",
        null_value=1.0 if proportion else 0.0, log_scale=proportion,
        footnote_lines=["Each study compares its own arms; kept apart from the between-study "
                        "test for subgroup differences.",
                        "Odds ratio from each study's 2x2 table (0.5 added to every cell when one "
                        "is 0, as metafor escalc)" if proportion else
                        "Difference of the mean changes; variances added (independent arms)"])


def _footnotes(res: AnalysisResult) -> list[str]:
    lines = []
    for _, r in res.excluded.iterrows():
        lines.append(f"Excluded: {r['label']} ({r['arm_label'] or r['arm']}): {r['reason']}")
    for _, r in res.included.iterrows():
        if r["flags"]:
            lines.append(f"{DAGGER} {r['label']}: " + "; ".join(r["flags"]))
    for note in res.notes:
        lines.append(note)
    return lines


def _leakage_frames(results: Mapping[str, AnalysisResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    pooled, studies = [], []
    for res in results.values():
        if res.spec.outcome != "leakage" or res.spec.unit not in ("vertebra", "patient"):
            continue
        for name, fit in res.subgroups.items():
            if fit.status == "pooled":
                pooled.append({"unit": res.spec.unit, "subgroup": name, "estimate": fit.estimate,
                               "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                               "pi_low": fit.pi_low, "pi_high": fit.pi_high, "k": fit.k})
        for _, r in res.included.iterrows():
            studies.append({"unit": res.spec.unit, "subgroup": r["group"], "label": r["label"],
                            "proportion": float(r["events"]) / float(r["total"]),
                            "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])})
    cols_p = ["unit", "subgroup", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k"]
    cols_s = ["unit", "subgroup", "label", "proportion", "ci_low", "ci_high"]
    return pd.DataFrame(pooled, columns=cols_p), pd.DataFrame(studies, columns=cols_s)


def draw_all(results: Mapping[str, AnalysisResult], protocol: Protocol, folder: Path,
             previous: Path | None = None) -> list[Path]:
    """Draw and save every figure of the report into ``folder``; returns the files.

    ``previous``: the figures folder of the last report, whose files are reused where a
    figure's inputs are unchanged (see ``Painter``).
    """
    from .. import figures

    painter = Painter(folder, previous)
    written: list[Path] = []
    for aid, res in results.items():
        spec = forest_spec(res, protocol)
        if spec is not None:
            written += painter.draw(f"forest_{aid}", figures.forest_plot, spec)
        within = _within_spec(res)
        if within is not None:
            written += painter.draw(f"within_{aid}", figures.forest_plot, within)
        written += _sensitivity(painter, res, protocol)
        written += _leave_one_out(painter, res)
        written += _funnel(painter, res, protocol)
    pooled, studies = _leakage_frames(results)
    if len(pooled) or len(studies):
        order = [*protocol.subgroups.compared, *protocol.subgroups.kept_apart]
        units = [u for u in ("vertebra", "patient") if u in set(studies["unit"])]
        written += painter.draw(
            "leakage_summary", figures.leakage_summary_plot, pooled, studies, units=units,
            subgroup_order=[g for g in order if g in set(studies["subgroup"])],
            title="Cement leakage by lesion type",
            footnote_lines=["Per-vertebra and per-patient rates are never mixed. Pooled: "
                            "binomial-normal GLMM; studies: Clopper-Pearson 95% CI."])
    written.append(painter.write_keys())
    return written


def _sensitivity(painter: Painter, res: AnalysisResult, protocol: Protocol) -> list[Path]:
    from .. import figures

    sens = res.sensitivity
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
        out += painter.draw(
            f"leave_one_out_{res.id}_{group}", figures.leave_one_out_plot, rows,
            _summary(fit, f"All {group} studies (k = {fit.k})", scale),
            xlabel=("Proportion (%)" if scale != 1.0 else "VAS reduction (points)"
                    if res.spec.outcome == "vas" else f"Change in {res.spec.instrument}"),
            title=f"{res.spec.title}, {group}: leave-one-out",
            null_value=0.0 if scale == 1.0 else None, method_text=res.method,
            digits=2 if scale == 1.0 else 1)
    return out


def _funnel(painter: Painter, res: AnalysisResult, protocol: Protocol) -> list[Path]:
    from .. import figures

    out: list[Path] = []
    for name, fit in res.subgroups.items():
        if fit.k < protocol.model.small_study_min_k or fit.model is None:
            continue
        rows = res.included[res.included["group"] == name]
        out += painter.draw(
            f"funnel_{res.id}_{name}", figures.funnel_plot, rows["yi"].astype(float).to_list(),
            [math.sqrt(v) for v in rows["vi"].astype(float)],
            float(getattr(fit.model, "estimate", fit.estimate)),
            labels=rows["label"].to_list(), title=f"{res.spec.title}, {name}: funnel plot",
            footnote_lines=[res.small_study.get(name, "")])
    return out
