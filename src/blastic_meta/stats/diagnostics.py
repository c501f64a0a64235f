"""Diagnostics of a fitted random-effects model: leave-one-out, Egger's regression test and
trim-and-fill, as metafor's ``leave1out``, ``regtest`` and ``trimfill``. Case-deletion
influence diagnostics are in ``influence``, cumulative meta-analysis in ``cumulative``.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
    Res Synth Methods 1:112-25.
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-34.
Duval S, Tweedie R (2000). Trim and fill. Biometrics 56:455-63.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import InputError, TooFewStudiesError
from ..errors import ConvergenceError
from ..formatting import DIGITS, fmt_num, fmt_p
from ._arrays import frozen, jsonable
from .models import PooledResult, _fit, _single_row

__all__ = ["EggerResult", "TrimFillResult", "baujat", "egger_test", "leave_one_out",
           "trim_and_fill"]


def leave_one_out(fit: PooledResult):  # -> pandas.DataFrame
    """Refit without each study in turn (metafor ``leave1out``), in input order.

    Columns: estimate, se, statistic, pval, ci_low, ci_high, q, q_pval, tau2, i2, h2. With
    k = 2 each row is the remaining single study (tau2 = 0, heterogeneity NaN).
    """
    import pandas as pd

    if fit.p > 1:
        raise InputError("leave_one_out: only for models without moderators (mods=None)")
    rows = []
    keep = np.ones(fit.k, dtype=bool)
    for i in range(fit.k):
        keep[:] = True
        keep[i] = False
        y, v = fit.yi[keep], fit.vi[keep]
        if len(y) == 1:
            rows.append(_single_row(float(y[0]), float(v[0]), fit.level))
            continue
        r = fit._refit(y, v)
        rows.append({
            "estimate": r.estimate, "se": r.se, "statistic": r.zval, "pval": r.pval,
            "ci_low": r.ci_low, "ci_high": r.ci_high, "q": r.q, "q_pval": r.q_pval,
            "tau2": r.tau2, "i2": r.i2, "h2": r.h2,
        })
    return pd.DataFrame(rows, index=pd.RangeIndex(fit.k, name="omitted"))



def egger_test(fit: PooledResult) -> EggerResult:
    """Egger-type regression test (metafor ``regtest`` defaults: model "rma",
    predictor the standard error sqrt(v_i), same method and test as this fit)."""
    sei = np.sqrt(fit.vi)
    base = np.ones((fit.k, 1)) if fit.mods is None else np.column_stack(
        [np.ones(fit.k), fit.mods])
    if fit.k <= base.shape[1] + 1:
        raise TooFewStudiesError(
            f"egger_test: needs more than {base.shape[1] + 1} studies, got k = {fit.k}")
    X = np.column_stack([base, sei])
    names = (*fit.coef_names, "sei")
    r = _fit(fit.yi, fit.vi, X[:, 1:], names, fit.method, fit.test, fit.level,
             fit.pi_convention, fit.adhoc, fit.i2_definition)
    j = base.shape[1]
    limit = (r.beta[0], r.beta_ci_low[0], r.beta_ci_high[0]) if fit.mods is None \
        else (math.nan, math.nan, math.nan)
    return EggerResult(
        statistic=float(r.beta_stat[j]), pval=float(r.beta_pval[j]), df=r.df,
        test=fit.test, limit_estimate=float(limit[0]), limit_ci_low=float(limit[1]),
        limit_ci_high=float(limit[2]), fit=r,
    )



def trim_and_fill(base: PooledResult) -> TrimFillResult:
    """Duval & Tweedie trim-and-fill with metafor ``trimfill`` defaults.

    Estimator L0; the side is chosen from the sign of the slope of the regression of
    yi on sqrt(vi) (fitted with this fit's method): a negative slope means studies are
    missing on the right. The filled model is fitted with this fit's method and level
    and, as in metafor, with the normal test (``test="z"``); when no study is missing
    (k0 = 0) the result is this fit itself.
    """
    if base.p > 1:
        raise InputError("trim_and_fill: only for models without moderators (mods=None)")
    if base.k < 3:
        raise TooFewStudiesError(f"trim_and_fill: needs at least 3 studies, got k = {base.k}")
    sei = np.sqrt(base.vi)
    side_fit = _fit(base.yi, base.vi, sei[:, None], ("intrcpt", "sei"), base.method, "z",
                    base.level, "metafor", False, base.i2_definition, warn=False)
    side = "right" if side_fit.beta[1] < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    y = sign * base.yi
    order = np.argsort(y, kind="stable")
    ys, vs = y[order], base.vi[order]
    k = base.k
    k0, k0_prev, beta, se_k0 = 0, -1, 0.0, 0.0
    for _ in range(100):
        if k0 == k0_prev:
            break
        k0_prev = k0
        if k - k0 == 1:  # metafor's rma on one study: its own estimate
            beta = float(ys[0])
        else:
            beta = _fit(ys[: k - k0], vs[: k - k0], None, ("intrcpt",), base.method, "z",
                        base.level, "metafor", False, base.i2_definition,
                        warn=False).estimate
        yc = ys - beta
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
        sr = float(ranks[yc > 0].sum())
        k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
        var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                  - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
        se_k0 = max(0.0, 4 * math.sqrt(var_sr) / (2 * k - 1)) if var_sr >= 0 else math.nan
        k0 = max(0, int(_round_half_even(k0_raw)))
    else:
        raise ConvergenceError("trim_and_fill: the L0 estimate of k0 did not settle in 100 "
                               "iterations (it oscillates; metafor stops likewise)")
    if k0 > 0:
        filled_y = sign * (2 * beta - ys[k - k0:])
        filled_v = vs[k - k0:]
        yi_all = np.concatenate([base.yi, filled_y])
        vi_all = np.concatenate([base.vi, filled_v])
        fit = _fit(yi_all, vi_all, None, ("intrcpt",), base.method, "z", base.level,
                   base.pi_convention, False, base.i2_definition, warn=False)
    else:
        filled_y = np.empty(0)
        filled_v = np.empty(0)
        fit = base  # metafor returns the original fit unchanged
    return TrimFillResult(
        k0=k0, se_k0=se_k0, side=side, estimate=fit.estimate, se=fit.se,
        ci_low=fit.ci_low, ci_high=fit.ci_high, pval=fit.pval, tau2=fit.tau2,
        filled_yi=frozen(filled_y), filled_vi=frozen(filled_v), fit=fit,
    )



@dataclass(frozen=True, slots=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry (Egger et al. 1997; metafor ``regtest``).

    ``statistic`` is the z (or t under Knapp-Hartung, with ``df``) of the coefficient of the
    standard error; ``limit_estimate`` is the intercept, the estimate as sei -> 0.
    """

    statistic: float
    pval: float
    df: float
    test: str
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    fit: PooledResult = field(repr=False)

    def summary(self) -> str:
        stat = "t" if self.test == "knha" else "z"
        lines = [
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     mixed-effects meta-regression model (tau^2 estimator: {self.fit.method})",
            "Predictor: standard error",
            "",
            f"Test for Funnel Plot Asymmetry: {stat} = {fmt_num(self.statistic, DIGITS['test'])}"
            + (f", df = {int(self.df)}" if self.test == "knha" else "")
            + f", p {fmt_p(self.pval, equals=True)}",
        ]
        if math.isfinite(self.limit_estimate):
            lines.append(
                f"Limit Estimate (as sei -> 0):   b = {fmt_num(self.limit_estimate, 4)} "
                f"(CI: {fmt_num(self.limit_ci_low, 4)}, {fmt_num(self.limit_ci_high, 4)})")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return jsonable({n: getattr(self, n) for n in self.__dataclass_fields__ if n != "fit"})


@dataclass(frozen=True, slots=True)
class TrimFillResult:
    """Trim-and-fill result (Duval & Tweedie 2000; metafor ``trimfill``, estimator L0)."""

    k0: int
    se_k0: float
    side: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    tau2: float
    filled_yi: np.ndarray = field(repr=False)
    filled_vi: np.ndarray = field(repr=False)
    fit: PooledResult = field(repr=False)

    def summary(self) -> str:
        head = (f"Estimated number of missing studies on the {self.side} side: {self.k0} "
                f"(SE = {fmt_num(self.se_k0, DIGITS['se'])})\n")
        return head + self.fit.summary()

    def to_dict(self) -> dict[str, Any]:
        return jsonable({n: getattr(self, n) for n in self.__dataclass_fields__ if n != "fit"})




def _round_half_even(x: float) -> float:
    """R's round(): IEC 60559 rounding, half to even (Python's round does the same)."""
    return float(round(x))


def baujat(yi: Any, vi: Any) -> tuple[np.ndarray, np.ndarray]:
    """Baujat et al. (2002) coordinates of each study, under the common-effect model:
    x = its contribution to Cochran's Q, w_i (y_i - b)^2; y = its influence on the pooled
    estimate, (b - b_(-i))^2 / var(b_(-i)), with b_(-i) the estimate without study i (as
    metafor ``baujat`` for an equal-effects fit)."""
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim != 1 or y.shape != v.shape or y.size < 2:
        raise InputError("baujat: yi and vi must be 1-D of the same length, at least 2 studies")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise InputError("baujat: yi must be finite and vi finite and > 0")
    w = 1.0 / v
    b = float(np.sum(w * y) / np.sum(w))
    x = w * (y - b) ** 2
    w_rest = w.sum() - w
    b_rest = (np.sum(w * y) - w * y) / w_rest
    return x, (b - b_rest) ** 2 * w_rest
