"""Effect sizes of an analysis' input rows, with metafor ``escalc`` definitions.

Pain change is ``MC`` (baseline minus follow-up, so a positive value is less pain; Becker
1988) with the protocol's assumed pre/post correlation; the baseline-robust secondary measures
are ``ROMC`` (log of the follow-up over the baseline mean, with the same correlation) and
``MN`` (the follow-up mean). Proportions are ``PLO`` with per-study Clopper-Pearson (1934)
intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .protocol import AnalysisSpec, Protocol

__all__ = ["add_effects", "secondary_effects", "z_quantile"]

NAN = float("nan")


def add_effects(frame: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
                 r: float) -> pd.DataFrame:
    """``frame`` with ``yi``, ``vi``, ``ci_low`` and ``ci_high`` of its usable rows (NaN for
    rows with a ``reason``); each column is set once, whole, as setting cells of a small frame
    costs far more than the effect sizes."""
    from ..stats.effects import effect_values

    ok = frame["reason"].isna().to_numpy()
    columns = {name: np.full(len(frame), NAN) for name in ("yi", "vi", "ci_low", "ci_high")}
    if ok.any():
        def values(column: str) -> np.ndarray:  # the usable rows' values, as floats
            return frame[column].to_numpy(dtype=float, na_value=NAN)[ok]

        if spec.kind == "change":
            yi, vi = effect_values("MC", m1i=values("mean_pre"), m2i=values("mean_post"),
                                   sd1i=values("sd_pre"), sd2i=values("sd_post"),
                                   ni=values("n"), ri=np.full(int(ok.sum()), r))
            z = z_quantile(protocol.model.level)
            lo, hi = yi - z * np.sqrt(vi), yi + z * np.sqrt(vi)
        else:
            from ..stats.proportions import proportion_ci

            xi, ni = values("events"), values("total")
            yi, vi = effect_values(protocol.proportions.measure, xi=xi, ni=ni)
            lo, hi = proportion_ci(xi, ni, method=protocol.proportions.study_ci,
                                   level=protocol.model.level)
        for name, values in (("yi", yi), ("vi", vi), ("ci_low", lo), ("ci_high", hi)):
            columns[name][ok] = np.asarray(values, dtype=float)
    return frame.assign(**columns)


def secondary_effects(frame: pd.DataFrame, measure: str, r: float,
                      level: float = 0.95) -> pd.DataFrame:
    """yi, vi of the included score rows under ``measure`` ("ROMC" or "MN"); other columns
    kept. ROMC is log(follow-up / baseline) (negative = less pain), MN the follow-up mean."""
    from ..stats.effects import effect_values

    rows = frame[frame["reason"].isna()].copy()
    if rows.empty:
        return rows
    post = rows["mean_post"].astype(float).to_numpy()
    if measure == "ROMC":
        yi, vi = effect_values("ROMC", m1i=post, m2i=rows["mean_pre"].astype(float).to_numpy(),
                               sd1i=rows["sd_post"].astype(float).to_numpy(),
                               sd2i=rows["sd_pre"].astype(float).to_numpy(),
                               ni=rows["n"].astype(float).to_numpy(), ri=np.full(len(rows), r))
    elif measure == "MN":
        yi, vi = effect_values("MN", mi=post, sdi=rows["sd_post"].astype(float).to_numpy(),
                               ni=rows["n"].astype(float).to_numpy())
    else:
        raise ValueError(f"secondary measure {measure!r}: expected ROMC or MN")
    rows["yi"] = yi
    rows["vi"] = vi
    half = np.sqrt(rows["vi"].to_numpy()) * z_quantile(level)
    rows["ci_low"] = rows["yi"].to_numpy() - half
    rows["ci_high"] = rows["yi"].to_numpy() + half
    return rows


def z_quantile(level: float) -> float:
    from scipy import special

    return float(special.ndtri(1 - (1 - level) / 2))
