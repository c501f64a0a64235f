"""Risk-of-bias summary plot, as robvis' ``rob_summary`` draws it (McGuinness & Higgins 2021).

Per item of each appraisal tool, one horizontal bar stacked by the share of appraised studies
answering yes / no / unclear / not applicable, and a last bar with the overall judgements.
Shares are of the studies that were appraised (those not appraised are counted in the block's
title, never in a bar). Colours and hatching come from ``judgement``, so the bars read in
greyscale; a segment wide enough carries its percentage.

Examples
--------
>>> from blastic_meta.figures import AppraisalRow
>>> block = AppraisalBlock("JBI case series", ["Q1"], ["Clear inclusion criteria?"],
...                        [AppraisalRow("A", ["yes"], "low"), AppraisalRow("B", ["no"], "high")])
>>> fig = appraisal_summary_plot(AppraisalSpec(None, [block]))
>>> [t.get_text() for t in fig.texts if t.get_gid() == "block-title-0"]
['JBI case series (2 studies appraised)']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputError
from ._canvas import Canvas
from ._common import FOOT_H, FS_FOOT, FS_SMALL, FS_TITLE, INK, MARGIN
from .appraisal_spec import AppraisalBlock, AppraisalSpec
from .io import style_context, text_width, wrap_text
from .judgement import ANSWERS, JUDGEMENTS, UNANSWERED, Mark

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["appraisal_shares", "appraisal_summary_plot"]

LABEL_W = 2.9  # inches for the item code and wording
BAR_W = 3.2  # inches for 0-100 %
BAR_H = 0.17  # inches
LINE_H = 0.15  # inches per wrapped label line
TITLE_H = 0.26
AXIS_H = 0.42  # ticks, tick labels and the axis label under each block
SWATCH = 0.13


def appraisal_shares(block: AppraisalBlock) -> list[tuple[str, list[tuple[Mark, int]]]]:
    """(label, [(mark, count), ...]) per item and for the overall judgement, over the
    appraised studies of ``block``; a category with no study is left out."""
    rows = [r for r in block.rows if r.appraised]
    out = []
    cats = [*ANSWERS.values(), UNANSWERED]
    for j, code in enumerate(block.item_ids):
        answers = [r.answers[j] for r in rows]  # type: ignore[index]
        counts = [(m, sum(1 for a in answers if (a or "unanswered") == m.key)) for m in cats]
        out.append((code, [(m, c) for m, c in counts if c]))
    overall = [(m, sum(1 for r in rows if r.overall == k)) for k, m in JUDGEMENTS.items()
               if k != "not appraised"]
    out.append(("Overall", [(m, c) for m, c in overall if c]))
    return out


def appraisal_summary_plot(spec: AppraisalSpec) -> Figure:
    """Draw the share of answers per item of each block of ``spec``; return the Figure.

    One panel per tool with its own 0-100 % axis; item labels are the code and the wording
    (wrapped), the overall judgement is the last bar.
    """
    if not isinstance(spec, AppraisalSpec):
        raise InputError(f"appraisal_summary_plot: spec must be an AppraisalSpec, got "
                         f"{type(spec).__name__}")
    code_w = max(text_width(c, FS_SMALL, "bold") for b in spec.blocks
                 for c in b.item_ids) + 0.08
    width = MARGIN + LABEL_W + 0.15 + BAR_W + MARGIN + 0.1
    text_w = width - 2 * MARGIN
    legend = _legend_items(spec)
    legend_rows = _legend_rows(legend, text_w)
    panels = []
    for block in spec.blocks:
        rows = [(code, wrap_text(label, LABEL_W - code_w, FS_SMALL))
                for code, label in zip(block.item_ids, block.item_labels, strict=True)]
        rows.append(("", ["Overall judgement"]))
        heights = [max(0.25, len(lines) * LINE_H + 0.08) for _, lines in rows]
        panels.append((block, rows, heights))
    title = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot = [w for line in spec.footnote_lines if line.strip()
            for w in wrap_text(line, text_w, FS_FOOT, style="italic")]
    height = (MARGIN + len(title) * 0.24 + (0.08 if title else 0.0)
              + sum(TITLE_H + sum(h) + 0.06 + AXIS_H for _, _, h in panels)
              + 0.12 * (len(panels) - 1) + 0.08 + 0.22 * len(legend_rows)
              + (0.08 + FOOT_H * len(foot) if foot else 0.0) + MARGIN)
    with style_context():
        canvas = Canvas(width, height)
        y = MARGIN
        y = canvas.title(MARGIN, y, title, FS_TITLE)
        for i, (block, rows, heights) in enumerate(panels):
            y = _draw_panel(canvas, block, rows, heights, i, code_w, y) + 0.12
        y -= 0.04
        for r, items in enumerate(legend_rows):
            x = MARGIN
            for k, (mark, label) in enumerate(items):
                canvas.box(x, y + 0.11 - SWATCH / 2, SWATCH, SWATCH, face=mark.face,
                           edge="#666666", linewidth=0.5, hatch=mark.hatch,
                           gid=f"legend-{r}-{k}")
                canvas.text(x + SWATCH + 0.05, y + 0.11, label, size=FS_SMALL)
                x += SWATCH + 0.05 + text_width(label, FS_SMALL) + 0.18
            y += 0.22
        y += 0.08 if foot else 0.0
        for line in foot:
            canvas.text(MARGIN, y + FOOT_H / 2, line, size=FS_FOOT, style="italic")
            y += FOOT_H
    return canvas.fig


def _legend_items(spec: AppraisalSpec) -> list[tuple[Mark, str]]:
    """Legend entries: the colours are shared by answers and judgements (yes / low, ...)."""
    unanswered = any(a is None for b in spec.blocks for r in b.rows for a in r.answers)  # type: ignore[union-attr]
    items = [(ANSWERS["yes"], "yes (items) / low (overall)"),
             (ANSWERS["unclear"], "unclear / some concerns"),
             (ANSWERS["no"], "no / high"),
             (ANSWERS["not_applicable"], "not applicable")]
    if unanswered:
        items.append((UNANSWERED, UNANSWERED.label))
    return items


def _legend_rows(items: list[tuple[Mark, str]], text_w: float) -> list[list[tuple[Mark, str]]]:
    rows: list[list[tuple[Mark, str]]] = [[]]
    used = 0.0
    for item in items:
        w = SWATCH + 0.05 + text_width(item[1], FS_SMALL) + 0.18
        if rows[-1] and used + w > text_w:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += w
    return rows


def _draw_panel(canvas: Canvas, block: AppraisalBlock, rows: list, heights: list[float],
                index: int, code_w: float, y: float) -> float:
    """Title, one labelled stacked bar per item and the overall bar, and the 0-100 % axis."""
    from matplotlib.ticker import FixedLocator, FuncFormatter

    appraised = sum(1 for r in block.rows if r.appraised)
    missing = len(block.rows) - appraised
    title = f"{block.title} ({appraised} stud{'y' if appraised == 1 else 'ies'} appraised"
    title += f"; {missing} not appraised)" if missing else ")"
    canvas.text(MARGIN, y + TITLE_H / 2, title, weight="bold", gid=f"block-title-{index}")
    y += TITLE_H
    x_bar = MARGIN + LABEL_W + 0.15
    panel_h = sum(heights) + 0.06
    fig = canvas.fig
    ax = fig.add_axes((x_bar / canvas.width, (canvas.height - y - panel_h) / canvas.height,
                       BAR_W / canvas.width, panel_h / canvas.height))
    ax.set_gid(f"summary-axes-{index}")
    ax.set_xlim(0, 100)
    ax.set_ylim(panel_h, 0)
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.xaxis.set_major_locator(FixedLocator([0, 25, 50, 75, 100]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}%"))
    ax.set_xlabel(f"Share of the {appraised} appraised studies", fontsize=FS_SMALL,
                  parse_math=False)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    shares = appraisal_shares(block)
    yc = 0.03
    for (code, lines), h, (_, counts) in zip(rows, heights, shares, strict=True):
        mid = yc + h / 2
        if code:
            canvas.text(MARGIN, y + mid - (len(lines) - 1) * LINE_H / 2, code, size=FS_SMALL,
                        weight="bold")
        for k, line in enumerate(lines):
            canvas.text(MARGIN + (code_w if code else 0.0),
                        y + mid + (k - (len(lines) - 1) / 2) * LINE_H, line, size=FS_SMALL,
                        weight="normal" if code else "bold")
        if not appraised:
            ax.text(50, mid, "no study appraised", ha="center", va="center", fontsize=FS_SMALL,
                    fontstyle="italic", color="#555555", parse_math=False)
        left = 0.0
        for mark, count in counts:
            share = 100.0 * count / appraised
            ax.barh(mid, share, height=BAR_H, left=left, color=mark.face,
                    edgecolor="#666666" if mark.hatch else "white",
                    linewidth=0 if mark.hatch else 0.6, hatch=mark.hatch,
                    gid=f"bar-{index}-{code or 'overall'}-{mark.key}")
            label = f"{share:.0f}%"
            if share / 100 * BAR_W >= text_width(label, FS_FOOT) + 0.06:
                box = None if not mark.hatch else dict(boxstyle="round,pad=0.12", fc="white",
                                                       ec="none")
                ax.text(left + share / 2, mid, label, ha="center", va="center",
                        fontsize=FS_FOOT, color=mark.ink if mark.face != "white" else INK,
                        parse_math=False, bbox=box)
            left += share
        yc += h
    return y + panel_h + AXIS_H

