"""Properties every new figure shares: identical bytes on reruns, nothing global changed,
texts inside the figure and clear of each other, input types checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

from blastic_meta.errors import InputError
from blastic_meta.figures import (
    appraisal_summary_plot,
    baujat_plot,
    comparison_plot,
    cumulative_forest_plot,
    effect_direction_plot,
    prisma_flow_diagram,
    traffic_light_plot,
)

from .examples import (
    BAUJAT_LABELS,
    BAUJAT_X,
    BAUJAT_Y,
    appraisal_spec,
    comparison_spec,
    cumulative_frame,
    direction_spec,
    prisma_counts,
)
from .helpers import overlapping_texts, saved, texts_outside

MAKERS: dict[str, Callable[[], Figure]] = {
    "traffic_light": lambda: traffic_light_plot(appraisal_spec()),
    "appraisal_summary": lambda: appraisal_summary_plot(appraisal_spec()),
    "prisma": lambda: prisma_flow_diagram(prisma_counts()),
    "prisma_other_sources": lambda: prisma_flow_diagram(prisma_counts(other=True)),
    "effect_direction": lambda: effect_direction_plot(direction_spec()),
    "comparison": lambda: comparison_plot(comparison_spec()),
    "baujat": lambda: baujat_plot(BAUJAT_X, BAUJAT_Y, BAUJAT_LABELS),
    "cumulative": lambda: cumulative_forest_plot(cumulative_frame(), xlabel="VAS change"),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_reruns_give_identical_bytes(name: str, tmp_path: Path) -> None:
    first = saved(MAKERS[name](), tmp_path / "a")
    second = saved(MAKERS[name](), tmp_path / "b")
    assert set(first) == {".svg", ".png"}
    assert first == second


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_nothing_global_changes(name: str, tmp_path: Path) -> None:
    old = np.seterr(over="raise", invalid="warn", divide="print", under="ignore")
    try:
        before_err, before_rc = np.geterr(), dict(mpl.rcParams)
        saved(MAKERS[name](), tmp_path)
        assert np.geterr() == before_err
        assert dict(mpl.rcParams) == before_rc
    finally:
        np.seterr(**old)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_texts_stay_inside_and_apart(name: str) -> None:
    fig = MAKERS[name]()
    assert texts_outside(fig) == []
    assert overlapping_texts(fig) == []


@pytest.mark.parametrize("func", [traffic_light_plot, appraisal_summary_plot,
                                  prisma_flow_diagram, effect_direction_plot, comparison_plot])
def test_spec_type_is_checked(func: Callable[[object], Figure]) -> None:
    with pytest.raises(InputError, match=func.__name__):
        func({"title": "not a spec"})
