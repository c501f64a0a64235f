"""Figures: structure of the forest plot, deterministic SVG/PNG, no global side effects."""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import sys
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from blastic_meta.errors import InputError
from blastic_meta.figures import (
    ForestBlock,
    ForestRow,
    ForestSpec,
    ForestSummary,
    forest_plot,
    funnel_plot,
    leakage_summary_plot,
    leave_one_out_plot,
    save_figure,
    sensitivity_plot,
)
from blastic_meta.figures import _text_sizes as text_sizes
from blastic_meta.figures import io as figure_io
from blastic_meta.figures.io import FONT, style_context, text_width, write_png

LABELS_A = ["Alpha et al. 2016", "Bravo et al. 2021", "Charlie 2019"]
LABELS_B = ["Delta et al. 2018", "Echo and Fox 2020"]
SUBGROUP_TEST = "Test for subgroup differences: Q = 1.05, df = 1, p = 0.31"
METHOD = "Random effects, REML, Hartung-Knapp CI, prediction interval t(k-1)"
FOOTNOTES = ["Excluded: Golf 2015 (no SD reported)", "Excluded: Hotel 2017 (case report)"]


def two_block_spec(**changes: object) -> ForestSpec:
    rows_a = [
        ForestRow(LABELS_A[0], "32", -4.1, -4.9, -3.3, 22.0),
        ForestRow(LABELS_A[1], "18", -3.2, -4.6, -1.8, 12.5, note="SD imputed"),
        ForestRow(LABELS_A[2], "9", -5.6, -9.9, -1.3, 4.0),
    ]
    rows_b = [
        ForestRow(LABELS_B[0], "45", -3.8, -4.3, -3.3, 30.0),
        ForestRow(LABELS_B[1], "27", -2.9, -3.6, -2.2, 31.5),
    ]
    het = "Heterogeneity: τ² = 0.12; I² = 35%; Q = 3.1 (df = 2, p = 0.21)"
    fields: dict[str, object] = dict(
        title="VAS change at 3 months",
        blocks=[
            ForestBlock("Osteoblastic", rows_a,
                        ForestSummary("Subtotal osteoblastic", -4.0, -4.8, -3.2, -6.5, -1.5, het)),
            ForestBlock("Osteolytic", rows_b,
                        ForestSummary("Subtotal osteolytic", -3.4, -4.2, -2.6, -7.9, 1.2, het)),
        ],
        overall=ForestSummary("Total (random effects)", -3.6, -4.1, -3.1, -5.2, -2.0, het),
        subgroup_test_text=SUBGROUP_TEST,
        method_text=METHOD,
        xlabel="Change in VAS pain (0-10)",
        favours_left="pain reduced",
        favours_right="pain increased",
        effect_label="Mean change [95% CI]",
        n_header="n",
        footnote_lines=FOOTNOTES,
    )
    fields.update(changes)
    return ForestSpec(**fields)  # type: ignore[arg-type]


def svg_text(paths: list[Path]) -> str:
    svg = [p for p in paths if p.suffix == ".svg"]
    assert len(svg) == 1
    return svg[0].read_text(encoding="utf-8")


def test_forest_svg_contains_every_part(tmp_path: Path) -> None:
    paths = save_figure(forest_plot(two_block_spec()), tmp_path / "forest")
    assert [p.name for p in paths] == ["forest.svg", "forest.png"]
    assert all(p.is_file() for p in paths)
    svg = svg_text(paths)
    for text in [*LABELS_A, *LABELS_B, "Weight", "Prediction interval", SUBGROUP_TEST,
                 METHOD, *FOOTNOTES, "Osteoblastic", "Osteolytic", "Mean change [95% CI]",
                 "-4.10 [-4.90, -3.30]", "22.0%", "100.0%", "Total (random effects)"]:
        assert f">{text}<" in svg, text
    # three diamonds (two subgroups + overall), each drawn as a closed path
    for i in range(3):
        start = svg.index(f'<g id="diamond-{i}">')
        assert "<path d=" in svg[start:start + 400] and "z" in svg[start:start + 400]
    assert '<g id="diamond-3">' not in svg
    assert '<g id="prediction-interval">' in svg
    assert "DejaVu Sans" in svg  # text kept as text with the bundled font
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg


def test_png_is_300_dpi_and_sized_from_figure(tmp_path: Path) -> None:
    fig = forest_plot(two_block_spec())
    width, height = fig.get_size_inches()
    png = save_figure(fig, tmp_path / "forest")[1]
    with Image.open(png) as image:
        dpi = image.info["dpi"]
        assert dpi[0] == pytest.approx(300, abs=0.01) and dpi[1] == pytest.approx(300, abs=0.01)
        assert image.size == (round(width * 300), round(height * 300))
        assert "Software" not in image.info
        assert image.mode == "RGB"  # opaque: the alpha channel is left out
        written = image.convert("RGBA").tobytes()
    # the pixels are matplotlib's own Agg rendering, as its Pillow-encoded PNG holds them
    reference = tmp_path / "reference.png"
    with style_context():
        fig = forest_plot(two_block_spec())
        fig.savefig(reference, format="png", dpi=300)
    with Image.open(reference) as image:
        assert image.convert("RGBA").tobytes() == written


def test_png_keeps_transparency_where_the_figure_has_it(tmp_path: Path) -> None:
    fig = forest_plot(two_block_spec())
    png = tmp_path / "clear.png"
    with style_context(), png.open("wb") as handle:
        mpl.rcParams["savefig.facecolor"] = "none"
        write_png(fig, handle, dpi=50)
    with Image.open(png) as image:
        assert image.mode == "RGBA" and image.size == (int(fig.get_figwidth() * 50),
                                                        int(fig.get_figheight() * 50))
        assert image.getchannel("A").getextrema()[0] == 0
        written = image.tobytes()
    # the RGBA pixels, alpha included, are those of matplotlib's own PNG
    reference = tmp_path / "reference.png"
    with style_context():
        mpl.rcParams["savefig.facecolor"] = "none"
        fig.savefig(reference, format="png", dpi=50)
    with Image.open(reference) as image:
        assert image.convert("RGBA").tobytes() == written


def test_saving_twice_gives_identical_bytes(tmp_path: Path) -> None:
    first = save_figure(forest_plot(two_block_spec()), tmp_path / "a" / "forest")
    second = save_figure(forest_plot(two_block_spec()), tmp_path / "b" / "forest")
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


def test_identical_bytes_in_a_fresh_interpreter(tmp_path: Path) -> None:
    here = save_figure(forest_plot(two_block_spec()), tmp_path / "here" / "forest")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from test_figures import two_block_spec\n"
        "from blastic_meta.figures import forest_plot, save_figure\n"
        "save_figure(forest_plot(two_block_spec()), sys.argv[2])\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent),
                           str(tmp_path / "there" / "forest")], capture_output=True, text=True,
                          check=False, env=env)
    assert done.returncode == 0, done.stderr
    for path in here:
        assert path.read_bytes() == (tmp_path / "there" / path.name).read_bytes(), path.name


def test_height_grows_with_rows() -> None:
    first = two_block_spec().blocks[0]
    rows = [ForestRow(r.label, r.n_text, r.estimate, r.ci_low, r.ci_high) for r in first.rows]
    small = forest_plot(two_block_spec(overall=None, blocks=[ForestBlock("Only", rows)]))
    large = forest_plot(two_block_spec())
    assert large.get_size_inches()[1] > small.get_size_inches()[1]


def test_no_global_state_changes(tmp_path: Path) -> None:
    old_err = np.seterr(over="raise", invalid="warn", divide="print", under="ignore")
    try:
        before_err = np.geterr()
        before_rc = dict(mpl.rcParams)
        before_font = font_manager._get_font
        save_figure(forest_plot(two_block_spec()), tmp_path / "forest")
        save_figure(leave_one_out_plot(loo_frame(), overall()), tmp_path / "loo")
        save_figure(funnel_plot([0.1, 0.3, -0.2], [0.1, 0.2, 0.3], 0.05, contour_null=0.0),
                    tmp_path / "funnel")
        assert np.geterr() == before_err
        assert dict(mpl.rcParams) == before_rc
        assert font_manager._get_font is before_font
    finally:
        np.seterr(**old_err)


def test_fonts_read_from_memory_only_inside_the_style_and_change_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    matplotlibs_own = font_manager._get_font
    path = font_manager.findfont(FONT)
    on_file = font_manager.get_font(path)
    with style_context():
        with style_context():  # nested, as a figure saved inside its own drawing block
            in_memory = font_manager.get_font(path)
        assert font_manager._get_font is figure_io._memory_font
        assert font_manager.get_font(path) is in_memory
        assert in_memory is not on_file
        assert os.path.samefile(os.fspath(in_memory.fname), path)  # still names its file
    assert font_manager._get_font is matplotlibs_own
    assert font_manager.get_font(path) is on_file

    def pdf() -> bytes:  # a PDF embeds the font file it finds by the font's name
        fig = Figure()
        fig.text(0.5, 0.5, "Kyphoplasty $x^2$")
        with style_context():
            handle = io.BytesIO()
            fig.savefig(handle, format="pdf", metadata={"CreationDate": None})
        return handle.getvalue()

    from_memory = save_figure(forest_plot(two_block_spec()), tmp_path / "memory" / "forest")
    pdf_from_memory = pdf()
    monkeypatch.setattr(figure_io, "_fonts_from_memory", contextlib.nullcontext)
    from_file = save_figure(forest_plot(two_block_spec()), tmp_path / "file" / "forest")
    for one, two in zip(from_memory, from_file, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    assert pdf_from_memory == pdf()


def test_text_sizes_shared_across_renderers_only_inside_the_style_and_change_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import text as mtext
    from matplotlib.backends.backend_svg import RendererSVG

    matplotlibs_own = mtext._get_text_metrics_with_cache
    with style_context():
        shared = mtext._get_text_metrics_with_cache
        assert shared is not matplotlibs_own
        with style_context():  # nested: not wrapped twice
            assert mtext._get_text_metrics_with_cache is shared
    assert mtext._get_text_metrics_with_cache is matplotlibs_own

    prop = font_manager.FontProperties(family=FONT, size=9.0, weight="bold")
    smaller = font_manager.FontProperties(family=FONT, size=7.5, weight="bold")

    def sizes() -> list[tuple[float, float, float]]:
        svg = RendererSVG(4.0, 3.0, io.StringIO())
        agg = [FigureCanvasAgg(Figure(dpi=dpi)).get_renderer() for dpi in (100.0, 300.0)]
        out = []
        for renderer, dpi in ((svg, 72.0), (agg[0], 100.0), (agg[1], 300.0), (agg[1], 300.0)):
            for text in ("Kyphoplasty", "Alpha et al. 2016", "$x^2$"):
                ismath = text.startswith("$")
                out.append(mtext._get_text_metrics_with_cache(renderer, text, prop, ismath, dpi))
        # the SVG's outline sizes at another font size, and text_width's (one measure each)
        out += [mtext._get_text_metrics_with_cache(svg, "Kyphoplasty", smaller, False, 72.0),
                (text_width.__wrapped__("Kyphoplasty", 7.5, "bold"),)]
        return out

    def measured() -> tuple[list[tuple[float, float, float]], ...]:
        with style_context():
            once, again = sizes(), sizes()
            mpl.rcParams["text.hinting"] = "force_autohint"  # changes the sizes: measured anew
            return once, again, sizes()

    shared_sizes = measured()
    shared_bytes = save_figure(forest_plot(two_block_spec()), tmp_path / "shared" / "forest")
    monkeypatch.setattr(text_sizes, "shared_text_metrics", contextlib.nullcontext)
    own_sizes = measured()
    assert shared_sizes == own_sizes  # matplotlib's own measures, per renderer
    once, again, hinted = own_sizes
    assert once == again
    assert once[3:6] != once[6:9]  # kept apart by dpi
    assert hinted[3:6] != once[3:6]  # and by the rcParams a size depends on
    own_bytes = save_figure(forest_plot(two_block_spec()), tmp_path / "own" / "forest")
    for one, two in zip(shared_bytes, own_bytes, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name


def test_shared_text_sizes_see_a_font_list_changed_in_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import text as mtext

    prop = font_manager.FontProperties(family="sans-serif", size=9.0)

    def size() -> tuple[float, float, float]:
        renderer = FigureCanvasAgg(Figure(dpi=300.0)).get_renderer()
        return mtext._get_text_metrics_with_cache(renderer, "Kyphoplasty", prop, False, 300.0)

    def measured() -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        with style_context():
            before = size()
            mpl.rcParams["font.sans-serif"].insert(0, "DejaVu Serif")  # in place
            return before, size()

    shared = measured()
    monkeypatch.setattr(text_sizes, "shared_text_metrics", contextlib.nullcontext)
    own = measured()
    assert shared == own and own[0] != own[1]


def test_a_constrained_layout_is_made_once_and_kept_for_the_png(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    runs: list[int] = []
    execute = ConstrainedLayoutEngine.execute
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute",
                        lambda self, fig: runs.append(1) or execute(self, fig))
    fig = Figure(figsize=(4.0, 3.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("Cement leakage per vertebra (%)")
    ax.set_title("A long title that the layout makes room for")
    engine = fig.get_layout_engine()
    positions: list[tuple[float, ...]] = []
    fig.canvas.mpl_connect("draw_event", lambda _: positions.append(ax.get_position().bounds))
    paths = save_figure(fig, tmp_path / "laid_out")
    assert [p.suffix for p in paths] == [".svg", ".png"]
    assert len(runs) == 1  # the SVG's draw; the PNG's keeps its positions
    assert len(positions) >= 2 and len(set(positions)) == 1  # every draw, the same positions
    assert fig.get_layout_engine() is engine  # put back


def test_import_is_light_and_leaves_numpy_alone() -> None:
    code = (
        "import sys, numpy as np\n"
        "before = np.geterr()\n"
        "import blastic_meta\n"
        "assert 'matplotlib' not in sys.modules, 'import blastic_meta loaded matplotlib'\n"
        "import blastic_meta.figures\n"
        "assert 'forestplot' not in sys.modules\n"
        "assert np.geterr() == before, np.geterr()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_log_scale_spec_uses_log_axis() -> None:
    spec = ForestSpec(
        title=None,
        blocks=[ForestBlock(None, [ForestRow("A 2010", "3/20", 3.3, 0.37, 29.0, 40.0),
                                   ForestRow("B 2012", "5/31", 1.2, 0.36, 4.1, 60.0)],
                            ForestSummary("Pooled", 1.6, 0.6, 4.3))],
        log_scale=True, null_value=1.0, n_header="Events/Total", xlabel="Risk ratio",
    )
    ax = forest_plot(spec).axes[0]
    assert ax.get_xscale() == "log"
    low, high = ax.get_xlim()
    assert low <= 0.36 and high >= 4.3
    assert forest_plot(two_block_spec()).axes[0].get_xscale() == "linear"


def test_log_scale_rejects_non_positive_values() -> None:
    with pytest.raises(InputError, match="log_scale"):
        ForestSpec(title=None, blocks=[ForestBlock(None, [ForestRow("A", "1", -0.5, -1, 0)])],
                   log_scale=True, null_value=1.0)


def test_zero_rows_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="no rows"):
        ForestBlock("Osteoblastic", [])
    with pytest.raises(InputError, match="no study rows"):
        ForestSpec(title="Empty", blocks=[])


def test_row_interval_and_weights_are_checked() -> None:
    with pytest.raises(InputError, match=r"'Bad 2020'.*ci_low <= estimate <= ci_high"):
        ForestRow("Bad 2020", "10", 1.0, 1.5, 2.0)
    with pytest.raises(InputError, match="weight"):
        ForestRow("Bad 2020", "10", 1.0, 0.5, 2.0, weight=-1.0)
    with pytest.raises(InputError, match="sum to 100"):
        two_block_spec(overall=None)  # weights are of the overall model, not per block


def test_nan_weight_means_no_weight_and_labels_must_be_text() -> None:
    assert ForestRow("A 2010", "10", 1.0, 0.5, 1.5, weight=math.nan).weight is None
    with pytest.raises(InputError, match="label must be a str"):
        ForestRow(math.nan, "10", 1.0, 0.5, 1.5)  # type: ignore[arg-type]


def test_footnotes_grow_the_figure_not_shrink_the_axes() -> None:
    r, est = [0.2, 0.5, 0.8], np.array([-4.2, -4.0, -3.9])
    plain = sensitivity_plot(r, est, est - 1, est + 1)
    noted = sensitivity_plot(r, est, est - 1, est + 1, footnote_lines=[f"note {i}" for i in
                                                                       range(10)])
    assert noted.get_size_inches()[1] == pytest.approx(
        plain.get_size_inches()[1] + 10 * 0.16 + 0.12)
    for fig in (plain, noted):
        fig.draw(FigureCanvasAgg(fig).get_renderer())
    heights = [f.axes[0].get_window_extent().height for f in (plain, noted)]
    assert heights[1] == pytest.approx(heights[0], rel=0.02)


def test_not_estimable_row_is_listed_without_marker(tmp_path: Path) -> None:
    rows = [ForestRow("A 2010", "10", 1.0, 0.5, 1.5), ForestRow("Z 2011", "4", *[math.nan] * 3)]
    fig = forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)]))
    points = [c for c in fig.axes[0].collections if c.get_gid() == "forest-points"]
    assert len(points) == 1 and len(points[0].get_offsets()) == 1
    assert ">not estimable<" in svg_text(save_figure(fig, tmp_path / "f"))


def test_nothing_estimable_without_limits_raises() -> None:
    rows = [ForestRow("Z 2011", "4", *[math.nan] * 3)]
    with pytest.raises(InputError, match="no row is estimable"):
        forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)], null_value=None))
    fig = forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)], null_value=None,
                                 xlim=(0.0, 1.0)))
    assert fig.axes[0].get_xlim() == (0.0, 1.0)


def test_whisker_beyond_axis_ends_in_arrow() -> None:
    rows = [ForestRow("A 2010", "10", 0.0, -5.0, 1.0, 50.0),
            ForestRow("B 2011", "12", 0.5, 0.0, 1.0, 50.0)]
    ax = forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)],
                                xlim=(-2.0, 2.0))).axes[0]
    arrows = [line for line in ax.lines if line.get_marker() in ("<", ">")]
    assert [(a.get_marker(), a.get_xdata()[0]) for a in arrows] == [("<", -2.0)]
    ci = next(c for c in ax.collections if c.get_gid() == "forest-ci")
    assert min(seg[:, 0].min() for seg in ci.get_segments()) == -2.0


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=50.0), min_size=2, max_size=6))
def test_square_area_proportional_to_weight(raw: list[float]) -> None:
    weights = [100.0 * w / sum(raw) for w in raw]
    rows = [ForestRow(f"S{i}", "10", 0.1 * i, 0.1 * i - 1, 0.1 * i + 1, w)
            for i, w in enumerate(weights)]
    ax = forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)])).axes[0]
    squares = next(c for c in ax.collections if c.get_gid() == "forest-squares")
    sizes = np.asarray(squares.get_sizes())
    assert sizes.argmax() == int(np.argmax(weights))
    big = np.asarray(weights) / max(weights) >= (2.0 / 9.0) ** 2  # above the minimum size
    ratio = sizes[big] / np.asarray(weights)[big]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


def test_texts_do_not_overlap_and_stay_inside(tmp_path: Path) -> None:
    spec = two_block_spec(title="A rather long title " * 8, footnote_lines=[
        "Excluded: " + "; ".join(f"Study {i} 2001 (no SD reported)" for i in range(12))])
    fig = forest_plot(spec)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    frame = fig.bbox
    boxes = [t.get_window_extent(renderer) for t in fig.texts if t.get_text()]
    boxes += [t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()]
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
        assert box.y1 <= frame.y1
    for i, one in enumerate(boxes):
        for two in boxes[i + 1:]:
            assert not one.overlaps(two) or one.intersection(one, two).width < 0.5


def test_dollar_signs_stay_literal(tmp_path: Path) -> None:
    rows = [ForestRow("Cost $5 and $6", "10", 1.0, 0.5, 1.5)]
    fig = forest_plot(ForestSpec(title=None, blocks=[ForestBlock(None, rows)]))
    svg = svg_text(save_figure(fig, tmp_path / "f"))
    assert ">Cost $5 and $6<" in svg


def test_save_is_atomic_and_keeps_old_files(tmp_path: Path) -> None:
    paths = save_figure(forest_plot(two_block_spec()), tmp_path / "forest")
    old = [p.read_bytes() for p in paths]
    fig = forest_plot(two_block_spec(title="changed"))
    real = fig.savefig

    def failing(fname, *, format, **kwargs):
        if format != "svg":  # the raster rendering of the PNG
            raise RuntimeError("disk full")
        return real(fname, format=format, **kwargs)

    fig.savefig = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(fig, tmp_path / "forest")
    assert [p.read_bytes() for p in paths] == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png", "forest.svg"]


def test_save_rejects_suffix_and_keeps_dots_in_names(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"without \.svg/\.png"):
        save_figure(forest_plot(two_block_spec()), tmp_path / "forest.svg")
    paths = save_figure(forest_plot(two_block_spec()), tmp_path / "vas_1.5m")
    assert [p.name for p in paths] == ["vas_1.5m.svg", "vas_1.5m.png"]


# ---------------------------------------------------------------------------------- other plots


def loo_frame() -> pd.DataFrame:
    return pd.DataFrame({"label": ["Alpha 2016", "Bravo 2021", "Charlie 2019"],
                         "estimate": [-3.9, -4.1, -3.7], "ci_low": [-4.8, -5.0, -4.5],
                         "ci_high": [-3.0, -3.2, -2.9], "i2": [30.0, 40.2, 0.0]})


def overall() -> ForestSummary:
    return ForestSummary("All studies", -4.0, -4.8, -3.2)


def test_leave_one_out_plot(tmp_path: Path) -> None:
    fig = leave_one_out_plot(loo_frame(), overall(), xlabel="VAS change")
    ref = [c for c in fig.axes[0].collections if c.get_gid() == "reference-line"]
    assert len(ref) == 1 and ref[0].get_segments()[0][0, 0] == -4.0
    svg = svg_text(save_figure(fig, tmp_path / "loo"))
    for text in ["Omitting Alpha 2016", "Omitting Bravo 2021", "40%", "I²", "All studies"]:
        assert f">{text}<" in svg
    with pytest.raises(InputError, match="missing column"):
        leave_one_out_plot(loo_frame().drop(columns="ci_low"), overall())


def leakage_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    pooled = pd.DataFrame([
        ("vertebra", "osteoblastic", 0.31, 0.20, 0.45, 0.08, 0.70, 3),
        ("vertebra", "osteolytic", 0.42, 0.33, 0.52, math.nan, math.nan, 2),
        ("patient", "osteolytic", 0.55, 0.40, 0.69, 0.25, 0.82, 2),
    ], columns=["unit", "subgroup", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "k"])
    studies = pd.DataFrame([
        ("vertebra", "osteoblastic", "Alpha 2016", 0.25, 0.10, 0.45),
        ("vertebra", "osteoblastic", "Bravo 2021", 0.40, 0.20, 0.60),
        ("vertebra", "osteoblastic", "Charlie 2019", 0.30, 0.12, 0.55),
        ("vertebra", "osteolytic", "Delta 2018", 0.45, 0.30, 0.60),
        ("vertebra", "osteolytic", "Echo 2020", 0.40, 0.25, 0.55),
        ("vertebra", "mixed", "Foxtrot 2014", 0.20, 0.05, 0.50),
        ("patient", "osteolytic", "Delta 2018", 0.60, 0.40, 0.78),
        ("patient", "osteolytic", "Echo 2020", 0.50, 0.30, 0.70),
    ], columns=["unit", "subgroup", "label", "proportion", "ci_low", "ci_high"])
    return pooled, studies


def test_leakage_summary_plot(tmp_path: Path) -> None:
    pooled, studies = leakage_frames()
    fig = leakage_summary_plot(pooled, studies, footnote_lines=["Mixed series not pooled."])
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["Per vertebra", "Per patient"]
    assert fig.axes[0].get_ylim() == (0.0, 100.0)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["osteoblastic\nk = 3\n31% [20, 45]", "osteolytic\nk = 2\n42% [33, 52]",
                     "mixed\nk = 1\nnot pooled"]
    svg = svg_text(save_figure(fig, tmp_path / "leak"))
    assert ">Mixed series not pooled.<" in svg and "Clopper-Pearson" in svg


def test_leakage_summary_rejects_bad_input() -> None:
    pooled, studies = leakage_frames()
    with pytest.raises(InputError, match="missing column"):
        leakage_summary_plot(pooled.drop(columns="k"), studies)
    bad = studies.copy()
    bad.loc[0, ["proportion", "ci_high"]] = [25.0, 45.0]  # percent instead of proportion
    with pytest.raises(InputError, match=r"studies row 0.*proportion in \[0, 1\]"):
        leakage_summary_plot(pooled, bad)


def test_sensitivity_plot() -> None:
    r = np.tile([0.2, 0.5, 0.8], 2)
    est = np.array([-4.2, -4.0, -3.9, -3.5, -3.4, -3.3])
    fig = sensitivity_plot(r, est, est - 0.8, est + 0.8, groups=["blastic"] * 3 + ["lytic"] * 3)
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.containers] == ["blastic", "lytic"]
    lines = [c.lines[0] for c in ax.containers]
    assert [list(np.round(line.get_ydata(), 6)) for line in lines] == [
        [-4.2, -4.0, -3.9], [-3.5, -3.4, -3.3]]
    assert ax.get_ylim()[1] < 0  # the axis is not stretched to the null value
    crossing = sensitivity_plot(r, est + 4.0, est + 3.0, est + 5.0).axes[0]
    assert any(list(line.get_ydata()) == [0, 0] for line in crossing.lines)
    with pytest.raises(InputError, match="estimates: has 5 values, expected 6"):
        sensitivity_plot(r, est[:5], est - 0.8, est + 0.8)
    with pytest.raises(InputError, match="position 0"):
        sensitivity_plot(r, est, est + 0.1, est + 0.8)


def test_funnel_plot_pseudo_confidence_lines() -> None:
    yi, sei = [0.1, 0.3, -0.2, 0.05], [0.1, 0.2, 0.3, 0.15]
    ax = funnel_plot(yi, sei, 0.05).axes[0]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 2
    for line in dashed:
        x, y = line.get_xdata(), line.get_ydata()
        assert x[0] == pytest.approx(0.05)
        assert abs(x[1] - 0.05) == pytest.approx(1.959963984540054 * y[1])
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # standard error axis points down
    with pytest.raises(InputError, match="sei: position 1"):
        funnel_plot(yi, [0.1, 0.0, 0.3, 0.1], 0.05)
