"""Synthesis without meta-analysis: domains and significance of narrative findings, the
within-study comparisons of lesion types, identity, and what the shipped files record."""

from __future__ import annotations

import typing
from pathlib import Path

import pydantic
import pytest

from blastic_meta.registry.load import (
    NARRATIVE_COLUMNS,
    WITHIN_STUDY_COLUMNS,
    load_studies,
    narrative_table,
    study_level_table,
    within_study_table,
)
from blastic_meta.registry.records import LESION_TYPES, Identity, Narrative, WithinStudy
from blastic_meta.registry.synthesis import DOMAINS, SIGNIFICANCES, Domain, Significance

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parents[2]
SHIPPED = sorted((ROOT / "studies").glob("*.yaml"))

BASE = {"id": "w", "domain": "pain", "outcome": "VAS", "compared": ["osteoblastic", "osteolytic"],
        "favours": "osteoblastic", "significance": "significant", "finding": "f",
        "source": "Abstract"}


def test_vocabularies_are_single_lists():
    assert set(DOMAINS) == set(typing.get_args(Domain))
    assert set(SIGNIFICANCES) == set(typing.get_args(Significance))
    assert {"pain", "function", "quality_of_life", "analgesic_use", "clinical_response",
            "leakage", "complications", "vertebral_height", "technical", "other"} <= set(DOMAINS)


@pytest.mark.parametrize("favours", ["osteoblastic", "osteolytic", "neither", "unclear"])
def test_favours_accepts_compared_types_neither_and_unclear(favours):
    significance = "unclear" if favours == "neither" else "significant"
    w = WithinStudy.model_validate(dict(BASE, favours=favours, significance=significance))
    assert w.favours == favours


@pytest.mark.parametrize(("change", "code"), [
    ({"favours": "mixed"}, "within-study-favours"),
    ({"favours": "favours_osteoblastic"}, "within-study-favours"),
    ({"compared": ["mixed", "mixed"]}, "within-study-compared"),
    ({"favours": "neither"}, "within-study-significance"),
    ({"timepoints": ["1 week"], "days": [7, 30]}, "within-study-days"),
    ({"timepoints": ["a", "b"], "days": [7, 7]}, "within-study-days"),
    ({"values": [{"lesion_type": "mixed", "n": 3, "source": "T"}]}, "within-study-arm"),
    ({"values": [{"lesion_type": "osteoblastic", "n": 3}]}, "source-missing"),
    ({"values": [{"lesion_type": "osteoblastic", "sd": 1.0, "source": "T"}]}, "sd-kind-missing"),
])
def test_within_study_rules(change, code):
    with pytest.raises(pydantic.ValidationError) as exc:
        WithinStudy.model_validate(dict(BASE, **change))
    assert exc.value.errors()[0]["type"] == code


def test_within_study_needs_exactly_two_types_and_known_fields():
    for compared in (["osteoblastic"], ["osteoblastic", "osteolytic", "mixed"], ["lytic", "mixed"]):
        with pytest.raises(pydantic.ValidationError):
            WithinStudy.model_validate(dict(BASE, compared=compared))
    with pytest.raises(pydantic.ValidationError):
        WithinStudy.model_validate(dict(BASE, favors="osteoblastic"))
    ok = WithinStudy.model_validate(dict(BASE, timepoints=["3 days", "1 month"], days=[3, 30]))
    assert ok.days == (3, 30)


def test_narrative_domain_required_and_significance_optional():
    entry = {"outcome": "ODI", "finding": "f", "direction": "improvement", "source": "A"}
    with pytest.raises(pydantic.ValidationError):
        Narrative.model_validate(entry)
    n = Narrative.model_validate(dict(entry, domain="function"))
    assert n.significance is None
    with pytest.raises(pydantic.ValidationError):
        Narrative.model_validate(dict(entry, domain="function", significance="maybe"))


def test_identity_needs_a_reason_when_unverified():
    assert Identity.model_validate({"verified": True}).reason is None
    with pytest.raises(pydantic.ValidationError) as exc:
        Identity.model_validate({"verified": False})
    assert exc.value.errors()[0]["type"] == "reason-missing"
    with pytest.raises(pydantic.ValidationError):
        Identity.model_validate({"verified": "no", "reason": "x"})


def test_fixture_tables_have_their_columns():
    records, _ = load_studies(DATA / "valid", DATA / "references.bib")
    table = narrative_table(records)
    assert tuple(table.columns) == NARRATIVE_COLUMNS
    assert list(table["domain"]) == ["function"] and list(table["significance"]) == ["significant"]
    empty = within_study_table(records)
    assert tuple(empty.columns) == WITHIN_STUDY_COLUMNS and empty.empty
    assert study_level_table(records)["identity_verified"].tolist() == [True]


# --- the shipped registry --------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED:
        pytest.skip("no study files shipped")
    records, _ = load_studies(ROOT / "studies", ROOT / "evidence" / "references.bib")
    return {r.key: r for r in records}


def test_lesion_type_comparisons_live_in_within_study_only(shipped):
    pattern = tuple(f"{p}_{t}" for p in ("favours", "worse_in") for t in LESION_TYPES)
    for rec in shipped.values():
        assert not [n for n in rec.narrative if n.direction in pattern], rec.key
    keys = {k for k, r in shipped.items() if r.within_study}
    assert keys == {"wang2016", "wu2021jnis", "calmels2007"}
    assert shipped["calmels2007"].within_study[0].compared == ("osteoblastic", "mixed")
    for key in ("wang2016", "wu2021jnis"):
        for w in shipped[key].within_study:
            assert w.compared == ("osteoblastic", "osteolytic") and w.arms == ("ob", "ol")
            assert not w.values  # the abstracts read print no per-arm number


def test_every_narrative_finding_has_a_domain(shipped):
    table = narrative_table(list(shipped.values()))
    assert not table.empty and table["domain"].isin(DOMAINS).all()
    assert table["significance"].dropna().isin(SIGNIFICANCES).all()


def test_unverified_identities(shipped):
    level = study_level_table(list(shipped.values()))
    unverified = set(level.loc[~level["identity_verified"], "study"])
    assert {"obPKP31_unk", "dudeney_myeloma", "mm_unipedicular_scilit"} <= unverified
    # a printed DOI identifies a paper even when its authors could not be read
    assert not {"esj2015_bkp", "esj2009_mmkp", "crpt2019_pvp"} & unverified
    assert "xu2021" not in unverified and "tian2016" not in unverified
    assert level.loc[level["study"] == "obPKP31_unk", "identity_reason"].item().startswith(
        "authors, journal and year not visible")
