"""Subgroup analysis: one random-effects fit per subgroup and a test for subgroup differences.

Two conventions (Borenstein et al. 2009, ch. 19):

* ``tau2="separate"``: each subgroup has its own tau^2. The test is Cochran's Q between the
  subgroup estimates, computed as a fixed-effect meta-analysis of the estimates with their
  standard errors (R meta ``subgroup``; metafor ``rma(est, sei=se, method="FE")``), chi^2 with
  G - 1 df.
* ``tau2="common"``: one tau^2 shared by all subgroups. The test is metafor's omnibus test QM of
  the meta-regression ``rma(yi, vi, mods=~factor(group))``: chi^2 with G - 1 df, or under
  ``test="knha"`` its F test with (G - 1, k - G) df. Each subgroup's fit then uses that common
  tau^2 (its own SE and Q-profile CI for tau^2 are undefined, NaN).

A subgroup with a single study is kept as a one-study "fit" so that tables and forest plots
can show it: estimate = yi, se = sqrt(vi) and tau2 = 0 with separate tau^2; with a common
tau^2, se = sqrt(vi + tau2) (metafor ``rma(yi, vi, tau2=<common>)``); heterogeneity NaN.

References
----------
Borenstein M, Hedges LV, Higgins JPT, Rothstein HR (2009). Introduction to Meta-Analysis. Wiley.
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from .._checks import TooFewStudiesError, check_choice, check_same_length
from ..errors import InputError
from ..formatting import DIGITS, fmt_num, fmt_p, fmt_pct
from ._arrays import jsonable, split_frame
from .models import PooledResult, _fit, _validate, single_study_result

TAU2_CONVENTIONS = ("separate", "common")


@dataclass(frozen=True, slots=True)
class SubgroupResult:
    """Per-subgroup fits (keys in order of first appearance) and the test between them."""

    subgroups: dict[str, PooledResult] = field(repr=False)
    q_between: float
    df_between: int
    pval_between: float
    tau2_convention: str
    method: str
    test: str
    level: float
    statistic: str  # "Q" (chi^2) or "F"
    df2_between: float  # denominator df of the F test, NaN for chi^2
    tau2_common: float  # NaN with tau2="separate"
    overall: PooledResult = field(repr=False)

    def summary(self) -> str:
        """A table of the subgroups and the test for subgroup differences."""
        d = DIGITS
        lines = [f"Subgroup analysis (k = {self.overall.k}; {len(self.subgroups)} subgroups; "
                 f"tau^2 estimator: {self.method}; tau^2 {self.tau2_convention})", ""]
        head = ["subgroup", "k", "estimate", "se", "ci.lb", "ci.ub", "tau^2", "I^2"]
        rows = [[name, str(r.k), fmt_num(r.estimate, d["est"]), fmt_num(r.se, d["se"]),
                 fmt_num(r.ci_low, d["est"]), fmt_num(r.ci_high, d["est"]),
                 fmt_num(r.tau2, d["var"]), "NA" if math.isnan(r.i2) else fmt_pct(r.i2)]
                for name, r in self.subgroups.items()]
        widths = [max(len(row[j]) for row in [head, *rows]) for j in range(len(head))]
        for row in [head, *rows]:
            cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                 zip(row[1:], widths[1:], strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.append("")
        lines.append("Test for Subgroup Differences:")
        if self.statistic == "F":
            lines.append(f"F(df1 = {self.df_between}, df2 = {int(self.df2_between)}) = "
                         f"{fmt_num(self.q_between, d['test'])}, "
                         f"p-val {fmt_p(self.pval_between, equals=True)}")
        else:
            name = "Q" if self.tau2_convention == "separate" else "QM"
            lines.append(f"{name}(df = {self.df_between}) = {fmt_num(self.q_between, d['test'])}, "
                         f"p-val {fmt_p(self.pval_between, equals=True)}")
        if self.tau2_convention == "separate":
            lines.append("(Q between subgroup estimates, each subgroup with its own tau^2)")
        else:
            lines.append(f"(meta-regression on subgroup indicators, common tau^2 = "
                         f"{fmt_num(self.tau2_common, d['var'])})")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN -> None), subgroups as nested dictionaries."""
        out = {n: getattr(self, n) for n in self.__dataclass_fields__
               if n not in ("subgroups", "overall")}
        out["subgroups"] = {name: r.to_dict() for name, r in self.subgroups.items()}
        out["overall"] = self.overall.to_dict()
        return jsonable(out)


def _group_labels(groups: Any, k: int) -> tuple[list[str], np.ndarray]:
    values = list(groups.tolist() if hasattr(groups, "tolist") else groups)
    check_same_length(("yi", "groups"), (np.empty(k), values))
    labels: list[str] = []
    codes = np.empty(k, dtype=int)
    index: dict[str, int] = {}
    for i, g in enumerate(values):
        if g is None or (isinstance(g, float) and math.isnan(g)):
            raise InputError(f"groups[{i}] = {g!r}: every study needs a subgroup label")
        key = str(g)
        if key not in index:
            index[key] = len(labels)
            labels.append(key)
        codes[i] = index[key]
    return labels, codes


def compare_subgroups(
    yi: Any,
    vi: Any,
    groups: Any,
    *,
    method: str = "REML",
    test: str = "z",
    tau2: str = "separate",
    level: float = 0.95,
) -> SubgroupResult:
    """Fit each subgroup and test whether the subgroup effects differ.

    Parameters are as for ``pool`` (``yi`` may be an effects DataFrame with ``vi=None``);
    ``groups`` holds one label per study and ``tau2`` is ``"separate"`` or ``"common"`` (see
    the module notes).

    Examples
    --------
    >>> r = compare_subgroups([0.1, 0.3, 0.2, 0.9, 1.1, 1.0], [0.02] * 6, list("aaabbb"),
    ...                       method="DL")
    >>> list(r.subgroups), r.df_between, round(r.q_between, 4)
    (['a', 'b'], 1, 48.0)
    """
    check_choice("tau2", tau2, TAU2_CONVENTIONS)
    yi, vi = split_frame(yi, vi)
    y, v, lev = _validate(yi, vi, method, test, level, "metafor", False, "tau2")
    k = y.shape[0]
    labels, codes = _group_labels(groups, k)
    n_groups = len(labels)
    if n_groups < 2:
        raise InputError(f"groups: at least 2 distinct subgroups are needed, got {labels}")
    if k < 2:
        raise TooFewStudiesError(f"yi: k = {k}; nothing to compare")
    knha = test == "knha"
    overall = _fit(y, v, None, ("intrcpt",), method, test, lev, "metafor", False, "tau2")

    if tau2 == "separate":
        fits = {}
        for j, name in enumerate(labels):
            sel = codes == j
            fits[name] = _one(y[sel], v[sel], method, test, lev, None)
        est = np.array([f.estimate for f in fits.values()])
        w = 1.0 / np.array([f.se for f in fits.values()]) ** 2
        mean = float(w @ est / w.sum())
        q = float(w @ (est - mean) ** 2)
        df = n_groups - 1
        return SubgroupResult(
            subgroups=fits, q_between=q, df_between=df, pval_between=float(special.chdtrc(df, q)),
            tau2_convention=tau2, method=method, test=test, level=lev, statistic="Q",
            df2_between=math.nan, tau2_common=math.nan, overall=overall)

    if k <= n_groups:
        raise TooFewStudiesError(
            f"yi: k = {k} studies in {n_groups} subgroups; a common tau^2 needs more studies "
            "than subgroups")
    dummies = (codes[:, None] == np.arange(1, n_groups)[None, :]).astype(float)
    names = ("intrcpt", *(f"group{lab}" for lab in labels[1:]))
    reg = _fit(y, v, dummies, names, method, test, lev, "metafor", False, "tau2")
    fits = {name: _one(y[codes == j], v[codes == j], method, test, lev, reg.tau2)
            for j, name in enumerate(labels)}
    return SubgroupResult(
        subgroups=fits, q_between=reg.qm, df_between=n_groups - 1, pval_between=reg.qm_pval,
        tau2_convention=tau2, method=method, test=test, level=lev,
        statistic="F" if knha else "Q", df2_between=float(k - n_groups) if knha else math.nan,
        tau2_common=reg.tau2, overall=overall)


def _one(y: np.ndarray, v: np.ndarray, method: str, test: str, level: float,
         tau2_fixed: float | None) -> PooledResult:
    if y.shape[0] == 1:
        return single_study_result(float(y[0]), float(v[0]), method=method, test=test,
                                   level=level, tau2=0.0 if tau2_fixed is None else tau2_fixed)
    return _fit(y, v, None, ("intrcpt",), method, test, level, "metafor", False, "tau2",
                warn=False, tau2_fixed=tau2_fixed)
