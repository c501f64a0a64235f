"""Number formatting shared by ``summary()`` texts, tables and report prose.

One place decides how many digits each kind of quantity gets, so that a number printed in a
summary, a table and a sentence of the report is the same string. The defaults follow
metafor's print methods (4 decimals, I^2 and H^2 with 2, p-values below 1e-4 as "<.0001").
"""

from __future__ import annotations

import math
from collections.abc import Mapping

DIGITS: dict[str, int] = {
    "est": 4,  # estimates and confidence bounds
    "se": 4,
    "test": 4,  # test statistics (z, t, Q, F)
    "pval": 4,
    "var": 4,  # tau^2 and tau
    "sevar": 4,
    "het": 2,  # I^2 (percent) and H^2
}


def fmt_num(value: float | None, digits: int) -> str:
    """Fixed-point with ``digits`` decimals; "NA", "Inf", "-Inf" as R prints them."""
    if value is None or math.isnan(value):
        return "NA"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"  # as R prints them
    out = f"{value:.{digits}f}"
    if out.startswith("-") and float(out) == 0.0:
        out = out[1:]  # R prints -0.0000 as 0.0000
    return out


#: the minus sign of running text (U+2212); a hyphen-minus reads as a dash in print
MINUS = "\u2212"


def fmt_signed(value: float | None, digits: int, *, latex: bool = False) -> str:
    """``fmt_num`` with a true minus sign for text a reader sees: U+2212 in Markdown and
    HTML, ``$-$`` in LaTeX (where a bare ``-`` sets a hyphen). Tables and CSV keep
    ``fmt_num``'s ASCII hyphen-minus, which spreadsheets read as a number.

    The prose (``review.prose.number``) and the ``render`` filters both call this one
    function, so a negative estimate reads the same in estimates.md and in a template."""
    text = fmt_num(None if value is None else float(value), digits)
    if text.startswith("-"):
        text = ("$-$" if latex else MINUS) + text[1:]
    return text


def fmt_est(value: float | None, digits: int | None = None) -> str:
    """An estimate or a confidence bound."""
    return fmt_num(value, DIGITS["est"] if digits is None else digits)


def fmt_ci(low: float | None, high: float | None, digits: int | None = None,
           sep: str = ", ") -> str:
    """A bracketed interval, e.g. ``[-1.0669, -0.3622]``."""
    return f"[{fmt_est(low, digits)}{sep}{fmt_est(high, digits)}]"


def fmt_p(p: float | None, digits: int | None = None, *, equals: bool = False) -> str:
    """A p-value as metafor prints it: ``"<.0001"`` below the cutoff, else fixed-point.

    With ``equals=True`` the comparison sign is included: ``"< .0001"`` or ``"= 0.0016"``.
    """
    d = max(DIGITS["pval"] if digits is None else digits, 1)
    cutoff = 10.0 ** -d
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "= NA" if equals else "NA"
    if p >= cutoff:
        text = f"{p:.{d}f}"
        return f"= {text}" if equals else text
    text = "." + "0" * (d - 1) + "1"
    return f"< {text}" if equals else f"<{text}"


def fmt_pct(value: float | None, digits: int | None = None) -> str:
    """A percentage such as I^2: ``"92.22%"``."""
    return fmt_num(value, DIGITS["het"] if digits is None else digits) + "%"


def signif_stars(p: float) -> str:
    """R's significance codes: *** < 0.001 < ** < 0.01 < * < 0.05 < . < 0.1."""
    if p is None or math.isnan(p):
        return ""
    for cut, star in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return star
    return ""


#: parts of an id that are abbreviations, written as a reader expects them
_ABBREVIATIONS = {"pvp": "PVP", "pkp": "PKP", "bkp": "BKP", "vp": "VP", "kp": "KP",
                  "rfa": "RFA", "vas": "VAS", "icc": "ICC", "sd": "SD", "glmm": "GLMM"}


def words(value: object, vocabulary: Mapping[str, str] | None = None) -> str:
    """An enum value or id as words for a reader: ``'retrospective_case_series'`` ->
    'retrospective case series', ``'pvp_only'`` -> 'PVP only'.

    ``vocabulary`` maps values that need more than that (e.g. a procedure code to its
    name); anything else has its underscores read as spaces, abbreviations in capitals. A
    missing value (None, NaN) is empty. Tables for people (Markdown, figures, text) use
    this; CSV keeps the ids, which scripts match on."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if vocabulary and text in vocabulary:
        return vocabulary[text]
    if "_" not in text:
        return text
    return " ".join(_ABBREVIATIONS.get(part, part) for part in text.split("_") if part)
