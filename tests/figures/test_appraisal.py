"""Traffic-light and summary plots of the appraisals: cells, texts, shares, checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastic_meta.errors import InputError
from blastic_meta.figures import (
    AppraisalBlock,
    AppraisalRow,
    AppraisalSpec,
    appraisal_shares,
    appraisal_summary_plot,
    traffic_light_plot,
)
from blastic_meta.figures.io import FONT
from blastic_meta.figures.judgement import ANSWERS, JUDGEMENTS, UNANSWERED, symbol_marker

from .examples import CASE_SERIES_ITEMS, CASE_SERIES_WORDING, COHORT_ITEMS, Y, appraisal_spec
from .helpers import gids, grid_marks, saved, symbols, texts


def test_one_cell_per_answer_and_one_overall_per_study() -> None:
    spec = appraisal_spec()
    fig = traffic_light_plot(spec)
    for b, block in enumerate(spec.blocks):
        cells = grid_marks(fig, f"cell-{b}")
        appraised = [r for r, row in enumerate(block.rows) if row.appraised]
        # the rows with cells, in order, and one cell per item in each
        assert len(cells) == len(appraised) * len(block.item_ids)
        for (rank, j), (circle, symbol) in cells.items():
            answer = block.rows[appraised[rank]].answers[j]
            mark = UNANSWERED if answer is None else ANSWERS[answer]
            assert circle.get_markerfacecolor() == mark.face
            assert (symbol.get_label() if symbol is not None else "") == mark.symbol
        overall = grid_marks(fig, f"overall-{b}")
        assert len(overall) == len(block.rows)
        for (r, j), (circle, _) in overall.items():
            assert j == 0 and circle.get_markerfacecolor() == JUDGEMENTS[block.rows[r].overall].face
    assert sum(len(grid_marks(fig, f"cell-{b}")) for b in range(len(spec.blocks))) == 4 * 10 + 2 * 9
    # colours come from the answer: Alpha's Q4 is "no", Bravo's Q10 "not applicable"
    cells = grid_marks(fig, "cell-0")
    assert cells[(0, 3)][0].get_markerfacecolor() == ANSWERS["no"].face
    assert cells[(1, 9)][0].get_markerfacecolor() == ANSWERS["not_applicable"].face
    overall = grid_marks(fig, "overall-0")
    assert overall[(1, 0)][0].get_markerfacecolor() == JUDGEMENTS["high"].face
    assert overall[(3, 0)][0].get_markerfacecolor() == JUDGEMENTS["not appraised"].face
    assert overall[(3, 0)][1] is None  # not appraised: a pale circle, no symbol


def test_texts_codes_wording_and_not_appraised() -> None:
    spec = appraisal_spec()
    shown = texts(traffic_light_plot(spec))
    for text in [*CASE_SERIES_ITEMS, *COHORT_ITEMS, "Overall", "JBI checklist for case series",
                 "Newcastle-Ottawa scale", "Alpha et al. 2016", "Items:", "no answer recorded",
                 "Appraised by two reviewers independently.", "Risk of bias"]:
        assert text in shown, text
    assert shown.count("not appraised") == 2  # the row's cells and the legend
    assert all(any(w.startswith(line[:20]) for line in shown) for w in CASE_SERIES_WORDING)
    marks = symbols(traffic_light_plot(spec))
    assert marks.count("NA") == 2  # Bravo's Q10 and the legend
    assert not {"+", "\u2212", "?", "NA", "!", "\u00d7"} & set(shown)  # drawn, not set as text


def test_unanswered_legend_only_when_an_item_is_unanswered() -> None:
    block = AppraisalBlock("Tool", ["A"], ["Item A?"], [AppraisalRow("S", [Y], "low")])
    assert "no answer recorded" not in texts(traffic_light_plot(AppraisalSpec(None, [block])))


def test_height_grows_with_studies_and_wording() -> None:
    def spec(n_rows: int, wording: str) -> AppraisalSpec:
        rows = [AppraisalRow(f"S{i}", [Y, Y], "low") for i in range(n_rows)]
        return AppraisalSpec(None, [AppraisalBlock("Tool", ["A", "B"], [wording, "b"], rows)])

    small = traffic_light_plot(spec(2, "short")).get_size_inches()[1]
    assert traffic_light_plot(spec(6, "short")).get_size_inches()[1] > small
    assert traffic_light_plot(spec(2, "long wording " * 40)).get_size_inches()[1] > small


def test_answers_are_checked_by_name_and_position() -> None:
    with pytest.raises(InputError, match=r"'Alpha'.*answers\[1\].*'Yes'"):
        AppraisalRow("Alpha", ["yes", "Yes"], "low")
    with pytest.raises(InputError, match=r"'Alpha'.*overall"):
        AppraisalRow("Alpha", ["yes"], "moderate")
    with pytest.raises(InputError, match="no answer is given"):
        AppraisalRow("Alpha", [None, None], "low")
    with pytest.raises(InputError, match="answers are given"):
        AppraisalRow("Alpha", ["yes"], "not appraised")
    assert AppraisalRow("Alpha", [None, None], "not appraised").appraised is False


def test_blocks_are_checked() -> None:
    row = AppraisalRow("Alpha", ["yes", "no"], "some")
    with pytest.raises(InputError, match="has 2 answers, the tool has 3 items"):
        AppraisalBlock("JBI", ["Q1", "Q2", "Q3"], ["a", "b", "c"], [row])
    with pytest.raises(InputError, match="item_labels has 1 entries"):
        AppraisalBlock("JBI", ["Q1", "Q2"], ["a"], [row])
    with pytest.raises(InputError, match=r"unique.*\['Q1'\]"):
        AppraisalBlock("JBI", ["Q1", "Q1"], ["a", "b"], [row])
    with pytest.raises(InputError, match="rows is empty"):
        AppraisalBlock("JBI", ["Q1"], ["a"], [])
    with pytest.raises(InputError, match="footnote_lines: must be a list"):
        AppraisalSpec(None, [AppraisalBlock("JBI", ["Q1", "Q2"], ["a", "b"], [row])], "note")


def test_shares_count_appraised_studies_only() -> None:
    spec = appraisal_spec()
    shares = dict((code, {m.key: c for m, c in counts})
                  for code, counts in appraisal_shares(spec.blocks[0]))
    # four appraised studies (Delta is not appraised); Q4: yes, no, unclear, yes
    assert shares["Q4"] == {"yes": 2, "no": 1, "unclear": 1}
    assert shares["Q5"] == {"yes": 1, "unclear": 2, "unanswered": 1}
    assert shares["Q10"] == {"yes": 3, "not_applicable": 1}
    assert shares["Overall"] == {"low": 2, "some": 1, "high": 1}


def test_summary_bars_fill_each_item_to_100_percent() -> None:
    spec = appraisal_spec()
    fig = appraisal_summary_plot(spec)
    assert [ax.get_gid() for ax in fig.axes] == ["summary-axes-0", "summary-axes-1"]
    ax = fig.axes[0]
    bars: dict[str, float] = {}
    for patch in ax.patches:
        gid = patch.get_gid() or ""
        if gid.startswith("bar-0-"):
            item = gid.split("-")[2]
            bars[item] = bars.get(item, 0.0) + patch.get_width()
    assert set(bars) == {*CASE_SERIES_ITEMS, "overall"}
    assert all(total == pytest.approx(100.0) for total in bars.values())
    shown = texts(fig)
    assert "JBI checklist for case series (4 studies appraised; 1 not appraised)" in shown
    assert "Share of the 4 appraised studies" in shown
    assert "25%" in shown and "Overall judgement" in shown


def test_summary_block_without_appraisal_says_so() -> None:
    block = AppraisalBlock("Tool", ["A"], ["a?"], [AppraisalRow("S", None, "not appraised")])
    fig = appraisal_summary_plot(AppraisalSpec(None, [block]))
    assert "no study appraised" in texts(fig)
    assert not [p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("bar-")]


def test_svg_keeps_text_and_gids(tmp_path: Path) -> None:
    svg = saved(traffic_light_plot(appraisal_spec()), tmp_path)[".svg"].decode()
    assert ">not appraised<" in svg and 'id="cell-0-yes"' in svg and 'id="cell-0-no-symbol"' in svg
    assert "block-title-1" in gids(traffic_light_plot(appraisal_spec()))


@pytest.mark.parametrize("symbol", ["+", "\u2212", "?", "NA", "!", "\u00d7"])
def test_symbol_marker_draws_the_glyph_at_its_size_centred_on_its_ink(symbol: str) -> None:
    from matplotlib.font_manager import FontProperties
    from matplotlib.markers import MarkerStyle
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    size = 9.62
    path, markersize = symbol_marker(symbol, size)
    glyph = TextPath((0, 0), symbol, size=size, prop=FontProperties(family=FONT, weight="bold"))
    # as Line2D draws a marker: matplotlib's own rescaling, then the marker size in points
    style = MarkerStyle(path)
    drawn = style.get_path().transformed(style.get_transform() + Affine2D().scale(markersize))
    box, want = drawn.get_extents(), glyph.get_extents()
    assert (box.width, box.height) == pytest.approx((want.width, want.height), rel=1e-12)
    assert ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2) == pytest.approx((0, 0), abs=1e-12)


def test_each_cell_carries_the_symbol_of_its_answer() -> None:
    cells = grid_marks(traffic_light_plot(appraisal_spec()), "cell-0")
    symbol = cells[(0, 3)][1]
    assert symbol.get_label() == ANSWERS["no"].symbol
    assert symbol.get_markerfacecolor() == ANSWERS["no"].ink
    assert cells[(1, 9)][1].get_label() == ANSWERS["not_applicable"].symbol
    overall = grid_marks(traffic_light_plot(appraisal_spec()), "overall-0")
    assert overall[(1, 0)][1].get_label() == JUDGEMENTS["high"].symbol
