"""The lesion-type comparison figure: per outcome, each lesion type's estimate beside the other.

Each row (an outcome and time window) shows, on its panel's scale, every group's estimate and
CI as a coloured marker of its own shape (so the groups differ in greyscale too), with the
estimate, k and patients as text, or the reason a group has no data; a group too small to
pool says so and shows each of its studies on its own line, with an open marker (never a
pooled marker). To the right: the
difference between the groups with its CI, the kind of evidence behind it (within-study,
between-study, none) and each group's procedures. Panels group rows by scale, each with its own
x axis and label. Layout is measured from the texts, long texts wrap, NaN means "no data".

Examples
--------
>>> row = ComparisonRow("VAS, 3 months", [GroupEstimate(3.9, 3.1, 4.7, k=3, patients=85),
...     GroupEstimate(float("nan"), float("nan"), float("nan"), missing_text="not reported")],
...     ComparisonDifference("MD", 1.2, -0.4, 2.8), "between-study")
>>> spec = ComparisonSpec(None, ["Osteoblastic", "Osteolytic"],
...                       [ComparisonPanel("Pain (0-10)", "VAS reduction", [row])])
>>> fig = comparison_plot(spec)
>>> [ax.get_gid() for ax in fig.axes]
['comparison-axes-0']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ._canvas import Canvas
from ._common import FOOT_H, FS, FS_FOOT, FS_SMALL, FS_TITLE, INK, MARGIN
from .comparison_spec import (
    RATIO_MEASURES,
    ComparisonDifference,
    ComparisonPanel,
    ComparisonRow,
    ComparisonSpec,
    GroupEstimate,
    StudyEstimate,
)
from .io import PALETTE, nice_limits, style_context, text_width, tick_label, wrap_text

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ComparisonDifference", "ComparisonPanel", "ComparisonRow", "ComparisonSpec",
           "GroupEstimate", "StudyEstimate", "comparison_plot"]

MINUS = "\u2212"
COLORS = (PALETTE[0], PALETTE[1], PALETTE[3], PALETTE[2])
MARKERS = ("o", "s", "D", "^")
MARKER_SIZE = 6.0  # points
PLOT_W = 2.2
SLOT = 0.2  # inches per group line (at least)
STUDY_SLOT = 0.17  # inches per study line of a group that is not pooled
STUDY_INDENT = 0.16  # study labels start under the group name
LINE_S = 0.14  # inches per wrapped small line
TITLE_LINE = 0.2
ROW_PAD = 0.1
AXIS_H = 0.5
PANEL_GAP = 0.16
COL_GAP = 0.16
DIFF_MAX, PROC_MAX = 1.4, 1.4


def _num(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return MINUS + text[1:] if text.startswith("-") else text


def estimate_text(side: GroupEstimate | StudyEstimate, digits: int, unit: str = "") -> str:
    """"3.9 [3.1, 4.7]" (with ``unit`` after the estimate), "—" without data."""
    if math.isnan(side.estimate):
        return "\u2014"
    return (f"{_num(side.estimate, digits)}{unit} [{_num(side.ci_low, digits)}, "
            f"{_num(side.ci_high, digits)}]")


def count_text(side: GroupEstimate) -> str:
    """"k = 3, n = 85" from what is known."""
    parts = [] if side.k is None else [f"k = {side.k}"]
    if side.patients is not None:
        parts.append(f"n = {side.patients}")
    return ", ".join(parts)


def difference_text(diff: ComparisonDifference | str | None, digits: int) -> str:
    """"MD 1.2 [−0.4, 2.8]", "OR 0.55 [0.20, 1.40]", the given text, or "—"."""
    if diff is None:
        return "\u2014"
    if isinstance(diff, str):
        return diff
    if math.isnan(diff.estimate):
        return f"{diff.measure} not estimable"
    d = diff.digits if diff.digits is not None else (2 if diff.measure in RATIO_MEASURES
                                                     else digits)
    return (f"{diff.measure} {_num(diff.estimate, d)} [{_num(diff.ci_low, d)}, "
            f"{_num(diff.ci_high, d)}]")


@dataclass(frozen=True, slots=True)
class _Row:
    row: ComparisonRow
    title: list[str]
    heads: list[float]  # height of each group's own line
    slots: list[float]  # height of each group's lines (its own and its studies')
    missing: list[list[str]]
    procs: list[list[str]]
    diff: list[str]
    evidence: list[str]

    @property
    def body(self) -> float:
        return max(sum(self.slots), len(self.diff) * LINE_S + 0.06,
                   len(self.evidence) * LINE_S + 0.06)

    @property
    def height(self) -> float:
        return len(self.title) * TITLE_LINE + self.body + ROW_PAD


@dataclass(frozen=True, slots=True)
class _Cols:
    group: float  # left edge of the group names
    plot: float
    est: float  # right edge of the estimate text
    count: float  # left edge of the k/n text
    diff: float
    evidence: float
    procs: float
    width: float
    diff_w: float
    proc_w: float


def _columns(spec: ComparisonSpec) -> _Cols:
    rows = [(p, r) for p in spec.panels for r in p.rows]
    sides = [(p, s) for p, r in rows for s in r.sides]
    studies = [(p, t) for p, s in sides for t in s.studies]
    group_w = 0.16 + max([text_width(g, FS_SMALL) for g in spec.groups]
                         + [STUDY_INDENT - 0.16 + text_width(t.label, FS_FOOT)
                            for _, t in studies])
    est_w = max([text_width("Estimate [95% CI]", FS_SMALL, "bold") - 0.9]
                + [text_width(estimate_text(s, p.digits, p.unit), FS_SMALL) for p, s in sides]
                + [text_width(estimate_text(t, p.digits, p.unit), FS_FOOT)
                   for p, t in studies])
    count_w = max([text_width("Studies, patients", FS_SMALL, "bold")]
                  + [text_width(count_text(s), FS_FOOT) for _, s in sides])
    diff_w = min(DIFF_MAX, max([text_width(spec.difference_header, FS_SMALL, "bold")]
                               + [text_width(difference_text(r.difference, p.digits), FS_SMALL)
                                  for p, r in rows]))
    ev_w = max(text_width(t, FS_SMALL) for t in ("Evidence", "between-study", "within-study"))
    proc_w = min(PROC_MAX, max([text_width("Procedures", FS_SMALL, "bold")]
                               + [text_width(s.procedures or "", FS_FOOT) for _, s in sides]))
    x = MARGIN
    plot = x + group_w + 0.12
    est = plot + PLOT_W + 0.15 + est_w
    count = est + 0.08
    diff = count + count_w + COL_GAP
    evidence = diff + diff_w + COL_GAP
    procs = evidence + ev_w + COL_GAP
    return _Cols(x, plot, est, count, diff, evidence, procs, procs + proc_w + MARGIN,
                 diff_w, proc_w)


def _measure(spec: ComparisonSpec, panel: ComparisonPanel, row: ComparisonRow,
             cols: _Cols) -> _Row:
    title = wrap_text(row.label, cols.plot + PLOT_W - cols.group, FS, "bold")
    missing = [[] if s.has_data else wrap_text(s.missing_text or "", PLOT_W - 0.1, FS_FOOT,
                                                style="italic") for s in row.sides]
    procs = [wrap_text(s.procedures, cols.proc_w, FS_FOOT) if s.procedures else []
             for s in row.sides]
    heads = [max(SLOT, len(m) * LINE_S + 0.06, len(p) * LINE_S + 0.06)
             for m, p in zip(missing, procs, strict=True)]
    slots = [h + len(s.studies) * STUDY_SLOT for h, s in zip(heads, row.sides, strict=True)]
    diff = wrap_text(difference_text(row.difference, panel.digits), cols.diff_w, FS_SMALL)
    evidence = wrap_text(row.evidence, cols.evidence - cols.diff, FS_SMALL)
    return _Row(row, title, heads, slots, missing, procs, diff, evidence)


def comparison_plot(spec: ComparisonSpec) -> Figure:
    """Draw ``spec`` (lesion types side by side per outcome) and return the Figure."""
    if not isinstance(spec, ComparisonSpec):
        raise InputError(f"comparison_plot: spec must be a ComparisonSpec, got "
                         f"{type(spec).__name__}")
    cols = _columns(spec)
    width = cols.width
    text_w = width - 2 * MARGIN
    panels = [(p, [_measure(spec, p, r, cols) for r in p.rows]) for p in spec.panels]
    title = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot = [w for line in spec.footnote_lines if line.strip()
            for w in wrap_text(line, text_w, FS_FOOT, style="italic")]
    head_h = 0.3
    height = (MARGIN + len(title) * 0.24 + (0.08 if title else 0.0) + head_h
              + sum(0.3 + sum(r.height for r in rows) + AXIS_H for _, rows in panels)
              + PANEL_GAP * (len(panels) - 1) + (0.12 + FOOT_H * len(foot) if foot else 0.0)
              + MARGIN)
    with style_context():
        canvas = Canvas(width, height)
        y = MARGIN
        y = canvas.title(MARGIN, y, title, FS_TITLE)
        _header(canvas, cols, y + head_h / 2, spec)
        y += head_h
        canvas.line([MARGIN, width - MARGIN], [y, y], linewidth=0.6)
        for i, (panel, rows) in enumerate(panels):
            y = _draw_panel(canvas, spec, panel, rows, cols, i, y) + PANEL_GAP
        y += 0.12 - PANEL_GAP
        for line in foot:
            canvas.text(MARGIN, y + FOOT_H / 2, line, size=FS_FOOT, style="italic")
            y += FOOT_H
    return canvas.fig


def _header(canvas: Canvas, cols: _Cols, y: float, spec: ComparisonSpec) -> None:
    put = canvas.text
    put(cols.group, y, "Lesion type", size=FS_SMALL, weight="bold")
    put(cols.est, y, "Estimate [95% CI]", ha="right", size=FS_SMALL, weight="bold")
    put(cols.count, y, "Studies, patients", size=FS_SMALL, weight="bold")
    put(cols.diff, y, spec.difference_header, size=FS_SMALL, weight="bold")
    put(cols.evidence, y, "Evidence", size=FS_SMALL, weight="bold")
    put(cols.procs, y, "Procedures", size=FS_SMALL, weight="bold")


def _limits(panel: ComparisonPanel) -> tuple[tuple[float, float], list[float]]:
    if panel.xlim is not None:
        ticks = [t for t in nice_limits(*panel.xlim, log=False)[1]
                 if panel.xlim[0] <= t <= panel.xlim[1]]
        return panel.xlim, ticks
    values = [v for r in panel.rows for s in r.sides for ci in s.intervals for v in ci]
    if panel.null_value is not None:
        values.append(panel.null_value)
    return nice_limits(min(values), max(values), log=False)


def _draw_panel(canvas: Canvas, spec: ComparisonSpec, panel: ComparisonPanel,
                rows: list[_Row], cols: _Cols, index: int, y: float) -> float:
    """Panel title, its rows (text and marks) and its x axis; returns the y below."""
    canvas.box(MARGIN, y + 0.04, canvas.width - 2 * MARGIN, 0.22, face="#EDEDED",
               edge="none", linewidth=0, gid=f"panel-title-{index}")
    canvas.text(MARGIN + 0.05, y + 0.15, panel.title, weight="bold")
    y += 0.3
    rows_h = sum(r.height for r in rows)
    ax = _axes(canvas, panel, index, cols.plot, y, rows_h)
    yr = 0.0  # inches from the top of the axes
    for r, m in enumerate(rows):
        if r:
            canvas.line([MARGIN, canvas.width - MARGIN], [y + yr, y + yr], color="#d0d0d0",
                        linewidth=0.5)
        _draw_row(canvas, ax, spec.groups, panel, m, cols, y, yr, (index, r))
        yr += m.height
    return y + rows_h + AXIS_H


def _axes(canvas: Canvas, panel: ComparisonPanel, index: int, x: float, y: float,
          h: float) -> Axes:
    """The panel's axes over its rows; y runs in inches down from the top of the rows."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax = canvas.fig.add_axes((x / canvas.width, (canvas.height - y - h) / canvas.height,
                              PLOT_W / canvas.width, h / canvas.height))
    xlim, ticks = _limits(panel)
    ax.set_gid(f"comparison-axes-{index}")
    ax.set_xlim(*xlim)
    ax.set_ylim(h, 0)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    unit = panel.unit
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: tick_label(v) + unit))
    ax.set_xlabel(panel.xlabel, fontsize=FS_SMALL, parse_math=False)
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    return ax


def _draw_row(canvas: Canvas, ax: Axes, groups: tuple[str, ...], panel: ComparisonPanel,
              m: _Row, cols: _Cols, y0: float, yr: float, where: tuple[int, int]) -> None:
    """One row: title, a line per group (marker, CI, texts), difference and evidence.

    ``y0`` is the top of the panel's rows on the canvas, ``yr`` the row's top within them.
    """
    p, r = where
    put = canvas.text
    y = yr + ROW_PAD / 2
    for line in m.title:
        put(cols.group, y0 + y + TITLE_LINE / 2, line, weight="bold", gid=f"row-title-{p}-{r}")
        y += TITLE_LINE
    body_top = y
    slots_top = body_top + (m.body - sum(m.slots)) / 2
    xlim = ax.get_xlim()
    for g, (side, head, slot) in enumerate(zip(m.row.sides, m.heads, m.slots, strict=True)):
        yc = slots_top + head / 2
        color, marker = COLORS[g], MARKERS[g]
        canvas.marker(cols.group + 0.05, y0 + yc, marker, MARKER_SIZE - 1, face=color,
                      edge=color)
        put(cols.group + 0.16, y0 + yc, groups[g], size=FS_SMALL)
        put(cols.est, y0 + yc, estimate_text(side, panel.digits, panel.unit), ha="right",
            size=FS_SMALL)
        put(cols.count, y0 + yc, count_text(side), size=FS_FOOT, color="#444444")
        for k, line in enumerate(m.procs[g]):
            put(cols.procs, y0 + yc + (k - (len(m.procs[g]) - 1) / 2) * LINE_S, line,
                size=FS_FOOT)
        if side.has_data:
            _mark(ax, side, yc, xlim, color, marker, f"estimate-{p}-{r}-{g}")
        else:
            for k, line in enumerate(m.missing[g]):
                put(cols.plot + 0.05, y0 + yc + (k - (len(m.missing[g]) - 1) / 2) * LINE_S,
                    line, size=FS_FOOT, style="italic", color="#555555",
                    gid=f"missing-{p}-{r}-{g}" if k == 0 else None)
        for j, study in enumerate(side.studies):
            ys = slots_top + head + (j + 0.5) * STUDY_SLOT
            put(cols.group + STUDY_INDENT, y0 + ys, study.label, size=FS_FOOT, color="#444444")
            put(cols.est, y0 + ys, estimate_text(study, panel.digits, panel.unit), ha="right",
                size=FS_FOOT)
            _mark(ax, study, ys, xlim, color, marker, f"study-{p}-{r}-{g}-{j}", hollow=True)
        slots_top += slot
    if panel.null_value is not None and xlim[0] <= panel.null_value <= xlim[1]:
        ax.vlines([panel.null_value], [body_top], [body_top + m.body], colors=INK,
                  linewidths=0.7, zorder=1, gid=f"null-line-{p}-{r}")
    mid = y0 + body_top + m.body / 2
    for column, lines, gid in ((cols.diff, m.diff, "difference"),
                               (cols.evidence, m.evidence, "evidence")):
        for k, line in enumerate(lines):
            put(column, mid + (k - (len(lines) - 1) / 2) * LINE_S, line, size=FS_SMALL,
                gid=f"{gid}-{p}-{r}" if k == 0 else None)


def _mark(ax: Axes, side: GroupEstimate | StudyEstimate, y: float, xlim: tuple[float, float],
          color: str, marker: str, gid: str, hollow: bool = False) -> None:
    """CI line (arrow where it runs beyond the axis) and the marker, unless off the axis; a
    study of a group that is not pooled gets a thinner line and an open, smaller marker."""
    lo, hi = max(side.ci_low, xlim[0]), min(side.ci_high, xlim[1])
    if lo < hi:
        ax.plot([lo, hi], [y, y], color=color, linewidth=0.9 if hollow else 1.3,
                solid_capstyle="butt", zorder=2)
    for end, limit, m in ((side.ci_low, xlim[0], "<"), (side.ci_high, xlim[1], ">")):
        if (end < limit) if m == "<" else (end > limit):
            ax.plot([limit], [y], marker=m, markersize=4, color=color, clip_on=False, zorder=2)
    if xlim[0] <= side.estimate <= xlim[1]:
        look = ({"markersize": MARKER_SIZE - 1.5, "markerfacecolor": "white",
                 "markeredgecolor": color, "markeredgewidth": 1.0} if hollow else
                {"markersize": MARKER_SIZE, "markeredgecolor": "white", "markeredgewidth": 0.6})
        ax.plot([side.estimate], [y], marker=marker, color=color, linestyle="none", zorder=3,
                gid=gid, **look)
