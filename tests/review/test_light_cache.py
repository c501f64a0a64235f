"""Light results reused across sensitivity scenarios: a scenario whose rule leaves an
analysis' input table as it is gets the main analysis' fits and comparison, and the
entries are exactly those computed without any reuse."""

from __future__ import annotations

import pytest

from blastic_meta import load_bibliography, load_protocol
from blastic_meta.registry.load import load_checked
from blastic_meta.review import analyses
from blastic_meta.review.analyses import run_analyses, run_analysis, scenario_tasks


@pytest.fixture(scope="module")
def shipped(repo_root):
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    bib = load_bibliography(repo_root / "evidence" / "references.bib")
    records, table, findings = load_checked(repo_root / "studies", bib)
    return protocol, bib, records, table, list(findings)


def _scenarios(shipped, cache: dict | None) -> list:
    protocol, bib, records, table, findings = shipped
    if cache is not None:  # as the report does: the main analyses first, with the same cache
        run_analyses(records, table, protocol, bib, findings, scenarios=False, cache=cache)
    return [task() for task in scenario_tasks(records, table, protocol, bib, findings, cache)]


def test_scenario_entries_are_those_computed_without_reuse(shipped, monkeypatch):
    computed: list[str] = []
    analyse = analyses._analyse

    def counting(*args, **kwargs):
        computed.append(args[4].id)
        return analyse(*args, **kwargs)

    monkeypatch.setattr(analyses, "_analyse", counting)
    reused = _scenarios(shipped, {})
    with_reuse = len(computed)
    computed.clear()
    fresh = _scenarios(shipped, None)  # a new cache for every call: nothing reused
    assert reused == fresh
    n_main = len(shipped[0].analyses)
    # the duplicates scenario alone changes no row of any analysis of the shipped registry
    assert with_reuse - n_main <= len(computed) - n_main


def test_a_rule_that_changes_no_row_reuses_the_fits(shipped):
    protocol, bib, records, table, findings = shipped
    spec = protocol.analysis("vas_1m")
    cache: dict = {}
    main = run_analysis(records, table, protocol, spec, bib, findings, light=True,
                        cache=cache)
    # every procedure of the shipped registry: the rule excludes no row
    procedures = sorted(set(table["procedure"].dropna()))
    same_rows = protocol.with_changes({"rules": {"procedures": procedures}})
    again = run_analysis(records, table, same_rows, same_rows.analysis("vas_1m"), bib,
                         findings, light=True, cache=cache)
    assert again is main
    other_model = protocol.with_changes({"model": {"method": "DL"}})
    refit = run_analysis(records, table, other_model, other_model.analysis("vas_1m"), bib,
                         findings, light=True, cache=cache)
    assert refit is not main and refit.to_dict()["subgroups"] != main.to_dict()["subgroups"]


def test_the_fits_never_see_the_rules(shipped, monkeypatch):
    protocol, bib, records, table, findings = shipped
    seen = []
    fit = analyses.safe_fit

    def spying(name, rows, spec, p, *args, **kwargs):
        seen.append((p.rules, p.sensitivity))
        return fit(name, rows, spec, p, *args, **kwargs)

    monkeypatch.setattr(analyses, "safe_fit", spying)
    run_analysis(records, table, protocol, protocol.analysis("leak_patient"), bib, findings)
    assert seen and all(s == (None, None) for s in seen)


def test_a_rule_that_excludes_no_row_reuses_the_table(shipped, monkeypatch):
    """The exclusion rules run on the rows first: when they leave every reason as it was,
    the table made before is reused, and it is the table built without any cache."""
    from blastic_meta.review import analysis_input
    from blastic_meta.review.analysis_input import build_input

    protocol, bib, records, table, findings = shipped
    made: list[int] = []
    finish = analysis_input._finish
    monkeypatch.setattr(analysis_input, "_finish",
                        lambda frame, p: made.append(1) or finish(frame, p))
    cache: dict = {}
    for spec in protocol.analyses:
        build_input(records, table, protocol, spec, bib, findings, cache=cache)
    assert len(made) == len(protocol.analyses)
    procedures = sorted(set(table["procedure"].dropna()))
    same_rows = protocol.with_changes({"rules": {"procedures": procedures}})
    pvp_only = protocol.with_changes({"rules": {"procedures": ["PVP"]}})
    for changed, new_tables in ((same_rows, 0), (pvp_only, None)):
        made.clear()
        for spec in changed.analyses:
            got = build_input(records, table, changed, spec, bib, findings, cache=cache)
            fresh = build_input(records, table, changed, spec, bib, findings)
            assert analyses._content(got) == analyses._content(fresh), spec.id
        built = len(made) - len(changed.analyses)  # the fresh builds always make theirs
        if new_tables is not None:
            assert built == new_tables
        else:  # PVP only leaves out the PKP arms: some analyses need a table of their own
            assert 0 < built < len(changed.analyses)
