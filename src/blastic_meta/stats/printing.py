"""Text summaries laid out like metafor's ``print.rma.uni`` (same labels, digits and order)."""

from __future__ import annotations

from ..formatting import DIGITS, fmt_num, fmt_p, fmt_pct, signif_stars
from . import heterogeneity as het
from .models import _EPS, PooledResult

__all__ = ["pooled_summary", "r_table"]


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


def pooled_summary(r: PooledResult) -> str:
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
    out.extend(r_table(rows, header, None if int_only else list(r.coef_names)))
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
