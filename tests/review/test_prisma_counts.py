"""The review's PRISMA 2020 spec: each source in the column of its kind (Page et al. 2021),
the template's arithmetic checked, study keys shown as the study's label."""

from __future__ import annotations

import dataclasses

import pytest

from blastic_meta import load_bibliography
from blastic_meta.errors import InputError
from blastic_meta.figures import prisma_flow_diagram
from blastic_meta.registry.load import load_checked
from blastic_meta.registry.screening import Box, load_screening, prisma_flow
from blastic_meta.review.figure_panels import prisma_counts
from tests.figures.helpers import gids, texts


@pytest.fixture(scope="module")
def shipped(repo_root):
    bib = load_bibliography(repo_root / "evidence" / "references.bib")
    records, _, _ = load_checked(repo_root / "studies", bib)
    flow = prisma_flow(load_screening(repo_root / "evidence" / "screening.yaml", records),
                       records)
    return flow, {key: bib.label(key) for key in bib}


def test_shipped_sources_are_other_methods_and_the_database_column_is_left_out(shipped):
    flow, labels = shipped
    assert {d["kind"] for d in flow.identified} == {"other"}
    spec = prisma_counts(flow, {}, labels)
    assert spec.databases_searched is False and spec.other_sources is None
    assert len(spec.identified) == len(flow.identified)
    fig = prisma_flow_diagram(spec)
    found, shown = gids(fig), " ".join(texts(fig))
    assert "header-1" in found and "header-0" not in found
    assert "Identification of studies via other methods" in shown
    assert "via databases and registers" not in shown.replace(
        "\u201cIdentification of studies via databases and registers\u201d", "")
    assert "No database or register was searched" in shown


def test_a_study_key_in_a_source_label_reads_as_the_study(shipped):
    flow, labels = shipped
    assert any("(xu2021)" in str(d["label"]) for d in flow.identified)
    spec = prisma_counts(flow, {}, labels)
    names = [label for label, _ in spec.identified]
    assert not any("xu2021" in n for n in names)
    assert any(f"({labels['xu2021']})" in n for n in names)
    assert labels["xu2021"] == "Xu et al. 2021"


def test_the_template_arithmetic_is_checked(shipped):
    flow, labels = shipped
    spec = prisma_counts(flow, {}, labels)
    assert spec.check_sums
    assert spec.assessed.n == spec.sought.n - spec.not_retrieved.n
    wrong = dataclasses.replace(flow, reports_assessed=Box(flow.reports_assessed.count - 1))
    with pytest.raises(InputError, match="assessed"):
        prisma_counts(wrong, {}, labels)


def test_database_and_other_sources_go_to_their_own_columns(shipped):
    flow, labels = shipped
    database = {"id": "pubmed", "kind": "database", "label": "PubMed", "count": 120,
                "reason": None}
    mixed = dataclasses.replace(flow, identified=(database, *flow.identified))
    spec = prisma_counts(mixed, {}, labels)
    assert spec.databases_searched
    assert [(label, c.n) for label, c in spec.identified] == [("PubMed", 120)]
    assert len(spec.other_sources.identified) == len(flow.identified)
    # the record does not say which source found which report: no column claims them all
    for box in (spec.sought, spec.assessed, spec.other_sources.sought,
                spec.other_sources.assessed):
        assert box.n is None and "split" in box.reason
    assert spec.included_studies.n == flow.studies_included.count
    shown = " ".join(texts(prisma_flow_diagram(spec)))
    assert "Identification of studies via databases and registers" in shown
    assert "Identification of studies via other methods" in shown
