"""Text summaries laid out like metafor's ``print.rma.uni`` and ``print.rma.glmm`` (same
labels, digits and order), followed by what metafor prints elsewhere (``confint``,
``predict``) and the conventions used."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..formatting import DIGITS, fmt_num, fmt_p, fmt_pct, signif_stars
from . import heterogeneity as het
from .models import _EPS, PooledResult

if TYPE_CHECKING:
    from .glmm import GlmmResult

__all__ = ["glmm_summary", "pooled_summary", "r_table"]

_LEGEND = ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
#: the header of an equal-effects fit in metafor 3.8 (with moderators always "Fixed-Effects")
_EE_TITLE = {"EE": "Equal-Effects Model", "FE": "Fixed-Effects Model"}


def r_table(rows: list[list[str]], header: list[str], rownames: list[str] | None) -> list[str]:
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


def _tau_lines(tau2: float, tau2_se: float, int_only: bool, digits: int) -> list[str]:
    """The tau^2 and tau lines of metafor's print (0 printed as "0"; no SE when NA)."""
    tau2_txt = fmt_num(tau2, 0 if abs(tau2) <= _EPS * 10 else digits)
    tau_txt = fmt_num(math.sqrt(tau2), 0 if tau2 <= _EPS * 10 else digits)
    kind = "total" if int_only else "residual"
    tau2_lab = f"tau^2 (estimated amount of {kind} heterogeneity): "
    tau_lab = "tau (square root of estimated tau^2 value):      "
    if not int_only:
        tau2_lab += "    "
        tau_lab += "       "
    se_txt = "" if math.isnan(tau2_se) else f" (SE = {fmt_num(tau2_se, DIGITS['sevar'])})"
    return [f"{tau2_lab}{tau2_txt}{se_txt}", f"{tau_lab}{tau_txt}"]


def _het_labels(int_only: bool) -> tuple[str, str]:
    if int_only:
        return ("I^2 (total heterogeneity / total variability):   ",
                "H^2 (total variability / sampling variability):  ")
    return ("I^2 (residual heterogeneity / unaccounted variability): ",
            "H^2 (unaccounted variability / sampling variability):   ")


def _moderator_test(p: int, qm: float, qm_df: tuple[int, ...], qm_pval: float) -> list[str]:
    coefs = "2" if p == 2 else f"2:{p}"
    out = [f"Test of Moderators (coefficient{'s' if p > 2 else ''} {coefs}):"]
    if len(qm_df) == 2:
        out.append(f"F(df1 = {qm_df[0]}, df2 = {qm_df[1]}) = {fmt_num(qm, DIGITS['test'])}, "
                   f"p-val {fmt_p(qm_pval, equals=True)}")
    else:
        out.append(f"QM(df = {qm_df[0]}) = {fmt_num(qm, DIGITS['test'])}, "
                   f"p-val {fmt_p(qm_pval, equals=True)}")
    return [*out, ""]


def _coef_table(beta, se, stat, pval, lo, hi, names: list[str] | None,
                df: float | None) -> list[str]:
    """metafor's table of model results (with the significance stars)."""
    d = DIGITS
    knha = df is not None
    header = ["estimate", "se", "tval" if knha else "zval", *(["df"] if knha else []),
              "pval", "ci.lb", "ci.ub", ""]
    rows = [[fmt_num(beta[i], d["est"]), fmt_num(se[i], d["se"]), fmt_num(stat[i], d["test"]),
             *([str(int(df))] if knha else []), fmt_p(float(pval[i])),
             fmt_num(lo[i], d["est"]), fmt_num(hi[i], d["est"]), signif_stars(float(pval[i]))]
            for i in range(len(beta))]
    return r_table(rows, header, names)


def pooled_summary(r: PooledResult) -> str:
    d = DIGITS
    int_only = r.p == 1
    ee = r.equal_effects
    if ee:
        title = _EE_TITLE[r.method] if int_only else "Fixed-Effects with Moderators Model"
        out = [f"{title} (k = {r.k})", ""]
        i2_lab, h2_lab = _het_labels(int_only)
        out.append(f"{i2_lab}{fmt_pct(r.i2)}")
        out.append(f"{h2_lab}{fmt_num(r.h2, d['het'])}")
        if not int_only:
            out.append(f"R^2 (amount of heterogeneity accounted for):            {fmt_pct(r.r2)}")
        return _pooled_rest(r, out)
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
    return _pooled_rest(r, out)


def _pooled_rest(r: PooledResult, out: list[str]) -> str:
    d = DIGITS
    int_only = r.p == 1
    out.append("")
    qname = "Q" if int_only else "QE"
    out.append("Test for Heterogeneity:" if int_only else "Test for Residual Heterogeneity:")
    out.append(f"{qname}(df = {r.q_df}) = {fmt_num(r.q, d['test'])}, "
               f"p-val {fmt_p(r.q_pval, equals=True)}")
    out.append("")
    if not int_only:
        out.extend(_moderator_test(r.p, r.qm, r.qm_df, r.qm_pval))
    out.append("Model Results:")
    out.append("")
    knha = r.test == "knha"
    out.extend(_coef_table(r.beta, r.beta_se, r.beta_stat, r.beta_pval, r.beta_ci_low,
                           r.beta_ci_high, None if int_only else list(r.coef_names),
                           r.df if knha else None))
    out.append("")
    out.extend(_LEGEND)
    out.append("")
    pct = f"{100 * r.level:g}%"
    if not r.equal_effects:
        out.append(f"tau^2 {pct} CI (Q-profile): [{fmt_num(r.tau2_ci_low, d['var'])}, "
                   f"{fmt_num(r.tau2_ci_high, d['var'])}]")
        where = "" if int_only else " (at moderators = 0)"
        out.append(f"{pct} prediction interval{where}: [{fmt_num(r.pi_low, d['est'])}, "
                   f"{fmt_num(r.pi_high, d['est'])}]")
        out.append("")
    out.append("Conventions:")
    if r.equal_effects:
        out.append("  equal-effects model: tau^2 = 0; I^2 and H^2 from Q (metafor)")
    else:
        out.append(f"  prediction interval quantile: {het.PI_DESCRIPTION[r.pi_convention]}")
        out.append(f"  I^2 and H^2: {het.I2_DESCRIPTION[r.i2_definition]}")
    if knha:
        floor = "with" if r.adhoc else "without"
        out.append(f"  Knapp-Hartung adjustment {floor} the ad hoc floor max(1, s^2)")
    else:
        out.append("  tests and intervals: normal (Wald) distribution")
    return "\n".join(out) + "\n"


def glmm_summary(r: GlmmResult) -> str:
    """metafor's print of an ``rma.glmm`` fit (I^2 and H^2 with 4 decimals, as metafor prints
    them for this model), then the LRT of the moderators, the marginal log-likelihood, the
    proportion scale and the conventions."""
    d = DIGITS
    int_only = r.p == 1
    title = "Random-Effects Model" if int_only else "Mixed-Effects Model"
    out = [f"{title} (k = {r.k}; tau^2 estimator: ML)", ""]
    out.extend(_tau_lines(r.tau2, math.nan, int_only, d["var"]))
    i2_lab, h2_lab = _het_labels(int_only)
    out.append(f"{i2_lab}{fmt_num(r.i2, 4)}%")
    out.append(f"{h2_lab}{fmt_num(r.h2, 4)}")
    out.append("")
    wld, lrt = fmt_num(r.qe_wald, d["test"]), fmt_num(r.qe_lrt, d["test"])
    width = max(len(wld), len(lrt))
    out.append("Tests for Heterogeneity:" if int_only else "Tests for Residual Heterogeneity:")
    out.append(f"Wld(df = {r.qe_df}) = {wld.rjust(width)}, "
               f"p-val {fmt_p(r.qe_wald_pval, equals=True)}")
    out.append(f"LRT(df = {r.qe_df}) = {lrt.rjust(width)}, "
               f"p-val {fmt_p(r.qe_lrt_pval, equals=True)}")
    out.append("")
    if not int_only:
        out.extend(_moderator_test(r.p, r.qm, (r.qm_df,), r.qm_pval))
    out.append("Model Results:")
    out.append("")
    out.extend(_coef_table(r.beta, r.beta_se, r.beta_zval, r.beta_pval, r.beta_ci_low,
                           r.beta_ci_high, None if int_only else list(r.coef_names), None))
    out.append("")
    out.extend(_LEGEND)
    out.append("")
    if not int_only:
        out.append("Likelihood-ratio test of the moderators (marginal likelihoods of this fit "
                   "and of the intercept-only fit):")
        out.append(f"LRT(df = {r.lrt_df}) = {fmt_num(r.lrt, d['test'])}, "
                   f"p-val {fmt_p(r.lrt_pval, equals=True)}")
        out.append("")
    out.append(f"log-likelihood (marginal, 7-point adaptive Gauss-Hermite): "
               f"{fmt_num(r.loglik, d['test'])}")
    out.append("")
    where = "" if int_only else " at moderators = 0"
    out.append(f"Proportion{where} (inverse logit; prediction interval from z and "
               "se^2 + tau^2):")
    out.append("")
    vals = [fmt_num(v, d["est"]) for v in (r.proportion, r.proportion_ci_low,
                                            r.proportion_ci_high, r.pi_low, r.pi_high)]
    out.extend(r_table([vals], ["pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub"], None))
    out.append("")
    out.append("Conventions:")
    out.append("  binomial-normal model (logit link), ML, 7-point adaptive Gauss-Hermite "
               "quadrature; SEs from the exact observed information")
    out.append(f"  tests and intervals: normal (Wald) distribution, {100 * r.level:g}% level")
    return "\n".join(out) + "\n"
