"""Effect-direction plot: one symbol per reported cell, size by n, fill by significance,
what the arrows mean stated per block, checks by name."""

from __future__ import annotations

import pytest

from blastic_meta.errors import InputError
from blastic_meta.figures import (
    DirectionBlock,
    DirectionCell,
    DirectionRow,
    DirectionSpec,
    effect_direction_plot,
)
from blastic_meta.figures.direction import SIZES

from .examples import direction_spec
from .helpers import gids, texts


def _cells(fig) -> dict[str, object]:
    return {a.get_gid(): a for a in [*fig.artists, *fig.texts]
            if (a.get_gid() or "").startswith("cell-")}


def test_one_symbol_per_reported_cell() -> None:
    spec = direction_spec()
    cells = _cells(effect_direction_plot(spec))
    expected = {f"cell-{b}-{r}-{j}" for b, block in enumerate(spec.blocks)
                for r, row in enumerate(block.rows)
                for j, cell in enumerate(row.cells) if cell is not None}
    assert set(cells) == expected


def test_size_follows_patients_and_fill_follows_significance() -> None:
    cells = _cells(effect_direction_plot(direction_spec()))
    assert cells["cell-0-0-0"].get_markersize() == SIZES["small"]  # n = 32
    assert cells["cell-0-1-0"].get_markersize() == SIZES["medium"]  # n = 120
    assert cells["cell-1-0-0"].get_markersize() == SIZES["large"]  # n = 450
    assert cells["cell-0-0-0"].get_marker() == "^" and cells["cell-0-0-3"].get_marker() == "v"
    assert cells["cell-0-0-3"].get_markerfacecolor() != "white"  # significant: filled
    assert cells["cell-0-0-0"].get_markerfacecolor() == "white"  # not significant: open
    assert cells["cell-0-1-3"].get_markerfacecolor() == "white"  # not tested: open
    assert cells["cell-0-2-0"].get_text() == "?"
    assert cells["cell-0-0-1"].get_marker() == "<"  # ◄► is drawn as two arrowheads


def test_each_block_says_what_its_arrows_mean() -> None:
    shown = texts(effect_direction_plot(direction_spec()))
    for text in ["favours osteoblastic", "favours osteolytic", "no difference",
                 "improvement after treatment", "worse after treatment", "no change or mixed",
                 "Within-study lesion-type comparisons", "Before/after series", "Pain",
                 "Cement", "leakage", "NR", "n not reported", "< 50 patients", "> 300",
                 "statistically significant", "not significant or not tested",
                 "blank: not reported", "Risk of bias:", "some concerns",
                 "Sign test (pain, series): 2 of 2 improved, p = 0.50."]:
        assert text in shown, text
    assert "not appraised" not in shown  # only the judgements that occur are explained


def test_chips_only_for_rows_with_an_appraisal() -> None:
    fig = effect_direction_plot(direction_spec())
    chips = sorted(g for g in gids(fig) if g.startswith("chip-") and not g.endswith("symbol"))
    assert chips == ["chip-0-0", "chip-0-1", "chip-1-0"]
    plain = DirectionSpec(None, ["Pain"], [DirectionBlock("B", [DirectionRow(
        "A", 60, [DirectionCell("up")])], "better", "worse")])
    shown = texts(effect_direction_plot(plain))
    assert "Risk of bias:" not in shown and "n not reported" not in shown


def test_long_domain_names_wrap_and_widen_columns() -> None:
    def spec(domain: str) -> DirectionSpec:
        return DirectionSpec(None, [domain, "Pain"], [DirectionBlock("B", [DirectionRow(
            "A", 60, [DirectionCell("up"), None])], "better", "worse")])

    short = effect_direction_plot(spec("QoL"))
    long = effect_direction_plot(spec("Health-related quality of life (EQ-5D or SF-36)"))
    assert long.get_size_inches()[1] > short.get_size_inches()[1]


def test_inputs_are_checked_by_name() -> None:
    with pytest.raises(InputError, match="direction must be one of"):
        DirectionCell("better")
    with pytest.raises(InputError, match="significance must be one of"):
        DirectionCell("up", "p<0.05")
    with pytest.raises(InputError, match="'unclear' direction cannot be 'significant'"):
        DirectionCell("unclear", "significant")
    with pytest.raises(InputError, match=r"'Alpha': n must be an int >= 1"):
        DirectionRow("Alpha", 0, [None])
    with pytest.raises(InputError, match=r"'Alpha': cells\[1\] must be a DirectionCell"):
        DirectionRow("Alpha", 10, [None, "up"])
    with pytest.raises(InputError, match=r"'Alpha': appraisal"):
        DirectionRow("Alpha", 10, [None], appraisal="moderate")
    with pytest.raises(InputError, match="up_means"):
        DirectionBlock("B", [DirectionRow("Alpha", 10, [None])], "", "worse")
    block = DirectionBlock("B", [DirectionRow("Alpha", 10, [None, None])], "better", "worse")
    with pytest.raises(InputError, match="row 'Alpha' of block 'B' has 2 cells, there are 3"):
        DirectionSpec(None, ["Pain", "Function", "QoL"], [block])
