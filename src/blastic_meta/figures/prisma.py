"""PRISMA 2020 flow diagram (Page et al. 2021, BMJ 372:n71), drawn from ``PrismaCounts``.

The template for new systematic reviews that searched databases and registers and, when
``other_sources`` is given, other methods: phase labels (Identification, Screening, Included)
on the left, the main column of boxes joined by arrows, the exclusion boxes to their right, and
the other-methods column joining the "Included" box. Box heights follow their wrapped text. A
count that is not known reads "n = not recorded" with a numbered footnote giving the reason.
When no database or register was searched (``databases_searched=False``) the one column is
headed as the template's other-methods column, and a footnote says the databases-and-registers
column is left out because it would be empty.

Examples
--------
>>> counts = PrismaCounts(identified=[("Databases", 120)], removed=[("Duplicates", 20)],
...                       screened=100, screened_excluded=80, sought=20, not_retrieved=1,
...                       assessed=19, excluded=[("Case report", 9)], included_studies=10)
>>> fig = prisma_flow_diagram(counts)
>>> "Records screened (n = 100)" in [t.get_text() for t in fig.texts]
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ._canvas import Canvas
from ._common import FOOT_H, FS_FOOT, FS_SMALL, FS_TITLE, MARGIN
from .io import style_context, text_width, wrap_text
from .prisma_spec import PrismaCount, PrismaCounts, PrismaOtherSources, total

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PrismaCount", "PrismaCounts", "PrismaOtherSources", "prisma_flow_diagram"]

FS_BOX = FS_SMALL
LINE = 0.155  # inches per text line in a box
PAD = 0.08
INDENT = 0.12
PHASE_W = 0.3
ARROW_GAP = 0.34  # between a box and its exclusion box
LEVEL_GAP = 0.3  # between levels (room for the vertical arrows)
HEADER_H = 0.34
PHASE_FACE = "#D5E3F0"
HEADER_FACE = ("#F6E3A1", "#E3E3E3")  # databases and registers, other methods
HEADERS = ("Identification of studies via databases and registers",
           "Identification of studies via other methods")
NO_DATABASES = ("No database or register was searched: the template's column "
                "\u201cIdentification of studies via databases and registers\u201d would be "
                "empty and is left out; every record came from the other methods shown.")
SUPERSCRIPTS = "\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
PHASES = ("Identification", "Screening", "Included")
NBSP = "\u00a0"


@dataclass(frozen=True, slots=True)
class _Box:
    lines: list[tuple[float, str]]  # (indent in inches, text)
    gid: str

    @property
    def height(self) -> float:
        return len(self.lines) * LINE + 2 * PAD


class _Notes:
    """Numbers the reasons of unknown counts in order of appearance (same reason, same mark)."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def n(self, count: PrismaCount) -> str:
        if count.n is not None:
            return f"(n = {count.n})"
        if count.reason not in self.reasons:
            self.reasons.append(count.reason)  # type: ignore[arg-type]
        i = self.reasons.index(count.reason)  # type: ignore[arg-type]
        mark = SUPERSCRIPTS[i] if i < len(SUPERSCRIPTS) else f"[{i + 1}]"
        return f"(n = not recorded{mark})"

    def lines(self) -> list[str]:
        return [f"{SUPERSCRIPTS[i] if i < len(SUPERSCRIPTS) else f'[{i + 1}]'} Not recorded: "
                f"{reason}" for i, reason in enumerate(self.reasons)]


def _box(items: Sequence[tuple[int, str]], width: float, gid: str) -> _Box:
    """Wrap each (indent level, text) item to the box; continuation lines hang."""
    lines: list[tuple[float, str]] = []
    for level, text in items:
        indent = level * INDENT
        glued = _glue_counts(text)
        wrapped = wrap_text(glued, width - 2 * PAD - indent, FS_BOX)
        lines.append((indent, wrapped[0]))
        rest = " ".join(wrapped[1:])
        if rest:
            lines += [(indent + 0.1, t) for t in
                      wrap_text(rest, width - 2 * PAD - indent - 0.1, FS_BOX)]
    return _Box([(i, t.replace(NBSP, " ")) for i, t in lines], gid)


def _glue_counts(text: str) -> str:
    """Non-breaking spaces inside "(n = ...)" / "(k = ...)", so a count is never split."""
    return re.sub(r"\([nk] = [^)]*\)", lambda m: m.group(0).replace(" ", NBSP), text)


def _listing(head: str, notes: _Notes, pairs: Sequence[tuple[str, PrismaCount]],
             count: PrismaCount | None = None) -> list[tuple[int, str]]:
    top = f"{head} {notes.n(count)}" if count is not None else head
    return [(0, top + (":" if pairs else ""))] + [(1, f"{label} {notes.n(c)}")
                                                  for label, c in pairs]


def _boxes(c: PrismaCounts, w: float, notes: _Notes) -> dict[str, _Box]:
    """Every box's wrapped text, keyed by its place; built in reading order (level by level,
    left to right) so that the footnote marks of unknown counts are numbered in that order."""
    n = notes.n

    def listing(head: str, pairs: Sequence[tuple[str, PrismaCount]],
                count: PrismaCount | None = None) -> list[tuple[int, str]]:
        return _listing(head, notes, pairs, count)

    def excluded(pairs: Sequence[tuple[str, PrismaCount]]) -> list[tuple[int, str]]:
        known = total(pairs)
        return listing("Reports excluded", pairs, None if known is None else PrismaCount(known))

    def included() -> list[tuple[int, str]]:
        items = [(0, f"Studies included in review {n(c.included_studies)}")]
        if c.included_reports is not None:
            items.append((0, f"Reports of included studies {n(c.included_reports)}"))
        if c.analyses:
            items.append((0, "Studies in each meta-analysis:"))
            items += [(1, f"{label} (k = {k})") for label, k in c.analyses]
        return items

    o = c.other_sources
    makers = {
        "identified": lambda: listing("Records identified from", c.identified),
        "removed": lambda: (listing("Records removed before screening", c.removed)
                            if c.removed else [(0, "Records removed before screening (n = 0)")]),
        "screened": lambda: [(0, f"Records screened {n(c.screened)}")],
        "screened_excluded": lambda: [(0, f"Records excluded {n(c.screened_excluded)}")],
        "sought": lambda: [(0, f"Reports sought for retrieval {n(c.sought)}")],
        "not_retrieved": lambda: listing("Reports not retrieved", c.not_retrieved_reasons,
                                         c.not_retrieved),
        "assessed": lambda: [(0, f"Reports assessed for eligibility {n(c.assessed)}")],
        "excluded": lambda: excluded(c.excluded),
        "included": included,
    }
    if o is not None:
        makers |= {
            "o_identified": lambda: listing("Records identified from", o.identified),
            "o_sought": lambda: [(0, f"Reports sought for retrieval {n(o.sought)}")],
            "o_not_retrieved": lambda: listing("Reports not retrieved", o.not_retrieved_reasons,
                                               o.not_retrieved),
            "o_assessed": lambda: [(0, f"Reports assessed for eligibility {n(o.assessed)}")],
            "o_excluded": lambda: excluded(o.excluded),
        }
    order = [k for level in LEVELS for k in level
             if k is not None and k in makers]
    return {key: _box(makers[key](), w, "box-" + key.replace("_", "-")) for key in order}


# the levels of the template, top to bottom: (main, exclusion, other, other exclusion)
LEVELS = (
    ("identified", "removed", "o_identified", None),
    ("screened", "screened_excluded", None, None),
    ("sought", "not_retrieved", "o_sought", "o_not_retrieved"),
    ("assessed", "excluded", "o_assessed", "o_excluded"),
    ("included", None, None, None),
)
PHASE_LEVELS = ((0, 0), (1, 3), (4, 4))


def prisma_flow_diagram(counts: PrismaCounts) -> Figure:
    """Draw the PRISMA 2020 flow diagram of ``counts`` and return the Figure.

    Boxes are 2.4 in wide (1.8 in when other sources add two columns); their height follows
    their text. Unknown counts are footnoted with their reasons, then ``footnote_lines``.
    """
    if not isinstance(counts, PrismaCounts):
        raise InputError(f"prisma_flow_diagram: counts must be PrismaCounts, got "
                         f"{type(counts).__name__}")
    other = counts.other_sources is not None
    w = 1.85 if other else 2.45
    notes = _Notes()
    boxes = _boxes(counts, w, notes)
    x_main = MARGIN + PHASE_W + 0.14
    xs = [x_main, x_main + w + ARROW_GAP]
    if other:
        xs += [xs[1] + w + 0.4, xs[1] + w + 0.4 + w + ARROW_GAP]
    width = xs[-1] + w + MARGIN
    text_w = width - 2 * MARGIN
    title = wrap_text(counts.title, text_w, FS_TITLE, "bold") if counts.title else []
    extra = [] if counts.databases_searched else [NO_DATABASES]
    foot = [t for line in [*notes.lines(), *extra, *counts.footnote_lines] if line.strip()
            for t in wrap_text(line, text_w, FS_FOOT, style="italic")]
    heights = [max(boxes[k].height for k in level if k is not None and k in boxes)
               for level in LEVELS]
    top = MARGIN + len(title) * 0.24 + (0.1 if title else 0.0)
    centres, y = [], top + HEADER_H + 0.2
    for h in heights:
        centres.append(y + h / 2)
        y += h + LEVEL_GAP
    height = y - LEVEL_GAP + (0.16 + len(foot) * FOOT_H if foot else 0.0) + MARGIN
    with style_context():
        canvas = Canvas(width, height)
        for i, line in enumerate(title):
            canvas.text(MARGIN, MARGIN + (i + 0.5) * 0.24, line, size=FS_TITLE, weight="bold")
        _headers(canvas, xs, w, top, other, counts.databases_searched)
        _phases(canvas, centres, heights)
        for level, yc in zip(LEVELS, centres, strict=True):
            for key, x in zip(level, xs, strict=False):
                if key is not None and key in boxes:
                    _draw_box(canvas, boxes[key], x, yc, w)
        _arrows(canvas, boxes, xs, w, centres, other)
        y = centres[-1] + heights[-1] / 2 + 0.16
        for line in foot:
            canvas.text(MARGIN, y + FOOT_H / 2, line, size=FS_FOOT, style="italic")
            y += FOOT_H
    return canvas.fig


def _headers(canvas: Canvas, xs: list[float], w: float, top: float, other: bool,
             databases: bool = True) -> None:
    """The column headers; the main column is the other-methods one when no database or
    register was searched (its colour and gid then those of the other-methods header)."""
    kinds = [0 if databases else 1] + ([1] if other else [])
    spans = [(xs[0], xs[1] + w)] + ([(xs[2], xs[3] + w)] if other else [])
    for kind, (x0, x1) in zip(kinds, spans, strict=True):
        text = HEADERS[kind]
        canvas.box(x0, top, x1 - x0, HEADER_H, face=HEADER_FACE[kind], edge="none",
                   rounded=0.05, gid=f"header-{kind}")
        lines = wrap_text(text, x1 - x0 - 0.2, FS_SMALL, "bold")
        for j, line in enumerate(lines):
            canvas.text((x0 + x1) / 2, top + HEADER_H / 2 + (j - (len(lines) - 1) / 2) * 0.15,
                        line, ha="center", size=FS_SMALL, weight="bold")


def _phases(canvas: Canvas, centres: list[float], heights: list[float]) -> None:
    """The phase labels: rounded bars spanning their levels, text turned 90 degrees."""
    for name, (first, last) in zip(PHASES, PHASE_LEVELS, strict=True):
        y0 = centres[first] - heights[first] / 2
        y1 = centres[last] + heights[last] / 2
        canvas.box(MARGIN, y0, PHASE_W, y1 - y0, face=PHASE_FACE, edge="none", rounded=0.06,
                   gid=f"phase-{name.lower()}")
        size = FS_SMALL if text_width(name, FS_SMALL, "bold") < y1 - y0 - 0.1 else 6.5
        canvas.text(MARGIN + PHASE_W / 2, (y0 + y1) / 2, name, ha="center", va="center",
                    size=size, weight="bold", rotation=90)


def _draw_box(canvas: Canvas, box: _Box, x: float, yc: float, w: float) -> None:
    y0 = yc - box.height / 2
    canvas.box(x, y0, w, box.height, linewidth=0.8, gid=box.gid)
    for i, (indent, text) in enumerate(box.lines):
        canvas.text(x + PAD + indent, y0 + PAD + (i + 0.5) * LINE, text, size=FS_BOX)


def _arrows(canvas: Canvas, boxes: dict[str, _Box], xs: list[float], w: float,
            centres: list[float], other: bool) -> None:
    def bottom(key: str, level: int) -> float:
        return centres[level] + boxes[key].height / 2

    def top(key: str, level: int) -> float:
        return centres[level] - boxes[key].height / 2

    main = [lv[0] for lv in LEVELS]
    for i in range(len(main) - 1):
        xc = xs[0] + w / 2
        canvas.arrow([(xc, bottom(main[i], i)), (xc, top(main[i + 1], i + 1))],
                     gid=f"arrow-{main[i]}")
    for i, level in enumerate(LEVELS):
        for col in (1, 3):
            if level[col] is not None and level[col] in boxes:
                canvas.arrow([(xs[col - 1] + w, centres[i]), (xs[col], centres[i])],
                             gid=f"arrow-{level[col]}")
    if other:
        xc = xs[2] + w / 2
        canvas.arrow([(xc, bottom("o_identified", 0)), (xc, top("o_sought", 2))],
                     gid="arrow-o_identified")
        canvas.arrow([(xc, bottom("o_sought", 2)), (xc, top("o_assessed", 3))],
                     gid="arrow-o_sought")
        canvas.arrow([(xc, bottom("o_assessed", 3)), (xc, centres[4]),
                      (xs[0] + w, centres[4])], gid="arrow-o_assessed")
