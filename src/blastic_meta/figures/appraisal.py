"""Risk-of-bias traffic-light plot, laid out as robvis draws it (McGuinness & Higgins 2021).

One row per study, one column per item of its appraisal tool (headed by a short code, the
wording listed under the block) and an "Overall" column. Each cell is a circle whose colour and
symbol give the answer (``judgement.ANSWERS``); the overall column gives the judgement
(``judgement.JUDGEMENTS``). A study that was not appraised reads "not appraised" across its
item cells. Tools differ in their items, so each tool is its own block with its own header.

Examples
--------
>>> block = AppraisalBlock("JBI checklist for case series", ["Q1", "Q2"],
...                        ["Clear inclusion criteria?", "Condition measured reliably?"],
...                        [AppraisalRow("Tian 2016", ["yes", "unclear"], "some"),
...                         AppraisalRow("Xu 2021", None, "not appraised")])
>>> fig = traffic_light_plot(AppraisalSpec("Risk of bias", [block]))
>>> sorted(a.get_gid() for a in fig.artists if (a.get_gid() or "").startswith("cell-"))
['cell-0-unclear', 'cell-0-unclear-symbol', 'cell-0-yes', 'cell-0-yes-symbol']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ._canvas import Canvas
from ._common import FOOT_H, FS, FS_FOOT, FS_SMALL, FS_TITLE, GAP, MARGIN
from .appraisal_spec import AppraisalBlock, AppraisalRow, AppraisalSpec
from .io import style_context, text_width, wrap_text
from .judgement import ANSWERS, JUDGEMENTS, UNANSWERED, draw_legend, draw_marks, legend_width

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["AppraisalBlock", "AppraisalRow", "AppraisalSpec", "traffic_light_plot"]

CELL = 0.3  # inches per item column (at least)
ROW = 0.26  # inches per study row
DIAMETER = 13.0  # points
LEGEND_DIAMETER = 10.0
TITLE_H = 0.24
HEAD_H = 0.24
MIN_WIDTH = 5.2  # inches: below this the item wording wraps into a narrow column
NOT_APPRAISED = "not appraised"
SHADE = "#F3F3F3"


@dataclass(frozen=True, slots=True)
class _Block:
    """One block measured: column width, item wording lines, its height."""

    block: AppraisalBlock
    cell: float
    wording: list[tuple[str, list[str]]]  # (code, wrapped lines)
    code_w: float
    height: float


def traffic_light_plot(spec: AppraisalSpec) -> Figure:
    """Draw ``spec`` as a robvis-style traffic-light plot and return the Figure.

    Rows are studies, columns the items of each block's tool and the overall judgement. The
    figure grows with the number of studies and with the length of the item wording, which is
    wrapped under each block; the legend of answers and judgements and the footnotes follow.
    """
    if not isinstance(spec, AppraisalSpec):
        raise InputError(f"traffic_light_plot: spec must be an AppraisalSpec, got "
                         f"{type(spec).__name__}")
    label_w = max(text_width(r.label, FS) for b in spec.blocks for r in b.rows)
    grid_w = [_cell(b) * len(b.item_ids) + 0.1 + _overall_w() for b in spec.blocks]
    legend_rows = _legend_rows(spec)
    width = max(MIN_WIDTH, MARGIN + label_w + GAP + max(grid_w) + MARGIN,
                *(MARGIN * 2 + legend_width(items, LEGEND_DIAMETER, FS_SMALL, lead)
                  for lead, items in legend_rows))
    text_w = width - 2 * MARGIN
    blocks = [_measure(b, text_w) for b in spec.blocks]
    title = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot = [w for line in spec.footnote_lines if line.strip()
            for w in wrap_text(line, text_w, FS_FOOT, style="italic")]
    height = (MARGIN + len(title) * TITLE_H + (0.08 if title else 0.0)
              + sum(b.height for b in blocks) + 0.16 * (len(blocks) - 1)
              + 0.1 + len(legend_rows) * 0.24 + (0.08 + len(foot) * FOOT_H if foot else 0.0)
              + MARGIN)
    with style_context():
        canvas = Canvas(width, height)
        y = MARGIN
        y = canvas.title(MARGIN, y, title, FS_TITLE, TITLE_H)
        x_grid = MARGIN + label_w + GAP
        for i, block in enumerate(blocks):
            y = _draw_block(canvas, block, i, x_grid, y) + 0.16
        y += 0.1 - 0.16
        for j, (lead, items) in enumerate(legend_rows):
            draw_legend(canvas.fig, canvas.transform, MARGIN, y + 0.12, items,
                        diameter=LEGEND_DIAMETER, size=FS_SMALL, lead=lead, gid=f"legend-{j}")
            y += 0.24
        y += 0.08 if foot else 0.0
        for line in foot:
            canvas.text(MARGIN, y + FOOT_H / 2, line, size=FS_FOOT, style="italic")
            y += FOOT_H
    return canvas.fig


def _overall_w() -> float:
    return text_width("Overall", FS_SMALL, "bold") + 0.1


def _cell(block: AppraisalBlock) -> float:
    """Item column width: the widest code, and room for "not appraised" across the items."""
    widest = max(text_width(c, FS_SMALL, "bold") for c in block.item_ids) + 0.08
    if any(not r.appraised for r in block.rows):
        widest = max(widest, (text_width(NOT_APPRAISED, FS_SMALL, style="italic") + 0.1)
                     / len(block.item_ids))
    return max(CELL, widest)


def _measure(block: AppraisalBlock, text_w: float) -> _Block:
    code_w = max(text_width(c, FS_FOOT, "bold") for c in block.item_ids) + 0.08
    wording = [(c, wrap_text(t, text_w - code_w, FS_FOOT))
               for c, t in zip(block.item_ids, block.item_labels, strict=True)]
    n_lines = sum(len(lines) for _, lines in wording)
    height = TITLE_H + HEAD_H + ROW * len(block.rows) + 0.08 + n_lines * FOOT_H
    return _Block(block, _cell(block), wording, code_w, height)


def _legend_rows(spec: AppraisalSpec) -> list[tuple[str, list]]:
    answers = [(m, m.label) for m in ANSWERS.values()]
    if any(a is None for b in spec.blocks for r in b.rows for a in r.answers):  # type: ignore[union-attr]
        answers.append((UNANSWERED, UNANSWERED.label))
    overall = [(m, m.label) for m in JUDGEMENTS.values()]
    return [("Items:", answers), ("Overall:", overall)]


def _draw_block(canvas: Canvas, m: _Block, index: int, x_grid: float, y: float) -> float:
    """Title, header, study rows and item wording of one block; returns the y below it."""
    block, cell = m.block, m.cell
    n_items = len(block.item_ids)
    canvas.text(MARGIN, y + TITLE_H / 2, block.title, weight="bold", gid=f"block-title-{index}")
    y += TITLE_H
    x_overall = x_grid + n_items * cell + 0.1  # a gap sets the overall column apart
    for j, code in enumerate(block.item_ids):
        canvas.text(x_grid + (j + 0.5) * cell, y + HEAD_H / 2, code, ha="center",
                    size=FS_SMALL, weight="bold")
    canvas.text(x_overall + _overall_w() / 2, y + HEAD_H / 2, "Overall", ha="center", size=FS_SMALL,
                weight="bold")
    y += HEAD_H
    cells, overall = [], []
    for r, row in enumerate(block.rows):
        yc = y + ROW / 2
        if r % 2 == 0:  # faint banding guides the eye along a row
            canvas.box(MARGIN, y, x_overall + _overall_w() - MARGIN, ROW, face=SHADE, edge="none",
                       linewidth=0)
        canvas.text(MARGIN, yc, row.label)
        if row.appraised:
            for j, answer in enumerate(row.answers):  # type: ignore[union-attr]
                mark = UNANSWERED if answer is None else ANSWERS[answer]
                cells.append((x_grid + (j + 0.5) * cell, yc, mark))
        else:
            canvas.text(x_grid + n_items * cell / 2, yc, NOT_APPRAISED, ha="center",
                        size=FS_SMALL, style="italic", color="#555555",
                        gid=f"not-appraised-{index}-{r}")
        overall.append((x_overall + _overall_w() / 2, yc, JUDGEMENTS[row.overall]))
        y += ROW
    draw_marks(canvas.fig, canvas.transform, cells, DIAMETER, gid=f"cell-{index}")
    draw_marks(canvas.fig, canvas.transform, overall, DIAMETER, gid=f"overall-{index}")
    canvas.line([x_overall - 0.05] * 2, [y - ROW * len(block.rows), y], color="#8c8c8c",
                linewidth=0.6)
    y += 0.08
    for code, lines in m.wording:
        canvas.text(MARGIN, y + FOOT_H / 2, code, size=FS_FOOT, weight="bold")
        for line in lines:
            canvas.text(MARGIN + m.code_w, y + FOOT_H / 2, line, size=FS_FOOT)
            y += FOOT_H
    return y
