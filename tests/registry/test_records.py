"""Study record models: frozen, strict, provenance on every number, explicit units."""

from __future__ import annotations

import pydantic
import pytest

from blastic_meta.registry.records import (
    Arm,
    Count,
    Discrepancy,
    Leakage,
    Narrative,
    Outcome,
    Scale,
    StudyRecord,
    Summary,
    TimePoint,
    outcome_kind,
    percent_of,
)

ARM = {"id": "all", "label": "PVP", "lesion_type": "osteoblastic",
       "patients": {"value": 39, "source": "Abstract"}}
STUDY = {"key": "tian2016", "source_access": "abstract", "design": "case_series",
         "procedure": "PVP", "arms": [ARM]}


def _codes(exc: pydantic.ValidationError) -> set[str]:
    return {e["type"] for e in exc.errors()}


def test_minimal_study_and_defaults():
    rec = StudyRecord.model_validate(STUDY)
    assert rec.arms[0].patients.value == 39
    assert rec.known_overlap == () and rec.discrepancies == ()
    assert rec.arm("all").lesion_type == "osteoblastic"
    with pytest.raises(KeyError):
        rec.arm("nope")


def test_frozen():
    rec = StudyRecord.model_validate(STUDY)
    with pytest.raises(pydantic.ValidationError):
        rec.key = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("change", "code"), [
    ({"typo_field": 1}, "extra_forbidden"),
    ({"design": "cohort"}, "literal_error"),
    ({"key": "1abc"}, "string_pattern_mismatch"),
    ({"arms": []}, "too_short"),
    ({"note": 1.1}, "string_type"),
    ({"note": True}, "string_type"),
])
def test_study_level_errors(change, code):
    with pytest.raises(pydantic.ValidationError) as exc:
        StudyRecord.model_validate({**STUDY, **change})
    assert code in _codes(exc.value)


@pytest.mark.parametrize(("value", "code"), [
    ("39", "int_type"), (39.0, "int_type"), (True, "int_type"), (-1, "greater_than_equal"),
])
def test_counts_are_strict_whole_numbers(value, code):
    with pytest.raises(pydantic.ValidationError) as exc:
        Count.model_validate({"value": value, "source": "x"})
    assert code in _codes(exc.value)


def test_number_needs_source_and_null_needs_reason():
    with pytest.raises(pydantic.ValidationError) as exc:
        Count.model_validate({"value": 3})
    assert _codes(exc.value) == {"source-missing"}
    with pytest.raises(pydantic.ValidationError) as exc:
        Count.model_validate({"value": None})
    assert _codes(exc.value) == {"reason-missing"}
    assert Count.model_validate({"value": None, "reason": "not reported"}).value is None


def test_derived_marks_values():
    c = Count.model_validate({"value": 5, "source": "Table 1",
                              "derived": {"method": "27.7% of 18"}})
    assert c.derived is not None and c.derived.method == "27.7% of 18"
    with pytest.raises(pydantic.ValidationError) as exc:
        Count.model_validate({"value": None, "reason": "x", "derived": {"method": "m"}})
    assert "derived-without-value" in _codes(exc.value)


def test_sd_needs_its_kind():
    with pytest.raises(pydantic.ValidationError) as exc:
        Summary.model_validate({"mean": 1.0, "sd": 0.5, "source": "x"})
    assert "sd-kind-missing" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        TimePoint.model_validate({"label": "b", "days": 0, "mean": 1.0, "sd_kind": "sd",
                                  "source": "x"})
    assert "sd-kind-without-sd" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        TimePoint.model_validate({"label": "b", "days": 0, "mean": 1.0, "sd": 0.0,
                                  "sd_kind": "sd", "source": "x"})
    assert "greater_than" in _codes(exc.value)


def test_leakage_unit_is_explicit():
    with pytest.raises(pydantic.ValidationError) as exc:
        Leakage.model_validate({"events": 15, "source": "A"})
    assert "missing" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Leakage.model_validate({"events": 15, "unit": "ambiguous", "source": "A"})
    assert "candidate-units" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Leakage.model_validate({"events": 15, "unit": "patient", "candidate_units": ["patient",
                                "vertebra"], "source": "A"})
    assert "candidate-units" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Leakage.model_validate({"events": 15, "unit": "ambiguous", "candidate_units": [
            "patient", "vertebra"], "candidate_totals": {"procedure": 3}, "source": "A"})
    assert "candidate-units" in _codes(exc.value)
    leak = Leakage.model_validate({
        "events": 15, "unit": "ambiguous", "candidate_units": ["patient", "vertebra"],
        "candidate_totals": {"patient": 39, "vertebra": 51},
        "symptomatic": {"events": 0, "unit": "patient", "source": "A"},
        "sites": {"canal": {"events": 1, "source": "A"}}, "source": "A"})
    assert leak.is_ambiguous and leak.sites["canal"].events == 1


def test_percent_as_number_or_mapping():
    a = Leakage.model_validate({"events": 2, "total": 31, "percent": 6.5, "unit": "patient",
                                "source": "A"})
    b = Leakage.model_validate({"events": 2, "total": 31, "unit": "patient", "source": "A",
                                "percent": {"value": 6.5, "source": "Discussion"}})
    assert percent_of(a.percent) == percent_of(b.percent) == 6.5
    with pytest.raises(pydantic.ValidationError):
        Leakage.model_validate({"events": 2, "percent": 101.0, "unit": "patient", "source": "A"})


def test_derived_counts_kept_apart():
    leak = Leakage.model_validate({
        "events": None, "total": 60, "percent": 50.0, "unit": "patient", "source": "Abstract",
        "derived_events": {"value": 30, "method": "50% x 60 patients"}})
    assert leak.events is None and leak.derived_events.value == 30


def test_scale():
    assert Scale.model_validate({"min": 0, "max": 10}).max == 10.0
    with pytest.raises(pydantic.ValidationError) as exc:
        Scale.model_validate({"min": 10, "max": 0})
    assert "scale-range" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Scale.model_validate({"min": None, "max": None})
    assert "reason-missing" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Scale.model_validate({"min": 0, "max": 10, "assumed": "yes"})
    assert "bool_type" in _codes(exc.value)


def test_outcome_kind():
    assert outcome_kind("VAS") == "vas" and outcome_kind("NRS 0-10") == "vas"
    assert outcome_kind("QLQ-BM22") == "qol" and outcome_kind("ODI") == "qol"
    o = Outcome.model_validate({"id": "pain", "instrument": "Pain score", "kind": "vas"})
    assert o.outcome == "vas"


def test_p_values_keep_their_text():
    tp = TimePoint.model_validate({"label": "1 week", "days": 7, "mean": 3.0, "source": "R",
                                   "p_value": "<0.001"})
    assert tp.p_value == "<0.001"
    tp = TimePoint.model_validate({"label": "1 week", "days": 7, "mean": 3.0, "source": "R",
                                   "p_value": {"value": "0.009", "source": "R"}})
    assert tp.p_value.value == "0.009"
    with pytest.raises(pydantic.ValidationError):
        TimePoint.model_validate({"label": "x", "days": 7, "mean": 3.0, "source": "R",
                                  "p_value": "significant"})


def test_days_null_allowed_only_as_field():
    tp = TimePoint.model_validate({"label": "x", "days": None, "days_reason": "not stated",
                                   "mean": 1.0, "source": "R"})
    assert tp.days is None
    with pytest.raises(pydantic.ValidationError):
        TimePoint.model_validate({"label": "x", "mean": 1.0, "source": "R"})


@pytest.mark.parametrize(("direction", "ok"), [
    ("improvement", True), ("favours_osteoblastic", True), ("worse_in_pvp", True),
    ("better", False), ("favours_", False), ("Favours_x", False),
])
def test_narrative_direction(direction, ok):
    data = {"outcome": "VAS", "domain": "pain", "finding": "f", "direction": direction,
            "source": "A"}
    if ok:
        assert Narrative.model_validate(data).direction == direction
    else:
        with pytest.raises(pydantic.ValidationError):
            Narrative.model_validate(data)


def test_discrepancy_needs_two_values():
    d = {"item": "baseline VAS", "values": [{"value": "4.3", "source": "Abstract"}],
         "used": "4.3", "reason": "r"}
    with pytest.raises(pydantic.ValidationError):
        Discrepancy.model_validate(d)
    d["values"].append({"value": 5.0, "source": "Discussion"})
    with pytest.raises(pydantic.ValidationError) as exc:  # printed values are quoted text
        Discrepancy.model_validate(d)
    assert "string_type" in _codes(exc.value)
    d["values"][1]["value"] = "5.0 ± 2.8"
    assert Discrepancy.model_validate(d).values[1].value == "5.0 ± 2.8"


def test_duplicate_ids():
    with pytest.raises(pydantic.ValidationError) as exc:
        StudyRecord.model_validate({**STUDY, "arms": [ARM, ARM]})
    assert "duplicate-id" in _codes(exc.value)
    with pytest.raises(pydantic.ValidationError) as exc:
        Arm.model_validate({**ARM, "outcomes": [{"id": "vas", "instrument": "VAS"}] * 2})
    assert "duplicate-id" in _codes(exc.value)


def test_known_overlap_relation():
    rec = StudyRecord.model_validate({**STUDY, "known_overlap": [
        {"study": "wu2021jnis", "note": "same centre"}]})
    assert rec.known_overlap[0].relation == "possible"
    with pytest.raises(pydantic.ValidationError):
        StudyRecord.model_validate({**STUDY, "known_overlap": [
            {"study": "x2020", "note": "n", "relation": "maybe"}]})


def test_symptomatic_leakage_states_its_unit():
    """One convention: a symptomatic count never inherits the leak's unit silently."""
    with pytest.raises(pydantic.ValidationError) as exc:
        Leakage.model_validate({"events": 5, "total": 20, "unit": "vertebra", "source": "A",
                                "symptomatic": {"events": 0, "source": "A"}})
    assert "symptomatic" in str(exc.value) and "unit" in str(exc.value)
    ok = Leakage.model_validate({"events": 5, "total": 20, "unit": "vertebra", "source": "A",
                                 "symptomatic": {"events": 0, "unit": "patient", "source": "A"}})
    assert ok.symptomatic is not None and ok.symptomatic.unit == "patient"


def test_alternative_numbers_must_be_printed_in_the_values():
    from blastic_meta.registry.records import Discrepancy

    base = {"item": "baseline VAS", "used": "4.3 ± 2.4", "reason": "results section",
            "values": [{"value": "4.3 ± 2.4", "source": "Results"},
                       {"value": "5.0 ± 2.8", "source": "Discussion"}]}
    ok = Discrepancy.model_validate({**base, "alternative": {
        "arms[0].outcomes[0].timepoints[0]": {"mean": 5.0, "sd": 2.8}}})
    assert ok.alternative["arms[0].outcomes[0].timepoints[0]"]["sd"] == 2.8
    with pytest.raises(pydantic.ValidationError) as exc:
        Discrepancy.model_validate({**base, "alternative": {
            "arms[0].outcomes[0].timepoints[0]": {"mean": 5.1}}})
    assert "alternative-not-printed" in _codes(exc.value)
