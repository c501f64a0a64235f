"""Diagnostic figures: leave-one-out, cumulative forest, sensitivity to the pre/post
correlation, funnel plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ._common import (
    INK,
    add_footer,
    add_title,
    check_interval,
    check_number,
    check_vector,
    is_nan,
    require_columns,
)
from .forest import draw_forest
from .forest_spec import ForestBlock, ForestRow, ForestSpec, ForestSummary
from .io import PALETTE, style_context

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["cumulative_forest_plot", "funnel_plot", "leave_one_out_plot", "sensitivity_plot"]


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
    require_columns("leave_one_out_plot: loo", loo, ("label", "estimate", "ci_low", "ci_high"))
    if not isinstance(overall, ForestSummary):
        raise InputError("leave_one_out_plot: overall must be a ForestSummary")
    has_i2 = "i2" in loo.columns
    rows = [
        ForestRow(f"Omitting {rec['label']}",
                  f"{check_number(f'loo row {i}: i2', rec['i2'], allow_nan=True):.0f}%"
                  if has_i2 and not is_nan(rec["i2"]) else "",
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
        return draw_forest(spec, marker="o", reference=overall.estimate)


def cumulative_forest_plot(
    cum: pd.DataFrame,
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
    """Cumulative meta-analysis: the pooled estimate as each study is added (Lau et al. 1992).

    ``cum`` has one row per step, in the order the studies were added, with columns ``label``
    (the study added), ``estimate, ci_low, ci_high`` (the fit of the studies so far) and,
    optionally, ``k`` (studies so far, shown as a column) and ``i2`` (percent, shown after the
    label). Rows read "Adding <study>"; the last step, the fit of all studies, is the diamond.
    """
    require_columns("cumulative_forest_plot: cum", cum, ("label", "estimate", "ci_low",
                                                          "ci_high"))
    records = cum.to_dict("records")
    if not records:
        raise InputError("cumulative_forest_plot: cum has no rows; nothing to plot")
    has_k, has_i2 = "k" in cum.columns, "i2" in cum.columns

    def k_text(i: int, rec: dict) -> str:
        if not has_k or is_nan(rec["k"]):
            return ""
        k = check_number(f"cum row {i}: k", rec["k"])
        if k < 1 or k != int(k):
            raise InputError(f"cumulative_forest_plot: cum row {i}: k must be a whole number "
                             f">= 1, got {rec['k']!r}")
        return f"{int(k)}"

    def i2_text(i: int, rec: dict) -> str | None:
        if not has_i2 or is_nan(rec["i2"]):
            return None
        return f"I² = {check_number(f'cum row {i}: i2', rec['i2']):.0f}%"

    rows = [ForestRow(f"Adding {rec['label']}", k_text(i, rec), rec["estimate"], rec["ci_low"],
                      rec["ci_high"], note=i2_text(i, rec))
            for i, rec in enumerate(records[:-1])]
    last = records[-1]
    n_last = k_text(len(records) - 1, last)
    final = ForestSummary(
        f"Adding {last['label']}" + (f" (all {n_last} studies)" if n_last else ""),
        last["estimate"], last["ci_low"], last["ci_high"],
        heterogeneity_text=i2_text(len(records) - 1, last))
    spec = ForestSpec(
        title=title, blocks=[ForestBlock(None, rows, final)] if rows else
        [ForestBlock(None, [ForestRow(f"Adding {last['label']}", n_last, last["estimate"],
                                      last["ci_low"], last["ci_high"])])],
        method_text=method_text, xlabel=xlabel, effect_label=effect_label,
        n_header="k" if has_k else "", null_value=null_value, log_scale=log_scale,
        footnote_lines=footnote_lines, digits=digits,
    )
    with style_context():
        return draw_forest(spec, marker="o", reference=None)


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
    r = check_vector("r_values", r_values)
    n = r.size
    est, lo, hi = (check_vector(name, v, n) for name, v in
                   (("estimates", estimates), ("ci_low", ci_low), ("ci_high", ci_high)))
    for i in range(n):
        check_interval(f"sensitivity_plot: position {i}", est[i], lo[i], hi[i], allow_nan=False)
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
            add_title(fig, title)
        entries = len([n for n in names if n]) + (reference_r is not None)
        ncols = min(entries, 3) or 1
        reserve = (0.2 * math.ceil(entries / ncols) + 0.1) if entries else 0.0
        band = add_footer(fig, footnote_lines, reserve=reserve)
        if entries:
            fig.legend(loc="lower center", bbox_to_anchor=(0.5, band), ncols=ncols)
    return fig


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
    from scipy.special import ndtri

    y = check_vector("yi", yi)
    se = check_vector("sei", sei, y.size)
    if np.any(se <= 0):
        raise InputError(f"sei: position {int(np.flatnonzero(se <= 0)[0])} is not > 0")
    est = check_number("estimate", estimate)
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if labels is not None and len(labels) != y.size:
        raise InputError(f"labels: has {len(labels)} values, expected {y.size}")
    se_max = float(se.max()) * 1.1
    grid = np.array([0.0, se_max])
    z = float(ndtri(0.5 + level / 2))
    with style_context():
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
        spread = max(np.abs(y - est).max(), z * se_max) * 1.15
        if contour_null is not None:
            c = check_number("contour_null", contour_null)
            spread = max(spread, np.abs(y - c).max() * 1.15, abs(est - c) + z * se_max)
            outer = abs(c - est) + spread * 2
            for p, color, text in _CONTOURS:
                zc = float(ndtri(1 - p / 2))
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
            add_title(fig, title)
        add_footer(fig, footnote_lines)
    return fig
