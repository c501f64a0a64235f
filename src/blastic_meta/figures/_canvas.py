"""A figure drawn on a grid of inches measured from the top-left corner.

Table-like figures (traffic-light plot, PRISMA diagram, effect-direction plot, comparison
figure) are laid out in inches from the texts they hold; this canvas places text, lines, boxes,
arrows and markers at those positions, so the layout code never converts units. Call inside
``style_context()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._common import FS, INK

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text


class Canvas:
    """``Figure`` of ``width`` x ``height`` inches; every ``y`` is inches down from the top."""

    def __init__(self, width: float, height: float) -> None:
        from matplotlib.figure import Figure
        from matplotlib.transforms import Affine2D

        self.width, self.height = width, height
        self.fig: Figure = Figure(figsize=(width, height))
        # inches from the top-left corner -> display coordinates
        self.transform = Affine2D().scale(1.0, -1.0).translate(0.0, height) + \
            self.fig.dpi_scale_trans

    def text(self, x: float, y: float, s: str, *, ha: str = "left", va: str = "center",
             size: float = FS, weight: str = "normal", style: str = "normal",
             color: str = INK, rotation: float = 0.0, gid: str | None = None) -> Text:
        return self.fig.text(x, y, s, ha=ha, va=va, fontsize=size, fontweight=weight,
                             fontstyle=style, color=color, rotation=rotation,
                             rotation_mode="anchor" if rotation else "default",
                             transform=self.transform, parse_math=False, gid=gid)

    def title(self, x: float, y: float, lines: list[str] | tuple[str, ...], size: float,
              line_h: float = 0.24, gap: float = 0.08) -> float:
        """Bold title lines from ``y`` down; returns the ``y`` below them (and the gap)."""
        for line in lines:
            self.text(x, y + line_h / 2, line, size=size, weight="bold")
            y += line_h
        return y + (gap if lines else 0.0)

    def line(self, xs: list[float], ys: list[float], *, color: str = INK,
             linewidth: float = 0.6, linestyle: Any = "-", gid: str | None = None) -> None:
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D(xs, ys, transform=self.transform, color=color,
                                   linewidth=linewidth, linestyle=linestyle, gid=gid,
                                   solid_capstyle="butt"))

    def box(self, x: float, y: float, w: float, h: float, *, face: str = "white",
            edge: str = INK, linewidth: float = 0.8, rounded: float = 0.0,
            hatch: str | None = None, gid: str | None = None) -> None:
        """Rectangle with its top-left corner at (x, y); ``rounded`` is the corner radius."""
        from matplotlib.patches import FancyBboxPatch

        style = f"round,pad=0,rounding_size={rounded}" if rounded else "square,pad=0"
        patch = FancyBboxPatch((x, y), w, h, boxstyle=style, transform=self.transform,
                               facecolor=face, edgecolor=edge, linewidth=linewidth,
                               hatch=hatch, gid=gid)
        self.fig.add_artist(patch)

    def arrow(self, points: list[tuple[float, float]], *, gid: str | None = None) -> None:
        """A polyline through ``points`` with a filled head at its last point."""
        from matplotlib.patches import FancyArrowPatch, Path

        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        patch = FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>,head_length=5,"
                                "head_width=2.6", transform=self.transform, color=INK,
                                linewidth=0.8, shrinkA=0, shrinkB=0, joinstyle="miter",
                                capstyle="butt", gid=gid)
        self.fig.add_artist(patch)

    def marker(self, x: float, y: float, marker: Any, size: float, *, face: str = INK,
               edge: str = INK, linewidth: float = 0.8, gid: str | None = None) -> None:
        """One marker of ``size`` points centred on (x, y)."""
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([x], [y], transform=self.transform, marker=marker,
                                   markersize=size, markerfacecolor=face, markeredgecolor=edge,
                                   markeredgewidth=linewidth, linestyle="none", gid=gid))
