"""What a risk-of-bias (appraisal) figure shows, as frozen data: studies, tools, the figure.

One ``AppraisalBlock`` per appraisal tool, since tools ask different questions (JBI checklist
for case series: 10 items; for case reports: 8; Newcastle-Ottawa scale: 9). Each class checks
its own values on construction and names the bad field, so a bad figure fails where it is
described.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError
from .judgement import ANSWERS, check_judgement

__all__ = ["AppraisalBlock", "AppraisalRow", "AppraisalSpec"]


def _text(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: must be a non-empty str, got {value!r}")
    return value


def _lines(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise InputError(f"{where}: must be a list of str, not one str")
    try:
        return tuple(str(v) for v in value)  # type: ignore[union-attr]
    except TypeError:
        raise InputError(f"{where}: must be a list of str, got {value!r}") from None


@dataclass(frozen=True, slots=True)
class AppraisalRow:
    """One study: its label, one answer per item of its tool, its overall judgement.

    ``answers`` items are "yes", "no", "unclear", "not_applicable" or None (item left
    unanswered). A study that was not appraised has ``answers=None`` (or every answer None)
    and ``overall="not appraised"``; its cells read "not appraised". ``overall`` is "low",
    "some" (some concerns), "high" or "not appraised".
    """

    label: str
    answers: Sequence[str | None] | None
    overall: str

    def __post_init__(self) -> None:
        where = f"AppraisalRow {self.label!r}"
        _text(f"{where}: label", self.label)
        check_judgement(f"{where}: overall", self.overall)
        if isinstance(self.answers, str):
            raise InputError(f"{where}: answers must be a sequence of answers, not one str")
        answers = () if self.answers is None else tuple(self.answers)
        for i, answer in enumerate(answers):
            if answer is not None and answer not in ANSWERS:
                raise InputError(f"{where}: answers[{i}] must be one of {sorted(ANSWERS)} or "
                                 f"None, got {answer!r}")
        appraised = any(a is not None for a in answers)
        if not appraised:
            answers = ()
        if appraised and self.overall == "not appraised":
            raise InputError(f"{where}: overall is 'not appraised' but answers are given; "
                             "give the overall judgement or drop the answers")
        if not appraised and self.overall != "not appraised":
            raise InputError(f"{where}: overall is {self.overall!r} but no answer is given; "
                             "a study without answers has overall='not appraised'")
        object.__setattr__(self, "answers", answers)

    @property
    def appraised(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class AppraisalBlock:
    """One appraisal tool: its name, item codes (column heads), item wording, its studies."""

    title: str
    item_ids: Sequence[str]
    item_labels: Sequence[str]
    rows: Sequence[AppraisalRow]

    def __post_init__(self) -> None:
        where = f"AppraisalBlock {self.title!r}"
        _text(f"{where}: title", self.title)
        ids = _lines(f"{where}: item_ids", self.item_ids)
        labels = _lines(f"{where}: item_labels", self.item_labels)
        if not ids:
            raise InputError(f"{where}: item_ids is empty; a tool needs at least one item")
        if len(labels) != len(ids):
            raise InputError(f"{where}: item_labels has {len(labels)} entries, item_ids "
                             f"{len(ids)}; give one wording per item")
        for name, values in (("item_ids", ids), ("item_labels", labels)):
            for i, value in enumerate(values):
                _text(f"{where}: {name}[{i}]", value)
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise InputError(f"{where}: item_ids must be unique, repeated: {dup}")
        rows = tuple(self.rows)
        if not rows:
            raise InputError(f"{where}: rows is empty; leave the block out")
        for i, row in enumerate(rows):
            if not isinstance(row, AppraisalRow):
                raise InputError(f"{where}: rows[{i}] is not an AppraisalRow")
            if row.appraised and len(row.answers) != len(ids):  # type: ignore[arg-type]
                raise InputError(f"{where}: row {row.label!r} has {len(row.answers)} "  # type: ignore[arg-type]
                                 f"answers, the tool has {len(ids)} items")
        object.__setattr__(self, "item_ids", ids)
        object.__setattr__(self, "item_labels", labels)
        object.__setattr__(self, "rows", rows)


@dataclass(frozen=True, slots=True)
class AppraisalSpec:
    """A whole appraisal figure: title, one block per tool, footnote lines."""

    title: str | None
    blocks: Sequence[AppraisalBlock]
    footnote_lines: Sequence[str] = ()

    def __post_init__(self) -> None:
        where = f"AppraisalSpec {self.title!r}"
        if self.title is not None and not isinstance(self.title, str):
            raise InputError(f"{where}: title must be a str or None")
        if isinstance(self.blocks, AppraisalBlock):
            raise InputError(f"{where}: blocks must be a sequence of AppraisalBlock")
        blocks = tuple(self.blocks)
        if not blocks:
            raise InputError(f"{where}: blocks is empty; nothing to plot")
        for i, block in enumerate(blocks):
            if not isinstance(block, AppraisalBlock):
                raise InputError(f"{where}: blocks[{i}] is not an AppraisalBlock")
        object.__setattr__(self, "blocks", blocks)
        object.__setattr__(self, "footnote_lines",
                           _lines(f"{where}: footnote_lines", self.footnote_lines))
