"""The one door to PyMARE (imported lazily, inside the functions).

PyMARE serves here as an independent second engine to cross-check our own fits (DL, ML, REML),
one data set or many at once. Every option is passed explicitly: PyMARE >= 0.0.11 applies the
Knapp-Hartung correction unless told otherwise, which would silently change every interval
compared with metafor's ``test="z"``.

Where PyMARE cannot do the job, ``blastic_meta`` computes the values itself:

* its ML/REML search profiles tau^2 with a bounded scalar minimiser at ``xtol`` about 1e-6,
  so tau^2 agrees with the exact optimum only to about 1e-7 (absolute, on the BCG data); our
  ``tau2`` module solves the score equation to 1e-10;
* it has no PM, EB, HS, SJ or HE estimators, no prediction interval, and its I^2 is the
  Q-based value for every estimator (metafor's is computed from tau^2);
* its Q-profile interval for tau^2 turns failures into NaN.

References
----------
Salo T, Yarkoni T, Nichols TE, et al. (2022). NiMARE / PyMARE: Python meta-analysis tools.
    Aperture Neuro.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: our test name -> PyMARE's small_sample_correction (the map must stay total over TESTS)
CORRECTION = {
    ("z", False): "wald",
    ("knha", False): "knapp-hartung",
    ("knha", True): "knapp-hartung-conservative",
}

#: methods PyMARE can fit, mapped to (estimator class name, its method argument)
ENGINES = {
    "DL": ("DerSimonianLaird", None),
    "ML": ("VarianceBasedLikelihoodEstimator", "ML"),
    "REML": ("VarianceBasedLikelihoodEstimator", "REML"),
}


@dataclass(frozen=True, slots=True)
class PymareFit:
    """Intercept-only results of PyMARE, one entry per data set."""

    tau2: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def _import_estimators():
    """``pymare.estimators``, imported quietly: importing pymare opens a data file without
    closing it (a ResourceWarning in pymare 0.0.13 that is not ours to report)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        from pymare import estimators
    return estimators


def _estimator(method: str, test: str, adhoc: bool):
    estimators = _import_estimators()

    if method not in ENGINES:
        raise InputError(f"method = {method!r}: PyMARE offers only {', '.join(ENGINES)}")
    try:
        correction = CORRECTION[(test, bool(adhoc))]
    except KeyError:
        raise InputError(f"test = {test!r}, adhoc = {adhoc!r}: no PyMARE equivalent") from None
    cls_name, pm_method = ENGINES[method]
    cls = getattr(estimators, cls_name)
    kwargs = {"weight_scheme": "individual", "rho": None,
              "small_sample_correction": correction}
    if pm_method is not None:
        kwargs["method"] = pm_method
    return cls(**kwargs)


def pymare_pool(
    Y: np.ndarray,
    V: np.ndarray,
    *,
    method: str = "REML",
    test: str = "z",
    adhoc: bool = False,
    level: float = 0.95,
) -> PymareFit:
    """Fit the intercept-only random-effects model with PyMARE.

    ``Y`` and ``V`` are 1-D (one data set) or 2-D with one data set per row (all rows the
    same length; PyMARE fits them in one vectorised call). Returns arrays with one entry per
    data set.
    """
    y = np.atleast_2d(np.asarray(Y, dtype=float))
    v = np.atleast_2d(np.asarray(V, dtype=float))
    if y.shape != v.shape:
        raise InputError(f"Y, V: shapes differ ({y.shape} vs {v.shape})")
    est = _estimator(method, test, adhoc)
    k = y.shape[1]
    est.fit(y=y.T, v=v.T, X=np.ones((k, 1)))
    res = est.summary()
    stats = res.get_fe_stats(alpha=1.0 - level)
    return PymareFit(
        tau2=np.ravel(res.tau2).astype(float),
        estimate=np.ravel(stats["est"]).astype(float),
        se=np.ravel(stats["se"]).astype(float),
        ci_low=np.ravel(stats["ci_l"]).astype(float),
        ci_high=np.ravel(stats["ci_u"]).astype(float),
    )
