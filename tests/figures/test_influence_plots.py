"""Baujat plot and cumulative forest plot."""

from __future__ import annotations

import numpy as np
import pytest

from blastic_meta.errors import InputError
from blastic_meta.figures import baujat_plot, cumulative_forest_plot

from .examples import BAUJAT_LABELS, BAUJAT_X, BAUJAT_Y, cumulative_frame
from .helpers import overlapping_texts, texts


def test_baujat_points_are_the_inputs_and_every_study_is_labelled() -> None:
    fig = baujat_plot(BAUJAT_X, BAUJAT_Y, BAUJAT_LABELS, title="Baujat plot")
    ax = fig.axes[0]
    points = next(c for c in ax.collections if c.get_gid() == "baujat-points")
    np.testing.assert_array_equal(points.get_offsets(), np.column_stack([BAUJAT_X, BAUJAT_Y]))
    assert sorted(t.get_text() for t in ax.texts) == sorted(BAUJAT_LABELS)
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 5.2
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 0.9
    assert ax.get_xlabel() == "Contribution to overall heterogeneity (Q)"
    assert "Baujat plot" in texts(fig)


def test_crowded_baujat_numbers_its_points_with_a_key() -> None:
    rng = np.random.default_rng(3)
    x = np.r_[rng.gamma(1.0, 0.6, 12), 6.5]
    y = np.r_[rng.gamma(1.0, 0.08, 12), 0.9]
    labels = [f"Study {c} et al. 20{10 + i}" for i, c in enumerate("ABCDEFGHIJKLM")]
    fig = baujat_plot(x, y, labels)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(
        str(i) for i in range(1, 14))
    assert any(t.startswith("Points: 1 Study A et al. 2010; 2 Study B") for t in texts(fig))
    assert overlapping_texts(fig) == []
    named = baujat_plot(x, y, labels, label_style="names")
    assert sorted(t.get_text() for t in named.axes[0].texts) == sorted(labels)
    numbered = baujat_plot(BAUJAT_X, BAUJAT_Y, BAUJAT_LABELS, label_style="numbers")
    assert sorted(t.get_text() for t in numbered.axes[0].texts) == ["1", "2", "3", "4", "5",
                                                                    "6"]


def test_baujat_checks_its_inputs() -> None:
    with pytest.raises(InputError, match="q_contribution: position 1 is < 0"):
        baujat_plot([0.1, -0.2], [0.1, 0.2], ["a", "b"])
    with pytest.raises(InputError, match="influence: has 1 values, expected 2"):
        baujat_plot([0.1, 0.2], [0.1], ["a", "b"])
    with pytest.raises(InputError, match="influence: value at position 0 is not finite"):
        baujat_plot([0.1, 0.2], [np.nan, 0.1], ["a", "b"])
    with pytest.raises(InputError, match="labels: expected 2 labels"):
        baujat_plot([0.1, 0.2], [0.1, 0.2], ["a"])
    with pytest.raises(InputError, match="label_style"):
        baujat_plot([0.1, 0.2], [0.1, 0.2], ["a", "b"], label_style="ids")


def test_cumulative_rows_read_adding_and_end_in_a_diamond() -> None:
    fig = cumulative_forest_plot(cumulative_frame(), xlabel="VAS change")
    shown = texts(fig)
    for text in ["Adding Alpha 2012", "Adding Bravo 2014", "Adding Charlie 2016",
                 "Adding Delta 2019 (all 4 studies)", "k", "I² = 12%", "I² = 38%",
                 "-3.80 [-4.40, -3.20]"]:
        assert text in shown, text
    ax = fig.axes[0]
    diamonds = [p for p in ax.patches if (p.get_gid() or "").startswith("diamond")]
    assert len(diamonds) == 1
    xy = diamonds[0].get_xy()
    assert xy[:, 0].min() == -4.4 and xy[:, 0].max() == -3.2
    points = next(c for c in ax.collections if c.get_gid() == "forest-points")
    assert list(points.get_offsets()[:, 0]) == [-4.5, -4.1, -3.9]


def test_cumulative_checks_its_frame() -> None:
    frame = cumulative_frame()
    with pytest.raises(InputError, match="missing column"):
        cumulative_forest_plot(frame.drop(columns="ci_high"))
    with pytest.raises(InputError, match="no rows"):
        cumulative_forest_plot(frame.iloc[:0])
    bad = frame.assign(k=[1, 2, 2.5, 4])
    with pytest.raises(InputError, match="row 2: k must be a whole number"):
        cumulative_forest_plot(bad)
    one = cumulative_forest_plot(frame.iloc[:1].drop(columns=["k", "i2"]))
    assert "Adding Alpha 2012" in texts(one)
