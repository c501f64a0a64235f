"""GRADE risk of bias from the appraisal: a study read only as an abstract, whose unclear
items count as concerns, rates the evidence down as a full text with a "no" does."""

from __future__ import annotations

from blastic_meta import load_protocol
from blastic_meta.registry.load import load_studies
from blastic_meta.review import certainty
from blastic_meta.review.appraisal_view import appraisal_concern, no_information


def test_risk_of_bias_names_the_studies_rated_high_for_missing_information():
    concern = {"full": "high", "abstract": "high"}
    out = certainty._risk_of_bias(["full", "abstract"], concern, {"abstract"})
    assert out["levels"] == 2
    assert out["reason"].startswith("2 of 2 studies of high concern or not appraised (1 of "
                                    "them read only as an abstract")
    one = certainty._risk_of_bias(["full", "other"], {"full": "high", "other": "low"})
    assert one["levels"] == 2 and "no information" not in one["reason"]
    some = certainty._risk_of_bias(["a", "b", "c"], {"a": "high", "b": "low", "c": "low"})
    assert some["levels"] == 1


def test_shipped_abstract_and_full_text_rate_risk_of_bias_down_alike(repo_root):
    records, _ = load_studies(repo_root / "studies", repo_root / "evidence" / "references.bib")
    protocol = load_protocol(repo_root / "evidence" / "protocol.yaml")
    concern = appraisal_concern(records, protocol)
    unread = no_information(records, protocol)
    # tian2016 (abstract, 7 of 10 unclear) may not look better than xu2021 (full text, 2 no)
    assert concern["tian2016"] == concern["xu2021"] == "high"
    assert "tian2016" in unread and "xu2021" not in unread
    alone = certainty._risk_of_bias(["tian2016"], concern, unread)
    assert alone["levels"] == 2
    assert alone["reason"].startswith("the one study is of high concern (read only as an "
                                      "abstract")


def test_inconsistency_reads_only_the_directions_of_the_analysed_outcome():
    import pandas as pd

    directions = pd.DataFrame({
        "study": ["a", "a", "b", "b", "c"],
        "group": ["osteoblastic"] * 4 + ["osteolytic"],
        "evidence": ["before/after"] * 5,
        "domain": ["pain", "leakage", "pain", "quality_of_life", "pain"],
        "direction": ["benefit", "harm", "harm", "benefit", "harm"],
        "cell": ["benefit", "harm", "harm", "benefit", "harm"],
    })
    pain = certainty.directions_for(directions, "vas", "osteoblastic", ["a", "b", "c"])
    assert sorted(pain) == ["benefit", "harm"]  # c is of the other lesion type
    assert certainty.directions_for(directions, "qol", "osteoblastic", ["a", "b"]) == ["benefit"]
    # a leakage rate has no direction of effect: a study's leakage "harm" never conflicts
    assert certainty.directions_for(directions, "leakage", "osteoblastic", ["a", "b"]) == []
    assert certainty.directions_for(directions, "vas", "osteoblastic", ["a"]) == ["benefit"]
    # several entries of one study in one domain are one vote (its cell)
    twice = pd.concat([directions, directions.iloc[[0]].assign(direction="harm")])
    assert certainty.directions_for(twice, "vas", "osteoblastic", ["a"]) == ["benefit"]
