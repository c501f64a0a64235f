"""Critical appraisal of a study: the tool, one answer per item, and a summary level of concern.

Tools (``TOOLS``, item names in the order of the published checklists):

- ``jbi_case_series``: JBI critical appraisal checklist for case series (Munn et al. 2020);
- ``jbi_case_report``: JBI checklist for case reports (Moola et al. 2017);
- ``nos_cohort``: Newcastle-Ottawa Scale, cohort version (Wells et al.), for the within-study
  comparisons of lesion types (exposure = lesion type); ``yes`` = the star is awarded.

Each answer is ``yes``/``no`` (with the ``source`` it rests on) or ``unclear``/
``not_applicable`` (with the ``reason``). Why these tools, and the rule that turns the answers
into a level of concern, are explained in docs/appraisal.md. The models here check one mapping;
the item names against the tool, the tool against the design and ``appraised_from`` against
``source_access`` are checked with line numbers in ``review_checks``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from ..errors import InputError
from ._base import Id, Key, Text, _err, _Model

__all__ = [
    "ACCESS",
    "ANSWERS",
    "CONCERNS",
    "NOT_FULL_TEXT",
    "TOOLS",
    "Appraisal",
    "AppraisalItem",
    "AppraisalSummary",
    "ConcernRule",
    "expected_tool",
    "summarise_appraisal",
]

TOOLS: dict[str, tuple[str, ...]] = {
    "jbi_case_series": (
        "clear_criteria", "condition_measured", "valid_identification", "consecutive",
        "complete", "demographics", "clinical_information", "outcomes", "site_information",
        "statistics",
    ),
    "jbi_case_report": (
        "demographics", "history", "clinical_condition", "diagnostics", "intervention",
        "post_intervention", "adverse_events", "lessons",
    ),
    "nos_cohort": (
        "representative_exposed", "selection_nonexposed", "ascertainment_exposure",
        "outcome_absent_at_start", "comparability_main", "comparability_additional",
        "outcome_assessment", "follow_up_long_enough", "follow_up_adequate",
    ),
}
ANSWERS = ("yes", "no", "unclear", "not_applicable")
CONCERNS = ("low", "some", "high", "not appraised")

Tool = Literal["jbi_case_series", "jbi_case_report", "nos_cohort"]
Answer = Literal["yes", "no", "unclear", "not_applicable"]
Concern = Literal["low", "some", "high", "not appraised"]
Access = Literal["full_text", "abstract", "abstract_truncated", "secondary_only"]
ACCESS = ("full_text", "abstract", "abstract_truncated", "secondary_only")

_ITEMS_HELP = "; ".join(f"{tool}: {', '.join(items)}" for tool, items in TOOLS.items())


class AppraisalItem(_Model):
    """One answer: yes/no with the source it rests on, unclear/not_applicable with a reason."""

    answer: Answer
    source: Text | None = Field(None, description="where the answer was read (yes/no)")
    via: Key | None = Field(None, description="BibTeX key of the paper it was read in")
    reason: Text | None = Field(None, description="why unclear or not applicable")
    note: Text | None = None

    @model_validator(mode="after")
    def _grounded(self) -> Any:
        if self.answer in ("yes", "no") and self.source is None:
            raise _err("source-missing",
                       f"answer {self.answer!r} needs the source it rests on (source:)")
        if self.answer in ("unclear", "not_applicable") and self.reason is None:
            raise _err("reason-missing", f"answer {self.answer!r} needs a reason (reason:)")
        if self.via is not None and self.source is None:
            raise _err("source-missing", "via: names the paper of a source: give source: too")
        return self


class Appraisal(_Model):
    """The appraisal of one study with one tool."""

    tool: Tool
    appraised_from: Access = Field(description="what the appraiser could read")
    items: dict[Id, AppraisalItem] = Field(description="one answer per item of the tool: "
                                           + _ITEMS_HELP)
    note: Text | None = None


def expected_tool(design: str, has_within_study: bool) -> str:
    """The tool the review's rule assigns (docs/appraisal.md).

    A study with within-study comparisons of lesion types: ``nos_cohort``; a case report:
    ``jbi_case_report``; every other design (case series, comparisons of two procedures, the
    randomised trial) enters as single-arm series: ``jbi_case_series``.
    """
    if has_within_study:
        return "nos_cohort"
    if design == "case_report":
        return "jbi_case_report"
    return "jbi_case_series"


NOT_FULL_TEXT: tuple[str, ...] = ("abstract", "abstract_truncated", "secondary_only")


@dataclass(frozen=True)
class ConcernRule:
    """The thresholds that turn answers into a level of concern (set by the protocol).

    ``high`` when at least ``high_no`` items count as a concern, or when more than
    ``high_unclear_share`` of the applicable items (all but ``not_applicable``) are
    ``unclear``; otherwise ``low`` when no item is ``no`` and at most ``low_unclear`` are
    ``unclear``; otherwise ``some``. The defaults: any concern or more than half unclear is
    high, every applicable item ``yes`` is low.

    An item counts as a concern when it is answered ``no``, or when it is ``unclear`` in a
    study appraised from less than its full text (``appraised_from`` in
    ``no_information_from``: by default an abstract, a truncated abstract or a secondary
    source). There "unclear" means no information, not a report that leaves the point open,
    and missing information is not evidence of low risk: ROBINS-I keeps "no information"
    apart from low and moderate risk (Sterne et al. 2016; Cochrane Handbook ch. 25), RoB 2
    gives no domain low risk on missing information (Cochrane Handbook ch. 8), and a JBI
    item is met only when answered "yes" (Munn et al. 2020). Without this, an abstract's
    unclear answers would rate it better than a full text's explicit "no" (docs/appraisal.md).
    """

    high_no: int = 1
    high_unclear_share: float = 0.5
    low_unclear: int = 0
    no_information_from: tuple[str, ...] = NOT_FULL_TEXT

    def __post_init__(self) -> None:
        if isinstance(self.high_no, bool) or not isinstance(self.high_no, int) \
                or self.high_no < 1:
            raise InputError(f"high_no must be a whole number >= 1, got {self.high_no!r}")
        share = self.high_unclear_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) \
                or not 0.0 <= share <= 1.0:
            raise InputError(f"high_unclear_share must lie in [0, 1], got {share!r}")
        if isinstance(self.low_unclear, bool) or not isinstance(self.low_unclear, int) \
                or self.low_unclear < 0:
            raise InputError(f"low_unclear must be a whole number >= 0, got "
                             f"{self.low_unclear!r}")
        bad = [a for a in self.no_information_from if a not in ACCESS]
        if isinstance(self.no_information_from, str) or bad:
            raise InputError(f"no_information_from must list values of {ACCESS}, got "
                             f"{self.no_information_from!r}")


@dataclass(frozen=True)
class AppraisalSummary:
    """Counts per answer and the level of concern of one study's appraisal.

    ``no_information``: the unclear answers that count as concerns because the study was
    appraised from less than its full text; ``basis``: what the level rests on, in words."""

    study: str
    tool: str | None
    appraised_from: str | None
    yes: int
    no: int
    unclear: int
    not_applicable: int
    concern: Concern
    no_information: int = 0
    basis: str = ""

    @property
    def applicable(self) -> int:
        """Items answered yes, no or unclear."""
        return self.yes + self.no + self.unclear

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["applicable"] = self.applicable
        return out


def summarise_appraisal(record: Any, rule: ConcernRule | None = None) -> AppraisalSummary:
    """Counts per answer and the level of concern of ``record.appraisal`` under ``rule``.

    ``record`` is a StudyRecord (anything with ``key`` and ``appraisal``). A study without an
    appraisal, or whose items are all ``not_applicable``, is ``"not appraised"``.
    """
    rule = rule or ConcernRule()
    appraisal = getattr(record, "appraisal", None)
    if appraisal is None:
        return AppraisalSummary(record.key, None, None, 0, 0, 0, 0, "not appraised",
                                basis="no appraisal")
    counts = dict.fromkeys(ANSWERS, 0)
    for item in appraisal.items.values():
        counts[item.answer] += 1
    no_info = counts["unclear"] if appraisal.appraised_from in rule.no_information_from else 0
    concern, basis = _level(counts, no_info, rule, appraisal.appraised_from)
    return AppraisalSummary(record.key, appraisal.tool, appraisal.appraised_from,
                            counts["yes"], counts["no"], counts["unclear"],
                            counts["not_applicable"], concern, no_info, basis)


def _items(n: int) -> str:
    return f"{n} item{'' if n == 1 else 's'}"


def _level(counts: dict[str, int], no_info: int, rule: ConcernRule,
           appraised_from: str) -> tuple[Concern, str]:
    """The level of concern and what it rests on (``ConcernRule``): the no-information
    answers count as ``no``, so the level equals that of the same answers with each of them
    turned into ``no``."""
    concerns, unclear = counts["no"] + no_info, counts["unclear"] - no_info
    applicable = concerns + unclear + counts["yes"]
    if applicable == 0:
        return "not appraised", "every item not applicable"
    read = {"abstract_truncated": "truncated abstract",
            "secondary_only": "secondary source"}.get(appraised_from, "abstract")
    why = "; ".join(w for w in (
        f"{_items(counts['no'])} answered no" if counts["no"] else "",
        f"{_items(no_info)} unclear from the {read} alone (no information)" if no_info else "",
        f"{_items(unclear)} unclear" if unclear else "") if w)
    if concerns >= rule.high_no or unclear > rule.high_unclear_share * applicable:
        return "high", why
    if concerns == 0 and unclear <= rule.low_unclear:
        return "low", why or "every applicable item yes"
    return "some", why
