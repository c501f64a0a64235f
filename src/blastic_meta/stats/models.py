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
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from .._checks import (
    InputError,
    TooFewStudiesError,
    as_vector,
    check_choice,
    check_finite,
    check_level,
    check_same_length,
    check_vi,
)
from ..errors import BlasticMetaWarning
from . import heterogeneity as het
from ._arrays import frozen, jsonable, moderator_matrix, split_frame
from .tau2 import METHODS, Gls, Tau2Estimate, estimate_tau2, qprofile_ci

if TYPE_CHECKING:
    from .diagnostics import EggerResult, TrimFillResult

TESTS = ("z", "knha")

_EPS = np.finfo(float).eps


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
        """Refit without each study in turn (metafor ``leave1out``); see
        ``diagnostics.leave_one_out``."""
        from .diagnostics import leave_one_out

        return leave_one_out(self)

    def influence(self):  # -> pandas.DataFrame
        """Case-deletion outlier and influence diagnostics (metafor ``influence``); see
        ``influence.influence``."""
        from .influence import influence

        return influence(self)

    def cumulative(self, order: Any = None):  # -> pandas.DataFrame
        """Cumulative meta-analysis, adding studies in ``order`` (input positions; metafor
        ``cumul``); see ``cumulative.cumulative``."""
        from .cumulative import cumulative

        return cumulative(self, order)

    def egger_test(self) -> EggerResult:
        """Egger's regression test (metafor ``regtest``); see ``diagnostics.egger_test``."""
        from .diagnostics import egger_test

        return egger_test(self)

    def trim_and_fill(self) -> TrimFillResult:
        """Duval & Tweedie trim-and-fill (metafor ``trimfill``); see
        ``diagnostics.trim_and_fill``."""
        from .diagnostics import trim_and_fill

        return trim_and_fill(self)

    # -- output ----------------------------------------------------------------------------
    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.uni``, followed by the conventions used."""
        from .printing import pooled_summary

        return pooled_summary(self)

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
        return jsonable(out)


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
    one = frozen(np.array([1.0]))

    def arr(x: float) -> np.ndarray:
        return frozen(np.array([x]))

    return PooledResult(
        k=1, p=1, method=method, test=test, level=level, pi_convention=pi, adhoc=False,
        i2_definition=i2, estimate=y, se=row["se"], zval=row["statistic"], pval=row["pval"],
        ci_low=row["ci_low"], ci_high=row["ci_high"], df=nan, tau2=tau2, tau2_se=nan,
        tau2_ci_low=nan, tau2_ci_high=nan, i2=nan, h2=nan, typical_variance=nan, q=nan,
        q_df=0, q_pval=nan, pi_low=nan, pi_high=nan, qm=nan, qm_df=(1,), qm_pval=nan, r2=nan,
        s2w=1.0, yi=arr(y), vi=arr(v), weights=frozen(100.0 * one), beta=arr(y),
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
    yi, vi = split_frame(yi, vi)
    y, v, lev = _validate(yi, vi, method, test, level, pi, adhoc, i2)
    k = y.shape[0]
    if k < 2:
        raise TooFewStudiesError(
            f"yi: k = {k} study; nothing to pool and no heterogeneity to estimate "
            "(report the single study's own estimate)")
    M, names = moderator_matrix(mods, k)
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
        yi=frozen(y), vi=frozen(v), weights=frozen(100.0 * w / w.sum()),
        beta=frozen(beta), beta_se=frozen(se), beta_stat=frozen(stat),
        beta_pval=frozen(pval), beta_ci_low=frozen(ci_low), beta_ci_high=frozen(ci_high),
        coef_names=names, mods=None if M is None else frozen(M),
    )


