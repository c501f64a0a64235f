"""Figure plumbing shared by ``figures``: one fixed style, text measuring, deterministic saving.

The style is applied inside a local ``rc_context`` that first resets to matplotlib's defaults,
so a user's matplotlibrc cannot change a figure and nothing global is left changed. Fonts are
DejaVu Sans, which ships with matplotlib, so layout and PNG bytes are the same on every machine.
matplotlib is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InputError
from . import _text_sizes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FONT = "DejaVu Sans"
PNG_DPI = 300
_PNG_BLOCK = 64  # scanlines packed and compressed at a time (write_png)
SVG_HASH_SALT = "blastic-meta"
#: Okabe & Ito (2008) colour-blind safe palette.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

_STYLE: dict[str, Any] = {
    "font.family": ["sans-serif"],
    "font.sans-serif": [FONT],
    "font.size": 9.0,
    "mathtext.fontset": "dejavusans",
    "text.usetex": False,
    "axes.linewidth": 0.8,
    "axes.edgecolor": "black",
    "axes.labelsize": 9.0,
    "axes.titlesize": 9.5,
    "axes.titleweight": "bold",
    "axes.unicode_minus": True,
    "axes.formatter.use_locale": False,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
    "lines.linewidth": 1.0,
    "figure.dpi": 100.0,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.bbox": None,
    # at 300 dpi hinting buys no sharpness and costs a third of the text rendering time
    "text.hinting": "no_hinting",
    "svg.fonttype": "none",
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.image_inline": True,
}


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """Matplotlib defaults plus the house style, restored on exit (nothing global changes)."""
    import matplotlib as mpl
    from cycler import cycler

    with mpl.rc_context(), _fonts_from_memory(), _text_sizes.shared_text_metrics():
        mpl.rcdefaults()
        mpl.rcParams.update(_STYLE)
        mpl.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))
        yield


@lru_cache(maxsize=8)
def _font_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


class _FontFile(io.BytesIO):
    """A font file held in memory that still names its path: matplotlib takes a font's
    ``fname`` (``str`` of the file object, or the object itself before matplotlib 3.10) as
    the path of the file to embed in a PDF or PostScript file."""

    def __init__(self, path: str) -> None:
        super().__init__(_font_bytes(path))
        self.name = path

    def __str__(self) -> str:
        return self.name

    def __fspath__(self) -> str:
        return self.name


@lru_cache(maxsize=64)
def _memory_font(font_filepaths: tuple[str, ...], hinting_factor: int, **options: Any) -> Any:
    """matplotlib's own font constructor, given the font files as in-memory files."""
    files = tuple(_FontFile(path) for path in font_filepaths)
    return _MATPLOTLIB_FONT[0](files, hinting_factor, **options)


_MATPLOTLIB_FONT: list[Any] = []  # matplotlib's font constructor, without its cache


if hasattr(os, "register_at_fork"):  # a font is tied to its process's FreeType library
    os.register_at_fork(after_in_child=_memory_font.cache_clear)


@contextlib.contextmanager
def _fonts_from_memory() -> Iterator[None]:
    """matplotlib's fonts read from memory instead of through a file, inside this block only.

    matplotlib gives FreeType its font files as Python file objects, so every glyph loaded
    for measuring or drawing text costs a Python ``seek`` and ``read`` on the file: about
    three quarters of the time of laying out a label. Laying out and drawing text is the
    largest part of drawing these figures, and the same file held in a ``BytesIO`` makes the
    figures about a fifth faster, with identical output. matplotlib has no public way to do
    this, so its (private, cached) font constructor is swapped for the block's duration and
    left alone if it has changed shape. (The swap is seen by every thread of the process;
    a font read from memory gives the same bytes in every format, PDF included.)
    """
    from matplotlib import font_manager

    original = getattr(font_manager, "_get_font", None)
    constructor = getattr(original, "__wrapped__", None)
    if original is _memory_font or constructor is None:  # already swapped, or changed shape
        yield
        return
    _MATPLOTLIB_FONT[:] = [constructor]
    font_manager._get_font = _memory_font
    try:
        yield
    finally:
        font_manager._get_font = original


@lru_cache(maxsize=4096)
def text_width(text: str, size: float, weight: str = "normal", style: str = "normal") -> float:
    """Width of one line of ``text`` in inches, from the DejaVu Sans outlines (dpi-free)."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=FONT, size=size, weight=weight, style=style)
    width_pt, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return float(width_pt) / 72.0


def wrap_text(
    text: str, width: float, size: float, weight: str = "normal", style: str = "normal"
) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` inches; explicit newlines are kept.

    Each line takes as many words as fit (at least one), the lines of adding word by word.
    A line grows wider with each word added, so the longest fitting run is found from a
    guess: the words' own widths (each measured once, and again in no other line) and the
    width of a space add up to about the line's width; the line itself is then measured
    at the guess and one word either side until the run that fits is found. Most lines
    take two measures of about their own length, where a bisection over the paragraph
    measures runs of up to its whole length several times per line.
    Empty words at the start of a line (from repeated spaces) are dropped, as a word-by-word
    wrap drops them.
    """
    def fits(line: str) -> bool:
        return text_width(line, size, weight, style) <= width

    gap = _space_width(size, weight, style)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        widths = [text_width(w, size, weight, style) for w in words]
        start = 0
        while True:
            while start < len(words) - 1 and not words[start]:
                start += 1
            # the guess: as many words as the sum of their widths and gaps lets in
            stop, guess = start + 1, widths[start]
            while stop < len(words) and guess + gap + widths[stop] <= width:
                guess += gap + widths[stop]
                stop += 1
            # the line words[start:stop]: fewer words while it does not fit (one at least),
            # more while one more still fits
            while stop > start + 1 and not fits(" ".join(words[start:stop])):
                stop -= 1
            while stop < len(words) and fits(" ".join(words[start:stop + 1])):
                stop += 1
            lines.append(" ".join(words[start:stop]))
            if stop >= len(words):
                break
            start = stop
    return lines


@lru_cache(maxsize=64)
def _space_width(size: float, weight: str, style: str) -> float:
    """About what a space between two words adds to a line's width (for ``wrap_text``'s
    guess only: the lines themselves are measured)."""
    return text_width("n n", size, weight, style) - 2 * text_width("n", size, weight, style)


def preload() -> None:
    """Import what drawing and saving the figures needs (about a second): matplotlib, every
    figure module, pypng, and pandas for the specs that hold a table.

    The report's drawing server does this while the registry is read, so that its workers
    start with the modules loaded instead of each importing them again."""
    import importlib
    import pkgutil

    import matplotlib.backends.backend_agg
    import matplotlib.backends.backend_svg
    import matplotlib.figure
    import matplotlib.pyplot  # noqa: F401
    import pandas  # noqa: F401
    import png  # noqa: F401

    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(sys.modules[package].__path__):
        importlib.import_module(f"{package}.{module.name}")


class _Grab:
    """A write-only file that keeps what ``savefig(format="rgba")`` writes, without copying:
    matplotlib writes Agg's whole pixel buffer in one call (``print_raw``)."""

    def __init__(self) -> None:
        self.data: Any = None

    def seek(self, *_: Any) -> None:  # only so that matplotlib takes this for a file
        raise OSError("not seekable")

    def write(self, data: Any) -> int:
        if self.data is not None:
            raise RuntimeError("write_png: matplotlib wrote the pixels in more than one piece")
        self.data = data
        return len(memoryview(data))


def write_png(fig: Figure, handle: BinaryIO, dpi: float = PNG_DPI) -> None:
    """``fig`` rendered by matplotlib's Agg at ``dpi`` and written as a PNG.

    The pixels are matplotlib's (``savefig(format="rgba")``, exactly what its PNG holds); only
    the encoding differs. matplotlib saves PNGs through Pillow, which tries five filters on
    every row and cannot be told not to: for these flat-coloured figures that filtering takes
    three quarters of the encoding time and makes the file larger than no filter does. Here
    the rows are unfiltered and compressed as one stream by zlib-ng (level 2), which for these
    images is four times as fast as zlib at level 3 for files of the same size; pypng (MIT)
    writes the PNG's header, density and chunks. The alpha channel is left out when the
    figure is opaque everywhere (a white face colour); the PNG holds only the pixel density
    (``pHYs``) besides the image, so it carries no date or software name. The compressed
    bytes are the same run after run; another zlib-ng release or processor family may pick
    other matches for the same pixels.

    Agg's buffer is read where it lies, and the rows are packed behind their filter bytes a
    block at a time, one channel at a time: numpy copies a 3-of-4-byte stride five times
    slower than three single-byte strides, and a block that fits in cache is compressed
    while still there (no image-sized copy is made).
    """
    import numpy as np
    import png
    from zlib_ng import zlib_ng

    grab = _Grab()
    fig.savefig(grab, format="rgba", dpi=dpi)
    # Agg's canvas is the figure size at dpi, truncated (matplotlib's RendererAgg)
    width, height = int(fig.get_figwidth() * dpi), int(fig.get_figheight() * dpi)
    pixels = np.frombuffer(grab.data, dtype=np.uint8)
    if pixels.size != width * height * 4:
        raise RuntimeError(f"write_png: {pixels.size} bytes rendered for {width} x {height}")
    pixels = pixels.reshape(height, width, 4)
    # little-endian RGBA words: alpha is the top byte
    opaque = bool((pixels.view("<u4") >= 0xFF000000).all())
    planes = 3 if opaque else 4
    # the scanlines, _PNG_BLOCK at a time: filter type 0 (none), then the row's samples,
    # packed into one small buffer that stays in cache, and compressed as one stream
    block = np.empty((min(_PNG_BLOCK, height), 1 + width * planes), dtype=np.uint8)
    block[:, 0] = 0
    compressor = zlib_ng.compressobj(2)
    idat = []
    for top in range(0, height, _PNG_BLOCK):
        rows = pixels[top:top + _PNG_BLOCK]
        samples = block[:len(rows), 1:].reshape(len(rows), width, planes)
        for channel in range(planes):
            samples[..., channel] = rows[..., channel]
        idat.append(compressor.compress(memoryview(block[:len(rows)]).cast("B")))
    idat.append(compressor.flush())
    per_metre = int(dpi / 0.0254 + 0.5)  # as Pillow writes the density
    writer = png.Writer(width, height, greyscale=False, alpha=not opaque, bitdepth=8,
                        x_pixels_per_unit=per_metre, y_pixels_per_unit=per_metre,
                        unit_is_meter=True)
    writer.write_preamble(handle)  # signature, IHDR, pHYs
    png.write_chunk(handle, b"IDAT", b"".join(idat))
    png.write_chunk(handle, b"IEND")


@contextlib.contextmanager
def _layout_kept(fig: Figure) -> Iterator[Callable[[], None]]:
    """A call that keeps ``fig``'s current layout for its later draws (its layout engine,
    such as constrained layout, is switched off); the engine is put back on exit.

    A layout engine runs at every draw (and makes a save draw once more before it draws),
    and constrained layout measures every text twice a run: about a third of the time of
    saving a small figure. ``save_figure`` keeps the layout the SVG was drawn with for the
    PNG, whose positions differ from a layout made again at 300 dpi by less than a pixel;
    the two files then show the same layout.
    """
    engine = fig.get_layout_engine()

    def keep() -> None:
        if engine is not None:
            # None, not "none": with no engine at all a save skips its layout-only draw
            fig.set_layout_engine(None)
            if fig.get_layout_engine() is not None:  # an rcParam asked for one again
                fig.set_layout_engine("none")

    try:
        yield keep
    finally:
        if engine is not None and fig.get_layout_engine() is not engine:
            fig.set_layout_engine(engine)


def save_figure(fig: Figure, path_without_suffix: str | os.PathLike[str]) -> list[Path]:
    """Write ``fig`` as ``<path>.svg`` and ``<path>.png`` (300 dpi), then close it.

    Reruns give identical bytes: the SVG keeps text as text (``svg.fonttype = "none"``, so labels
    stay searchable and editable), uses a fixed ``svg.hashsalt`` and carries no date or
    matplotlib version; the PNG (``write_png``) carries no text chunk. Each file is written to a
    temporary file in the target folder and renamed into place once both are complete, so a
    half-written figure never appears. The folder is created if needed.

    Returns the two paths, SVG first.
    """
    base = Path(path_without_suffix)
    if not base.name or base.name.lower().endswith((".svg", ".png")):
        raise InputError(
            f"save_figure: path_without_suffix must name a file without .svg/.png, got {base}"
        )
    folder = base.parent
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[str, Path]] = []
    try:
        with style_context(), _layout_kept(fig) as keep_layout:
            for fmt in ("svg", "png"):
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base.name}.", suffix=".tmp")
                written.append((tmp, folder / f"{base.name}.{fmt}"))
                with os.fdopen(fd, "wb") as handle:
                    if fmt == "svg":
                        fig.savefig(handle, format="svg", metadata={"Date": None,
                                                                    "Creator": None})
                        keep_layout()
                    else:
                        write_png(fig, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
        for tmp, target in written:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    finally:
        for tmp, _ in written:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # only figures made through pyplot are registered there
            pyplot.close(fig)
    return [target for _, target in written]


def nice_limits(lo: float, hi: float, log: bool) -> tuple[tuple[float, float], list[float]]:
    """Axis limits on round numbers covering [lo, hi] and the ticks inside them.

    Linear axes use matplotlib's MaxNLocator steps; log axes use the 1-2-5 series.
    """
    if log:
        candidates = sorted(
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
            for m in (1.0, 2.0, 5.0)
        )
        low = max(c for c in candidates if c <= lo * (1 + 1e-12))
        high = min(c for c in candidates if c >= hi * (1 - 1e-12))
        ticks = [c for c in candidates if low <= c <= high]
        if len(ticks) > 9:
            ticks = [c for c in ticks if math.isclose(c, 10.0 ** round(math.log10(c)))]
            low, high = min(low, ticks[0]), max(high, ticks[-1])
        return (low, high), ticks
    from matplotlib.ticker import MaxNLocator

    if hi <= lo:
        pad = abs(lo) * 0.5 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
    tol = 1e-9 * (hi - lo)
    low = max(t for t in raw if t <= lo + tol)
    high = min(t for t in raw if t >= hi - tol)
    ticks = [0.0 if abs(t) < tol else t for t in raw if low - tol <= t <= high + tol]
    return (low, high), ticks


def tick_label(value: float) -> str:
    """Short tick label with a typographic minus sign."""
    text = f"{value:g}"
    return "\u2212" + text[1:] if text.startswith("-") else text
