"""Each time window at exactly its lower and upper day, and one day outside.

Real studies report follow-up at exactly day 7 and day 60, so a bound moved by one day
changes which analysis a study enters; every bound of the shipped protocol is tested here.
"""

from __future__ import annotations

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review.analyses import build_input
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
