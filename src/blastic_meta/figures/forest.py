"""Forest plot: a ``ForestSpec`` drawn as RevMan 5 and R meta's ``forest.meta`` lay it out.

Columns: study, n, plot, effect [95% CI], weight; square area proportional to the weight;
diamonds for pooled estimates; a prediction-interval bar (Riley, Higgins & Deeks 2011); the
test for subgroup differences, the method and the footnotes under the axis (Schwarzer 2007).
The figure is built with matplotlib's object API inside a local ``rc_context``: nothing global
changes. ``save_figure`` writes the SVG (text kept as text) and the 300 dpi PNG, byte-identical
on reruns.

Drawing is split by what it draws: ``forest_layout.layout`` measures the columns and rows,
``_Canvas`` puts text, ``_draw_table`` the text columns, ``_draw_marks`` squares, whiskers,
diamonds and the prediction interval, ``_draw_reference_lines`` the line of no effect,
``_draw_footer`` the favours labels, axis label and footnotes.

Why not the ``forestplot`` package: it plots from a DataFrame with one marker size for every
study (no weight-scaled squares), has no summary or subgroup diamonds and no prediction
interval, sets its table in a monospace font, draws through pyplot's global state, and on
import calls ``np.seterr(all="ignore")`` and rewrites ``rcParams["font.monospace"]`` for the
whole process. Every figure of the review (forest, leave-one-out, sensitivity scenarios) is
therefore drawn here, in one visual language.

Examples
--------
>>> rows = [ForestRow("Tian et al. 2016", "32", -4.1, -4.9, -3.3, 60.0),
...         ForestRow("Xu et al. 2021", "18", -3.2, -4.6, -1.8, 40.0)]
>>> spec = ForestSpec(title="VAS change at 3 months",
...                   blocks=[ForestBlock(None, rows, ForestSummary("Pooled", -3.8, -4.6, -3.0))],
...                   xlabel="Change in VAS (0-10)", n_header="n")
>>> fig = forest_plot(spec)
>>> fig.axes[0].get_xscale()
'linear'
>>> # save_figure(fig, "outputs/figures/forest_vas_3m") writes the .svg and the .png
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ._common import (
    DIAMOND_HALF_H,
    FOOT_H,
    FS,
    FS_FOOT,
    FS_SMALL,
    FS_TITLE,
    INK,
    MARGIN,
    PI_COLOR,
    SQUARE_COLOR,
    SQUARE_MAX_SIDE,
    SQUARE_MIN_SIDE,
    UNWEIGHTED_SIDE,
)
from .forest_layout import (
    ROB_DIAMETER,
    ROB_HEADER,
    ROB_LEAD,
    ROB_LEGEND_D,
    Layout,
    favours,
    layout,
)
from .forest_spec import (
    PI_LABEL,
    ForestBlock,
    ForestRow,
    ForestSpec,
    ForestSummary,
    fmt,
    fmt_ci,
)
from .io import save_figure, style_context, text_width, tick_label
from .judgement import JUDGEMENTS, Mark, draw_legend, draw_marks

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ForestBlock", "ForestRow", "ForestSpec", "ForestSummary", "forest_plot",
           "save_figure"]


def forest_plot(spec: ForestSpec) -> Figure:
    """Draw ``spec`` as a RevMan / R meta style forest plot and return the Figure.

    Squares have area proportional to the weight (SQUARE_MIN_SIDE as a floor so tiny weights
    stay visible); whiskers beyond the axis end in an arrow; each block's summary and the
    overall summary are diamonds with an optional prediction-interval bar and heterogeneity
    line. Figure height grows with the number of rows; widths follow the longest texts.
    """
    if not isinstance(spec, ForestSpec):
        raise InputError(f"forest_plot: spec must be a ForestSpec, got {type(spec).__name__}")
    with style_context():
        return draw_forest(spec, marker="s", reference=None)


def draw_forest(spec: ForestSpec, *, marker: str, reference: float | None) -> Figure:
    """Draw ``spec``; ``marker`` "s" scales squares by weight, "o" draws equal dots;
    ``reference`` adds a dashed line (e.g. the overall estimate of a leave-one-out plot).
    Call inside ``style_context()``."""
    from matplotlib.figure import Figure

    lay = layout(spec)
    fig = Figure(figsize=(lay.fig_w, lay.fig_h))
    ax = _axes(fig, spec, lay)
    canvas = _Canvas(fig, ax)
    _draw_table(canvas, spec, lay, ax)
    _draw_marks(ax, spec, lay, marker)
    _draw_reference_lines(ax, spec, lay, reference)
    _draw_footer(canvas, spec, lay)
    return fig


def _axes(fig: Figure, spec: ForestSpec, lay: Layout) -> Axes:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax = fig.add_axes((lay.x_plot0 / lay.fig_w, lay.ax_bottom / lay.fig_h,
                       lay.plot_w / lay.fig_w, lay.rows_h / lay.fig_h))
    ax.set_gid("forest-axes")
    ax.set_xscale("log" if spec.log_scale else "linear")
    ax.set_xlim(*lay.xlim)
    ax.set_ylim(len(lay.lines) - 0.5, -0.5)
    ax.xaxis.set_major_locator(FixedLocator(lay.ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_label(v)))
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)
    return ax


class _Canvas:
    """Text placed in inches across and in table rows down (or in inches both ways)."""

    def __init__(self, fig: Figure, ax: Axes) -> None:
        from matplotlib.transforms import blended_transform_factory

        self.fig = fig
        self.rows = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
        self.inch = fig.dpi_scale_trans
        self.inch_both = blended_transform_factory(fig.dpi_scale_trans, fig.dpi_scale_trans)

    def put(self, x: float, y: float, s: str, *, ha: str = "left", size: float = FS,
            weight: str = "normal", style: str = "normal", color: str = INK,
            transform: Any = None) -> None:
        self.fig.text(x, y, s, ha=ha, va="center", fontsize=size, fontweight=weight,
                      fontstyle=style, color=color,
                      transform=self.rows if transform is None else transform,
                      parse_math=False)


# ---------------------------------------------------------------------------------------------
# drawing


def _draw_table(canvas: _Canvas, spec: ForestSpec, lay: Layout, ax: Axes) -> None:
    """Header, title, the text columns of every row, and the summary diamonds (drawn with
    their row so that the order of the SVG's elements follows the table)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon

    put, d = canvas.put, spec.digits
    put(lay.x_label, 0, "Study", weight="bold")
    if lay.x_rob:
        put(lay.x_rob, 0, ROB_HEADER, ha="center", weight="bold")
    if lay.n_w:
        put(lay.x_n, 0, spec.n_header, ha="right", weight="bold")
    put(lay.x_eff, 0, spec.effect_label, ha="right", weight="bold")
    if lay.show_weight:
        put(lay.x_w, 0, "Weight", ha="right", weight="bold")
    canvas.fig.add_artist(Line2D([MARGIN, lay.fig_w - MARGIN], [0.5, 0.5],
                                 transform=canvas.rows, color=INK, linewidth=0.6))
    for i, text in enumerate(lay.title_lines):
        put(MARGIN, lay.fig_h - MARGIN - (i + 0.5) * 0.24, text, size=FS_TITLE, weight="bold",
            transform=canvas.inch)

    n_diamond = 0
    chips: list[tuple[float, float, Mark]] = []  # the RoB column's marks, drawn together
    for y, line in enumerate(lay.lines):
        if line.kind == "title":
            put(lay.x_label, y, line.item, weight="bold")
        elif line.kind == "study":
            row: ForestRow = line.item
            put(lay.x_label + lay.indent, y, row.label)
            if row.note:
                put(lay.x_label + lay.indent + text_width(row.label, FS) + 0.06, y, row.note,
                    size=FS_SMALL, style="italic", color="#555555")
            if row.appraisal is not None:
                chips.append((lay.x_rob, y, JUDGEMENTS[row.appraisal]))
            if lay.n_w:
                put(lay.x_n, y, row.n_text, ha="right")
            put(lay.x_eff, y, fmt_ci(row.estimate, row.ci_low, row.ci_high, d), ha="right")
            if row.weight is not None:
                put(lay.x_w, y, f"{row.weight:.1f}%", ha="right")
        elif line.kind == "summary":
            s: ForestSummary = line.item
            put(lay.x_label, y, s.label, weight="bold")
            put(lay.x_eff, y, fmt_ci(s.estimate, s.ci_low, s.ci_high, d), ha="right",
                weight="bold")
            if lay.show_weight and line.weight is not None:
                put(lay.x_w, y, f"{line.weight:.1f}%", ha="right", weight="bold")
            h = DIAMOND_HALF_H
            diamond = Polygon([(s.ci_low, y), (s.estimate, y - h), (s.ci_high, y),
                               (s.estimate, y + h)], closed=True, facecolor=INK,
                              edgecolor=INK, linewidth=0.6, zorder=4)
            diamond.set_gid(f"diamond-{n_diamond}")
            n_diamond += 1
            ax.add_patch(diamond)
        elif line.kind == "pi":
            s = line.item
            put(lay.x_label + lay.indent, y, PI_LABEL, size=FS_SMALL, style="italic")
            put(lay.x_eff, y, f"[{fmt(s.pi_low, d)}, {fmt(s.pi_high, d)}]", ha="right",
                size=FS_SMALL, style="italic")
        elif line.kind == "het":
            put(lay.x_label + lay.indent, y, line.item, size=FS_SMALL, color="#333333")
    if chips:
        draw_marks(canvas.fig, canvas.rows, chips, ROB_DIAMETER, gid="rob-column")


def _whisker(lo: float, hi: float, y: float, xlim: tuple[float, float],
             sink: list, arrow_sink: list) -> None:
    """The part of [lo, hi] inside the axis, and an arrow where it runs beyond."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    if a < b:
        sink.append([(a, y), (b, y)])
    if lo < xlim[0]:
        arrow_sink.append((xlim[0], y, "<"))
    if hi > xlim[1]:
        arrow_sink.append((xlim[1], y, ">"))


def _draw_marks(ax: Axes, spec: ForestSpec, lay: Layout, marker: str) -> None:
    """Study CIs, squares (area by weight) or dots, the prediction-interval bars, arrows."""
    from matplotlib.collections import LineCollection

    xlim = lay.xlim
    weights = [line.item.weight for line in lay.lines
               if line.kind == "study" and line.item.weight is not None]
    w_max = max(weights or [1.0]) or 1.0
    squares: list[tuple[float, float, float]] = []
    points: list[tuple[float, float]] = []
    segments: list[list[tuple[float, float]]] = []
    arrows: list[tuple[float, float, str]] = []
    pi_segments: list[list[tuple[float, float]]] = []
    pi_arrows: list[tuple[float, float, str]] = []
    for y, line in enumerate(lay.lines):
        if line.kind == "study":
            row: ForestRow = line.item
            if math.isnan(row.estimate):
                continue
            _whisker(row.ci_low, row.ci_high, y, xlim, segments, arrows)
            if not xlim[0] <= row.estimate <= xlim[1]:
                continue  # the arrow shows the direction; a marker would sit on the text
            if row.weight is not None and marker == "s":
                side = max(SQUARE_MAX_SIDE * math.sqrt(row.weight / w_max), SQUARE_MIN_SIDE)
                squares.append((row.estimate, y, side**2))
            else:
                points.append((row.estimate, y))
        elif line.kind == "pi":
            _whisker(line.item.pi_low, line.item.pi_high, y, xlim, pi_segments, pi_arrows)

    if segments:
        ax.add_collection(LineCollection(segments, colors=INK, linewidths=0.9, zorder=2,
                                         gid="forest-ci"))
    if pi_segments:
        ax.add_collection(LineCollection(pi_segments, colors=PI_COLOR, linewidths=1.6,
                                         zorder=2, gid="prediction-interval"))
        ends = [(x, y) for seg in pi_segments for x, y in seg]
        ax.scatter([e[0] for e in ends], [e[1] for e in ends], marker="|", s=30,
                   color=PI_COLOR, linewidths=1.2, zorder=2)
    if squares:
        ax.scatter([q[0] for q in squares], [q[1] for q in squares], s=[q[2] for q in squares],
                   marker="s", color=SQUARE_COLOR, linewidths=0, zorder=3, gid="forest-squares",
                   clip_on=False)
    if points:
        size = UNWEIGHTED_SIDE**2 if marker == "s" else (UNWEIGHTED_SIDE * 1.1) ** 2
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=size, marker=marker,
                   color=SQUARE_COLOR, linewidths=0, zorder=3, gid="forest-points",
                   clip_on=False)
    for x, y, m in arrows + pi_arrows:
        ax.plot([x], [y], marker=m, markersize=4, color=INK if (x, y, m) in arrows else PI_COLOR,
                clip_on=False, zorder=3)


def _draw_reference_lines(ax: Axes, spec: ForestSpec, lay: Layout,
                          reference: float | None) -> None:
    """The line of no effect (solid) and an optional reference (dashed): one segment per
    block, never across gaps, heterogeneity lines or block titles that reach the plot."""
    lines, xlim = lay.lines, lay.xlim
    breaks = {y for y, line in enumerate(lines)
              if line.kind in ("het", "blank")
              or (line.kind == "title"
                  and lay.x_label + text_width(line.item, FS, "bold") > lay.x_plot0 - 0.05)}
    runs: list[tuple[int, int]] = []
    for y in range(1, len(lines)):
        if y in breaks:
            continue
        if runs and runs[-1][1] == y - 1:
            runs[-1] = (runs[-1][0], y)
        else:
            runs.append((y, y))
    for value, style, gid in ((spec.null_value, "-", "null-line"),
                              (reference, (0, (3, 2)), "reference-line")):
        if value is None or not xlim[0] <= value <= xlim[1]:
            continue
        ax.vlines([value] * len(runs), [a - 0.5 for a, _ in runs], [b + 0.5 for _, b in runs],
                  colors=INK, linewidths=0.7, linestyles=style, zorder=1, gid=gid)


def _draw_footer(canvas: _Canvas, spec: ForestSpec, lay: Layout) -> None:
    """Favours labels either side of the line of no effect, the x label, the footnotes."""
    put = canvas.put
    y_fav = lay.ax_bottom - 0.28 - 0.09
    if lay.has_fav:
        x_null_in = lay.x_plot0 + lay.frac * lay.plot_w
        if spec.favours_left:
            put(max(x_null_in - 0.08, MARGIN + lay.fav_l), y_fav,
                favours(spec.favours_left, left=True), ha="right", size=FS_SMALL,
                transform=canvas.inch_both)
        if spec.favours_right:
            put(min(x_null_in + 0.08, lay.fig_w - MARGIN - lay.fav_r), y_fav,
                favours(spec.favours_right, left=False), size=FS_SMALL,
                transform=canvas.inch_both)
    if spec.xlabel:
        y_xl = lay.ax_bottom - 0.28 - (0.2 if lay.has_fav else 0.0) - 0.11
        put(lay.x_plot0 + lay.plot_w / 2, y_xl, spec.xlabel, ha="center", transform=canvas.inch)
    y0 = lay.ax_bottom - lay.axis_h - 0.1
    n_rob = 0  # the RoB legend rows drawn so far (the first carries the lead text)
    for i, (text, style) in enumerate(lay.foot):
        if style == "rob":
            draw_legend(canvas.fig, canvas.inch, MARGIN, y0 - (i + 0.5) * FOOT_H,
                        lay.rob_rows[n_rob], diameter=ROB_LEGEND_D, size=FS_FOOT,
                        lead="" if n_rob else ROB_LEAD, style="italic",
                        gid=f"rob-legend-{n_rob}")
            n_rob += 1
            continue
        put(MARGIN, y0 - (i + 0.5) * FOOT_H, text, size=FS_FOOT, style=style,
            transform=canvas.inch)
