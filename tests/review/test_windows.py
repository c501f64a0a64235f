"""Each time window at exactly its lower and upper day, and one day outside.

Real studies report follow-up at exactly day 7 and day 60, so a bound moved by one day
changes which analysis a study enters; every bound of the shipped protocol is tested here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review.analyses import build_input, run_analysis
from blastic_meta.review.figure_specs import _footnotes
from tests.review.data import long_table


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


def _vas_analyses(protocol):
    return {a.window: a for a in protocol.analyses if a.outcome == "vas" and a.window}


def _windows_entered(protocol, day: int) -> set[str]:
    """The windows whose VAS analysis takes a study with one follow-up point at ``day``."""
    t = pd.DataFrame(long_table.vas("edge2000", "all", "osteoblastic", 20,
                                    [(0, 7.0, 1.0), (day, 3.0, 1.0)]),
                     columns=long_table.COLUMNS)
    return {w for w, spec in _vas_analyses(protocol).items()
            if "edge2000" in set(build_input([], t, protocol, spec)["study"])}


def _bounds(protocol):
    cases = []
    for w in protocol.windows:
        cases.append((w.id, w.min_days, "lower"))
        if w.max_days is not None:
            cases.append((w.id, w.max_days, "upper"))
    return cases


def test_every_vas_window_has_an_analysis(protocol):
    assert set(_vas_analyses(protocol)) == {w.id for w in protocol.windows}


@pytest.mark.parametrize("edge", ["lower", "upper"])
def test_a_point_on_a_bound_enters_that_window_only(protocol, edge):
    for window, day, which in _bounds(protocol):
        if which == edge:
            assert _windows_entered(protocol, day) == {window}, (window, day)


def test_one_day_outside_a_bound_leaves_the_window(protocol):
    by_id = {w.id: w for w in protocol.windows}
    for window, day, which in _bounds(protocol):
        outside = day - 1 if which == "lower" else day + 1
        entered = _windows_entered(protocol, outside)
        assert window not in entered, (window, outside)
        # the day outside belongs to the neighbouring window where one adjoins, else to none
        owners = {w.id for w in by_id.values()
                  if w.min_days <= outside and (w.max_days is None or outside <= w.max_days)}
        assert entered == owners, (window, outside, entered)


def test_the_shipped_bounds_are_the_documented_ones(protocol):
    """Day 7 is early, day 60 one month, day 61 and 135 three months, day 136 six months."""
    assert {d: _windows_entered(protocol, d) for d in (1, 7, 8, 13, 14, 60, 61, 135, 136)} == {
        1: {"early"}, 7: {"early"}, 8: set(), 13: set(), 14: {"1m"}, 60: {"1m"},
        61: {"3m"}, 135: {"3m"}, 136: {"6m"}}


def test_an_arm_whose_follow_up_day_is_not_stated_is_listed_in_every_vas_analysis(protocol):
    """A median-only series with an undated follow-up ('after PV') enters no window, but
    every VAS analysis lists it with the reason instead of dropping it."""
    undated = long_table.vas("median2012", "all", "myeloma", 40, [(0, None, None)])
    undated[0].update(median=9.0, min=4.0, max=10.0)
    undated.append(long_table.row("median2012", lesion_type="myeloma", outcome="vas",
                              instrument="VAS", scale_min=0, scale_max=10, patients=40,
                              timepoint="after PV (time point not stated)", days=None,
                              median=1.0, min=0.0, max=9.0))
    dated = long_table.vas("dated2014", "all", "osteoblastic", 20,
                           [(0, 7.0, 1.0), (30, 3.0, 1.0)])
    t = pd.DataFrame([*undated, *dated], columns=long_table.COLUMNS)
    for window, spec in _vas_analyses(protocol).items():
        frame = build_input([], t, protocol, spec)
        row = frame[frame["study"] == "median2012"]
        assert len(row) == 1, window
        assert not row["included"].iloc[0]
        assert row["reason"].iloc[0] == "time point not stated"
        assert row["timepoint"].iloc[0] == "after PV (time point not stated)"
        # an arm dated outside the window is still not part of it
        assert ("dated2014" in set(frame["study"])) == (window == "1m"), window
        footnotes = _footnotes(run_analysis([], t, protocol, spec, light=True))
        assert "Not pooled: median2012: time point not stated" in footnotes, window
