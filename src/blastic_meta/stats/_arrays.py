"""Array validators for effect sizes, proportions and batches (choices and levels: ``_checks``).

Each check names the argument, the first offending position (0-based index) and the accepted
form, and raises a ``ValueError`` subclass, so a researcher sees at once which study is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InputError

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


# --- shared by the fits: effects tables in, read-only arrays and JSON-safe values out

def frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def jsonable(value: Any) -> Any:
    """Make ``value`` JSON-safe: NaN/inf -> None, numpy -> Python."""
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def split_frame(yi: Any, vi: Any) -> tuple[Any, Any]:
    """Accept an effects DataFrame with yi/vi columns in place of the two arrays."""
    columns = getattr(yi, "columns", None)
    if columns is None:
        if vi is None:
            raise InputError("vi: required when yi is not a DataFrame with 'yi' and 'vi' columns")
        return yi, vi
    if vi is not None:
        raise InputError("vi: leave it out when yi is a DataFrame (its 'vi' column is used)")
    missing = [c for c in ("yi", "vi") if c not in columns]
    if missing:
        raise InputError(
            f"yi: the DataFrame lacks column(s) {', '.join(missing)}; expected 'yi' and 'vi'")
    return yi["yi"].to_numpy(dtype=float), yi["vi"].to_numpy(dtype=float)


def moderator_matrix(mods: Any, k: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Moderator matrix (without intercept) and coefficient names."""
    if mods is None:
        return None, ("intrcpt",)
    columns = getattr(mods, "columns", None)
    if columns is not None:
        names = tuple(str(c) for c in columns)
        try:
            M = mods.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise InputError("mods: every moderator column must be numeric "
                             "(code categories as 0/1 indicator columns)") from None
    else:
        name = getattr(mods, "name", None)
        try:
            M = np.asarray(mods, dtype=float)
        except (TypeError, ValueError):
            raise InputError("mods: expected a DataFrame or a 2-D array of numbers") from None
        if M.ndim == 1:
            M = M[:, None]
            names = (str(name) if name is not None else "mod1",)
        elif M.ndim == 2:
            names = tuple(f"mod{j + 1}" for j in range(M.shape[1]))
        else:
            raise InputError(f"mods: expected a 2-D array, got shape {M.shape}")
    if M.shape[0] != k:
        raise InputError(f"mods: one row per study is required, got {M.shape[0]} rows for k = {k}")
    if M.shape[1] == 0:
        return None, ("intrcpt",)
    bad = ~np.isfinite(M)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"mods[{r}, {names[c]!r}] = {float(M[r, c])!r}: moderators must be finite")
    X = np.column_stack([np.ones(k), M])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("mods: the moderators (with the intercept) are linearly dependent; "
                         "drop a redundant column")
    return M, ("intrcpt", *names)
