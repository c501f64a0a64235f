"""Argument validators shared by the statistical functions.

Each check raises an ``InputError`` subclass whose message names the argument, the offending
position (0-based, as numpy indexes it) and the accepted form, so that a researcher can fix the
spreadsheet row without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InputError


class LengthMismatchError(InputError):
    """Two per-study arrays have different lengths."""


class NonFiniteError(InputError):
    """A value is NaN or infinite."""


class NonPositiveError(InputError):
    """A value that must be > 0 is not."""


class ChoiceError(InputError):
    """An option is not one of the accepted names."""


class LevelError(InputError):
    """A confidence level is outside (0, 1)."""


class TooFewStudiesError(InputError):
    """There are too few studies for the requested model."""


def as_vector(name: str, values: Any) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or raise naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name}: expected a 1-D sequence of numbers, could not convert ({exc})"
        ) from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D sequence of numbers, got shape {arr.shape}")
    return arr


def check_finite(name: str, arr: np.ndarray) -> None:
    """Raise ``NonFiniteError`` at the first NaN or infinite entry of ``arr``."""
    bad = ~np.isfinite(arr)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(
            f"{name}[{pos}] = {float(arr[pos])!r}: every value must be a finite number "
            f"({int(bad.sum())} non-finite value(s))"
        )


def check_positive(name: str, arr: np.ndarray) -> None:
    """Raise ``NonPositiveError`` at the first entry of ``arr`` that is <= 0."""
    bad = arr <= 0
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise NonPositiveError(
            f"{name}[{pos}] = {float(arr[pos])!r}: sampling variances must be > 0 "
            f"({int(bad.sum())} value(s) <= 0)"
        )


def check_same_length(names: Iterable[str], arrays: Iterable[np.ndarray]) -> int:
    """Return the common length of ``arrays`` or raise ``LengthMismatchError``."""
    names = list(names)
    arrays = list(arrays)
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        desc = ", ".join(f"{n} has {n_}" for n, n_ in zip(names, lengths, strict=True))
        raise LengthMismatchError(
            f"{', '.join(names)}: one value per study is required, but {desc}"
        )
    return lengths[0] if lengths else 0


def check_choice(name: str, value: Any, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options`` (exact spelling), else raise."""
    options = list(options)
    if not isinstance(value, str) or value not in options:
        raise ChoiceError(
            f"{name} = {value!r}: expected one of {', '.join(repr(o) for o in options)}"
        )
    return value


def check_level(level: Any, name: str = "level") -> float:
    """Return ``level`` as a float in (0, 1); 95 and the like get a hint."""
    try:
        lev = float(level)
    except (TypeError, ValueError):
        raise LevelError(f"{name} = {level!r}: expected a number in (0, 1), e.g. 0.95") from None
    if not (0.0 < lev < 1.0):
        hint = ""
        if 1.0 < lev < 100.0:
            hint = f" (use {lev / 100:g} for a {lev:g}% interval)"
        raise LevelError(f"{name} = {level!r}: expected a number in (0, 1), e.g. 0.95{hint}")
    return lev


def check_vi(vi: np.ndarray, name: str = "vi") -> None:
    """Sampling variances: finite and > 0."""
    check_finite(name, vi)
    check_positive(name, vi)


def check_k(k: int, minimum: int, what: str) -> None:
    """Raise ``TooFewStudiesError`` when fewer than ``minimum`` studies are given."""
    if k < minimum:
        raise TooFewStudiesError(f"{what}: needs at least {minimum} studies, got k = {k}")
