"""Baujat plot (Baujat et al. 2002, Stat Med 21:2641): which studies drive heterogeneity and
the pooled result.

x is each study's contribution to the overall Q statistic, y its influence on the pooled
estimate (the squared standardised difference of the estimate with and without the study);
metafor's ``baujat()`` computes both. Studies far right add heterogeneity, studies high up move
the result. Every point is labelled; labels are placed around their point where they overlap no
other label or point (measured in inches, so placement does not depend on the renderer), and
joined to the point by a thin line when they had to move further out.

Examples
--------
>>> fig = baujat_plot([0.2, 3.1, 0.7], [0.05, 1.4, 0.3], ["A 2010", "B 2012", "C 2015"])
>>> [t.get_text() for t in fig.axes[0].texts]
['B 2012', 'C 2015', 'A 2010']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ._common import FOOT_H, FS_FOOT, FS_TITLE, INK, MARGIN, check_vector
from .io import PALETTE, nice_limits, style_context, text_width, tick_label, wrap_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["baujat_plot"]

FS_LABEL = 7.5
AX_W, AX_H = 4.6, 3.3  # inches
LEFT, BOTTOM, RIGHT = 0.75, 0.6, 0.3
POINT_R = 3.5 / 72  # inches: half the marker plus a little air
# directions tried around a point, right and left first (labels read best beside a point)
_ANGLES = tuple(math.radians(a) for a in (0, 180, 20, 160, -20, -160, 45, 135, -45, -135,
                                          70, 110, -70, -110, 90, -90))
LEADER_FROM = 0.06  # inches: labels moved further out are joined to their point
MAX_REACH = 0.45  # inches: a name that must move further means the points are numbered
MAX_REACH_NUMBERS = 1.2  # inches: numbers may move further (their leader lines stay short)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in inches within the axes


def baujat_plot(
    q_contribution: Sequence[float],
    influence: Sequence[float],
    labels: Sequence[str],
    *,
    xlabel: str = "Contribution to overall heterogeneity (Q)",
    ylabel: str = "Influence on the pooled result",
    title: str | None = None,
    footnote_lines: Sequence[str] = (),
    label_style: str = "auto",
) -> Figure:
    """Each study's contribution to Q (x) against its influence on the pooled estimate (y):
    the plot of Baujat et al. (2002), as metafor's ``baujat``.

    Both must be finite and >= 0, one value per label. Axes start at 0 and end on round
    numbers; the figure is 5.65 in wide with the axes 4.6 x 3.3 in. ``label_style``: "names"
    writes each label by its point, "numbers" writes 1, 2, ... (input order) with the key in
    the footnotes, "auto" uses names when every name finds a free spot near its point.
    """
    x = check_vector("q_contribution", q_contribution)
    y = check_vector("influence", influence, x.size)
    for name, arr in (("q_contribution", x), ("influence", y)):
        if np.any(arr < 0):
            raise InputError(f"{name}: position {int(np.flatnonzero(arr < 0)[0])} is < 0; "
                             "contributions and influences are squares")
    if isinstance(labels, str) or len(labels) != x.size:
        raise InputError(f"labels: expected {x.size} labels (one per study)")
    names = [str(v) for v in labels]
    if label_style not in ("auto", "names", "numbers"):
        raise InputError(f"label_style must be 'auto', 'names' or 'numbers', got "
                         f"{label_style!r}")
    numbered = label_style == "numbers" or (label_style == "auto"
                                            and not label_fits(x, y, names))
    shown = [str(i + 1) for i in range(len(names))] if numbered else names
    if numbered:
        key = "Points: " + "; ".join(f"{i + 1} {n}" for i, n in enumerate(names)) + "."
        footnote_lines = [key, *footnote_lines]
    width = MARGIN + LEFT + AX_W + RIGHT
    text_w = width - 2 * MARGIN
    title_lines = wrap_text(title, text_w, FS_TITLE, "bold") if title else []
    foot = [w for line in footnote_lines if str(line).strip()
            for w in wrap_text(str(line), text_w, FS_FOOT, style="italic")]
    top = MARGIN + len(title_lines) * 0.24 + 0.1
    foot_h = (0.05 + len(foot) * FOOT_H) if foot else 0.0
    height = top + AX_H + BOTTOM + foot_h + MARGIN
    (x0, x1), xticks = _limits(x)
    (y0, y1), yticks = _limits(y)
    with style_context():
        from matplotlib.figure import Figure
        from matplotlib.ticker import FixedLocator, FuncFormatter

        fig = Figure(figsize=(width, height))
        ax = fig.add_axes(((MARGIN + LEFT) / width, (height - top - AX_H) / height,
                           AX_W / width, AX_H / height))
        ax.set_gid("baujat-axes")
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        for axis, ticks in ((ax.xaxis, xticks), (ax.yaxis, yticks)):
            axis.set_major_locator(FixedLocator(ticks))
            axis.set_major_formatter(FuncFormatter(lambda v, _p: tick_label(v)))
        for side in ("right", "top"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel(xlabel, parse_math=False)
        ax.set_ylabel(ylabel, parse_math=False)
        ax.scatter(x, y, s=28, color=PALETTE[0], edgecolors="white", linewidths=0.6,
                   zorder=3, clip_on=False, gid="baujat-points")
        sx, sy = AX_W / (x1 - x0), AX_H / (y1 - y0)  # data -> inches
        _label_points(ax, x, y, shown, sx, sy, x0, y0, numbered)
        for i, line in enumerate(title_lines):
            fig.text(MARGIN / width, 1 - (MARGIN + (i + 0.5) * 0.24) / height, line,
                     fontsize=FS_TITLE, fontweight="bold", va="center", parse_math=False)
        for i, line in enumerate(foot):
            fig.text(MARGIN / width, (MARGIN + foot_h - 0.05 - (i + 0.5) * FOOT_H) / height,
                     line, fontsize=FS_FOOT, fontstyle="italic", va="center", color=INK,
                     parse_math=False)
    return fig


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _layout_labels(px: np.ndarray, py: np.ndarray, names: list[str], order: list[int],
                   max_reach: float) -> list[tuple[float, float, float]] | None:
    """(centre x, centre y, distance moved) of each label in inches, or None when a label
    finds no free spot within ``max_reach`` inches."""
    points = [(a - POINT_R, b - POINT_R, a + POINT_R, b + POINT_R)
              for a, b in zip(px, py, strict=True)]
    placed: list[Box] = []
    spots: dict[int, tuple[float, float, float]] = {}
    h = FS_LABEL / 72 * 1.25
    for i in order:
        w = text_width(names[i], FS_LABEL)
        others = [p for j, p in enumerate(points) if j != i]
        spot = _free_spot(px[i], py[i], w, h, placed, others, max_reach)
        if spot is None:
            return None
        spots[i] = spot
        placed.append((spot[0] - w / 2, spot[1] - h / 2, spot[0] + w / 2, spot[1] + h / 2))
    return [spots[i] for i in range(len(names))]


def _free_spot(px: float, py: float, w: float, h: float, labels: list[Box],
               points: list[Box], max_reach: float) -> tuple[float, float, float] | None:
    for reach in np.arange(0.0, max_reach + 1e-9, 0.03):
        for angle in _ANGLES:
            dx, dy = math.cos(angle), math.sin(angle)
            d = POINT_R + 0.03 + reach
            cx, cy = px + dx * (d + w / 2), py + dy * (d + h / 2)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            inside = (box[0] >= 0.02 and box[2] <= AX_W + RIGHT - 0.05 and box[1] >= 0.03
                      and box[3] <= AX_H + 0.15)
            if not inside or any(_overlaps(box, b) for b in labels + points):
                continue
            if reach > LEADER_FROM and _crosses(px, py, cx, cy, labels):
                continue
            return cx, cy, float(reach)
    return None


def _crosses(x0: float, y0: float, x1: float, y1: float, boxes: list[Box]) -> bool:
    """Does the leader from the point to the label centre run through a placed label?"""
    for t in np.linspace(0.15, 0.85, 12):
        x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        if any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes):
            return True
    return False


def _label_points(ax: Any, x: np.ndarray, y: np.ndarray, names: list[str], sx: float,
                  sy: float, x0: float, y0: float, numbered: bool) -> None:
    """Place each label (most influential first) at the nearest free spot around its point.

    Candidates lie on rays in 16 directions (right and left first) at growing distance; a spot
    is free when its box stays inside the axes, hits no placed label or point and its leader
    line crosses no label. Labels moved more than a short step get a thin leader line.
    """
    px, py = (x - x0) * sx, (y - y0) * sy  # inches inside the axes
    order = sorted(range(len(names)), key=lambda i: (-y[i], -x[i], i))
    spots = _layout_labels(px, py, names, order,
                           MAX_REACH_NUMBERS if numbered else MAX_REACH)
    if spots is None:  # even numbers find no room: beside the point, overlapping if it must
        spots = [(a + POINT_R + 0.03 + text_width(n, FS_LABEL) / 2, b, 0.0)
                 for a, b, n in zip(px, py, names, strict=True)]
    leader = dict(arrowstyle="-", color="#888888", linewidth=0.5, shrinkA=0.5, shrinkB=3.5)
    for i in order:
        cx, cy, reach = spots[i]
        ax.annotate(names[i], (x[i], y[i]), xytext=(x0 + cx / sx, y0 + cy / sy),
                    textcoords="data", ha="center", va="center", fontsize=FS_LABEL,
                    color=INK, annotation_clip=False, parse_math=False,
                    fontweight="bold" if numbered else "normal",
                    arrowprops=leader if reach > LEADER_FROM else None,
                    gid=f"baujat-label-{i}")


def label_fits(x: np.ndarray, y: np.ndarray, names: list[str]) -> bool:
    """Whether every name finds a free spot (else the plot numbers its points)."""
    (x0, x1), _ = _limits(x)
    (y0, y1), _ = _limits(y)
    px, py = (x - x0) * AX_W / (x1 - x0), (y - y0) * AX_H / (y1 - y0)
    order = sorted(range(len(names)), key=lambda i: (-y[i], -x[i], i))
    return _layout_labels(px, py, names, order, MAX_REACH) is not None


def _limits(v: np.ndarray) -> tuple[tuple[float, float], list[float]]:
    return nice_limits(0.0, max(float(v.max()), 1e-12) * 1.08, log=False)
