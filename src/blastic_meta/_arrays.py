"""Array validators for effect sizes, proportions and batches (choices and levels: ``_checks``).

Each check names the argument, the first offending position (0-based index) and the accepted
form, and raises a ``ValueError`` subclass, so a researcher sees at once which study is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import InputError

FloatArray = NDArray[np.float64]


class ArrayInputError(InputError):
    """A numeric argument has a wrong shape, length or value."""


def as_vector(name: str, values: ArrayLike, *, allow_nan: bool = False) -> FloatArray:
    """Return ``values`` as a 1-D float array, rejecting other shapes and non-finite values."""
    if isinstance(values, str | bytes):
        raise ArrayInputError(f"{name}: expected a sequence of numbers, got a string")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ArrayInputError(f"{name}: expected a sequence of numbers ({exc})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ArrayInputError(f"{name}: expected a 1-D sequence of numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ArrayInputError(f"{name}: expected at least one value, got none")
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    _raise_first(name, arr, bad, "must be a finite number")
    return arr


def as_matrix(name: str, values: ArrayLike) -> FloatArray:
    """Return ``values`` as a 2-D float array (NaN allowed, infinities rejected)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ArrayInputError(f"{name}: expected a 2-D array of numbers ({exc})") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ArrayInputError(f"{name}: expected a 2-D array (one row per analysis), "
                              f"got shape {arr.shape}")
    bad = np.isinf(arr)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ArrayInputError(f"{name}[{i}, {j}] = {arr[i, j]}: must be finite (NaN marks a "
                              "missing study)")
    return arr


def same_length(arrays: Mapping[str, FloatArray]) -> int:
    """Check that all arrays have one length and return it."""
    lengths = {name: arr.size for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ArrayInputError(f"arguments must have the same length: {desc}")
    return next(iter(lengths.values()))


def check_positive(name: str, arr: FloatArray, what: str = "a number > 0") -> None:
    _raise_first(name, arr, ~(arr > 0), f"must be {what}")


def check_nonnegative(name: str, arr: FloatArray, what: str = "a number >= 0") -> None:
    _raise_first(name, arr, ~(arr >= 0), f"must be {what}")


def check_between(name: str, arr: FloatArray, low: float, high: float, *,
                  closed: bool = True) -> None:
    """Check ``low <= arr <= high`` (or strict inequalities when ``closed`` is False)."""
    if closed:
        bad = ~((arr >= low) & (arr <= high))
        form = f"a number in [{low:g}, {high:g}]"
    else:
        bad = ~((arr > low) & (arr < high))
        form = f"a number in ({low:g}, {high:g})"
    _raise_first(name, arr, bad, f"must be {form}")


def check_at_most(name: str, arr: FloatArray, other_name: str, other: FloatArray) -> None:
    """Check ``arr <= other`` element-wise (events cannot exceed totals)."""
    bad = ~(arr <= other)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ArrayInputError(f"{name}[{i}] = {arr[i]:g} exceeds {other_name}[{i}] = "
                              f"{other[i]:g}: must be <= {other_name}")


def _raise_first(name: str, arr: FloatArray, bad: NDArray[np.bool_], message: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ArrayInputError(f"{name}[{i}] = {arr[i]:g}: {message}")
