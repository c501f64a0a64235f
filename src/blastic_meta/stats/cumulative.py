"""Cumulative meta-analysis (Lau et al., 1992), as metafor 3.8 ``cumul.rma.uni``.

The studies are added one at a time in a given order and the model is refitted after each
addition with the fit's ``method``, ``test``, ``level`` and conventions, so that one sees
when the pooled estimate settled (e.g. by year of publication).

References
----------
Lau J, Antman EM, Jimenez-Silva J, Kupelnick B, Mosteller F, Chalmers TC (1992). Cumulative
    meta-analysis of therapeutic trials for myocardial infarction. N Engl J Med 327:248-54.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import InputError

if TYPE_CHECKING:
    import pandas as pd

    from .models import PooledResult

__all__ = ["CUMULATIVE_COLUMNS", "cumulative"]

CUMULATIVE_COLUMNS = ("k", "added", "estimate", "se", "zval", "pval", "ci_low", "ci_high",
                      "q", "q_pval", "tau2", "i2", "h2")


def cumulative(fit: PooledResult, order: Any = None) -> pd.DataFrame:
    """Refit after adding each study in turn (metafor ``cumul``), one row per step.

    Parameters
    ----------
    fit
        A fit without moderators.
    order
        The sequence in which the studies are added, as 0-based input positions: a
        permutation of ``0, ..., k - 1`` whose first entry is the first study pooled.
        Default: input order. To add studies by year, pass ``numpy.argsort(year,
        kind="stable")``. (metafor's ``cumul(order=)`` instead takes a sort key and adds
        the studies in ``order(order)``: a permutation given to metafor is applied inverted.)

    Returns
    -------
    pandas.DataFrame
        Indexed by step (0-based), with columns ``k`` (studies pooled so far), ``added``
        (input position of the study added at this step), ``estimate, se, zval, pval,
        ci_low, ci_high, q, q_pval, tau2, i2, h2``. ``zval`` is a t statistic under
        Knapp-Hartung, as ``PooledResult.zval``. The last row is the full fit.

    Notes
    -----
    The first step (k = 1) is what metafor gives for one study: estimate y, se sqrt(v),
    tau2 = 0, Q = 0, Q p = 1, I2 = 0, H2 = 1, and a normal-theory z statistic, p-value and
    CI even when the fit uses Knapp-Hartung (metafor switches ``test`` to "z" for k = 1 and
    ``cumul`` silences the warning); from k = 2 on the fit's own test is used.

    Raises
    ------
    InputError
        The fit has moderators (metafor: "only applicable to models without moderators"), or
        ``order`` is not a permutation of the input positions (names the offending entry).

    References
    ----------
    Lau J, Antman EM, Jimenez-Silva J, et al. (1992). Cumulative meta-analysis of therapeutic
    trials for myocardial infarction. N Engl J Med 327:248-54.
    """
    import pandas as pd

    if fit.p > 1:
        raise InputError("cumulative: only for models without moderators (mods=None)")
    sequence = _sequence(order, fit.k)
    y = np.asarray(fit.yi)[sequence]
    v = np.asarray(fit.vi)[sequence]
    rows = [_first_step(float(y[0]), float(v[0]), fit.level)]
    for n in range(2, fit.k + 1):
        r = fit._refit(y[:n], v[:n])
        rows.append({"estimate": r.estimate, "se": r.se, "zval": r.zval, "pval": r.pval,
                     "ci_low": r.ci_low, "ci_high": r.ci_high, "q": r.q, "q_pval": r.q_pval,
                     "tau2": r.tau2, "i2": r.i2, "h2": r.h2})
    table = pd.DataFrame(rows, index=pd.RangeIndex(fit.k, name="step"),
                         columns=list(CUMULATIVE_COLUMNS[2:]))
    table.insert(0, "added", sequence)
    table.insert(0, "k", np.arange(1, fit.k + 1))
    return table


def _first_step(y: float, v: float, level: float) -> dict[str, float]:
    """metafor's rma on a single study: tau2 = 0 and a z test."""
    from .models import _single_row

    row = _single_row(y, v, level)
    row["zval"] = row.pop("statistic")
    row.update(q=0.0, q_pval=1.0, tau2=0.0, i2=0.0, h2=1.0)
    return row


def _sequence(order: Any, k: int) -> np.ndarray:
    """``order`` checked to be a permutation of range(k), as an int array."""
    if order is None:
        return np.arange(k)
    if isinstance(order, str | bytes) or not hasattr(order, "__len__"):
        raise InputError(f"order: expected a sequence of {k} input positions, got {order!r}")
    if getattr(order, "ndim", 1) != 1:
        raise InputError(f"order: expected a 1-D sequence of input positions, got shape "
                         f"{order.shape}")
    items = list(order)
    if len(items) != k:
        raise InputError(f"order: expected {k} input positions (a permutation of 0..{k - 1}), "
                         f"got {len(items)}")
    seq = np.empty(k, dtype=np.int64)
    seen: dict[int, int] = {}
    for j, item in enumerate(items):
        try:
            if isinstance(item, bool | np.bool_):
                raise TypeError
            pos = operator.index(item)
        except TypeError:
            raise InputError(f"order[{j}] = {item!r}: expected an integer input position "
                             f"in 0..{k - 1}") from None
        if not 0 <= pos < k:
            raise InputError(f"order[{j}] = {pos}: not an input position (0..{k - 1})")
        if pos in seen:
            raise InputError(f"order[{j}] = {pos}: study {pos} is already added at "
                             f"order[{seen[pos]}]; give each position once")
        seen[pos] = j
        seq[j] = pos
    return seq

