"""What every figure shares: input checks that name the bad value, sizes and colours, the
title and the footnote band. Drawing only; nothing here knows of studies or analyses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from .io import wrap_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FS = 9.0  # table text
FS_SMALL = 8.0  # PI, heterogeneity, ticks
FS_FOOT = 7.5  # lines under the axis
FS_TITLE = 10.5
ROW_H = 0.2  # inches per table row
FOOT_H = 0.16  # inches per footer line
MARGIN = 0.15
GAP = 0.2  # between text columns
PLOT_GAP = 0.22  # between the plot and the text columns
PLOT_MIN_W = 2.6
SQUARE_MAX_SIDE = 9.0  # points, for the largest weight
SQUARE_MIN_SIDE = 2.0  # points; smaller weights are drawn at this size (still visible)
UNWEIGHTED_SIDE = 4.5
DIAMOND_HALF_H = 0.34  # rows
INK = "#1a1a1a"
SQUARE_COLOR = "#4d4d4d"
PI_COLOR = "#B22222"


def check_number(where: str, value: Any, *, allow_nan: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number, got {value!r}") from None
    if math.isinf(number) or (math.isnan(number) and not allow_nan):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return number


def check_interval(where: str, est: Any, lo: Any, hi: Any, *, allow_nan: bool) -> tuple[float, ...]:
    values = tuple(check_number(f"{where}: {n}", v, allow_nan=True) for n, v in
                   (("estimate", est), ("ci_low", lo), ("ci_high", hi)))
    if allow_nan and all(math.isnan(v) for v in values):
        return values
    if any(math.isnan(v) for v in values):
        raise InputError(f"{where}: estimate, ci_low and ci_high must all be numbers "
                         f"(or all NaN for a row that is not estimable), got {values}")
    e, low, high = values
    tol = 1e-9 * max(1.0, abs(e))
    if not (low <= e + tol and e <= high + tol):
        raise InputError(f"{where}: need ci_low <= estimate <= ci_high, got {low}, {e}, {high}")
    return values


def set_interval(spec: Any, where: str, *, allow_nan: bool) -> tuple[float, ...]:
    """``check_interval`` on a frozen spec's ``estimate``, ``ci_low`` and ``ci_high``, stored
    back on it as floats (for ``__post_init__``); returns them."""
    values = check_interval(where, spec.estimate, spec.ci_low, spec.ci_high,
                            allow_nan=allow_nan)
    for name, value in zip(("estimate", "ci_low", "ci_high"), values, strict=True):
        object.__setattr__(spec, name, value)
    return values


def is_nan(value: Any) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def require_columns(where: str, frame: Any, columns: Sequence[str]) -> None:
    present = getattr(frame, "columns", None)
    if present is None:
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(f"{where}: missing column(s) {missing}; needs {list(columns)}")


def check_vector(name: str, values: Any, n: int | None = None) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name}: expected a non-empty 1-D sequence, got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise InputError(f"{name}: has {arr.size} values, expected {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(f"{name}: value at position {int(bad[0])} is not finite")
    return arr


def add_title(fig: Figure, title: str) -> None:
    """Bold figure title, wrapped to the figure width, left-aligned."""
    width = fig.get_size_inches()[0]
    lines = wrap_text(str(title), width - 2 * MARGIN, FS_TITLE, "bold")
    fig.suptitle("\n".join(lines), x=MARGIN / width, ha="left", fontsize=FS_TITLE,
                 fontweight="bold", parse_math=False)


def add_footer(fig: Figure, lines: Sequence[str], reserve: float = 0.0) -> float:
    """Footnote lines under a constrained-layout figure, in a band kept free of the axes.

    The figure grows by the band's height, so the axes keep their size however many lines
    there are. ``reserve`` inches above the footnotes are kept free too (for a legend).
    Returns the height of the footnote band as a figure fraction.
    """
    if isinstance(lines, str):
        raise InputError("footnote_lines must be a list of str, not one str")
    width, height = fig.get_size_inches()
    wrapped = [w for line in lines if str(line).strip()
               for w in wrap_text(str(line), width - 2 * MARGIN, FS_FOOT, style="italic")]
    band_in = (len(wrapped) * FOOT_H + 0.12) if wrapped else 0.0
    if not band_in and not reserve:
        return 0.0
    height += band_in + reserve
    fig.set_size_inches(width, height)
    total = (band_in + reserve) / height
    fig.get_layout_engine().set(rect=(0.0, total, 1.0, 1.0 - total))
    for i, text in enumerate(wrapped):
        fig.text(MARGIN / width, (0.06 + (len(wrapped) - i - 0.5) * FOOT_H) / height, text,
                 va="center", fontsize=FS_FOOT, fontstyle="italic", color=INK,
                 parse_math=False)
    return band_in / height
