"""Each study's appraisal as the review uses it: the overall level of concern behind the GRADE
risk-of-bias judgement, the traffic-light figure and the appraisal column of forest plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["appraisal_concern", "concern_rule"]


def concern_rule(protocol: Any) -> Any:
    """The registry's ConcernRule with the protocol's thresholds."""
    from ..registry.appraisal import ConcernRule

    r = protocol.certainty.appraisal_rule
    return ConcernRule(high_no=r.high_no, high_unclear_share=float(r.high_unclear_share),
                       low_unclear=r.low_unclear)


def appraisal_concern(records: Sequence[Any], protocol: Any) -> dict[str, str]:
    """Study key -> "low", "some", "high" or "not appraised"."""
    from ..registry.appraisal import summarise_appraisal

    rule = concern_rule(protocol)
    return {rec.key: summarise_appraisal(rec, rule).concern for rec in records}
