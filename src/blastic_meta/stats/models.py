"""Random-effects and equal-effects pooling and meta-regression (metafor ``rma.uni``
equivalent) and its diagnostics: leave-one-out, Egger's regression test and trim-and-fill.

The fit is the normal-normal random-effects model y_i = x_i'beta + u_i + e_i with
u_i ~ N(0, tau^2) and e_i ~ N(0, v_i); beta is the weighted least squares estimate with
weights 1/(v_i + tau^2) (Viechtbauer, 2010). ``test="knha"`` scales the covariance by
s^2_w = Q(tau^2)/(k - p) and uses t(k - p) quantiles (Hartung & Knapp, 2001; Sidik &
Jonkman, 2002); ``adhoc=True`` floors s^2_w at 1 (Knapp & Hartung, 2003; metafor
``test="adhoc"``). ``method="EE"`` (alias ``"FE"``) is the equal-effects (common-effect) model,
tau^2 = 0 with weights 1/v_i; as in metafor its I^2 and H^2 come from Cochran's Q (Higgins &
Thompson, 2002) and Knapp-Hartung is applied without the floor at 1 (s^2_w = Q/(k - p)).

What a caller may never read is computed on first access: the Q-profile confidence interval of
tau^2 (``tau2_ci_low``/``tau2_ci_high``, Viechtbauer, 2007) and the coefficient table. The
values are those an eager computation gives; ``to_dict()`` includes them.

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
Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
    21:1539-58.
Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
    Stat Med 26:37-52.
Egger M, Davey Smith G, Schneider M, Minder C (1997). Bias in meta-analysis detected by a
    simple, graphical test. BMJ 315:629-34.
Duval S, Tweedie R (2000). Trim and fill. Biometrics 56:455-63.
"""

from __future__ import annotations

import math
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
from . import heterogeneity as het
from ._arrays import frozen, jsonable, moderator_matrix, split_frame
from ._rma import EQUAL_EFFECTS, fit_arrays
from .tau2 import METHODS, Gls, qprofile_ci

if TYPE_CHECKING:
    from .diagnostics import EggerResult, TrimFillResult

TESTS = ("z", "knha")
POOL_METHODS = (*METHODS, *EQUAL_EFFECTS)

_EPS = np.finfo(float).eps
_NAN = math.nan
_MAX, _MIN = np.maximum.reduce, np.minimum.reduce


class _Deferred:
    """What a fit computes only on demand: the Q-profile CI of tau^2 (a root search per bound,
    the most expensive part of a fit). Filled once, on first access."""

    __slots__ = ("_ci", "gls", "level")

    def __init__(self, gls: Gls, level: float) -> None:
        self.gls, self.level = gls, level
        self._ci: tuple[float, float] | None = None

    def tau2_ci(self) -> tuple[float, float]:
        if self._ci is None:
            self._ci = qprofile_ci(self.gls, self.level)
        return self._ci


@dataclass(frozen=True)
class PooledResult:
    """A fitted random-effects or equal-effects model (metafor ``rma.uni``), immutable.

    ``estimate``/``se``/``zval``/``pval``/``ci_*`` refer to the intercept (the pooled effect
    when there are no moderators); ``coefficients`` holds every coefficient. ``zval`` is a t
    statistic under ``test="knha"`` (also available as ``tval``), with ``df = k - p``.
    Arrays are read-only and in input order; ``weights`` are percentages. ``tau2_ci_low`` and
    ``tau2_ci_high`` (Q-profile, Viechtbauer 2007) are computed on first access; they are NaN
    for an equal-effects model or a fixed tau^2 (metafor's ``confint`` refuses those).
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
    _deferred: _Deferred | None = field(default=None, repr=False, compare=False)

    # -- derived views -----------------------------------------------------------------------
    @property
    def tau2_ci_low(self) -> float:
        """Lower Q-profile confidence bound of tau^2 (computed on first access)."""
        return _NAN if self._deferred is None else self._deferred.tau2_ci()[0]

    @property
    def tau2_ci_high(self) -> float:
        """Upper Q-profile confidence bound of tau^2 (computed on first access)."""
        return _NAN if self._deferred is None else self._deferred.tau2_ci()[1]

    @property
    def equal_effects(self) -> bool:
        """True for the equal-effects (common-effect) model, ``method="EE"`` or ``"FE"``."""
        return self.method in EQUAL_EFFECTS

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
        """Case-deletion outlier and influence diagnostics (Viechtbauer & Cheung, 2010;
        metafor ``influence``); see ``influence.influence``."""
        from .influence import influence

        return influence(self)

    def cumulative(self, order: Any = None):  # -> pandas.DataFrame
        """Cumulative meta-analysis (Lau et al., 1992), adding studies in ``order`` (input
        positions; metafor ``cumul``); see ``cumulative.cumulative``."""
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
            if name in ("mods", "_deferred"):
                continue
            out[name] = getattr(self, name)
            if name == "tau2_se":
                out["tau2_ci_low"], out["tau2_ci_high"] = self.tau2_ci_low, self.tau2_ci_high
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
        i2=nan, h2=nan, typical_variance=nan, q=nan,
        q_df=0, q_pval=nan, pi_low=nan, pi_high=nan, qm=nan, qm_df=(1,), qm_pval=nan, r2=nan,
        s2w=1.0, yi=arr(y), vi=arr(v), weights=frozen(100.0 * one), beta=arr(y),
        beta_se=arr(row["se"]), beta_stat=arr(row["statistic"]), beta_pval=arr(row["pval"]),
        beta_ci_low=arr(row["ci_low"]), beta_ci_high=arr(row["ci_high"]),
    )


_RESULT_FIELDS = frozenset(PooledResult.__dataclass_fields__)


def _make_result(**fields: Any) -> PooledResult:
    """``PooledResult(**fields)`` for the engine, which gives every field: the frozen
    dataclass' ``__init__`` sets its 45 fields one ``object.__setattr__`` call at a time, a
    tenth of a whole fit's time; the fields are put in the instance's ``__dict__`` at once."""
    if fields.keys() != _RESULT_FIELDS:
        raise TypeError(f"_make_result: fields {sorted(fields.keys() ^ _RESULT_FIELDS)} "
                        "missing or unknown")
    result = object.__new__(PooledResult)
    result.__dict__.update(fields)
    return result


def _single_row(y: float, v: float, level: float) -> dict[str, float]:
    se = math.sqrt(v)
    crit = float(-special.ndtri((1 - level) / 2))
    z = y / se
    return {"estimate": y, "se": se, "statistic": z, "pval": float(2 * special.ndtr(-abs(z))),
            "ci_low": y - crit * se, "ci_high": y + crit * se, "q": math.nan,
            "q_pval": math.nan, "tau2": 0.0, "i2": math.nan, "h2": math.nan}


def _validate(yi: Any, vi: Any, method: Any, test: Any, level: Any, pi: Any, adhoc: Any,
              i2: Any) -> tuple[np.ndarray, np.ndarray, float]:
    check_choice("method", method, POOL_METHODS)
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
    # one pass for the common case of valid input; the checks that name the position of a
    # bad value run only when something is wrong
    # (the extremes propagate NaN, and are finite only if every value is)
    if not (y.shape == v.shape and v.size and float(_MAX(np.abs(y))) < math.inf
            and float(_MIN(v)) > 0.0 and float(_MAX(v)) < math.inf):
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
    method : {"DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM", "EE", "FE"}
        tau^2 estimator, as in metafor's ``rma.uni``; ``"EE"`` (or its alias ``"FE"``) fits
        the equal-effects model (tau^2 = 0, I^2 and H^2 from Q whatever ``i2`` says).
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
        k = 2 with ``test="knha"`` (t with 1 df: intervals are extremely wide); Knapp-Hartung
        with an equal-effects model (fitted anyway, as metafor does).

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. J Stat
        Softw 36. (The model and every tau^2 estimator: see ``tau2``.)
    Hartung J, Knapp G (2001); Knapp G, Hartung J (2003): the ``"knha"`` test and its floor.
    Higgins JPT, Thompson SG (2002). Quantifying heterogeneity in a meta-analysis. Stat Med
        21:1539-58 (I^2, H^2).

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
    except ArithmeticError as exc:  # numpy's overflow, or Python's on the search's floats
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
    return fit_arrays(y, v, M, names, method, test, level, pi, adhoc, i2def, make=_make_result,
                      defer=_Deferred, warn=warn, tau2_fixed=tau2_fixed)
