"""The clinically important change in pain that a VAS result is read against.

The protocol names two thresholds: ``vas_mcid_points`` (2 points on 0-10) and
``vas_mcid_percent`` (30% of the baseline). Farrar et al. (2001) found that on average a
reduction of about 2 points or about 30% was clinically important, that the percentage
related to patients' global impression consistently whatever the baseline pain, and that
higher baselines needed larger raw changes; IMMPACT takes a reduction of at least 30% as
moderately important (Dworkin et al. 2008); for bone metastases a reduction of at least 2
points is a partial response (Chow et al. 2012). The two agree only near a baseline of
about 6.7 points (30% of 6.7 = 2), so the protocol says how they combine
(``vas_mcid_rule``):

- ``larger`` (the review's rule): the threshold is the larger of the two, so a change is
  read as clinically important only when it meets both the relative criterion (Farrar 2001,
  Dworkin 2008) and the absolute one (Chow 2012). At a high baseline 2 points is less than
  30% (Farrar: higher baselines need larger raw changes); at a low baseline 30% falls below
  the 2 points that bone-metastasis trials count as a response;
- ``smaller``: either criterion suffices (a more lenient reading, for a sensitivity check).

The baseline is the study's baseline mean; for a pooled result, the studies' baseline means
averaged with the weights of the pooled estimate, so that the threshold is the same weighted
average of the studies' own relative criteria as the estimate is of their changes. Without a
baseline mean only the points threshold applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Mcid", "methods_sentence", "reading", "vas_mcid"]


def _g(value: float) -> str:
    """A threshold or baseline as printed: at most three decimals (30% of a baseline given
    to two decimals is exact to three), no trailing zeros."""
    return f"{round(float(value), 3):g}"


@dataclass(frozen=True)
class Mcid:
    """The threshold of one study or pooled result and the parts it was made from."""

    value: float
    points: float
    percent: float
    baseline: float | None
    rule: str

    def describe(self, percent_sign: str = "%") -> str:
        """'2 points (the larger of 2 points and 30% of the baseline 4.3)'."""
        if self.baseline is None:
            return (f"{_g(self.value)} points (no baseline mean for the {_g(self.percent)}"
                    f"{percent_sign} criterion)")
        return (f"{_g(self.value)} points (the {self.rule} of {_g(self.points)} points and "
                f"{_g(self.percent)}{percent_sign} of the baseline {_g(self.baseline)})")


def _baseline(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) and v > 0 else None


def vas_mcid(clinical: Mapping[str, Any], baseline: Any) -> Mcid:
    """The clinically important change for a result with this baseline mean (0-10 scale)."""
    points = float(clinical.get("vas_mcid_points", 2.0))
    percent = float(clinical.get("vas_mcid_percent", 30.0))
    rule = str(clinical.get("vas_mcid_rule", "larger"))
    base = _baseline(baseline)
    if base is None:
        return Mcid(points, points, percent, None, rule)
    relative = percent / 100.0 * base
    value = max(points, relative) if rule == "larger" else min(points, relative)
    return Mcid(value, points, percent, base, rule)


def reading(fit: Mapping[str, Any], clinical: Mapping[str, Any], percent_sign: str = "%") -> str:
    """A result's CI against its threshold: 'the whole CI lies below the clinically important
    change of 2 points (...)' ('' without an estimate and CI)."""
    lo, est, hi = fit.get("ci_low"), fit.get("estimate"), fit.get("ci_high")
    if lo is None or hi is None or est is None:
        return ""
    mcid = vas_mcid(clinical, fit.get("baseline"))
    t = f"the clinically important change of {mcid.describe(percent_sign)}"
    if lo >= mcid.value:
        return f"the whole CI lies above {t}"
    if est >= mcid.value:
        return f"the estimate exceeds {t}, but the CI includes smaller changes"
    if hi >= mcid.value:
        return f"the estimate is below {t}, and the CI includes it"
    return f"the whole CI lies below {t}"


def methods_sentence(c: Any) -> str:
    """How the two thresholds combine, for the Methods paragraph (``c``: ClinicalSettings)."""
    which = "larger" if c.vas_mcid_rule == "larger" else "smaller"
    return (f"A change in pain was read as clinically important when it reached the {which} of "
            f"{c.vas_mcid_points:g} points and {c.vas_mcid_percent:g}% of the baseline mean "
            f"(of a pooled result, the baseline means averaged with the pooling weights)"
            + (", so that it meets both criteria" if which == "larger" else "")
            + " (Farrar et al. 2001; Dworkin et al. 2008; Chow et al. 2012); studies shown side"
            " by side are each read against their own baseline.")
