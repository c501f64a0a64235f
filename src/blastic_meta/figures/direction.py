"""Effect-direction plot (Thomson & Thomas 2013, Res Synth Methods 4:95), the vote-free
display of direction that SWiM recommends when effects cannot be pooled (Campbell et al. 2020).

Rows are studies in blocks, columns outcome domains. ▲ and ▼ give the direction, with the
meaning each block states (the block's legend line says it in words); ◄► is no change, no
difference or mixed; "?" is unclear; a blank cell was not reported. Symbol size gives the
study's patients (small < 50, medium 50-300, large > 300; "n not reported" small with an
asterisk); filled is statistically significant, open is not significant or not tested. A row
may carry its overall risk-of-bias judgement as a chip before its label.

Examples
--------
>>> up = DirectionCell("up", "significant")
>>> block = DirectionBlock("Before/after series", [DirectionRow("Tian 2016", 32, [up, None])],
...                        up_means="improvement", down_means="worse")
>>> fig = effect_direction_plot(DirectionSpec(None, ["Pain", "Function"], [block]))
>>> sorted(a.get_gid() for a in fig.artists if (a.get_gid() or "").startswith("cell"))
['cell-0-0-0']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InputError
from ._canvas import Canvas
from ._common import FOOT_H, FS, FS_FOOT, FS_SMALL, FS_TITLE, GAP, INK, MARGIN
from .direction_spec import DirectionBlock, DirectionCell, DirectionRow, DirectionSpec
from .io import style_context, text_width, wrap_text
from .judgement import JUDGEMENTS, Mark, draw_mark

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DirectionBlock", "DirectionCell", "DirectionRow", "DirectionSpec",
           "effect_direction_plot"]

SIZES = {"small": 6.0, "medium": 9.0, "large": 12.5, "unknown": 6.0}  # points
ROW = 0.27
COL_MIN = 0.62
CHIP = 9.0  # points
LEGEND_H = 0.22
SHADE = "#F3F3F3"
MIN_WIDTH = 5.0

_Item = tuple[Callable[[Canvas, float, float], None], float, str]  # draw, symbol width, label


def effect_direction_plot(spec: DirectionSpec) -> Figure:
    """Draw ``spec`` as an effect-direction plot and return the Figure.

    Each block opens with its title and a legend line saying what ▲, ▼ and ◄► mean in it;
    the size, fill and risk-of-bias legends and the footnotes (e.g. a sign test) follow the
    table. Columns widen for long domain names, which wrap onto more header lines.
    """
    if not isinstance(spec, DirectionSpec):
        raise InputError(f"effect_direction_plot: spec must be a DirectionSpec, got "
                         f"{type(spec).__name__}")
    rows = [r for b in spec.blocks for r in b.rows]
    chips = any(r.appraisal is not None for r in rows)
    chip_w = CHIP / 72 + 0.08 if chips else 0.0
    label_w = max(text_width("Study", FS, "bold"), *(text_width(r.label, FS) for r in rows))
    n_w = max(text_width("n", FS, "bold"), *(text_width(_n_text(r), FS) for r in rows))
    col = max(COL_MIN, *(max(text_width(w, FS_SMALL, "bold") for w in d.split()) + 0.12
                         for d in spec.domains))
    x_label = MARGIN + chip_w
    x_n = x_label + label_w + GAP + n_w  # right edge of the n column
    x_cols = x_n + 0.15
    table_w = x_cols + col * len(spec.domains) + MARGIN
    legends = _legends(spec, chips)
    width = max(MIN_WIDTH, table_w)
    text_w = width - 2 * MARGIN
    block_rows = [_flow(_meaning(b), text_w) for b in spec.blocks]
    legend_rows = [row for items in legends for row in _flow(items, text_w)]
    heads = [wrap_text(d, col - 0.08, FS_SMALL, "bold") for d in spec.domains]
    head_h = max(len(h) for h in heads) * 0.15 + 0.1
    title = wrap_text(spec.title, text_w, FS_TITLE, "bold") if spec.title else []
    foot = [w for line in spec.footnote_lines if line.strip()
            for w in wrap_text(line, text_w, FS_FOOT, style="italic")]
    height = (MARGIN + len(title) * 0.24 + (0.08 if title else 0.0) + head_h
              + sum(0.26 + LEGEND_H * len(m) + ROW * len(b.rows)
                    for b, m in zip(spec.blocks, block_rows, strict=True))
              + 0.12 + LEGEND_H * len(legend_rows) + (0.08 + FOOT_H * len(foot) if foot else 0)
              + MARGIN)
    with style_context():
        canvas = Canvas(width, height)
        y = MARGIN
        y = canvas.title(MARGIN, y, title, FS_TITLE)
        base = y + head_h - 0.06  # header text sits on this line
        canvas.text(x_label, base - 0.075, "Study", weight="bold")
        canvas.text(x_n, base - 0.075, "n", ha="right", weight="bold")
        for j, lines in enumerate(heads):
            for k, line in enumerate(lines):
                canvas.text(x_cols + (j + 0.5) * col, base - (len(lines) - k - 0.5) * 0.15,
                            line, ha="center", size=FS_SMALL, weight="bold",
                            gid=f"domain-{j}" if k == 0 else None)
        y += head_h
        canvas.line([MARGIN, x_cols + col * len(spec.domains)], [y, y], linewidth=0.6)
        for b, (block, meaning) in enumerate(zip(spec.blocks, block_rows, strict=True)):
            y += 0.04
            canvas.text(MARGIN, y + 0.12, block.title, weight="bold", gid=f"block-title-{b}")
            y += 0.22
            for items in meaning:
                _draw_items(canvas, items, MARGIN + 0.12, y + LEGEND_H / 2, f"meaning-{b}")
                y += LEGEND_H
            for r, row in enumerate(block.rows):
                _draw_row(canvas, row, (b, r), y, x_label, x_n, x_cols, col, chip_w)
                y += ROW
        y += 0.12
        for i, items in enumerate(legend_rows):
            _draw_items(canvas, items, MARGIN, y + LEGEND_H / 2, f"legend-{i}")
            y += LEGEND_H
        y += 0.08 if foot else 0.0
        for line in foot:
            canvas.text(MARGIN, y + FOOT_H / 2, line, size=FS_FOOT, style="italic")
            y += FOOT_H
    return canvas.fig


def _n_text(row: DirectionRow) -> str:
    return "NR" if row.n is None else str(row.n)


def _draw_row(canvas: Canvas, row: DirectionRow, where: tuple[int, int], y: float,
              x_label: float, x_n: float, x_cols: float, col: float, chip_w: float) -> None:
    b, r = where
    yc = y + ROW / 2
    if r % 2 == 0:
        canvas.box(MARGIN, y, x_cols + col * len(row.cells) - MARGIN, ROW, face=SHADE,
                   edge="none", linewidth=0)
    if row.appraisal is not None:
        draw_mark(canvas.fig, canvas.transform, MARGIN + chip_w / 2 - 0.02, yc,
                  JUDGEMENTS[row.appraisal], CHIP, gid=f"chip-{b}-{r}")
    canvas.text(x_label, yc, row.label)
    canvas.text(x_n, yc, _n_text(row), ha="right", color=INK if row.n else "#555555")
    for j, cell in enumerate(row.cells):
        if cell is not None:
            draw_symbol(canvas, x_cols + (j + 0.5) * col, yc, cell, row.size,
                        gid=f"cell-{b}-{r}-{j}")


def draw_symbol(canvas: Canvas, x: float, y: float, cell: DirectionCell, size: str,
                *, gid: str | None = None) -> None:
    """▲, ▼, ◄► or ? of ``size`` ("small", "medium", "large", "unknown") centred on (x, y)."""
    s = SIZES[size]
    face = INK if cell.filled else "white"
    if cell.direction in ("up", "down"):
        canvas.marker(x, y, "^" if cell.direction == "up" else "v", s, face=face,
                      linewidth=0.9, gid=gid)
    elif cell.direction == "neutral":
        half = s * 0.68 / 72  # a clear gap: two arrowheads, not a diamond
        canvas.marker(x - half, y, "<", s, face=face, linewidth=0.9, gid=gid)
        canvas.marker(x + half, y, ">", s, face=face, linewidth=0.9)
    else:
        canvas.text(x, y, "?", ha="center", size=max(s * 1.2, 8.5), weight="bold", gid=gid)
    if size == "unknown":
        canvas.text(x + s / 72 * 0.75, y - s / 72 * 0.45, "*", ha="left", size=7.5,
                    weight="bold", color="#333333")


def _symbol_w(cell: DirectionCell, size: str) -> float:
    s = SIZES[size] / 72
    return s * 2.4 if cell.direction == "neutral" else s * 1.05


def _item(cell: DirectionCell, size: str, label: str) -> _Item:
    w = _symbol_w(cell, size) + (0.08 if size == "unknown" else 0.0)

    def draw(canvas: Canvas, x: float, y: float) -> None:
        draw_symbol(canvas, x + _symbol_w(cell, size) / 2, y, cell, size)

    return (draw, w, label)


def _meaning(block: DirectionBlock) -> list[_Item]:
    """What the arrows mean in ``block``, drawn with the symbols themselves."""
    return [_item(DirectionCell(d, "significant"), "medium", f"{text}")
            for d, text in (("up", block.up_means), ("down", block.down_means),
                            ("neutral", block.neutral_means))]


def _legends(spec: DirectionSpec, chips: bool) -> list[list[_Item]]:
    up_f, up_o = DirectionCell("up", "significant"), DirectionCell("up", "not_significant")
    sizes = [_item(up_o, "small", "< 50 patients"), _item(up_o, "medium", "50\u2013300"),
             _item(up_o, "large", "> 300")]
    if any(r.n is None for b in spec.blocks for r in b.rows):
        sizes.append(_item(up_o, "unknown", "n not reported"))
    fill = [_item(up_f, "medium", "statistically significant"),
            _item(up_o, "medium", "not significant or not tested"),
            _item(DirectionCell("unclear"), "medium", "unclear"),
            (lambda c, x, y: None, 0.0, "blank: not reported")]
    out = [sizes, fill]
    if chips:
        marks = [m for k, m in JUDGEMENTS.items()
                 if any(r.appraisal == k for b in spec.blocks for r in b.rows)]

        def chip(mark: Mark) -> Callable[[Canvas, float, float], None]:
            return lambda c, x, y: draw_mark(c.fig, c.transform, x + CHIP / 144, y, mark, CHIP)

        out.append([(lambda c, x, y: None, 0.0, "Risk of bias:")]
                   + [(chip(m), CHIP / 72, m.label) for m in marks])
    return out


def _item_w(item: _Item) -> float:
    _, w, label = item
    return w + (0.05 if w else 0.0) + text_width(label, FS_SMALL) + 0.2


def _flow(items: list[_Item], width: float) -> list[list[_Item]]:
    """Break legend items into rows no wider than ``width``."""
    rows: list[list[_Item]] = [[]]
    used = 0.0
    for item in items:
        w = _item_w(item)
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += w
    return rows


def _draw_items(canvas: Canvas, items: list[_Item], x: float, y: float, gid: str) -> None:
    for i, (draw, w, label) in enumerate(items):
        draw(canvas, x, y)
        x += w + (0.05 if w else 0.0)
        canvas.text(x, y, label, size=FS_SMALL, gid=f"{gid}-{i}")
        x += text_width(label, FS_SMALL) + 0.2
