"""Checks shared by the figure tests: texts of a figure, their boxes, saved bytes."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.path import Path as MarkerPath
from matplotlib.text import Text

from blastic_meta.figures import save_figure


def texts(fig: Figure) -> list[str]:
    """Every non-empty text of the figure and of its axes (tick labels excluded)."""
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [t.get_text() for t in ax.texts]
        found += [ax.get_xlabel(), ax.get_ylabel()]
    return [t for t in found if t]


def symbols(fig: Figure) -> list[str]:
    """The symbols of the figure's risk-of-bias marks (``judgement.draw_mark`` and
    ``draw_marks``), each drawn as a marker made of its glyphs and labelled with the symbol:
    one entry per mark drawn, in drawing order."""
    return [a.get_label() for a in fig.get_children()
            if isinstance(a, Line2D) and isinstance(a.get_marker(), MarkerPath)
            for _ in a.get_xdata()]


def grid_marks(fig: Figure, prefix: str) -> dict[tuple[int, int], tuple[Line2D, Line2D | None]]:
    """The marks ``judgement.draw_marks`` drew under gid ``prefix``, by (row, column): the
    circle's artist and its symbol's (None without one). Rows and columns are the ranks of
    the marks' centres (top to bottom, left to right), so a mark is found where it is drawn."""
    circles = {g[len(prefix) + 1:]: a for a in fig.artists
               if (g := a.get_gid() or "").startswith(prefix + "-") and not g.endswith("-symbol")}
    found = {}
    points = [(x, y, key) for key, a in circles.items()
              for x, y in zip(a.get_xdata(), a.get_ydata(), strict=True)]
    rows = sorted({y for _, y, _ in points})  # the canvas measures y downwards
    columns = sorted({x for x, _, _ in points})
    symbols_of = {g[len(prefix) + 1:-len("-symbol")]: a for a in fig.artists
                  if (g := a.get_gid() or "").startswith(prefix + "-") and g.endswith("-symbol")}
    for x, y, key in points:
        symbol = symbols_of.get(key)
        if symbol is not None:
            assert (x, y) in set(zip(symbol.get_xdata(), symbol.get_ydata(), strict=True))
        found[(rows.index(y), columns.index(x))] = (circles[key], symbol)
    assert len(found) == len(points), "two marks drawn on one spot"
    return found


def gids(fig: Figure) -> list[str]:
    """gids of every artist of the figure (figure-level and inside its axes)."""
    found = [a.get_gid() for a in fig.get_children()]
    for ax in fig.axes:
        found += [a.get_gid() for a in ax.get_children()]
    return [g for g in found if g]


def text_boxes(fig: Figure) -> list[tuple[str, object]]:
    """(text, window extent) of every visible text, tick labels included, after a draw."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    items = [t for t in fig.texts if t.get_text()]
    for ax in fig.axes:
        items += [t for t in ax.texts if t.get_text()]
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible():
                items += [t for t in axis.get_ticklabels() if t.get_text()]
                items += [axis.label] if axis.label.get_text() else []
    # Text's own extent: an annotation's would include its leader line
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in items]


def overlapping_texts(fig: Figure, tolerance: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap by more than ``tolerance`` pixels both ways."""
    boxes = text_boxes(fig)
    out = []
    for i, (a, one) in enumerate(boxes):
        for b, two in boxes[i + 1:]:
            if one.overlaps(two):
                inter = one.intersection(one, two)
                if inter is not None and inter.width > tolerance and inter.height > tolerance:
                    out.append((a, b))
    return out


def texts_outside(fig: Figure) -> list[str]:
    frame = fig.bbox
    return [t for t, box in text_boxes(fig)
            if box.x0 < frame.x0 - 0.5 or box.x1 > frame.x1 + 0.5
            or box.y0 < frame.y0 - 0.5 or box.y1 > frame.y1 + 0.5]


def saved(fig: Figure, folder: Path, name: str = "fig") -> dict[str, bytes]:
    return {p.suffix: p.read_bytes() for p in save_figure(fig, folder / name)}
