"""Effect sizes and their sampling variances, with metafor's ``escalc`` names and definitions.

``effect_sizes(measure, **arrays)`` returns a DataFrame with the inputs plus ``yi`` and
``vi``. ``MEASURES`` is the single registry of valid measure codes. Formulas, bias corrections
and default zero-cell handling follow metafor 3.8 ``escalc`` (Viechtbauer, 2010) with its
defaults ``add=1/2, to="only0", vtype="LS"``:

- single-group pre/post: ``MC``, ``SMCR``, ``SMCC`` (Becker, 1988; Morris, 2000) and
  ``ROMC``, the log ratio of the means at the two occasions, ``log(m1i / m2i)``
  (Friedrich et al., 2008; Lajeunesse, 2011);
- a single mean: ``MN``;
- single proportions: ``PR``, ``PLO`` (0.5 added to both cells of a study with 0 or all
  events), ``PAS`` and ``PFT`` (no correction; Freeman and Tukey, 1950);
- two groups: ``MD``, ``SMD`` (Hedges' g with the exact gamma-function correction; Hedges,
  1981), ``ROM`` (Hedges et al., 1999; Friedrich et al., 2008), ``OR``, ``RR``, ``RD``
  (0.5 added to every cell of a 2x2 table with a zero cell), and ``ZCOR`` (Fisher, 1921)
  from ``ri, ni``.

``ROMC`` and ``MN`` have no variance variants in metafor 3.8 (``vtype`` is ignored there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import gammaln

from .._checks import check_choice
from ._arrays import (
    ArrayInputError,
    FloatArray,
    as_vector,
    check_at_most,
    check_between,
    check_nonnegative,
    check_positive,
    same_length,
)

__all__ = ["MEASURES", "EffectSizeError", "Measure", "effect_sizes", "effect_values"]

#: continuity correction of metafor's escalc default (``add = 1/2, to = "only0"``)
_ADD = 0.5


class EffectSizeError(ArrayInputError):
    """Effect sizes cannot be computed from the given measure or arrays."""


Arrays = Mapping[str, FloatArray]
Formula = Callable[[Arrays], tuple[FloatArray, FloatArray]]


@dataclass(frozen=True, slots=True)
class Measure:
    """One outcome measure: its accepted argument sets and its formula."""

    code: str
    description: str
    required: tuple[tuple[str, ...], ...]  # alternative argument sets, any one suffices
    optional: tuple[str, ...]
    formula: Formula

    @property
    def accepted(self) -> tuple[str, ...]:
        names: list[str] = []
        for group in (*self.required, self.optional):
            names.extend(n for n in group if n not in names)
        return tuple(names)


# -- helpers ------------------------------------------------------------------------------


def _cmi(m: FloatArray) -> FloatArray:
    """Exact small-sample correction factor of Hedges (1981), as metafor's ``.cmicalc``."""
    return np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))


def _sd(a: Arrays, name: str) -> FloatArray:
    check_positive(name, a[name], "a standard deviation > 0")
    return a[name]


def _n(a: Arrays, name: str, minimum: float = 0, why: str = "a sample size > 0") -> FloatArray:
    arr = a[name]
    bad = ~(arr > minimum)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EffectSizeError(f"{name}[{i}] = {arr[i]:g}: must be {why}")
    return arr


def _n_at_least_one(a: Arrays, name: str = "ni") -> FloatArray:
    arr = a[name]
    bad = ~(arr >= 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EffectSizeError(f"{name}[{i}] = {arr[i]:g}: must be a sample size >= 1")
    return arr


def _r(a: Arrays, name: str = "ri") -> FloatArray:
    check_between(name, a[name], -1.0, 1.0)
    return a[name]


# -- pre/post within one group ------------------------------------------------------------


def _change_var(a: Arrays) -> FloatArray:
    sd1, sd2, r = _sd(a, "sd1i"), _sd(a, "sd2i"), _r(a)
    var = sd1**2 + sd2**2 - 2 * r * sd1 * sd2
    bad = ~(var > 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EffectSizeError(f"ri[{i}] = {r[i]:g} with sd1i[{i}] = sd2i[{i}]: the change "
                              "scores have no variance; give ri < 1")
    return var


def _mc(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ni = _n(a, "ni")
    return a["m1i"] - a["m2i"], _change_var(a) / ni


def _smcc(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ni = _n(a, "ni", 2, "a sample size > 2 (for the small-sample correction)")
    yi = _cmi(ni - 1) * (a["m1i"] - a["m2i"]) / np.sqrt(_change_var(a))
    return yi, 1 / ni + yi**2 / (2 * ni)


def _smcr(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ni = _n(a, "ni", 2, "a sample size > 2 (for the small-sample correction)")
    sd1, r = _sd(a, "sd1i"), _r(a)
    if "sd2i" in a:
        _sd(a, "sd2i")
    yi = _cmi(ni - 1) * (a["m1i"] - a["m2i"]) / sd1
    return yi, 2 * (1 - r) / ni + yi**2 / (2 * ni)


def _romc(a: Arrays) -> tuple[FloatArray, FloatArray]:
    """Log ratio of means, pre/post: yi = log(m1i/m2i), with the delta-method variance
    (sd1^2/m1^2 + sd2^2/m2^2 - 2 r sd1 sd2/(m1 m2))/n (Lajeunesse, 2011; metafor "ROMC")."""
    m1, m2 = a["m1i"], a["m2i"]
    check_positive("m1i", m1, "a mean > 0 (ratio of means needs positive means)")
    check_positive("m2i", m2, "a mean > 0 (ratio of means needs positive means)")
    sd1, sd2, r = _sd(a, "sd1i"), _sd(a, "sd2i"), _r(a)
    ni = _n_at_least_one(a)
    cv1, cv2 = sd1 / m1, sd2 / m2
    vi = (cv1**2 + cv2**2 - 2 * r * cv1 * cv2) / ni
    bad = ~(vi > 0)  # only r = 1 with equal coefficients of variation
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EffectSizeError(f"ri[{i}] = {r[i]:g} with sd1i[{i}]/m1i[{i}] = sd2i[{i}]/m2i[{i}]"
                              ": the log ratio has no variance; give ri < 1")
    return np.log(m1 / m2), vi


# -- a single mean ------------------------------------------------------------------------


def _mn(a: Arrays) -> tuple[FloatArray, FloatArray]:
    sdi, ni = _sd(a, "sdi"), _n_at_least_one(a)
    return a["mi"].copy(), sdi**2 / ni


# -- single proportions -------------------------------------------------------------------


def _events(a: Arrays) -> tuple[FloatArray, FloatArray]:
    xi = a["xi"]
    ni = _n(a, "ni", 0, "a number of participants > 0")
    check_nonnegative("xi", xi, "a count of events >= 0")
    check_at_most("xi", xi, "ni", ni)
    return xi, ni


def _corrected(xi: FloatArray, ni: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Add 1/2 to events and non-events of studies with 0 or all events (``to="only0"``)."""
    mi = ni - xi
    add = np.where((xi == 0) | (mi == 0), _ADD, 0.0)
    return xi + add, mi + add


def _pr(a: Arrays) -> tuple[FloatArray, FloatArray]:
    x, m = _corrected(*_events(a))
    p = x / (x + m)
    return p, p * (1 - p) / (x + m)


def _plo(a: Arrays) -> tuple[FloatArray, FloatArray]:
    x, m = _corrected(*_events(a))
    return np.log(x / m), 1 / x + 1 / m


def _pas(a: Arrays) -> tuple[FloatArray, FloatArray]:
    xi, ni = _events(a)
    return np.arcsin(np.sqrt(xi / ni)), 1 / (4 * ni)


def _pft(a: Arrays) -> tuple[FloatArray, FloatArray]:
    xi, ni = _events(a)
    yi = 0.5 * (np.arcsin(np.sqrt(xi / (ni + 1))) + np.arcsin(np.sqrt((xi + 1) / (ni + 1))))
    return yi, 1 / (4 * ni + 2)


# -- two groups, continuous ---------------------------------------------------------------


def _md(a: Arrays) -> tuple[FloatArray, FloatArray]:
    sd1, sd2 = _sd(a, "sd1i"), _sd(a, "sd2i")
    n1, n2 = _n(a, "n1i"), _n(a, "n2i")
    return a["m1i"] - a["m2i"], sd1**2 / n1 + sd2**2 / n2


def _smd(a: Arrays) -> tuple[FloatArray, FloatArray]:
    sd1, sd2 = _sd(a, "sd1i"), _sd(a, "sd2i")
    n1, n2 = _n(a, "n1i"), _n(a, "n2i")
    total = n1 + n2
    bad = ~(total > 3)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise EffectSizeError(f"n1i[{i}] + n2i[{i}] = {total[i]:g}: must be > 3 for Hedges' "
                              "small-sample correction")
    mi = total - 2
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
    yi = _cmi(mi) * (a["m1i"] - a["m2i"]) / sdp
    return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * total)


def _rom(a: Arrays) -> tuple[FloatArray, FloatArray]:
    sd1, sd2 = _sd(a, "sd1i"), _sd(a, "sd2i")
    n1, n2 = _n(a, "n1i"), _n(a, "n2i")
    m1, m2 = a["m1i"], a["m2i"]
    check_positive("m1i", m1, "a mean > 0 (ratio of means needs positive means)")
    check_positive("m2i", m2, "a mean > 0 (ratio of means needs positive means)")
    return np.log(m1 / m2), sd1**2 / (n1 * m1**2) + sd2**2 / (n2 * m2**2)


# -- two groups, binary -------------------------------------------------------------------


def _table(a: Arrays) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the 2x2 cells after metafor's default correction (1/2 if any cell is 0)."""
    cells: dict[str, FloatArray] = {}
    for ev, non, tot in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
        x = a[ev]
        check_nonnegative(ev, x, "a count of events >= 0")
        if tot in a:
            n = _n(a, tot, 0, "a group size > 0")
            check_at_most(ev, x, tot, n)
            if non in a:
                diff = a[non] != n - x
                if diff.any():
                    i = int(np.flatnonzero(diff)[0])
                    raise EffectSizeError(f"{tot}[{i}] = {n[i]:g} is not {ev}[{i}] + {non}[{i}]"
                                          "; give either the non-events or the group size")
            cells[ev], cells[non] = x, n - x
        else:
            check_nonnegative(non, a[non], "a count of non-events >= 0")
            _n({tot: x + a[non]}, tot, 0, f"> 0 ({ev} + {non}, the group size)")
            cells[ev], cells[non] = x, a[non]
    ai, bi, ci, di = (cells[n] for n in ("ai", "bi", "ci", "di"))
    add = np.where((ai == 0) | (bi == 0) | (ci == 0) | (di == 0), _ADD, 0.0)
    return ai + add, bi + add, ci + add, di + add


def _or(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ai, bi, ci, di = _table(a)
    return np.log(ai / bi) - np.log(ci / di), 1 / ai + 1 / bi + 1 / ci + 1 / di


def _rr(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ai, bi, ci, di = _table(a)
    n1, n2 = ai + bi, ci + di
    return np.log(ai / n1) - np.log(ci / n2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2


def _rd(a: Arrays) -> tuple[FloatArray, FloatArray]:
    ai, bi, ci, di = _table(a)
    p1, p2 = ai / (ai + bi), ci / (ci + di)
    return p1 - p2, p1 * (1 - p1) / (ai + bi) + p2 * (1 - p2) / (ci + di)


# -- correlation --------------------------------------------------------------------------


def _zcor(a: Arrays) -> tuple[FloatArray, FloatArray]:
    check_between("ri", a["ri"], -1.0, 1.0, closed=False)
    ni = _n(a, "ni", 3, "a sample size > 3 (the variance is 1/(ni - 3))")
    return np.arctanh(a["ri"]), 1 / (ni - 3)


_PREPOST = ("m1i", "m2i", "sd1i", "sd2i", "ni", "ri")
_TWO_MEANS = ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i")
_TABLE = (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i"))
_TABLE_OPTIONAL = ("ai", "bi", "ci", "di", "n1i", "n2i")

MEASURES: dict[str, Measure] = {
    m.code: m
    for m in (
        Measure("MC", "raw mean change (m1i - m2i)", (_PREPOST,), (), _mc),
        Measure("SMCR", "standardised mean change, raw-score (sd1i) standardisation",
                (("m1i", "m2i", "sd1i", "ni", "ri"),), ("sd2i",), _smcr),
        Measure("SMCC", "standardised mean change, change-score standardisation",
                (_PREPOST,), (), _smcc),
        Measure("ROMC", "log ratio of means, pre/post (log(m1i / m2i))", (_PREPOST,), (),
                _romc),
        Measure("MN", "raw mean", (("mi", "sdi", "ni"),), (), _mn),
        Measure("PR", "raw proportion", (("xi", "ni"),), (), _pr),
        Measure("PLO", "logit of a proportion", (("xi", "ni"),), (), _plo),
        Measure("PAS", "arcsine square-root transformed proportion", (("xi", "ni"),), (), _pas),
        Measure("PFT", "Freeman-Tukey double arcsine transformed proportion",
                (("xi", "ni"),), (), _pft),
        Measure("MD", "raw mean difference", (_TWO_MEANS,), (), _md),
        Measure("SMD", "standardised mean difference (Hedges' g)", (_TWO_MEANS,), (), _smd),
        Measure("ROM", "log ratio of means", (_TWO_MEANS,), (), _rom),
        Measure("OR", "log odds ratio", _TABLE, _TABLE_OPTIONAL, _or),
        Measure("RR", "log risk ratio", _TABLE, _TABLE_OPTIONAL, _rr),
        Measure("RD", "risk difference", _TABLE, _TABLE_OPTIONAL, _rd),
        Measure("ZCOR", "Fisher's r-to-z transformed correlation", (("ri", "ni"),), (), _zcor),
    )
}


def effect_sizes(measure: str, /, *values: ArrayLike, **arrays: ArrayLike) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` as metafor's ``escalc``.

    Parameters
    ----------
    measure
        One of the codes of ``MEASURES`` (``"MC"``, ``"SMCR"``, ``"SMCC"``, ``"ROMC"``,
        ``"MN"``, ``"PR"``, ``"PLO"``, ``"PAS"``, ``"PFT"``, ``"MD"``, ``"SMD"``, ``"ROM"``,
        ``"OR"``, ``"RR"``, ``"RD"``, ``"ZCOR"``).
    *values, **arrays
        The measure's inputs, by position in the order of its first form below (so
        ``effect_sizes("ROMC", m1i, m2i, sd1i, sd2i, ni, ri)``) or by escalc's names:
        ``m1i, m2i, sd1i, sd2i, ni, ri`` (pre/post;
        ``yi = m1i - m2i``, SMCR standardises by ``sd1i``, ROMC is ``log(m1i / m2i)``, so
        with ``m1i`` the follow-up mean a decrease is negative), ``mi, sdi, ni`` (MN),
        ``xi, ni`` (proportions),
        ``m1i, m2i, sd1i, sd2i, n1i, n2i`` (two means), ``ai, bi, ci, di`` or
        ``ai, n1i, ci, n2i`` (2x2 tables), ``ri, ni`` (ZCOR).

    Returns
    -------
    pandas.DataFrame
        The inputs in the order given, then ``measure``, ``yi`` and ``vi``.

    Raises
    ------
    EffectSizeError
        Unknown measure, missing or unexpected argument, lengths that differ, non-finite
        values, SD <= 0, negative counts, events > totals, r outside [-1, 1]; for ROMC and
        MN also means <= 0 (ROMC) and ni < 1.

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw.
    Hedges LV (1981). Distribution theory for Glass's estimator of effect size. J Educ Stat.
    Lajeunesse MJ (2011). On the meta-analysis of response ratios for studies with
    correlated and multi-group designs. Ecology 92:2049-55.
    Friedrich JO, Adhikari NKJ, Beyene J (2008). The ratio of means method as an alternative
    to mean differences for analyzing continuous outcome variables in meta-analysis. BMC Med
    Res Methodol 8:32.

    Examples
    --------
    >>> effect_sizes("PLO", xi=[0, 3], ni=[10, 10])[["yi", "vi"]].round(4)
           yi      vi
    0 -3.0445  2.0952
    1 -0.8473  0.4762
    """
    arrays = _by_name(MEASURES[check_choice("measure", measure, MEASURES)], values, arrays)
    yi, vi = effect_values(measure, **arrays)
    table = pd.DataFrame({name: np.asarray(arrays[name]).reshape(-1) for name in arrays})
    table["measure"] = measure
    table["yi"] = yi
    table["vi"] = vi
    return table


def effect_values(measure: str, /, **arrays: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` of ``effect_sizes(measure, **arrays)`` as two arrays, with the same
    checks and errors, without building its table: for callers that compute effect sizes of
    a few studies many times over (the report's analyses and sensitivity grids)."""
    spec = MEASURES[check_choice("measure", measure, MEASURES)]
    given = set(arrays)
    unexpected = sorted(given - set(spec.accepted))
    if unexpected:
        raise EffectSizeError(f"measure {measure!r} does not take {', '.join(unexpected)}; "
                              f"it takes {_forms(spec)}")
    if not any(set(group) <= given for group in spec.required):
        missing = sorted(set(spec.required[0]) - given)
        raise EffectSizeError(f"measure {measure!r} needs {', '.join(missing)}: give "
                              f"{_forms(spec)}")
    values = {name: as_vector(name, arr) for name, arr in arrays.items()}
    same_length(values)
    yi, vi = spec.formula(values)
    return np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)


def _by_name(spec: Measure, values: tuple[ArrayLike, ...],
             arrays: dict[str, ArrayLike]) -> dict[str, ArrayLike]:
    """Name positional inputs by the measure's first argument form."""
    if not values:
        return arrays
    order = spec.required[0]
    if len(values) > len(order):
        raise EffectSizeError(f"measure {spec.code!r} takes at most {len(order)} positional "
                              f"arguments ({', '.join(order)}); {len(values)} were given")
    named = dict(zip(order, values, strict=False))
    twice = sorted(set(named) & set(arrays))
    if twice:
        raise EffectSizeError(f"measure {spec.code!r}: {', '.join(twice)} given both by "
                              "position and by name")
    return {**named, **arrays}


def _forms(spec: Measure) -> str:
    forms = " or ".join("(" + ", ".join(g) + ")" for g in spec.required)
    if spec.optional and len(spec.required) == 1:
        forms += " [optional: " + ", ".join(spec.optional) + "]"
    return forms
