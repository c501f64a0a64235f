"""Random-effects pooling and meta-regression (metafor ``rma.uni`` equivalent) and its
diagnostics: leave-one-out, Egger's regression test and trim-and-fill.

The fit is the normal-normal random-effects model y_i = x_i'beta + u_i + e_i with
u_i ~ N(0, tau^2) and e_i ~ N(0, v_i); beta is the weighted least squares estimate with
weights 1/(v_i + tau^2) (Viechtbauer, 2010). ``test="knha"`` scales the covariance by
s^2_w = Q(tau^2)/(k - p) and uses t(k - p) quantiles (Hartung & Knapp, 2001; Sidik &
Jonkman, 2002); ``adhoc=True`` floors s^2_w at 1 (Knapp & Hartung, 2003; metafor
``test="adhoc"``).

Where the numbers can differ from metafor 3.8 (on purpose):

* iterative tau^2 estimators are solved to ~1e-10 (metafor stops at a change of 1e-5, and its
  PM search at ``uniroot``'s 1.2e-4), and ML/REML take the global maximum of a bimodal
  likelihood (see ``tau2``);
* the Q-profile upper bound for tau^2 is the exact root, where metafor's ``confint`` stops at
  ``max(100, 10 tau2)`` and reports that cap;
* ``trim_and_fill`` fits the filled data at this fit's ``level`` (metafor: always 95%).

References
----------
Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat Softw 36.
Hartung J, Knapp G (2001). On tests of the overall treatment effect in meta-analysis with
    normally distributed responses. Stat Med 20:1771-82.
Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression with a single
    covariate. Stat Med 22:2693-710.
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-34.
Duval S, Tweedie R (2000). Trim and fill. Biometrics 56:455-63.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from . import heterogeneity as het
from ._checks import (
    InputError,
    TooFewStudiesError,
    as_vector,
    check_choice,
    check_finite,
    check_level,
    check_same_length,
    check_vi,
)
from .errors import BlasticMetaWarning, ConvergenceError
from .formatting import (
    DIGITS,
    fmt_num,
    fmt_p,
    fmt_pct,
    signif_stars,
)
from .tau2 import METHODS, Gls, Tau2Estimate, estimate_tau2, qprofile_ci

TESTS = ("z", "knha")

_EPS = np.finfo(float).eps


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


def _json(value: Any) -> Any:
    """Make ``value`` JSON-safe: NaN/inf -> None, numpy -> Python."""
    if isinstance(value, np.ndarray):
        return [_json(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass(frozen=True, slots=True)
class PooledResult:
    """A fitted random-effects model (metafor ``rma.uni``), immutable.

    ``estimate``/``se``/``zval``/``pval``/``ci_*`` refer to the intercept (the pooled effect
    when there are no moderators); ``coefficients`` holds every coefficient. ``zval`` is a t
    statistic under ``test="knha"`` (also available as ``tval``), with ``df = k - p``.
    Arrays are read-only and in input order; ``weights`` are percentages.
    """

    k: int
    p: int
    method: str
    test: str
    level: float
    pi_convention: str
    adhoc: bool
    i2_definition: str
    estimate: float
    se: float
    zval: float
    pval: float
    ci_low: float
    ci_high: float
    df: float
    tau2: float
    tau2_se: float
    tau2_ci_low: float
    tau2_ci_high: float
    i2: float
    h2: float
    typical_variance: float
    q: float
    q_df: int
    q_pval: float
    pi_low: float
    pi_high: float
    qm: float
    qm_df: tuple[int, ...]
    qm_pval: float
    r2: float
    s2w: float
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    beta: np.ndarray = field(repr=False)
    beta_se: np.ndarray = field(repr=False)
    beta_stat: np.ndarray = field(repr=False)
    beta_pval: np.ndarray = field(repr=False)
    beta_ci_low: np.ndarray = field(repr=False)
    beta_ci_high: np.ndarray = field(repr=False)
    coef_names: tuple[str, ...] = ("intrcpt",)
    mods: np.ndarray | None = field(default=None, repr=False)

    # -- derived views -----------------------------------------------------------------------
    @property
    def tval(self) -> float:
        """The test statistic of the intercept (a t value under Knapp-Hartung)."""
        return self.zval

    @property
    def tau(self) -> float:
        """sqrt(tau^2)."""
        return math.sqrt(self.tau2)

    @property
    def coefficients(self):  # -> pandas.DataFrame (pandas imported lazily)
        """Table of coefficients: index "intrcpt" then moderator names; columns estimate,
        se, statistic, pval, ci_low, ci_high."""
        import pandas as pd

        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.beta_se,
                "statistic": self.beta_stat,
                "pval": self.beta_pval,
                "ci_low": self.beta_ci_low,
                "ci_high": self.beta_ci_high,
            },
            index=pd.Index(list(self.coef_names), name="coefficient"),
        )

    # -- diagnostics ---------------------------------------------------------------------------
    def _refit(self, yi: np.ndarray, vi: np.ndarray, test: str | None = None) -> PooledResult:
        """Same options, other data (no moderators)."""
        test_ = self.test if test is None else test
        return _fit(yi, vi, None, ("intrcpt",), self.method, test_, self.level,
                    self.pi_convention, self.adhoc and test_ == "knha", self.i2_definition,
                    warn=False)

    def leave_one_out(self):  # -> pandas.DataFrame
        """Refit without each study in turn (metafor ``leave1out``), in input order.

        Columns: estimate, se, statistic, pval, ci_low, ci_high, q, q_pval, tau2, i2, h2. With
        k = 2 each row is the remaining single study (tau2 = 0, heterogeneity NaN).
        """
        import pandas as pd

        if self.p > 1:
            raise InputError("leave_one_out: only for models without moderators (mods=None)")
        rows = []
        keep = np.ones(self.k, dtype=bool)
        for i in range(self.k):
            keep[:] = True
            keep[i] = False
            y, v = self.yi[keep], self.vi[keep]
            if len(y) == 1:
                rows.append(_single_row(float(y[0]), float(v[0]), self.level))
                continue
            r = self._refit(y, v)
            rows.append({
                "estimate": r.estimate, "se": r.se, "statistic": r.zval, "pval": r.pval,
                "ci_low": r.ci_low, "ci_high": r.ci_high, "q": r.q, "q_pval": r.q_pval,
                "tau2": r.tau2, "i2": r.i2, "h2": r.h2,
            })
        return pd.DataFrame(rows, index=pd.RangeIndex(self.k, name="omitted"))

    def egger_test(self) -> EggerResult:
        """Egger-type regression test (metafor ``regtest`` defaults: model "rma",
        predictor the standard error sqrt(v_i), same method and test as this fit)."""
        sei = np.sqrt(self.vi)
        base = np.ones((self.k, 1)) if self.mods is None else np.column_stack(
            [np.ones(self.k), self.mods])
        if self.k <= base.shape[1] + 1:
            raise TooFewStudiesError(
                f"egger_test: needs more than {base.shape[1] + 1} studies, got k = {self.k}")
        X = np.column_stack([base, sei])
        names = (*self.coef_names, "sei")
        r = _fit(self.yi, self.vi, X[:, 1:], names, self.method, self.test, self.level,
                 self.pi_convention, self.adhoc, self.i2_definition)
        j = base.shape[1]
        limit = (r.beta[0], r.beta_ci_low[0], r.beta_ci_high[0]) if self.mods is None \
            else (math.nan, math.nan, math.nan)
        return EggerResult(
            statistic=float(r.beta_stat[j]), pval=float(r.beta_pval[j]), df=r.df,
            test=self.test, limit_estimate=float(limit[0]), limit_ci_low=float(limit[1]),
            limit_ci_high=float(limit[2]), fit=r,
        )

    def trim_and_fill(self) -> TrimFillResult:
        """Duval & Tweedie trim-and-fill with metafor ``trimfill`` defaults.

        Estimator L0; the side is chosen from the sign of the slope of the regression of
        yi on sqrt(vi) (fitted with this fit's method): a negative slope means studies are
        missing on the right. The filled model is fitted with this fit's method and level
        and, as in metafor, with the normal test (``test="z"``); when no study is missing
        (k0 = 0) the result is this fit itself.
        """
        if self.p > 1:
            raise InputError("trim_and_fill: only for models without moderators (mods=None)")
        if self.k < 3:
            raise TooFewStudiesError(f"trim_and_fill: needs at least 3 studies, got k = {self.k}")
        sei = np.sqrt(self.vi)
        side_fit = _fit(self.yi, self.vi, sei[:, None], ("intrcpt", "sei"), self.method, "z",
                        self.level, "metafor", False, self.i2_definition, warn=False)
        side = "right" if side_fit.beta[1] < 0 else "left"
        sign = -1.0 if side == "right" else 1.0
        y = sign * self.yi
        order = np.argsort(y, kind="stable")
        ys, vs = y[order], self.vi[order]
        k = self.k
        k0, k0_prev, beta, se_k0 = 0, -1, 0.0, 0.0
        for _ in range(100):
            if k0 == k0_prev:
                break
            k0_prev = k0
            if k - k0 == 1:  # metafor's rma on one study: its own estimate
                beta = float(ys[0])
            else:
                beta = _fit(ys[: k - k0], vs[: k - k0], None, ("intrcpt",), self.method, "z",
                            self.level, "metafor", False, self.i2_definition,
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
            yi_all = np.concatenate([self.yi, filled_y])
            vi_all = np.concatenate([self.vi, filled_v])
            fit = _fit(yi_all, vi_all, None, ("intrcpt",), self.method, "z", self.level,
                       self.pi_convention, False, self.i2_definition, warn=False)
        else:
            filled_y = np.empty(0)
            filled_v = np.empty(0)
            fit = self  # metafor returns the original fit unchanged
        return TrimFillResult(
            k0=k0, se_k0=se_k0, side=side, estimate=fit.estimate, se=fit.se,
            ci_low=fit.ci_low, ci_high=fit.ci_high, pval=fit.pval, tau2=fit.tau2,
            filled_yi=_frozen(filled_y), filled_vi=_frozen(filled_v), fit=fit,
        )

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.uni``, followed by the conventions used."""
        return _summary(self)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """All scalar results, per-study arrays and the coefficient table, JSON-safe
        (NaN becomes None)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name in ("mods",):
                continue
            out[name] = getattr(self, name)
        out["tau"] = self.tau
        out["coefficients"] = {
            n: {
                "estimate": self.beta[i], "se": self.beta_se[i], "statistic": self.beta_stat[i],
                "pval": self.beta_pval[i], "ci_low": self.beta_ci_low[i],
                "ci_high": self.beta_ci_high[i],
            }
            for i, n in enumerate(self.coef_names)
        }
        out["conventions"] = {
            "prediction_interval": het.PI_DESCRIPTION[self.pi_convention],
            "i2": het.I2_DESCRIPTION[self.i2_definition],
            "knapp_hartung_adhoc": self.adhoc,
        }
        return _json(out)


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
        return _json({n: getattr(self, n) for n in self.__dataclass_fields__ if n != "fit"})


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
        return _json({n: getattr(self, n) for n in self.__dataclass_fields__ if n != "fit"})


def _round_half_even(x: float) -> float:
    """R's round(): IEC 60559 rounding, half to even (Python's round does the same)."""
    return float(round(x))


def single_study_result(y: float, v: float, *, method: str = "REML", test: str = "z",
                        level: float = 0.95, pi: str = "metafor", i2: str = "tau2",
                        tau2: float = 0.0) -> PooledResult:
    """A one-study "fit" for displays (subgroups of one study): estimate = y,
    se = sqrt(v + tau2) with a normal-theory CI (metafor switches Knapp-Hartung off for
    k = 1), the given (default 0) tau2, and NaN for everything about heterogeneity.

    A non-zero ``tau2`` is a tau^2 shared with other subgroups: metafor's
    ``rma(yi, vi, tau2=<common>)`` on the single study.
    """
    row = _single_row(y, v + tau2, level)
    nan = math.nan
    one = _frozen(np.array([1.0]))

    def arr(x: float) -> np.ndarray:
        return _frozen(np.array([x]))

    return PooledResult(
        k=1, p=1, method=method, test=test, level=level, pi_convention=pi, adhoc=False,
        i2_definition=i2, estimate=y, se=row["se"], zval=row["statistic"], pval=row["pval"],
        ci_low=row["ci_low"], ci_high=row["ci_high"], df=nan, tau2=tau2, tau2_se=nan,
        tau2_ci_low=nan, tau2_ci_high=nan, i2=nan, h2=nan, typical_variance=nan, q=nan,
        q_df=0, q_pval=nan, pi_low=nan, pi_high=nan, qm=nan, qm_df=(1,), qm_pval=nan, r2=nan,
        s2w=1.0, yi=arr(y), vi=arr(v), weights=_frozen(100.0 * one), beta=arr(y),
        beta_se=arr(row["se"]), beta_stat=arr(row["statistic"]), beta_pval=arr(row["pval"]),
        beta_ci_low=arr(row["ci_low"]), beta_ci_high=arr(row["ci_high"]),
    )


def _single_row(y: float, v: float, level: float) -> dict[str, float]:
    se = math.sqrt(v)
    crit = float(-special.ndtri((1 - level) / 2))
    z = y / se
    return {"estimate": y, "se": se, "statistic": z, "pval": float(2 * special.ndtr(-abs(z))),
            "ci_low": y - crit * se, "ci_high": y + crit * se, "q": math.nan,
            "q_pval": math.nan, "tau2": 0.0, "i2": math.nan, "h2": math.nan}


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _split_frame(yi: Any, vi: Any) -> tuple[Any, Any]:
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


def _moderators(mods: Any, k: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
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


def _validate(yi: Any, vi: Any, method: Any, test: Any, level: Any, pi: Any, adhoc: Any,
              i2: Any) -> tuple[np.ndarray, np.ndarray, float]:
    check_choice("method", method, METHODS)
    check_choice("test", test, TESTS)
    check_choice("pi", pi, het.PI_CONVENTIONS)
    check_choice("i2", i2, het.I2_DEFINITIONS)
    lev = check_level(level)
    if not isinstance(adhoc, (bool, np.bool_)):
        raise InputError(f"adhoc = {adhoc!r}: expected True or False")
    if adhoc and test != "knha":
        raise InputError("adhoc = True: the ad hoc floor applies only with test='knha'")
    y = as_vector("yi", yi)
    v = as_vector("vi", vi)
    check_same_length(("yi", "vi"), (y, v))
    check_finite("yi", y)
    check_vi(v)
    return y, v, lev


def pool(
    yi: Any,
    vi: Any = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    mods: Any = None,
    pi: str = "metafor",
    adhoc: bool = False,
    i2: str = "tau2",
) -> PooledResult:
    """Fit a random-effects model (or a mixed-effects meta-regression with ``mods``).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and their sampling variances (> 0), one per study. ``yi`` may instead be
        a DataFrame with ``yi`` and ``vi`` columns (``vi`` then omitted).
    method : {"DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"}
        tau^2 estimator, as in metafor's ``rma.uni``.
    test : {"z", "knha"}
        Normal-theory Wald tests, or Knapp-Hartung (Hartung-Knapp-Sidik-Jonkman) t/F tests.
    level : float
        Confidence level in (0, 1).
    mods : DataFrame or 2-D array, optional
        Moderators, one row per study; an intercept is added.
    pi : {"metafor", "t(k-1)", "t(k-2)"}
        Quantile of the prediction interval (see ``heterogeneity.PI_CONVENTIONS``).
    adhoc : bool
        With ``test="knha"``, floor the Knapp-Hartung scale at 1 (metafor ``test="adhoc"``).
    i2 : {"tau2", "Q"}
        Definition of I^2 and H^2 (see ``heterogeneity``).

    Raises
    ------
    InputError
        Bad input (names the argument and position); k = 1 (nothing to pool, no
        heterogeneity to estimate) or k <= number of coefficients.

    Warns
    -----
    BlasticMetaWarning
        k = 2 with ``test="knha"`` (t with 1 df: intervals are extremely wide).

    Examples
    --------
    >>> r = pool([0.1, 0.5, 0.9], [0.01, 0.02, 0.01], method="DL")
    >>> round(r.estimate, 4), round(r.tau2, 4)
    (0.5, 0.1875)
    """
    yi, vi = _split_frame(yi, vi)
    y, v, lev = _validate(yi, vi, method, test, level, pi, adhoc, i2)
    k = y.shape[0]
    if k < 2:
        raise TooFewStudiesError(
            f"yi: k = {k} study; nothing to pool and no heterogeneity to estimate "
            "(report the single study's own estimate)")
    M, names = _moderators(mods, k)
    try:
        with np.errstate(over="raise", invalid="raise"):
            return _fit(y, v, M, names, method, test, lev, pi, bool(adhoc), i2)
    except FloatingPointError as exc:
        raise InputError(f"yi, vi: the values are too extreme to fit in floating point ({exc}); "
                         "rescale the effect sizes") from None


def _fit(
    y: np.ndarray,
    v: np.ndarray,
    M: np.ndarray | None,
    names: tuple[str, ...],
    method: str,
    test: str,
    level: float,
    pi: str,
    adhoc: bool,
    i2def: str,
    *,
    warn: bool = True,
    tau2_fixed: float | None = None,
) -> PooledResult:
    """The fit on validated arrays (no pandas on this path). ``tau2_fixed`` skips the
    estimation (used for subgroups sharing a common tau^2); its SE and CI are then NaN."""
    k = y.shape[0]
    X = None if M is None else np.column_stack([np.ones(k), M])
    p = 1 if X is None else X.shape[1]
    if k <= p:
        raise TooFewStudiesError(
            f"yi: k = {k} studies cannot estimate {p} coefficients and tau^2; "
            "need more studies than coefficients")
    knha = test == "knha"
    if warn and knha and k == 2:
        warnings.warn("k = 2 with test='knha': the t distribution has 1 df and the "
                      "confidence interval is extremely wide", BlasticMetaWarning, stacklevel=3)
    gls = Gls(y, v, X)
    if tau2_fixed is None:
        est = estimate_tau2(y, v, method, X)
    else:
        est = Tau2Estimate(float(tau2_fixed), math.nan, 0)
    tau2 = est.tau2
    w, beta, vb, e = gls.fit(tau2)
    s2w = 1.0
    df = math.nan
    if knha:
        rss = float(w @ (e * e))
        s2w = 0.0 if rss <= _EPS else rss / (k - p)
        if adhoc:
            s2w = max(1.0, s2w)
        vb = vb * s2w
        df = float(k - p)
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    alpha = 1.0 - level
    if knha:
        pval = 2.0 * special.stdtr(df, -np.abs(stat))
        crit = float(special.stdtrit(df, 1.0 - alpha / 2))
    else:
        pval = 2.0 * special.ndtr(-np.abs(stat))
        crit = float(-special.ndtri(alpha / 2))
    ci_low = beta - crit * se
    ci_high = beta + crit * se

    # omnibus test of the moderators (or of the intercept without moderators), metafor's QM
    if p == 1:
        m = 1
        qm = float(beta[0] ** 2 / vb[0, 0]) if vb[0, 0] > 0 else math.nan
    else:
        btt = np.arange(1, p)
        m = p - 1
        bb = beta[btt]
        try:
            qm = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb))
        except np.linalg.LinAlgError:
            qm = math.nan
    if knha:
        qm = qm / m
        qm_df: tuple[int, ...] = (m, k - p)
        qm_pval = float(special.fdtrc(m, k - p, qm))
    else:
        qm_df = (m,)
        qm_pval = float(special.chdtrc(m, qm))

    # heterogeneity
    q = max(0.0, gls.q(0.0))
    q_df = k - p
    q_pval = float(special.chdtrc(q_df, q))
    vt = het.typical_variance(v, X)
    if i2def == "tau2":
        i2v, h2v = het.i2_from_tau2(tau2, vt), het.h2_from_tau2(tau2, vt)
    else:
        i2v, h2v = het.i2_from_q(q, q_df), het.h2_from_q(q, q_df)
    tau2_lb, tau2_ub = qprofile_ci(gls, level) if tau2_fixed is None else (math.nan, math.nan)

    # prediction interval for the intercept (the pooled effect without moderators)
    pcrit = het.pi_quantile(pi, k=k, p=p, level=level, knha=knha)
    pi_low, pi_high = het.prediction_interval(float(beta[0]), float(se[0]), tau2, pcrit)

    r2 = math.nan
    if p > 1:
        tau2_re = estimate_tau2(y, v, method, None).tau2
        r2 = 0.0 if tau2_re == 0 else max(0.0, 100.0 * (tau2_re - tau2) / tau2_re)

    return PooledResult(
        k=k, p=p, method=method, test=test, level=level, pi_convention=pi, adhoc=adhoc,
        i2_definition=i2def,
        estimate=float(beta[0]), se=float(se[0]), zval=float(stat[0]), pval=float(pval[0]),
        ci_low=float(ci_low[0]), ci_high=float(ci_high[0]), df=df,
        tau2=tau2, tau2_se=est.se, tau2_ci_low=tau2_lb, tau2_ci_high=tau2_ub,
        i2=float(i2v), h2=float(h2v), typical_variance=vt,
        q=q, q_df=q_df, q_pval=q_pval, pi_low=pi_low, pi_high=pi_high,
        qm=qm, qm_df=qm_df, qm_pval=qm_pval, r2=r2, s2w=s2w,
        yi=_frozen(y), vi=_frozen(v), weights=_frozen(100.0 * w / w.sum()),
        beta=_frozen(beta), beta_se=_frozen(se), beta_stat=_frozen(stat),
        beta_pval=_frozen(pval), beta_ci_low=_frozen(ci_low), beta_ci_high=_frozen(ci_high),
        coef_names=names, mods=None if M is None else _frozen(M),
    )


# --------------------------------------------------------------------------------------------
# summary text
# --------------------------------------------------------------------------------------------
def _table(rows: list[list[str]], header: list[str], rownames: list[str] | None) -> list[str]:
    """Right-aligned columns as R prints a data frame (two spaces between columns)."""
    cols = list(zip(header, *rows, strict=True))
    widths = [max(len(c) for c in col) for col in cols]
    lines = []
    rn_width = max((len(r) for r in rownames), default=0) if rownames else 0
    for i, cells in enumerate([header, *rows]):
        parts = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        prefix = ""
        if rownames:
            prefix = ("" if i == 0 else rownames[i - 1]).ljust(rn_width) + "  "
        lines.append((prefix + "  ".join(parts)).rstrip())
    return lines


def _summary(r: PooledResult) -> str:
    d = DIGITS
    int_only = r.p == 1
    title = "Random-Effects Model" if int_only else "Mixed-Effects Model"
    out = [f"{title} (k = {r.k}; tau^2 estimator: {r.method})", ""]
    tau2_txt = fmt_num(r.tau2, 0 if abs(r.tau2) <= _EPS * 10 else d["var"])
    tau_txt = fmt_num(r.tau, 0 if r.tau2 <= _EPS * 10 else d["var"])
    kind = "total" if int_only else "residual"
    i2_lab = ("I^2 (total heterogeneity / total variability):   " if int_only else
              "I^2 (residual heterogeneity / unaccounted variability): ")
    h2_lab = ("H^2 (total variability / sampling variability):  " if int_only else
              "H^2 (unaccounted variability / sampling variability):   ")
    tau2_lab = f"tau^2 (estimated amount of {kind} heterogeneity): "
    tau_lab = "tau (square root of estimated tau^2 value):      "
    if not int_only:
        tau2_lab += "    "
        tau_lab += "       "
    out.append(f"{tau2_lab}{tau2_txt} (SE = {fmt_num(r.tau2_se, d['sevar'])})")
    out.append(f"{tau_lab}{tau_txt}")
    out.append(f"{i2_lab}{fmt_pct(r.i2)}")
    out.append(f"{h2_lab}{fmt_num(r.h2, d['het'])}")
    if not int_only:
        out.append(f"R^2 (amount of heterogeneity accounted for):            {fmt_pct(r.r2)}")
    out.append("")
    qname = "Q" if int_only else "QE"
    out.append("Test for Heterogeneity:" if int_only else "Test for Residual Heterogeneity:")
    out.append(f"{qname}(df = {r.q_df}) = {fmt_num(r.q, d['test'])}, "
               f"p-val {fmt_p(r.q_pval, equals=True)}")
    out.append("")
    if not int_only:
        coefs = "2" if r.p == 2 else f"2:{r.p}"
        out.append(f"Test of Moderators (coefficient{'s' if r.p > 2 else ''} {coefs}):")
        if r.test == "knha":
            out.append(f"F(df1 = {r.qm_df[0]}, df2 = {r.qm_df[1]}) = {fmt_num(r.qm, d['test'])}, "
                       f"p-val {fmt_p(r.qm_pval, equals=True)}")
        else:
            out.append(f"QM(df = {r.qm_df[0]}) = {fmt_num(r.qm, d['test'])}, "
                       f"p-val {fmt_p(r.qm_pval, equals=True)}")
        out.append("")
    out.append("Model Results:")
    out.append("")
    knha = r.test == "knha"
    header = ["estimate", "se", "tval" if knha else "zval", *(["df"] if knha else []),
              "pval", "ci.lb", "ci.ub", ""]
    rows = []
    for i in range(r.p):
        rows.append([
            fmt_num(r.beta[i], d["est"]), fmt_num(r.beta_se[i], d["se"]),
            fmt_num(r.beta_stat[i], d["test"]), *([str(int(r.df))] if knha else []),
            fmt_p(float(r.beta_pval[i])), fmt_num(r.beta_ci_low[i], d["est"]),
            fmt_num(r.beta_ci_high[i], d["est"]), signif_stars(float(r.beta_pval[i])),
        ])
    out.extend(_table(rows, header, None if int_only else list(r.coef_names)))
    out.append("")
    out.append("---")
    out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
    out.append("")
    pct = f"{100 * r.level:g}%"
    out.append(f"tau^2 {pct} CI (Q-profile): [{fmt_num(r.tau2_ci_low, d['var'])}, "
               f"{fmt_num(r.tau2_ci_high, d['var'])}]")
    where = "" if int_only else " (at moderators = 0)"
    out.append(f"{pct} prediction interval{where}: [{fmt_num(r.pi_low, d['est'])}, "
               f"{fmt_num(r.pi_high, d['est'])}]")
    out.append("")
    out.append("Conventions:")
    out.append(f"  prediction interval quantile: {het.PI_DESCRIPTION[r.pi_convention]}")
    out.append(f"  I^2 and H^2: {het.I2_DESCRIPTION[r.i2_definition]}")
    if knha:
        floor = "with" if r.adhoc else "without"
        out.append(f"  Knapp-Hartung adjustment {floor} the ad hoc floor max(1, s^2)")
    else:
        out.append("  tests and intervals: normal (Wald) distribution")
    return "\n".join(out) + "\n"
