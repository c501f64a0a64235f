"""PRISMA 2020 flow diagram: boxes, counts, unknown counts footnoted, arithmetic checked."""

from __future__ import annotations

import dataclasses

import pytest

from blastic_meta.errors import InputError
from blastic_meta.figures import PrismaCount, PrismaCounts, PrismaOtherSources, prisma_flow_diagram

from .examples import prisma_counts
from .helpers import gids, texts

MAIN_BOXES = ["box-identified", "box-removed", "box-screened", "box-screened-excluded",
              "box-sought", "box-not-retrieved", "box-assessed", "box-excluded", "box-included"]
OTHER_BOXES = ["box-o-identified", "box-o-sought", "box-o-not-retrieved", "box-o-assessed",
               "box-o-excluded"]


def _joined(fig) -> str:
    return " ".join(texts(fig))


def test_boxes_phases_and_arrows_of_the_template() -> None:
    fig = prisma_flow_diagram(prisma_counts())
    found = gids(fig)
    assert [g for g in found if g.startswith("box-")] == MAIN_BOXES
    assert {"phase-identification", "phase-screening", "phase-included", "header-0"} <= set(found)
    assert "header-1" not in found
    arrows = [g for g in found if g.startswith("arrow-")]
    assert len(arrows) == 4 + 4  # down the main column, right to each exclusion box
    shown = texts(fig)
    for text in ["Records screened (n = 800)", "Reports sought for retrieval (n = 72)",
                 "Reports assessed for eligibility (n = 69)", "Databases (n = 1150)",
                 "Studies included in review (n = 18)", "Reports of included studies (n = 19)",
                 "Reports excluded (n = 50):", "Case report (n = 6)", "VAS, 3 months (k = 9)",
                 "Identification", "Screening", "Included", "Study selection",
                 "Searches to 2024."]:
        assert text in shown, text


def test_unknown_count_is_never_a_number_and_its_reason_is_footnoted() -> None:
    shown = texts(prisma_flow_diagram(prisma_counts()))
    assert "Records excluded (n = not recorded\u00b9)" in shown
    assert "\u00b9 Not recorded: exclusions at title/abstract were not counted" in shown


def test_footnote_marks_follow_reading_order_and_repeat_for_the_same_reason() -> None:
    reason = "not logged"
    counts = dataclasses.replace(
        prisma_counts(other=True),
        removed=[("Duplicate records removed", PrismaCount(None, reason))],
        screened_excluded=PrismaCount(None, reason), check_sums=True)
    joined = _joined(prisma_flow_diagram(counts))
    assert "Duplicate records removed (n = not recorded\u00b9)" in joined
    assert "Records excluded (n = not recorded\u00b9)" in joined
    assert "Websites (n = not recorded\u00b2)" in joined
    assert "\u00b2 Not recorded: the website search was not logged" in joined


def test_other_sources_add_their_column_and_join_the_included_box() -> None:
    fig = prisma_flow_diagram(prisma_counts(other=True))
    found = gids(fig)
    assert [g for g in found if g.startswith("box-")] == MAIN_BOXES[:2] + OTHER_BOXES[:1] + \
        MAIN_BOXES[2:6] + OTHER_BOXES[1:3] + MAIN_BOXES[6:8] + OTHER_BOXES[3:] + MAIN_BOXES[8:]
    assert {"header-1", "arrow-o_assessed", "arrow-o_excluded"} <= set(found)
    assert "Identification of studies via other methods" in texts(fig)
    narrow = prisma_flow_diagram(prisma_counts()).get_size_inches()[0]
    assert fig.get_size_inches()[0] > narrow


def test_long_reasons_wrap_inside_the_box_and_grow_it() -> None:
    base = prisma_flow_diagram(prisma_counts()).get_size_inches()[1]
    long = dataclasses.replace(prisma_counts(), excluded=[
        ("Lesion type not reported separately for osteoblastic and osteolytic metastases "
         "in any table or figure of the report", 31), ("Fewer than 5 patients", 9),
        ("Case report", 6), ("No outcome of interest", 4)])
    fig = prisma_flow_diagram(long)
    assert fig.get_size_inches()[1] > base
    assert any(t.endswith("(n = 31)") for t in texts(fig))  # the count is never split


def test_arithmetic_is_checked_where_every_count_is_known() -> None:
    good = prisma_counts()
    with pytest.raises(InputError, match=r"screened = 801, but identified - removed"):
        dataclasses.replace(good, screened=801)
    with pytest.raises(InputError, match=r"assessed = 70, but sought - not retrieved = 69"):
        dataclasses.replace(good, assessed=70)
    with pytest.raises(InputError, match=r"not_retrieved = 3, but the sum of not_retrieved_r"):
        dataclasses.replace(good, not_retrieved_reasons=[("Withdrawn", 2)])
    with pytest.raises(InputError, match="included_reports = 20"):
        dataclasses.replace(good, included_reports=20)
    with pytest.raises(InputError, match="more than the 19 reports"):
        dataclasses.replace(good, included_studies=20, analyses=())
    # an unknown count stops the check of what depends on it, and nothing else
    unknown = PrismaCount(None, "not counted")
    dataclasses.replace(good, sought=unknown)
    dataclasses.replace(good, screened=802, check_sums=False)


def test_counts_are_checked_by_name() -> None:
    good = prisma_counts()
    with pytest.raises(InputError, match="screened: None needs the reason"):
        dataclasses.replace(good, screened=None)
    with pytest.raises(InputError, match="sought: expected an int >= 0"):
        dataclasses.replace(good, sought=True)
    with pytest.raises(InputError, match="a reason"):
        PrismaCount(None)
    with pytest.raises(InputError, match="give no reason"):
        PrismaCount(3, "why")
    with pytest.raises(InputError, match=r"identified: expected a sequence of \(label, n\)"):
        dataclasses.replace(good, identified=("Databases", 1189))
    with pytest.raises(InputError, match=r"excluded\[1\]: expected a \(label, n\) pair"):
        dataclasses.replace(good, excluded=[("Case report", 6), 44])
    with pytest.raises(InputError, match=r"analyses\[0\] 'VAS': k = 30 is more than the 18"):
        dataclasses.replace(good, analyses=[("VAS", 30)])
    with pytest.raises(InputError, match="PrismaOtherSources: identified is empty"):
        PrismaOtherSources([], 1, 0, 1)
    with pytest.raises(InputError, match="other_sources must be"):
        dataclasses.replace(good, other_sources="citations")
    assert isinstance(good, PrismaCounts)


def test_no_database_search_heads_the_one_column_as_other_methods() -> None:
    counts = dataclasses.replace(prisma_counts(), databases_searched=False)
    fig = prisma_flow_diagram(counts)
    found, shown = gids(fig), texts(fig)
    assert "header-1" in found and "header-0" not in found
    assert "Identification of studies via other methods" in shown
    assert any(t.startswith("No database or register was searched") for t in shown)
    assert [g for g in found if g.startswith("box-")] == MAIN_BOXES
    with pytest.raises(InputError, match="databases_searched is False"):
        dataclasses.replace(prisma_counts(other=True), databases_searched=False)
