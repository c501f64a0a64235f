"""The RoB column of forest plots, and forest plots without it drawn exactly as before."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import matplotlib
import pytest
from matplotlib import ft2font
from PIL import Image

from blastic_meta.errors import InputError
from blastic_meta.figures import ForestBlock, ForestRow, ForestSpec, forest_plot
from blastic_meta.figures.judgement import JUDGEMENTS

from .forest_cases import CASES, subgroups_spec
from .helpers import gids, grid_marks, overlapping_texts, saved, texts

# One set of hashes per rendering engine: the SVG files' bytes and the PNG's pixels (decoded,
# so that a change of PNG encoder shows nothing while a change of drawing does). The
# matplotlib 3.10.9 set, and every pixel hash, were pinned from code that still gave the
# 3.11.2 file hashes pinned before the RoB column existed, so each set is the drawing from
# before the RoB column, under its engine.
ENGINES = json.loads((Path(__file__).parent / "data" / "forest_bytes.json").read_text())["engines"]
PINNED = next((e for e in ENGINES if e["matplotlib"] == matplotlib.__version__
               and e["freetype"] == ft2font.__freetype_version__), None)


def pixels_sha256(png: bytes) -> str:
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
        return hashlib.sha256(f"{rgba.size}".encode() + rgba.tobytes()).hexdigest()


@pytest.mark.skipif(PINNED is None, reason="bytes were pinned under " + ", ".join(
    f"matplotlib {e['matplotlib']} with FreeType {e['freetype']}" for e in ENGINES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_forest_without_appraisal_has_the_pinned_bytes(name: str, tmp_path: Path) -> None:
    assert PINNED is not None
    files = saved(CASES[name](), tmp_path, name)
    assert hashlib.sha256(files[".svg"]).hexdigest() == PINNED["sha256"][f"{name}.svg"]
    assert pixels_sha256(files[".png"]) == PINNED["png_pixels_sha256"][name]


def with_appraisals(*values: str | None) -> ForestSpec:
    spec = subgroups_spec()
    it = iter(values)
    blocks = [dataclasses.replace(b, rows=[dataclasses.replace(r, appraisal=next(it))
                                           for r in b.rows]) for b in spec.blocks]
    return dataclasses.replace(spec, blocks=blocks)


def test_rob_column_shows_one_chip_per_appraised_row() -> None:
    fig = forest_plot(with_appraisals("low", "some", "high", None, "not appraised"))
    chips = grid_marks(fig, "rob-column")  # rows top to bottom, one column
    assert sorted(chips) == [(r, 0) for r in range(4)]
    faces = [chips[(r, 0)][0].get_markerfacecolor() for r in range(4)]
    assert faces == [JUDGEMENTS[k].face for k in ("low", "some", "high", "not appraised")]
    assert [chips[(r, 0)][1] is None for r in range(4)] == [False, False, False, True]
    shown = texts(fig)
    assert "RoB" in shown and "RoB: overall appraisal \u2014" in shown
    assert {"low", "some concerns", "high", "not appraised"} <= set(shown)
    assert overlapping_texts(fig) == []


def test_rob_legend_lists_only_the_judgements_used_and_column_needs_one() -> None:
    fig = forest_plot(with_appraisals("low", "low", None, None, None))
    shown = texts(fig)
    assert "low" in shown and "high" not in shown and "some concerns" not in shown
    assert [g for g in gids(fig) if g.startswith("rob-legend")] == ["rob-legend-0-0",
                                                                 "rob-legend-0-0-symbol"]
    plain = forest_plot(with_appraisals(None, None, None, None, None))
    assert "RoB" not in texts(plain)
    wider = forest_plot(with_appraisals("low", None, None, None, None)).get_size_inches()
    assert wider[0] > plain.get_size_inches()[0]
    assert wider[1] == pytest.approx(plain.get_size_inches()[1] + 0.16)  # one legend line


def test_appraisal_value_is_checked() -> None:
    with pytest.raises(InputError, match=r"ForestRow 'A 2010': appraisal: must be one of"):
        ForestRow("A 2010", "10", 1.0, 0.5, 1.5, appraisal="moderate")
    spec = ForestSpec(None, [ForestBlock(None, [ForestRow("A", "1", 1.0, 0.5, 1.5,
                                                          appraisal="some")])])
    assert forest_plot(spec).get_size_inches()[0] > 0
