"""Each study's appraisal as the review uses it: the overall level of concern behind the GRADE
risk-of-bias judgement, the traffic-light figure and the appraisal column of forest plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["appraisal_basis", "appraisal_concern", "concern_rule", "no_information"]


def concern_rule(protocol: Any) -> Any:
    """The registry's ConcernRule with the protocol's thresholds."""
    from ..registry.appraisal import ConcernRule

    r = protocol.certainty.appraisal_rule
    return ConcernRule(high_no=r.high_no, high_unclear_share=float(r.high_unclear_share),
                       low_unclear=r.low_unclear,
                       no_information_from=tuple(r.no_information_from))


def appraisal_concern(records: Sequence[Any], protocol: Any) -> dict[str, str]:
    """Study key -> "low", "some", "high" or "not appraised"."""
    from ..registry.appraisal import summarise_appraisal

    rule = concern_rule(protocol)
    return {rec.key: summarise_appraisal(rec, rule).concern for rec in records}


def appraisal_basis(records: Sequence[Any], protocol: Any) -> dict[str, str]:
    """Study key -> what its level of concern rests on ("2 items answered no; ...")."""
    from ..registry.appraisal import summarise_appraisal

    rule = concern_rule(protocol)
    return {rec.key: summarise_appraisal(rec, rule).basis for rec in records}


def no_information(records: Sequence[Any], protocol: Any) -> frozenset[str]:
    """Keys of the studies with unclear answers that count as concerns because the study was
    appraised from less than its full text (registry ConcernRule ``no_information_from``)."""
    from ..registry.appraisal import summarise_appraisal

    rule = concern_rule(protocol)
    return frozenset(rec.key for rec in records if summarise_appraisal(rec, rule).no_information)
