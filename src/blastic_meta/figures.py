"""Figures of the review: forest plot, leakage summary, sensitivity, leave-one-out, funnel.

Every function takes plain numbers (the frozen dataclasses below, arrays or tidy DataFrames),
so figures can be tested without the statistics modules, and returns a matplotlib ``Figure``
built with the object API (no pyplot state) inside a local ``rc_context``: nothing global
changes. ``save_figure`` writes the SVG (text kept as text) and the 300 dpi PNG, byte-identical
on reruns.

Why not the ``forestplot`` package: it plots from a DataFrame with one marker size for every
study (no weight-scaled squares), has no summary or subgroup diamonds and no prediction
interval, draws through pyplot's global state, and on import calls ``np.seterr(all="ignore")``
and rewrites ``rcParams["font.monospace"]`` for the whole process. Everything a reviewer expects
would have to be drawn on top of it anyway, so the figures are drawn with matplotlib directly
and forestplot is never imported.

The forest layout follows RevMan 5 and R meta's ``forest.meta`` (Schwarzer 2007): study, n,
plot, effect [95% CI], weight; square area proportional to the weight; diamonds for pooled
estimates; a prediction-interval bar (Riley, Higgins & Deeks 2011); the test for subgroup
differences, the method and the footnotes under the axis.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._figure_io import (
    PALETTE,
    nice_limits,
    save_figure,
    style_context,
    text_width,
    tick_label,
    wrap_text,
)
from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "ForestBlock",
    "ForestRow",
    "ForestSpec",
    "ForestSummary",
    "forest_plot",
    "funnel_plot",
    "leakage_summary_plot",
    "leave_one_out_plot",
    "save_figure",
    "sensitivity_plot",
]

PI_LABEL = "Prediction interval"
NOT_ESTIMABLE = "not estimable"


def _num(where: str, value: Any, *, allow_nan: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}") from None
    if math.isinf(number) or (math.isnan(number) and not allow_nan):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return number


def _interval(where: str, est: Any, lo: Any, hi: Any, *, allow_nan: bool) -> tuple[float, ...]:
    values = tuple(_num(f"{where}: {n}", v, allow_nan=True) for n, v in
                   (("estimate", est), ("ci_low", lo), ("ci_high", hi)))
    if allow_nan and all(math.isnan(v) for v in values):
        return values
    if any(math.isnan(v) for v in values):
        raise InputError(f"{where}: estimate, ci_low and ci_high must all be numbers "
                         f"(or all NaN for a row that is not estimable), got {values}")
    e, low, high = values
    tol = 1e-9 * max(1.0, abs(e))
    if not (low <= e + tol and e <= high + tol):
        raise InputError(f"{where}: need ci_low <= estimate <= ci_high, got {low}, {e}, {high}")
    return values


@dataclass(frozen=True, slots=True)
class ForestRow:
    """One study row: label, n text ("25" or "3/25"), estimate with CI, weight in percent."""

    label: str
    n_text: str
    estimate: float
    ci_low: float
    ci_high: float
    weight: float | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        where = f"ForestRow {self.label!r}"
        est, lo, hi = _interval(where, self.estimate, self.ci_low, self.ci_high, allow_nan=True)
        object.__setattr__(self, "estimate", est)
        object.__setattr__(self, "ci_low", lo)
        object.__setattr__(self, "ci_high", hi)
        object.__setattr__(self, "n_text", str(self.n_text))
        if not isinstance(self.label, str):
            raise InputError(f"{where}: label must be a str, got {type(self.label).__name__}")
        if self.weight is not None and _isnan(self.weight):
            object.__setattr__(self, "weight", None)  # NaN weight (e.g. k = 1) = no weight
        if self.weight is not None:
            weight = _num(f"{where}: weight", self.weight)
            if weight < 0:
                raise InputError(f"{where}: weight must be >= 0 (percent), got {weight}")
            object.__setattr__(self, "weight", weight)


@dataclass(frozen=True, slots=True)
class ForestSummary:
    """A pooled estimate drawn as a diamond; PI bar and heterogeneity line when given.

    A NaN prediction interval (k too small) is treated as absent.
    """

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float | None = None
    pi_high: float | None = None
    heterogeneity_text: str | None = None

    def __post_init__(self) -> None:
        where = f"ForestSummary {self.label!r}"
        if not isinstance(self.label, str):
            raise InputError(f"{where}: label must be a str, got {type(self.label).__name__}")
        est, lo, hi = _interval(where, self.estimate, self.ci_low, self.ci_high, allow_nan=False)
        object.__setattr__(self, "estimate", est)
        object.__setattr__(self, "ci_low", lo)
        object.__setattr__(self, "ci_high", hi)
        pis = [None if v is None else _num(f"{where}: pi", v, allow_nan=True)
               for v in (self.pi_low, self.pi_high)]
        if any(v is None or math.isnan(v) for v in pis):
            if any(v is not None and not math.isnan(v) for v in pis):
                raise InputError(f"{where}: give both pi_low and pi_high or neither, got {pis}")
            pis = [None, None]
        elif pis[0] > pis[1]:  # type: ignore[operator]
            raise InputError(f"{where}: need pi_low <= pi_high, got {pis}")
        object.__setattr__(self, "pi_low", pis[0])
        object.__setattr__(self, "pi_high", pis[1])


@dataclass(frozen=True, slots=True)
class ForestBlock:
    """A subgroup: optional header, its study rows, optional pooled summary."""

    title: str | None
    rows: Sequence[ForestRow]
    summary: ForestSummary | None = None

    def __post_init__(self) -> None:
        rows = tuple(self.rows)
        if not rows:
            raise InputError(f"ForestBlock {self.title!r} has no rows; leave the block out")
        for i, row in enumerate(rows):
            if not isinstance(row, ForestRow):
                raise InputError(f"ForestBlock {self.title!r}: rows[{i}] is not a ForestRow")
        object.__setattr__(self, "rows", rows)


@dataclass(frozen=True, slots=True)
class ForestSpec:
    """Everything one forest plot shows, as plain text and numbers.

    ``weight``: percent of the overall analysis when ``overall`` is given (the weights shown
    sum to 100 over the figure), else percent within each block. Rows without a weight are
    left out of that check (e.g. a block shown but not pooled). ``null_value`` is the line of
    no effect (None: no line, e.g. proportions). With ``log_scale`` the values are on the ratio
    scale (e.g. RR) and the axis is logarithmic. ``xlim`` (optional) overrides the automatic
    limits; whiskers beyond the limits end in an arrow.
    """

    title: str | None
    blocks: Sequence[ForestBlock]
    overall: ForestSummary | None = None
    subgroup_test_text: str | None = None
    method_text: str | None = None
    xlabel: str = ""
    favours_left: str | None = None
    favours_right: str | None = None
    effect_label: str = "Estimate [95% CI]"
    n_header: str = "n"
    null_value: float | None = 0.0
    log_scale: bool = False
    footnote_lines: Sequence[str] = ()
    digits: int = 2
    xlim: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        where = f"ForestSpec {self.title!r}"
        if isinstance(self.blocks, ForestBlock):
            raise InputError(f"{where}: blocks must be a sequence of ForestBlock")
        blocks = tuple(self.blocks)
        if not blocks or not any(b.rows for b in blocks):
            raise InputError(f"{where} has no study rows; nothing to plot")
        object.__setattr__(self, "blocks", blocks)
        if isinstance(self.footnote_lines, str):
            raise InputError(f"{where}: footnote_lines must be a list of str, not one str")
        object.__setattr__(self, "footnote_lines", tuple(str(s) for s in self.footnote_lines))
        if not isinstance(self.digits, int) or not 0 <= self.digits <= 6:
            raise InputError(f"{where}: digits must be an int in 0..6, got {self.digits!r}")
        if self.null_value is not None:
            object.__setattr__(self, "null_value", _num(f"{where}: null_value", self.null_value))
        if self.xlim is not None:
            lo, hi = (_num(f"{where}: xlim", v) for v in self.xlim)
            if not lo < hi:
                raise InputError(f"{where}: xlim must be (low, high) with low < high")
            object.__setattr__(self, "xlim", (lo, hi))
        if self.log_scale:
            values = [v for v in _all_values(self) if not math.isnan(v)]
            if min(values) <= 0:
                raise InputError(f"{where}: log_scale needs every estimate, CI, PI, null_value "
                                 f"and xlim value > 0 (ratio scale), got {min(values)}")
        self._check_weights(where, blocks)

    def _check_weights(self, where: str, blocks: tuple[ForestBlock, ...]) -> None:
        groups = [[r for b in blocks for r in b.rows]] if self.overall else [b.rows for b in blocks]
        for rows in groups:
            weights = [r.weight for r in rows if r.weight is not None]
            if weights and abs(sum(weights) - 100.0) > 0.5:
                if self.overall:
                    hint = ("with `overall` given, the rows must carry the overall model's "
                            "weights and every study of the overall model must be a row "
                            "(rows with weight None are skipped)")
                else:
                    hint = "without `overall`, each block's rows carry that block's weights"
                raise InputError(f"{where}: weights are percent and must sum to 100; the rows "
                                 f"carry {sum(weights):.2f}%: {hint}")


def _all_values(spec: ForestSpec) -> list[float]:
    values: list[float] = []
    for block in spec.blocks:
        values += [v for r in block.rows for v in (r.estimate, r.ci_low, r.ci_high)]
    for s in _summaries(spec):
        values += [s.estimate, s.ci_low, s.ci_high]
        values += [v for v in (s.pi_low, s.pi_high) if v is not None]
    values += [v for v in (spec.null_value,) if v is not None]
    values += list(spec.xlim or ())
    return values


def _summaries(spec: ForestSpec) -> list[ForestSummary]:
    found = [b.summary for b in spec.blocks if b.summary is not None]
    return [*found, spec.overall] if spec.overall is not None else found


def _fmt(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _fmt_ci(est: float, lo: float, hi: float, digits: int) -> str:
    if math.isnan(est):
        return NOT_ESTIMABLE
    return f"{_fmt(est, digits)} [{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


# ---------------------------------------------------------------------------------------------
# forest plot

FS = 9.0  # table text
FS_SMALL = 8.0  # PI, heterogeneity, ticks
FS_FOOT = 7.5  # lines under the axis
FS_TITLE = 10.5
ROW_H = 0.2  # inches per table row
FOOT_H = 0.16  # inches per footer line
MARGIN = 0.15
GAP = 0.2  # between text columns
PLOT_GAP = 0.22  # between the plot and the text columns
PLOT_MIN_W = 2.6
SQUARE_MAX_SIDE = 9.0  # points, for the largest weight
SQUARE_MIN_SIDE = 2.0  # points; smaller weights are drawn at this size (still visible)
UNWEIGHTED_SIDE = 4.5
DIAMOND_HALF_H = 0.34  # rows
INK = "#1a1a1a"
SQUARE_COLOR = "#4d4d4d"
PI_COLOR = "#B22222"


@dataclass(frozen=True, slots=True)
class _Line:
    kind: str  # header | title | study | summary | pi | het | blank
    item: Any = None
    weight: float | None = None


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
        return _draw_forest(spec, marker="s", reference=None)


def _table_lines(spec: ForestSpec, het_width: float) -> list[_Line]:
    lines = [_Line("header")]

    def add_summary(summary: ForestSummary, rows: Sequence[ForestRow]) -> None:
        weights = [r.weight for r in rows if r.weight is not None]
        lines.append(_Line("summary", summary, sum(weights) if weights else None))
        if summary.pi_low is not None:
            lines.append(_Line("pi", summary))
        if summary.heterogeneity_text:
            for text in wrap_text(summary.heterogeneity_text, het_width, FS_SMALL):
                lines.append(_Line("het", text))

    for i, block in enumerate(spec.blocks):
        if i:
            lines.append(_Line("blank"))
        if block.title:
            lines += [_Line("title", t) for t in wrap_text(block.title, het_width, FS, "bold")]
        lines += [_Line("study", row, row.weight) for row in block.rows]
        if block.summary is not None:
            add_summary(block.summary, block.rows)
    if spec.overall is not None:
        lines.append(_Line("blank"))
        add_summary(spec.overall, [r for b in spec.blocks for r in b.rows])
    return lines


def _auto_xlim(spec: ForestSpec) -> tuple[tuple[float, float], list[float]]:
    log = spec.log_scale
    f = math.log10 if log else float
    core = [r.estimate for b in spec.blocks for r in b.rows if not math.isnan(r.estimate)]
    for s in _summaries(spec):
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


def _draw_forest(spec: ForestSpec, *, marker: str, reference: float | None) -> Figure:
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Polygon
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    from matplotlib.transforms import blended_transform_factory

    d = spec.digits
    titled = any(b.title for b in spec.blocks)
    indent = 0.12 if titled else 0.0
    rows_all = [r for b in spec.blocks for r in b.rows]
    summaries = _summaries(spec)
    show_weight = any(r.weight is not None for r in rows_all)

    # ---- column widths (inches) from the texts themselves
    # block titles and heterogeneity lines span the row (nothing else is in it); summary and
    # PI labels may run into the n column, which is empty in their rows
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
        + [text_width(s.label, FS, "bold") - (GAP + n_w if n_w else 0.0) for s in summaries]
        + [indent + text_width(PI_LABEL, FS_SMALL, style="italic") - (GAP + n_w if n_w else 0.0)
           for s in summaries if s.pi_low is not None]
    )
    eff_texts = [_fmt_ci(r.estimate, r.ci_low, r.ci_high, d) for r in rows_all]
    eff_w = max(
        [text_width(spec.effect_label, FS, "bold")]
        + [text_width(t, FS) for t in eff_texts]
        + [text_width(_fmt_ci(s.estimate, s.ci_low, s.ci_high, d), FS, "bold") for s in summaries]
    )
    w_w = max(text_width("Weight", FS, "bold"), text_width("100.0%", FS, "bold"))
    x_label = MARGIN
    x_n = x_label + label_w + (GAP + n_w if n_w else 0.0)  # right edge of the n column
    x_plot0 = x_n + PLOT_GAP
    right_cols = PLOT_GAP + eff_w + (GAP + w_w if show_weight else 0.0)

    if spec.xlim is not None:
        xlim = spec.xlim
        ticks = nice_limits(*xlim, log=spec.log_scale)[1]
        ticks = [t for t in ticks if xlim[0] <= t <= xlim[1]]
    else:
        xlim, ticks = _auto_xlim(spec)
    tr = math.log10 if spec.log_scale else float
    anchor = spec.null_value if spec.null_value is not None else None
    frac = (0.5 if anchor is None else
            min(max((tr(anchor) - tr(xlim[0])) / (tr(xlim[1]) - tr(xlim[0])), 0.0), 1.0))
    fav_l = text_width(_favours(spec.favours_left, left=True), FS_SMALL)
    fav_r = text_width(_favours(spec.favours_right, left=False), FS_SMALL)
    plot_w = PLOT_MIN_W
    if frac > 0 and fav_l:
        plot_w = max(plot_w, (MARGIN + 0.08 + fav_l - x_plot0) / frac)
    if frac < 1 and fav_r:
        plot_w = max(plot_w, (fav_r + 0.08 + MARGIN - right_cols) / (1 - frac))
    x_eff = x_plot0 + plot_w + PLOT_GAP + eff_w  # right edge
    x_w = x_eff + GAP + w_w
    fig_w = x_plot0 + plot_w + right_cols + MARGIN
    text_w = fig_w - 2 * MARGIN

    # ---- rows and heights
    lines = _table_lines(spec, text_w - indent)
    n_rows = len(lines)
    title_lines = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot = []
    for text, style in ((spec.subgroup_test_text, "normal"), (spec.method_text, "normal")):
        if text:
            foot += [(t, style) for t in wrap_text(text, text_w, FS_FOOT)]
    for text in spec.footnote_lines:
        foot += [(t, "italic") for t in wrap_text(text, text_w, FS_FOOT, style="italic")]
    top = MARGIN + len(title_lines) * 0.24 + (0.08 if title_lines else 0.0)
    rows_h = n_rows * ROW_H
    has_fav = bool(spec.favours_left or spec.favours_right)
    axis_h = 0.28 + (0.2 if has_fav else 0.0) + (0.22 if spec.xlabel else 0.0)
    foot_h = (0.1 + len(foot) * FOOT_H) if foot else 0.0
    fig_h = top + rows_h + axis_h + foot_h + MARGIN

    fig = Figure(figsize=(fig_w, fig_h))
    ax_bottom = fig_h - top - rows_h
    ax = fig.add_axes((x_plot0 / fig_w, ax_bottom / fig_h, plot_w / fig_w, rows_h / fig_h))
    ax.set_gid("forest-axes")
    ax.set_xscale("log" if spec.log_scale else "linear")
    ax.set_xlim(*xlim)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: tick_label(v)))
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.patch.set_visible(False)

    row_tr = blended_transform_factory(fig.dpi_scale_trans, ax.transData)
    inch = fig.dpi_scale_trans

    def put(x: float, y: float, s: str, *, ha: str = "left", size: float = FS,
            weight: str = "normal", style: str = "normal", color: str = INK,
            transform: Any = row_tr) -> None:
        fig.text(x, y, s, ha=ha, va="center", fontsize=size, fontweight=weight,
                 fontstyle=style, color=color, transform=transform, parse_math=False)

    # ---- header
    put(x_label, 0, "Study", weight="bold")
    if n_w:
        put(x_n, 0, spec.n_header, ha="right", weight="bold")
    put(x_eff, 0, spec.effect_label, ha="right", weight="bold")
    if show_weight:
        put(x_w, 0, "Weight", ha="right", weight="bold")
    fig.add_artist(Line2D([MARGIN, fig_w - MARGIN], [0.5, 0.5], transform=row_tr,
                          color=INK, linewidth=0.6))
    for i, text in enumerate(title_lines):
        put(MARGIN, fig_h - MARGIN - (i + 0.5) * 0.24, text, size=FS_TITLE, weight="bold",
            transform=inch)

    # ---- rows
    w_max = max([r.weight for r in rows_all if r.weight is not None] or [1.0]) or 1.0
    squares: list[tuple[float, float, float]] = []
    points: list[tuple[float, float]] = []
    segments: list[list[tuple[float, float]]] = []
    arrows: list[tuple[float, float, str]] = []

    def whisker(lo: float, hi: float, y: float, sink: list, arrow_sink: list) -> None:
        a, b = max(lo, xlim[0]), min(hi, xlim[1])
        if a < b:
            sink.append([(a, y), (b, y)])
        if lo < xlim[0]:
            arrow_sink.append((xlim[0], y, "<"))
        if hi > xlim[1]:
            arrow_sink.append((xlim[1], y, ">"))

    n_diamond = 0
    pi_segments: list[list[tuple[float, float]]] = []
    pi_arrows: list[tuple[float, float, str]] = []
    for y, line in enumerate(lines):
        if line.kind == "title":
            put(x_label, y, line.item, weight="bold")
        elif line.kind == "study":
            row: ForestRow = line.item
            put(x_label + indent, y, row.label)
            if row.note:
                put(x_label + indent + text_width(row.label, FS) + 0.06, y, row.note,
                    size=FS_SMALL, style="italic", color="#555555")
            if n_w:
                put(x_n, y, row.n_text, ha="right")
            put(x_eff, y, _fmt_ci(row.estimate, row.ci_low, row.ci_high, d), ha="right")
            if row.weight is not None:
                put(x_w, y, f"{row.weight:.1f}%", ha="right")
            if math.isnan(row.estimate):
                continue
            whisker(row.ci_low, row.ci_high, y, segments, arrows)
            if not xlim[0] <= row.estimate <= xlim[1]:
                continue  # the arrow shows the direction; a marker would sit on the text
            if row.weight is not None and marker == "s":
                side = max(SQUARE_MAX_SIDE * math.sqrt(row.weight / w_max), SQUARE_MIN_SIDE)
                squares.append((row.estimate, y, side**2))
            else:
                points.append((row.estimate, y))
        elif line.kind == "summary":
            s: ForestSummary = line.item
            put(x_label, y, s.label, weight="bold")
            put(x_eff, y, _fmt_ci(s.estimate, s.ci_low, s.ci_high, d), ha="right", weight="bold")
            if show_weight and line.weight is not None:
                put(x_w, y, f"{line.weight:.1f}%", ha="right", weight="bold")
            h = DIAMOND_HALF_H
            diamond = Polygon([(s.ci_low, y), (s.estimate, y - h), (s.ci_high, y),
                               (s.estimate, y + h)], closed=True, facecolor=INK,
                              edgecolor=INK, linewidth=0.6, zorder=4)
            diamond.set_gid(f"diamond-{n_diamond}")
            n_diamond += 1
            ax.add_patch(diamond)
        elif line.kind == "pi":
            s = line.item
            put(x_label + indent, y, PI_LABEL, size=FS_SMALL, style="italic")
            put(x_eff, y, f"[{_fmt(s.pi_low, d)}, {_fmt(s.pi_high, d)}]", ha="right",
                size=FS_SMALL, style="italic")
            whisker(s.pi_low, s.pi_high, y, pi_segments, pi_arrows)
        elif line.kind == "het":
            put(x_label + indent, y, line.item, size=FS_SMALL, color="#333333")

    if segments:
        ax.add_collection(LineCollection(segments, colors=INK, linewidths=0.9, zorder=2,
                                         gid="forest-ci"))
    if pi_segments:
        pi = LineCollection(pi_segments, colors=PI_COLOR, linewidths=1.6, zorder=2,
                            gid="prediction-interval")
        ax.add_collection(pi)
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

    # ---- reference lines: one per block, not across gaps, heterogeneity or long titles
    het_blocks = {y for y, line in enumerate(lines)
                  if line.kind in ("het", "blank")
                  or (line.kind == "title"
                      and x_label + text_width(line.item, FS, "bold") > x_plot0 - 0.05)}
    runs: list[tuple[int, int]] = []
    for y in range(1, n_rows):
        if y in het_blocks:
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

    # ---- under the axis: favours, x label, footer
    y_fav = ax_bottom - 0.28 - 0.09
    if has_fav:
        x_null_in = x_plot0 + frac * plot_w
        fav_tr = blended_transform_factory(inch, inch)
        if spec.favours_left:
            put(max(x_null_in - 0.08, MARGIN + fav_l), y_fav,
                _favours(spec.favours_left, left=True), ha="right", size=FS_SMALL,
                transform=fav_tr)
        if spec.favours_right:
            put(min(x_null_in + 0.08, fig_w - MARGIN - fav_r), y_fav,
                _favours(spec.favours_right, left=False), size=FS_SMALL, transform=fav_tr)
    if spec.xlabel:
        y_xl = ax_bottom - 0.28 - (0.2 if has_fav else 0.0) - 0.11
        put(x_plot0 + plot_w / 2, y_xl, spec.xlabel, ha="center", transform=inch)
    y0 = ax_bottom - axis_h - 0.1
    for i, (text, style) in enumerate(foot):
        put(MARGIN, y0 - (i + 0.5) * FOOT_H, text, size=FS_FOOT, style=style, transform=inch)
    return fig


def _favours(text: str | None, *, left: bool) -> str:
    if not text:
        return ""
    return f"\u2190 {text}" if left else f"{text} \u2192"


# ---------------------------------------------------------------------------------------------
# leave-one-out


def leave_one_out_plot(
    loo: pd.DataFrame,
    overall: ForestSummary,
    *,
    xlabel: str = "",
    title: str | None = None,
    effect_label: str = "Estimate [95% CI]",
    null_value: float | None = 0.0,
    log_scale: bool = False,
    digits: int = 2,
    method_text: str | None = None,
    footnote_lines: Sequence[str] = (),
) -> Figure:
    """Pooled estimate with each study left out in turn (Viechtbauer & Cheung 2010).

    ``loo`` has one row per omitted study with columns ``label, estimate, ci_low, ci_high``
    and, optionally, ``i2`` (percent) shown as a column. ``overall`` is the fit on all studies,
    drawn as a diamond with a dashed reference line through its estimate.
    """
    _require_columns("leave_one_out_plot: loo", loo, ("label", "estimate", "ci_low", "ci_high"))
    if not isinstance(overall, ForestSummary):
        raise InputError("leave_one_out_plot: overall must be a ForestSummary")
    has_i2 = "i2" in loo.columns
    rows = [
        ForestRow(f"Omitting {rec['label']}",
                  f"{_num(f'loo row {i}: i2', rec['i2'], allow_nan=True):.0f}%"
                  if has_i2 and not _isnan(rec["i2"]) else "",
                  rec["estimate"], rec["ci_low"], rec["ci_high"])
        for i, rec in enumerate(loo.to_dict("records"))
    ]
    if not rows:
        raise InputError("leave_one_out_plot: loo has no rows; nothing to plot")
    spec = ForestSpec(
        title=title, blocks=[ForestBlock(None, rows, overall)], method_text=method_text,
        xlabel=xlabel, effect_label=effect_label, n_header="I²" if has_i2 else "",
        null_value=null_value, log_scale=log_scale, footnote_lines=footnote_lines,
        digits=digits,
    )
    with style_context():
        return _draw_forest(spec, marker="o", reference=overall.estimate)


def _isnan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _require_columns(where: str, frame: Any, columns: Sequence[str]) -> None:
    present = getattr(frame, "columns", None)
    if present is None:
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; needs {list(columns)}")


def _title(fig: Figure, title: str) -> None:
    """Bold figure title, wrapped to the figure width, left-aligned."""
    width = fig.get_size_inches()[0]
    lines = wrap_text(str(title), width - 2 * MARGIN, FS_TITLE, "bold")
    fig.suptitle("\n".join(lines), x=MARGIN / width, ha="left", fontsize=FS_TITLE,
                 fontweight="bold", parse_math=False)


def _footer(fig: Figure, lines: Sequence[str], reserve: float = 0.0) -> float:
    """Footnote lines under a constrained-layout figure, in a band kept free of the axes.

    The figure grows by the band's height, so the axes keep their size however many lines
    there are. ``reserve`` inches above the footnotes are kept free too (for a legend).
    Returns the height of the footnote band as a figure fraction.
    """
    if isinstance(lines, str):
        raise InputError("footnote_lines must be a list of str, not one str")
    width, height = fig.get_size_inches()
    wrapped = [w for line in lines if str(line).strip()
               for w in wrap_text(str(line), width - 2 * MARGIN, FS_FOOT, style="italic")]
    band_in = (len(wrapped) * FOOT_H + 0.12) if wrapped else 0.0
    if not band_in and not reserve:
        return 0.0
    height += band_in + reserve
    fig.set_size_inches(width, height)
    total = (band_in + reserve) / height
    fig.get_layout_engine().set(rect=(0.0, total, 1.0, 1.0 - total))
    for i, text in enumerate(wrapped):
        fig.text(MARGIN / width, (0.06 + (len(wrapped) - i - 0.5) * FOOT_H) / height, text,
                 va="center", fontsize=FS_FOOT, fontstyle="italic", color=INK,
                 parse_math=False)
    return band_in / height


# ---------------------------------------------------------------------------------------------
# leakage summary


def leakage_summary_plot(
    pooled: pd.DataFrame,
    studies: pd.DataFrame,
    *,
    units: Sequence[str] | None = None,
    subgroup_order: Sequence[str] | None = None,
    unit_titles: Mapping[str, str] | None = None,
    title: str | None = None,
    ylabel: str = "Cement leakage rate",
    percent: bool = True,
    footnote_lines: Sequence[str] = (),
) -> Figure:
    """Pooled leakage rates by lesion type, one panel per unit (vertebra, patient).

    Each subgroup shows its studies' rates with Clopper-Pearson (1934) 95% CIs drawn light and
    spread left to right in input order, and beside them the pooled rate with its CI (thick)
    and prediction interval (thin). Units are never mixed: each has its own panel.

    ``pooled`` columns: unit, subgroup, estimate, ci_low, ci_high, pi_low, pi_high, k
    (proportions in [0, 1]; PI may be NaN). ``studies`` columns: unit, subgroup, label,
    proportion, ci_low, ci_high.
    """
    _require_columns("leakage_summary_plot: pooled", pooled,
                     ("unit", "subgroup", "estimate", "ci_low", "ci_high", "pi_low",
                      "pi_high", "k"))
    _require_columns("leakage_summary_plot: studies", studies,
                     ("unit", "subgroup", "label", "proportion", "ci_low", "ci_high"))
    prow = pooled.to_dict("records")
    srow = studies.to_dict("records")
    for name, recs, cols in (("pooled", prow, ("estimate", "ci_low", "ci_high")),
                             ("studies", srow, ("proportion", "ci_low", "ci_high"))):
        for i, rec in enumerate(recs):
            where = f"leakage_summary_plot: {name} row {i}"
            _interval(where, *(rec[c] for c in cols), allow_nan=False)
            for c in (*cols, "pi_low", "pi_high"):
                if c in rec and not _isnan(rec[c]) and not 0 <= float(rec[c]) <= 1:
                    raise InputError(f"{where}: {c} must be a proportion in [0, 1], got {rec[c]}")
    if not prow and not srow:
        raise InputError("leakage_summary_plot: no pooled and no study rows; nothing to plot")
    seen_units = list(dict.fromkeys([r["unit"] for r in prow] + [r["unit"] for r in srow]))
    units = list(units) if units is not None else seen_units
    seen_groups = list(dict.fromkeys([r["subgroup"] for r in prow] + [r["subgroup"] for r in srow]))
    order = list(subgroup_order) if subgroup_order is not None else seen_groups
    titles = {"vertebra": "Per vertebra", "patient": "Per patient", **(unit_titles or {})}
    scale = 100.0 if percent else 1.0

    with style_context():
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        n_cols = max(len([g for g in order if any(r["subgroup"] == g for r in prow + srow
                                                  if r["unit"] == u)]) for u in units)
        fig = Figure(figsize=(max(3.2, 1.45 * n_cols) * len(units) + 0.6, 4.6),
                     layout="constrained")
        axes = fig.subplots(1, len(units), sharey=True, squeeze=False)[0]
        for ax, unit in zip(axes, units, strict=True):
            groups = [g for g in order if any(r["subgroup"] == g and r["unit"] == unit
                                              for r in prow + srow)]
            ticklabels = []
            for x, group in enumerate(groups):
                st = [r for r in srow if r["unit"] == unit and r["subgroup"] == group]
                offsets = np.linspace(-0.38, -0.08, len(st)) if len(st) > 1 else [-0.23]
                for off, r in zip(offsets, st, strict=True):
                    ax.plot([x + off] * 2, [r["ci_low"] * scale, r["ci_high"] * scale],
                            color="#b3b3b3", linewidth=0.9, zorder=1)
                    ax.plot([x + off], [r["proportion"] * scale], "o", markersize=3.5,
                            color="#8c8c8c", zorder=2)
                pr = [r for r in prow if r["unit"] == unit and r["subgroup"] == group]
                label = f"{group}\n"
                if pr:
                    p = pr[0]
                    xp = x + 0.18
                    if not _isnan(p["pi_low"]) and not _isnan(p["pi_high"]):
                        ax.plot([xp] * 2, [p["pi_low"] * scale, p["pi_high"] * scale],
                                color=PI_COLOR, linewidth=1.0, zorder=3)
                    ax.plot([xp] * 2, [p["ci_low"] * scale, p["ci_high"] * scale],
                            color=INK, linewidth=3.2, solid_capstyle="butt", zorder=4)
                    ax.plot([xp], [p["estimate"] * scale], "D", markersize=5.5,
                            markerfacecolor="white", markeredgecolor=INK, zorder=5)
                    u, dg = ("%", 0) if percent else ("", 2)
                    est, lo, hi = (p[c] * scale for c in ("estimate", "ci_low", "ci_high"))
                    label += (f"k = {int(_num('pooled k', p['k']))}\n"
                              f"{est:.{dg}f}{u} [{lo:.{dg}f}, {hi:.{dg}f}]")
                else:
                    label += f"k = {len(st)}\nnot pooled"
                ticklabels.append(label)
            ax.set_xticks(range(len(groups)), ticklabels, fontsize=7.5, parse_math=False)
            ax.set_xlim(-0.6, len(groups) - 0.4)
            ax.set_title(titles.get(unit, str(unit).capitalize()), loc="left", parse_math=False)
            ax.set_ylim(0, 1.0 * scale)
            ax.grid(axis="y", color="#e6e6e6", linewidth=0.6)
            ax.set_axisbelow(True)
            for side in ("right", "top"):
                ax.spines[side].set_visible(False)
        axes[0].set_ylabel(f"{ylabel} ({'%' if percent else 'proportion'})", parse_math=False)
        handles = [
            Line2D([], [], color="#8c8c8c", marker="o", markersize=3.5, linewidth=0.9,
                   markeredgecolor="#8c8c8c", label="Study (Clopper-Pearson 95% CI)"),
            Line2D([], [], color=INK, marker="D", markerfacecolor="white", markersize=5.5,
                   linewidth=3.2, label="Pooled (95% CI)"),
            Line2D([], [], color=PI_COLOR, linewidth=1.0, label="95% prediction interval"),
        ]
        if title:
            _title(fig, title)
        band = _footer(fig, footnote_lines, reserve=0.3)
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, band), ncols=3)
    return fig


# ---------------------------------------------------------------------------------------------
# sensitivity to the assumed pre/post correlation


def sensitivity_plot(
    r_values: Sequence[float],
    estimates: Sequence[float],
    ci_low: Sequence[float],
    ci_high: Sequence[float],
    *,
    groups: Sequence[str] | None = None,
    reference_r: float | None = 0.5,
    null_value: float | None = 0.0,
    xlabel: str = "Assumed pre/post correlation r",
    ylabel: str = "Pooled change",
    title: str | None = None,
    footnote_lines: Sequence[str] = (),
) -> Figure:
    """Pooled estimate and 95% CI against the assumed pre/post correlation, one line per group.

    Long form: element i is the fit of group ``groups[i]`` at ``r_values[i]``. The primary
    analysis' correlation is marked by a dashed line at ``reference_r``.
    """
    r = _vector("r_values", r_values)
    n = r.size
    est, lo, hi = (_vector(name, v, n) for name, v in
                   (("estimates", estimates), ("ci_low", ci_low), ("ci_high", ci_high)))
    for i in range(n):
        _interval(f"sensitivity_plot: position {i}", est[i], lo[i], hi[i], allow_nan=False)
    if np.any((r < -1) | (r > 1)):
        raise InputError("sensitivity_plot: r_values must lie in [-1, 1]")
    labels = [""] * n if groups is None else [str(g) for g in groups]
    if len(labels) != n:
        raise InputError(f"sensitivity_plot: groups has {len(labels)} values, r_values {n}")
    names = list(dict.fromkeys(labels))
    with style_context():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.6, 3.8), layout="constrained")
        ax = fig.add_subplot()
        dodge = 0.006 * (np.arange(len(names)) - (len(names) - 1) / 2)
        for j, name in enumerate(names):
            idx = np.array([i for i in range(n) if labels[i] == name])
            idx = idx[np.argsort(r[idx], kind="stable")]
            x = r[idx] + dodge[j]
            color = PALETTE[j % len(PALETTE)]
            ax.errorbar(x, est[idx], yerr=[est[idx] - lo[idx], hi[idx] - est[idx]],
                        color=color, marker="os^vDP"[j % 6], markersize=4, linewidth=1.2,
                        elinewidth=0.9, capsize=2, label=name or None)
        if reference_r is not None:
            ax.axvline(reference_r, color="#666666", linewidth=0.8, linestyle=(0, (3, 2)),
                       label=f"primary analysis (r = {reference_r:g})")
        low, high = ax.get_ylim()
        if null_value is not None and low <= null_value <= high:  # never stretch the axis to 0
            ax.axhline(null_value, color=INK, linewidth=0.7)
        ax.set_xlabel(xlabel, parse_math=False)
        ax.set_ylabel(ylabel, parse_math=False)
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
        if title:
            _title(fig, title)
        entries = len([n for n in names if n]) + (reference_r is not None)
        ncols = min(entries, 3) or 1
        reserve = (0.2 * math.ceil(entries / ncols) + 0.1) if entries else 0.0
        band = _footer(fig, footnote_lines, reserve=reserve)
        if entries:
            fig.legend(loc="lower center", bbox_to_anchor=(0.5, band), ncols=ncols)
    return fig


def _vector(name: str, values: Any, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name}: expected a non-empty 1-D sequence, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise InputError(f"{name}: has {arr.size} values, expected {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"{name}: value at position {int(bad[0])} is not finite")
    return arr


# ---------------------------------------------------------------------------------------------
# funnel plot

# (p, colour of the band from this contour outward to the next, legend text)
_CONTOURS = ((0.10, "#bdbdbd", "0.05 < p < 0.10"), (0.05, "#d9d9d9", "0.01 < p < 0.05"),
             (0.01, "#f0f0f0", "p < 0.01"))


def funnel_plot(
    yi: Sequence[float],
    sei: Sequence[float],
    estimate: float,
    *,
    labels: Sequence[str] | None = None,
    level: float = 0.95,
    contour_null: float | None = None,
    xlabel: str = "Effect size",
    ylabel: str = "Standard error",
    title: str | None = None,
    footnote_lines: Sequence[str] = (),
) -> Figure:
    """Funnel plot: effect against its standard error (axis inverted), Sterne & Egger (2001).

    Dashed lines give the pseudo ``level`` confidence region ``estimate ± z·se``. With
    ``contour_null`` the areas where a study would be significant at p < 0.10 / 0.05 / 0.01
    around that null value are shaded (contour-enhanced funnel, Peters et al. 2008).
    ``labels`` names each point.
    """
    from scipy.stats import norm

    y = _vector("yi", yi)
    se = _vector("sei", sei, y.size)
    if np.any(se <= 0):
        raise InputError(f"sei: position {int(np.flatnonzero(se <= 0)[0])} is not > 0")
    est = _num("estimate", estimate)
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if labels is not None and len(labels) != y.size:
        raise InputError(f"labels: has {len(labels)} values, expected {y.size}")
    se_max = float(se.max()) * 1.1
    grid = np.array([0.0, se_max])
    z = float(norm.ppf(0.5 + level / 2))
    with style_context():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
        spread = max(np.abs(y - est).max(), z * se_max) * 1.15
        if contour_null is not None:
            c = _num("contour_null", contour_null)
            spread = max(spread, np.abs(y - c).max() * 1.15, abs(est - c) + z * se_max)
            outer = abs(c - est) + spread * 2
            for p, color, text in _CONTOURS:
                zc = float(norm.ppf(1 - p / 2))
                for sign in (-1, 1):
                    xs = [c + sign * zc * 0.0, c + sign * zc * se_max, c + sign * outer,
                          c + sign * outer]
                    ax.fill(xs, [0.0, se_max, se_max, 0.0], color=color, linewidth=0,
                            zorder=0, label=text if sign > 0 else None)
            ax.axvline(c, color="#888888", linewidth=0.7, zorder=1)
        ax.plot(est - z * grid, grid, color=INK, linestyle=(0, (4, 2)), linewidth=0.8)
        ax.plot(est + z * grid, grid, color=INK, linestyle=(0, (4, 2)), linewidth=0.8,
                label=f"pseudo {level:.0%} CI")
        ax.axvline(est, color=INK, linewidth=0.9, label="pooled estimate")
        ax.scatter(y, se, s=22, color=PALETTE[0], edgecolors="white", linewidths=0.5, zorder=3)
        if labels is not None:
            for xi, si, text in zip(y, se, labels, strict=True):
                ax.annotate(str(text), (xi, si), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=7, parse_math=False)
        ax.set_xlim(est - spread, est + spread)
        ax.set_ylim(se_max, 0.0)
        ax.set_xlabel(xlabel, parse_math=False)
        ax.set_ylabel(ylabel, parse_math=False)
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
        fig.legend(loc="outside right upper")
        if title:
            _title(fig, title)
        _footer(fig, footnote_lines)
    return fig
