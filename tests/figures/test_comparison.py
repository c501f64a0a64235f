"""Lesion-type comparison figure: panels with their own axes, both groups per row, the
difference, evidence and procedures as text, NaN meaning "no data"."""

from __future__ import annotations

import dataclasses
import math

import pytest

from blastic_meta.errors import InputError
from blastic_meta.figures import (
    ComparisonDifference,
    ComparisonPanel,
    ComparisonRow,
    ComparisonSpec,
    GroupEstimate,
    StudyEstimate,
    comparison_plot,
)
from blastic_meta.figures.comparison import difference_text, estimate_text

from .examples import NAN, comparison_spec
from .helpers import gids, texts


def test_one_axes_per_panel_with_its_label() -> None:
    fig = comparison_plot(comparison_spec())
    assert [ax.get_gid() for ax in fig.axes] == ["comparison-axes-0", "comparison-axes-1"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["Reduction in VAS (points)",
                                                    "Leakage rate (%)"]
    assert fig.axes[1].get_xlim() == (0.0, 60.0)
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert ticks[0] == "0%" and ticks[-1] == "60%"
    low, high = fig.axes[0].get_xlim()
    assert low <= 0.0 and high >= 5.4  # auto limits hold every CI and the null value


def test_each_group_with_data_has_a_marker_and_the_others_say_why() -> None:
    fig = comparison_plot(comparison_spec())
    found = set(gids(fig))
    assert {"estimate-0-0-0", "estimate-0-0-1", "estimate-1-0-0", "estimate-1-0-1"} <= found
    assert "estimate-0-1-1" not in found and "missing-0-1-1" in found
    shown = " ".join(texts(fig))
    assert "no osteolytic series reported VAS as mean and SD at 12 months" in shown
    marker = next(line for line in fig.axes[0].lines if line.get_gid() == "estimate-0-0-0")
    assert list(marker.get_xdata()) == [4.1]
    assert "null-line-0-0" in found and "null-line-1-0" not in found


def test_a_group_not_pooled_shows_each_study_and_no_summary_marker() -> None:
    """k = 2 (not pooled): "not pooled, k = 2", then each study on its own line with an open
    marker at its own estimate; no filled summary marker for the group."""
    fig = comparison_plot(comparison_spec())
    found = set(gids(fig))
    assert "estimate-0-1-0" not in found and "missing-0-1-0" in found
    assert {"study-0-1-0-0", "study-0-1-0-1"} <= found and "study-0-1-0-2" not in found
    assert not any(g.startswith("study-") and not g.startswith("study-0-1-0-") for g in found)
    lines = {line.get_gid(): line for line in fig.axes[0].lines if line.get_gid()}
    for gid, x in (("study-0-1-0-0", 4.6), ("study-0-1-0-1", 2.1)):
        assert list(lines[gid].get_xdata()) == [x]
        assert lines[gid].get_markerfacecolor() == "white"  # open: a study, not a summary
    assert lines["estimate-0-0-0"].get_markerfacecolor() != "white"
    assert lines["study-0-1-0-0"].get_ydata()[0] < lines["study-0-1-0-1"].get_ydata()[0]
    shown = texts(fig)
    for text in ["not pooled, k = 2", "Alpha et al. 2011", "4.6 [3.9, 5.3]", "Bravo 2015",
                 "2.1 [0.8, 3.4]", "k = 2, n = 40"]:
        assert text in shown, text
    assert "3.8 [2.2, 5.4]" not in shown


def test_studies_alone_set_the_axis_and_keep_a_row() -> None:
    side = GroupEstimate(NAN, NAN, NAN, k=2, missing_text="not pooled, k = 2",
                         studies=[StudyEstimate("A 2001", 7.5, 6.0, 9.0),
                                  StudyEstimate("B 2002", 1.0, 0.2, 1.8)])
    none = GroupEstimate(NAN, NAN, NAN, k=0, missing_text="not reported")
    spec = ComparisonSpec(None, ["A", "B"], [ComparisonPanel(
        "P", "x", [ComparisonRow("VAS", [side, none], None, "none")], null_value=0.0)])
    low, high = comparison_plot(spec).axes[0].get_xlim()
    assert low <= 0.0 and high >= 9.0


def test_text_columns() -> None:
    shown = texts(comparison_plot(comparison_spec()))
    for text in ["Osteoblastic", "Osteolytic", "4.1 [3.3, 4.9]", "31% [20, 45]",
                 "k = 5, n = 212", "k = 3", "MD 0.7 [\u22120.4, 1.8]", "OR 0.55 [0.20, 1.40]",
                 "\u2014", "between-study", "within-study", "none", "PVP; PKP",
                 "PVP | PKP, mesh container", "Difference [95% CI]", "Evidence", "Procedures",
                 "Pain (points on 0-10)", "Cement leakage (percent)",
                 "MD: osteoblastic minus osteolytic."]:
        assert text in shown, text


def test_formatting_uses_a_true_minus_and_ratio_digits() -> None:
    side = GroupEstimate(-1.25, -2.5, -0.04)
    assert estimate_text(side, 1) == "\u22121.2 [\u22122.5, 0.0]"
    assert difference_text(ComparisonDifference("RR", 1.234, 0.9, 1.6), 1) == \
        "RR 1.23 [0.90, 1.60]"
    assert difference_text(ComparisonDifference("MD", NAN, NAN, NAN), 1) == "MD not estimable"
    assert difference_text("no comparison possible", 1) == "no comparison possible"


def test_long_texts_wrap_and_grow_the_row() -> None:
    spec = comparison_spec()
    base = comparison_plot(spec).get_size_inches()
    row = dataclasses.replace(spec.panels[0].rows[0], label="VAS reduction at 3 months after "
                              "vertebral augmentation, on a 0-10 scale, in every series")
    longer = dataclasses.replace(spec, panels=[dataclasses.replace(
        spec.panels[0], rows=[row, *spec.panels[0].rows[1:]]), spec.panels[1]])
    size = comparison_plot(longer).get_size_inches()
    assert size[0] == pytest.approx(base[0]) and size[1] > base[1]


def test_ci_beyond_the_axis_ends_in_an_arrow() -> None:
    row = ComparisonRow("Leakage", [GroupEstimate(50.0, 30.0, 75.0, k=2),
                                    GroupEstimate(20.0, 10.0, 30.0, k=3)], None, "none")
    spec = ComparisonSpec(None, ["A", "B"], [ComparisonPanel("P", "%", [row], xlim=(0, 60))])
    ax = comparison_plot(spec).axes[0]
    arrows = [line for line in ax.lines if line.get_marker() == ">"]
    assert len(arrows) == 1 and arrows[0].get_xdata()[0] == 60


def test_inputs_are_checked_by_name() -> None:
    with pytest.raises(InputError, match="missing_text must say why"):
        GroupEstimate(NAN, NAN, NAN)
    with pytest.raises(InputError, match="missing_text must be None"):
        GroupEstimate(1.0, 0.5, 1.5, missing_text="none")
    with pytest.raises(InputError, match="ci_low <= estimate <= ci_high"):
        GroupEstimate(1.0, 1.2, 1.5)
    with pytest.raises(InputError, match="k: must be an int >= 0"):
        GroupEstimate(1.0, 0.5, 1.5, k=2.5)
    with pytest.raises(InputError, match="ratio and its CI must be > 0"):
        ComparisonDifference("OR", 0.5, -0.1, 1.2)
    side = GroupEstimate(1.0, 0.5, 1.5)
    with pytest.raises(InputError, match="evidence must be one of"):
        ComparisonRow("VAS", [side, side], None, "indirect")
    row = ComparisonRow("VAS", [side, side], None, "none")
    with pytest.raises(InputError, match="row 'VAS' of panel 'P' has 2 sides, there are 3"):
        ComparisonSpec(None, ["A", "B", "C"], [ComparisonPanel("P", "x", [row])])
    with pytest.raises(InputError, match="groups must be distinct"):
        ComparisonSpec(None, ["A", "A"], [ComparisonPanel("P", "x", [row])])
    with pytest.raises(InputError, match="a pooled estimate is given, so studies must be "
                       "empty"):
        GroupEstimate(1.0, 0.5, 1.5, studies=[StudyEstimate("A 2001", 1.0, 0.5, 1.5)])
    with pytest.raises(InputError, match=r"studies\[0\] must be a StudyEstimate"):
        GroupEstimate(NAN, NAN, NAN, missing_text="not pooled, k = 2", studies=[(1.0, 0.5, 1.5)])
    with pytest.raises(InputError, match="StudyEstimate 'A 2001': estimate, ci_low and "
                       "ci_high must all be numbers"):
        StudyEstimate("A 2001", NAN, NAN, NAN)
    empty = GroupEstimate(math.nan, math.nan, math.nan, missing_text="not reported")
    with pytest.raises(InputError, match="no row has an estimate; give xlim"):
        ComparisonPanel("P", "x", [ComparisonRow("VAS", [empty, empty], None, "none")])
