"""Risk-of-bias marks: one colour, symbol and legend text per answer and per judgement.

Every figure that shows an appraisal (traffic-light plot, its summary bars, the RoB column of a
forest plot, the chips of the effect-direction plot) takes its marks from here, so a judgement
looks the same everywhere. The colours follow robvis' traffic lights (McGuinness & Higgins
2021) but are chosen to differ in lightness as well as hue (green mid, yellow light, red dark),
and each mark carries a symbol, so they read for colour-blind readers and in greyscale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import InputError
from ._common import INK
from .io import FONT, text_width

__all__ = [
    "ANSWERS", "JUDGEMENTS", "Mark", "check_judgement", "draw_legend", "draw_mark", "draw_marks",
    "symbol_marker",
]


@dataclass(frozen=True, slots=True)
class Mark:
    """How one answer or judgement is drawn: circle colour, symbol and its colour, legend."""

    key: str
    label: str
    face: str
    symbol: str
    ink: str
    edge: str
    hatch: str | None = None  # for bars, so that the two light colours differ in greyscale


GREEN, YELLOW, RED, GREY = "#009E73", "#F0E442", "#A50F15", "#BDBDBD"
PALE = "#EBEBEB"
EDGE = "#404040"

#: per-item answers of a checklist (JBI, Newcastle-Ottawa): yes / no / unclear / not applicable
ANSWERS: dict[str, Mark] = {
    "yes": Mark("yes", "yes", GREEN, "+", INK, EDGE),
    "no": Mark("no", "no", RED, "\u2212", "white", EDGE),
    "unclear": Mark("unclear", "unclear", YELLOW, "?", INK, EDGE),
    "not_applicable": Mark("not_applicable", "not applicable", GREY, "NA", INK, EDGE, "////"),
}
#: an item left unanswered in an otherwise appraised study
UNANSWERED = Mark("unanswered", "no answer recorded", "white", "", INK, "#8c8c8c", "....")

#: overall judgement of a study
JUDGEMENTS: dict[str, Mark] = {
    "low": Mark("low", "low", GREEN, "+", INK, EDGE),
    "some": Mark("some", "some concerns", YELLOW, "!", INK, EDGE),
    "high": Mark("high", "high", RED, "\u00d7", "white", EDGE),
    "not appraised": Mark("not appraised", "not appraised", PALE, "", INK, "#8c8c8c"),
}


def check_judgement(where: str, value: Any) -> str:
    """``value`` if it is one of the overall judgements, else an InputError naming ``where``."""
    if not isinstance(value, str) or value not in JUDGEMENTS:
        raise InputError(f"{where}: must be one of {sorted(JUDGEMENTS)}, got {value!r}")
    return value


@lru_cache(maxsize=256)
def symbol_marker(symbol: str, size: float) -> tuple[Any, float]:
    """The symbol's glyph outlines (DejaVu Sans bold at ``size`` points) as a marker path
    centred on its ink, and the marker size that draws it at that size.

    Centred on the ink, not on the line box (which includes ascender and descender space),
    the glyph sits exactly in the middle of its circle. A marker is scaled so that its
    largest coordinate is half the marker size, so twice that coordinate keeps the glyph's
    own size. Drawn as a marker, not as text, a symbol costs a fifth as much to lay out and
    render, and looks the same in every SVG viewer, whatever fonts it has.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path
    from matplotlib.textpath import TextPath

    glyphs = TextPath((0, 0), symbol, size=size, prop=FontProperties(family=FONT, weight="bold"))
    box = glyphs.get_extents()
    centred = Path(glyphs.vertices - [(box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0],
                   glyphs.codes)
    return centred, 2.0 * float(abs(centred.vertices).max())


def symbol_size(mark: Mark, diameter: float) -> float:
    """Font size of the mark's symbol inside a circle of ``diameter`` points."""
    return diameter * (0.46 if len(mark.symbol) > 1 else 0.74)


def draw_mark(fig: Any, transform: Any, x: float, y: float, mark: Mark, diameter: float,
              *, gid: str | None = None) -> None:
    """A circle of ``diameter`` points centred on (x, y) in ``transform``, with the symbol
    on it (``symbol_marker``; the symbol is the artist's label)."""
    _circles(fig, transform, [x], [y], mark, diameter, gid)
    if mark.symbol:
        _symbols(fig, transform, [x], [y], mark, diameter,
                 None if gid is None else f"{gid}-symbol")


def draw_marks(fig: Any, transform: Any, points: Sequence[tuple[float, float, Mark]],
               diameter: float, *, gid: str) -> None:
    """The marks of a grid: a circle of ``diameter`` points centred on each (x, y) in
    ``transform``, with its symbol, as ``draw_mark`` draws one.

    Each kind of mark is one artist for its circles (gid ``{gid}-{key}``, the mark's key
    with spaces as underscores) and one for its symbols (``{gid}-{key}-symbol``), every
    circle under every symbol. A traffic-light plot has a thousand marks: drawn one artist
    each, they took two thirds of the figure's time to lay out and save.
    """
    kinds: dict[Mark, tuple[list[float], list[float]]] = {}
    for x, y, mark in points:
        xs, ys = kinds.setdefault(mark, ([], []))
        xs.append(x)
        ys.append(y)
    for mark, (xs, ys) in kinds.items():
        _circles(fig, transform, xs, ys, mark, diameter, f"{gid}-{mark.key.replace(' ', '_')}")
    for mark, (xs, ys) in kinds.items():
        if mark.symbol:
            _symbols(fig, transform, xs, ys, mark, diameter,
                     f"{gid}-{mark.key.replace(' ', '_')}-symbol")


def _circles(fig: Any, transform: Any, xs: Sequence[float], ys: Sequence[float], mark: Mark,
             diameter: float, gid: str | None) -> None:
    """The mark's circles of ``diameter`` points centred on (xs, ys), as one artist."""
    from matplotlib.lines import Line2D

    fig.add_artist(Line2D(xs, ys, transform=transform, marker="o", markersize=diameter,
                          markerfacecolor=mark.face, markeredgecolor=mark.edge,
                          markeredgewidth=0.6, linestyle="none", gid=gid))


def _symbols(fig: Any, transform: Any, xs: Sequence[float], ys: Sequence[float], mark: Mark,
             diameter: float, gid: str | None) -> None:
    """The mark's symbol on each of its circles (``symbol_marker``), as one artist whose
    label is the symbol."""
    from matplotlib.lines import Line2D

    path, markersize = symbol_marker(mark.symbol, symbol_size(mark, diameter))
    fig.add_artist(Line2D(xs, ys, transform=transform, marker=path, markersize=markersize,
                          markerfacecolor=mark.ink, markeredgecolor="none",
                          markeredgewidth=0.0, linestyle="none", label=mark.symbol, gid=gid))


def legend_width(items: Sequence[tuple[Mark, str]], diameter: float, size: float,
                 lead: str = "", style: str = "normal") -> float:
    """Width in inches of the legend row ``draw_legend`` draws."""
    d = diameter / 72.0
    width = text_width(lead, size, style=style) + (0.08 if lead else 0.0)
    return width + sum(d + 0.05 + text_width(label, size, style=style) + 0.16
                       for _, label in items) - 0.16


def draw_legend(fig: Any, transform: Any, x: float, y: float,
                items: Sequence[tuple[Mark, str]], *, diameter: float, size: float,
                lead: str = "", style: str = "normal", gid: str | None = None) -> float:
    """``lead`` text then a mark and its label per item, in one row starting at (x, y).

    ``transform`` must measure x in inches. Returns the row's width in inches.
    """
    d = diameter / 72.0
    pos = x
    if lead:
        fig.text(pos, y, lead, transform=transform, ha="left", va="center", fontsize=size,
                 fontstyle=style, color=INK, parse_math=False)
        pos += text_width(lead, size, style=style) + 0.08
    for i, (mark, label) in enumerate(items):
        draw_mark(fig, transform, pos + d / 2, y, mark, diameter,
                  gid=None if gid is None else f"{gid}-{i}")
        pos += d + 0.05
        fig.text(pos, y, label, transform=transform, ha="left", va="center", fontsize=size,
                 fontstyle=style, color=INK, parse_math=False)
        pos += text_width(label, size, style=style) + 0.16
    return pos - 0.16 - x
