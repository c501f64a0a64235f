"""Forest-plot layout: the rows of the table and where every column, the plot and the
footer go, measured in inches from the texts themselves (nothing is drawn here)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ._common import (
    FOOT_H,
    FS,
    FS_FOOT,
    FS_SMALL,
    FS_TITLE,
    GAP,
    MARGIN,
    PLOT_GAP,
    PLOT_MIN_W,
    ROW_H,
)
from .forest_spec import PI_LABEL, ForestRow, ForestSpec, ForestSummary, fmt_ci, summaries
from .io import nice_limits, text_width, wrap_text
from .judgement import JUDGEMENTS, legend_width

ROB_HEADER = "RoB"
ROB_LEAD = "RoB: overall appraisal \u2014"
ROB_DIAMETER = 10.0  # points, in the RoB column
ROB_LEGEND_D = 8.0  # points, in the legend

__all__ = ["Layout", "Line", "favours", "layout"]


@dataclass(frozen=True, slots=True)
class Line:
    kind: str  # header | title | study | summary | pi | het | blank
    item: Any = None
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes, in inches (x from the left, rows counted from the header)."""

    lines: list[Line]
    indent: float
    n_w: float
    show_weight: bool
    x_label: float
    x_n: float  # right edge of the n column
    x_plot0: float
    plot_w: float
    x_eff: float  # right edge of the effect column
    x_w: float  # right edge of the weight column
    fig_w: float
    fig_h: float
    top: float
    rows_h: float
    axis_h: float
    ax_bottom: float
    xlim: tuple[float, float]
    ticks: list[float]
    frac: float  # where the line of no effect sits across the plot, 0..1
    fav_l: float
    fav_r: float
    title_lines: list[str]
    foot: list[tuple[str, str]]  # (text, style); style "rob" is a row of the RoB legend
    x_rob: float = 0.0  # centre of the RoB column (0: no column)
    rob_rows: tuple[tuple[tuple[Any, str], ...], ...] = ()  # legend rows of (mark, label)

    @property
    def has_fav(self) -> bool:
        return bool(self.fav_l or self.fav_r)



def _table_lines(spec: ForestSpec, het_width: float) -> list[Line]:
    lines = [Line("header")]

    def add_summary(summary: ForestSummary, rows: Sequence[ForestRow]) -> None:
        weights = [r.weight for r in rows if r.weight is not None]
        lines.append(Line("summary", summary, sum(weights) if weights else None))
        if summary.pi_low is not None:
            lines.append(Line("pi", summary))
        if summary.heterogeneity_text:
            for text in wrap_text(summary.heterogeneity_text, het_width, FS_SMALL):
                lines.append(Line("het", text))

    for i, block in enumerate(spec.blocks):
        if i:
            lines.append(Line("blank"))
        if block.title:
            lines += [Line("title", t) for t in wrap_text(block.title, het_width, FS, "bold")]
        lines += [Line("study", row, row.weight) for row in block.rows]
        if block.summary is not None:
            add_summary(block.summary, block.rows)
    if spec.overall is not None:
        lines.append(Line("blank"))
        add_summary(spec.overall, [r for b in spec.blocks for r in b.rows])
    return lines


def _auto_xlim(spec: ForestSpec) -> tuple[tuple[float, float], list[float]]:
    log = spec.log_scale
    f = math.log10 if log else float
    core = [r.estimate for b in spec.blocks for r in b.rows if not math.isnan(r.estimate)]
    for s in summaries(spec):
        core += [s.estimate, s.ci_low, s.ci_high]
        core += [v for v in (s.pi_low, s.pi_high) if v is not None]
    if spec.null_value is not None:
        core.append(spec.null_value)
    if not core:
        raise InputError(f"ForestSpec {spec.title!r}: no row is estimable and there is no "
                         "summary or null_value; give xlim or at least one estimate")
    t_core = [f(v) for v in core]
    c_lo, c_hi = min(t_core), max(t_core)
    span = (c_hi - c_lo) or max(abs(c_lo) * 0.5, 0.5)
    rows = [r for b in spec.blocks for r in b.rows if not math.isnan(r.estimate)]
    r_lo = min([f(r.ci_low) for r in rows] + [c_lo])
    r_hi = max([f(r.ci_high) for r in rows] + [c_hi])
    lo, hi = max(r_lo, c_lo - span), min(r_hi, c_hi + span)
    if lo == hi:
        lo, hi = lo - span / 2, hi + span / 2
    if log:
        return nice_limits(10.0**lo, 10.0**hi, log=True)
    return nice_limits(lo, hi, log=False)


def rob_legend_rows(spec: ForestSpec, width: float) -> tuple[tuple[tuple[Any, str], ...], ...]:
    """The RoB legend, "RoB: overall appraisal" then the judgements that occur, in rows no
    wider than ``width``; empty when no row carries an appraisal."""
    present = {r.appraisal for b in spec.blocks for r in b.rows if r.appraisal is not None}
    if not present:
        return ()
    items = [(m, m.label) for k, m in JUDGEMENTS.items() if k in present]
    rows: list[list[tuple[Any, str]]] = [[]]
    for item in items:
        trial = rows[-1] + [item]
        lead = ROB_LEAD if len(rows) == 1 else ""
        if rows[-1] and legend_width(trial, ROB_LEGEND_D, FS_FOOT, lead, "italic") > width:
            rows.append([item])
        else:
            rows[-1] = trial
    return tuple(tuple(r) for r in rows)


def _column_widths(spec: ForestSpec, indent: float) -> tuple[float, float, float, float]:
    """Widths of the label, n, effect and weight columns, from the texts themselves.

    Block titles and heterogeneity lines span the row (nothing else is in it); summary and
    PI labels may run into the n column, which is empty in their rows.
    """
    d = spec.digits
    rows_all = [r for b in spec.blocks for r in b.rows]
    sums = summaries(spec)
    label_w = max(
        [text_width("Study", FS, "bold")]
        + [indent + text_width(r.label, FS)
           + (0.06 + text_width(r.note, FS_SMALL, style="italic") if r.note else 0.0)
           for r in rows_all]
    )
    n_w = max([text_width(spec.n_header, FS, "bold")]
              + [text_width(r.n_text, FS) for r in rows_all])
    label_w = max(
        [label_w]
        + [text_width(s.label, FS, "bold") - (GAP + n_w if n_w else 0.0) for s in sums]
        + [indent + text_width(PI_LABEL, FS_SMALL, style="italic") - (GAP + n_w if n_w else 0.0)
           for s in sums if s.pi_low is not None]
    )
    eff_w = max(
        [text_width(spec.effect_label, FS, "bold")]
        + [text_width(fmt_ci(r.estimate, r.ci_low, r.ci_high, d), FS) for r in rows_all]
        + [text_width(fmt_ci(s.estimate, s.ci_low, s.ci_high, d), FS, "bold") for s in sums]
    )
    w_w = max(text_width("Weight", FS, "bold"), text_width("100.0%", FS, "bold"))
    return label_w, n_w, eff_w, w_w


def layout(spec: ForestSpec) -> Layout:
    indent = 0.12 if any(b.title for b in spec.blocks) else 0.0
    show_weight = any(r.weight is not None for b in spec.blocks for r in b.rows)
    label_w, n_w, eff_w, w_w = _column_widths(spec, indent)
    has_rob = any(r.appraisal is not None for b in spec.blocks for r in b.rows)
    rob_w = text_width(ROB_HEADER, FS, "bold") if has_rob else 0.0
    x_label = MARGIN
    x_rob = x_label + label_w + GAP + rob_w / 2 if has_rob else 0.0
    x_n = x_label + label_w + (GAP + rob_w if has_rob else 0.0) + (GAP + n_w if n_w else 0.0)
    x_plot0 = x_n + PLOT_GAP
    right_cols = PLOT_GAP + eff_w + (GAP + w_w if show_weight else 0.0)

    if spec.xlim is not None:
        xlim = spec.xlim
        ticks = nice_limits(*xlim, log=spec.log_scale)[1]
        ticks = [t for t in ticks if xlim[0] <= t <= xlim[1]]
    else:
        xlim, ticks = _auto_xlim(spec)
    tr = math.log10 if spec.log_scale else float
    anchor = spec.null_value
    frac = (0.5 if anchor is None else
            min(max((tr(anchor) - tr(xlim[0])) / (tr(xlim[1]) - tr(xlim[0])), 0.0), 1.0))
    fav_l = text_width(favours(spec.favours_left, left=True), FS_SMALL)
    fav_r = text_width(favours(spec.favours_right, left=False), FS_SMALL)
    plot_w = PLOT_MIN_W
    if frac > 0 and fav_l:
        plot_w = max(plot_w, (MARGIN + 0.08 + fav_l - x_plot0) / frac)
    if frac < 1 and fav_r:
        plot_w = max(plot_w, (fav_r + 0.08 + MARGIN - right_cols) / (1 - frac))
    x_eff = x_plot0 + plot_w + PLOT_GAP + eff_w
    fig_w = x_plot0 + plot_w + right_cols + MARGIN
    text_w = fig_w - 2 * MARGIN

    lines = _table_lines(spec, text_w - indent)
    title_lines = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot: list[tuple[str, str]] = []
    for text in (spec.subgroup_test_text, spec.method_text):
        if text:
            foot += [(t, "normal") for t in wrap_text(text, text_w, FS_FOOT)]
    rob_rows = rob_legend_rows(spec, text_w)
    foot += [("", "rob")] * len(rob_rows)
    for text in spec.footnote_lines:
        foot += [(t, "italic") for t in wrap_text(text, text_w, FS_FOOT, style="italic")]
    top = MARGIN + len(title_lines) * 0.24 + (0.08 if title_lines else 0.0)
    rows_h = len(lines) * ROW_H
    has_fav = bool(spec.favours_left or spec.favours_right)
    axis_h = 0.28 + (0.2 if has_fav else 0.0) + (0.22 if spec.xlabel else 0.0)
    foot_h = (0.1 + len(foot) * FOOT_H) if foot else 0.0
    fig_h = top + rows_h + axis_h + foot_h + MARGIN
    return Layout(
        lines=lines, indent=indent, n_w=n_w, show_weight=show_weight, x_label=x_label,
        x_n=x_n, x_plot0=x_plot0, plot_w=plot_w, x_eff=x_eff, x_w=x_eff + GAP + w_w,
        fig_w=fig_w, fig_h=fig_h, top=top, rows_h=rows_h, axis_h=axis_h,
        ax_bottom=fig_h - top - rows_h, xlim=xlim, ticks=ticks, frac=frac,
        fav_l=fav_l if has_fav else 0.0, fav_r=fav_r if has_fav else 0.0,
        title_lines=title_lines, foot=foot, x_rob=x_rob, rob_rows=rob_rows,
    )


def favours(text: str | None, *, left: bool) -> str:
    if not text:
        return ""
    return f"\u2190 {text}" if left else f"{text} \u2192"
