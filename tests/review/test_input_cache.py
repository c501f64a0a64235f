"""The cache of finished input tables: a scenario that changes only the model reuses the main
analysis' table, and any change to what a table is built from gives a new table."""

from __future__ import annotations

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review.analysis_input import build_input
from tests.review.data import long_table


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


RECORDS: list = []  # one object: the cache knows the data by identity


def _finished(cache: dict) -> list:
    return [k for k in cache if isinstance(k, tuple) and k and k[0] == "input"]


def test_model_only_changes_reuse_the_table(protocol):
    table, cache = long_table.table(), {}
    spec = protocol.analysis("vas_1m")
    main = build_input(RECORDS, table, protocol, spec, cache=cache)
    for change in ({"model": {"method": "EE", "test": "z", "adhoc": False}},
                   {"proportions": {"model": "inverse_variance"}},
                   {"bayes": {"reason": "another reason"}}):
        changed = protocol.with_changes(change)
        again = build_input(RECORDS, table, changed, changed.analysis("vas_1m"), cache=cache)
        pd.testing.assert_frame_equal(again, main)
    assert len(_finished(cache)) == 1
    again["yi"] = 0.0  # a caller's copy: the cached table is not changed
    pd.testing.assert_frame_equal(build_input(RECORDS, table, protocol, spec, cache=cache), main)


@pytest.mark.parametrize("change", [
    {"vas": {"correlation": 0.2}},
    {"model": {"level": 0.9}},
    {"rules": {"exclude_derived": True}},
    {"subgroups": {"mixed_as_osteoblastic": True}},
])
def test_input_changes_make_a_new_table(protocol, change):
    table, cache = long_table.table(), {}
    spec = protocol.analysis("vas_1m")
    main = build_input(RECORDS, table, protocol, spec, cache=cache)
    changed = protocol.with_changes(change)
    other = build_input(RECORDS, table, changed, changed.analysis("vas_1m"), cache=cache)
    assert len(_finished(cache)) == 2
    pd.testing.assert_frame_equal(other, build_input(RECORDS, table, changed,
                                                     changed.analysis("vas_1m")))
    if "vas" in change or "model" in change:
        assert not other["ci_low"].equals(main["ci_low"])


def test_the_icc_override_is_part_of_the_key(protocol):
    table, cache = long_table.table(), {}
    spec = protocol.analysis("leak_vertebra")
    icc = protocol.unit_of_analysis.icc
    build_input(RECORDS, table, protocol, spec, cache=cache)
    build_input(RECORDS, table, protocol, spec, icc=icc, cache=cache)  # the protocol's own ICC
    assert len(_finished(cache)) == 1
    build_input(RECORDS, table, protocol, spec, icc=icc + 0.2, cache=cache)
    assert len(_finished(cache)) == 2
