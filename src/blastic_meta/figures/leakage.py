"""Leakage summary: pooled rates by lesion type beside their studies, one panel per unit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ._common import (
    INK,
    PI_COLOR,
    add_footer,
    add_title,
    check_interval,
    check_number,
    is_nan,
    require_columns,
)
from .io import style_context

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["leakage_summary_plot"]


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
    require_columns("leakage_summary_plot: pooled", pooled,
                     ("unit", "subgroup", "estimate", "ci_low", "ci_high", "pi_low",
                      "pi_high", "k"))
    require_columns("leakage_summary_plot: studies", studies,
                     ("unit", "subgroup", "label", "proportion", "ci_low", "ci_high"))
    prow = pooled.to_dict("records")
    srow = studies.to_dict("records")
    for name, recs, cols in (("pooled", prow, ("estimate", "ci_low", "ci_high")),
                             ("studies", srow, ("proportion", "ci_low", "ci_high"))):
        for i, rec in enumerate(recs):
            where = f"leakage_summary_plot: {name} row {i}"
            check_interval(where, *(rec[c] for c in cols), allow_nan=False)
            for c in (*cols, "pi_low", "pi_high"):
                if c in rec and not is_nan(rec[c]) and not 0 <= float(rec[c]) <= 1:
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
                    if not is_nan(p["pi_low"]) and not is_nan(p["pi_high"]):
                        ax.plot([xp] * 2, [p["pi_low"] * scale, p["pi_high"] * scale],
                                color=PI_COLOR, linewidth=1.0, zorder=3)
                    ax.plot([xp] * 2, [p["ci_low"] * scale, p["ci_high"] * scale],
                            color=INK, linewidth=3.2, solid_capstyle="butt", zorder=4)
                    ax.plot([xp], [p["estimate"] * scale], "D", markersize=5.5,
                            markerfacecolor="white", markeredgecolor=INK, zorder=5)
                    u, dg = ("%", 0) if percent else ("", 2)
                    est, lo, hi = (p[c] * scale for c in ("estimate", "ci_low", "ci_high"))
                    label += (f"k = {int(check_number('pooled k', p['k']))}\n"
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
            add_title(fig, title)
        band = add_footer(fig, footnote_lines, reserve=0.3)
        fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, band), ncols=3)
    return fig
