"""The consistency checks of ``registry.checks`` pinned down exactly: for each problem, the field
``validate`` prints (file:line field), the check code, the severity and the message; and each
numeric boundary (the printed precision taken from the YAML text, GRIM after Brown and
Heathers 2017, the Bhatia-Davis SD bound after Bhatia and Davis 2000, printed percentages)
at its first invalid value, its last valid value and its equality case.

The checker runs on one record (the valid fixture with edits), so the findings here are the
checker's own, before declarations downgrade them."""

from __future__ import annotations

import dataclasses
import math

import pytest

from blastic_meta.registry import checks
from blastic_meta.registry.checks import RecordChecker
from blastic_meta.registry.records import StudyRecord
from blastic_meta.registry.yamlio import parse_yaml
from tests.registry.test_boundaries import (
    BASE,
    COMP,
    DELETE,
    LEAK,
    ODI,
    ODI0,
    RESP,
    TP0,
    TP1,
    TP2,
    A,
    Raw,
    _alt,
    _secondary,
    _text,
)

VAS = (*A, "outcomes", 0)
F_TP0 = "arms[0].outcomes[0].timepoints[0]"
F_TP2 = "arms[0].outcomes[0].timepoints[2]"
F_ODI0 = "arms[0].outcomes[1].timepoints[0]"
F_LEAK = "arms[0].leakage[0]"
NOT_UNIQUE = "; list time points in increasing days, each once"


def _check(edits: list, raw: bool = True) -> list[tuple[str, str, str, str]]:
    """(field, code, severity, message) of every finding of the checker, in order.

    ``raw=False`` drops the YAML text of the numbers, as for a document built in code: the
    printed precision then comes from the float itself."""
    doc = parse_yaml(_text(BASE, edits), "fixture2020.yaml")
    if not raw:
        doc = dataclasses.replace(doc, raw={})
    record = StudyRecord.model_validate(doc.data)
    return [(f.field, f.code, f.severity, f.message) for f in RecordChecker(record, doc).run()]


def _point(scale: dict, **values: object) -> list:
    """The ODI time point replaced by a mean/spread time point on another scale."""
    point = {"label": "baseline", "days": 0, "source": "Table 3", **values}
    return [((*ODI, "scale"), scale), (ODI0, point)]


def _patients(n: int) -> list:
    """An arm of n patients and n vertebrae (so larger samples stay consistent)."""
    return [((*A, "patients", "value"), n), ((*A, "vertebrae", "value"), n)]


def test_the_fixture_is_clean_with_and_without_yaml_text():
    assert _check([]) == []
    assert _check([], raw=False) == []


# -- where each finding points, its code and its message ---------------------------------------

CASES = {
    "study totals": (
        [(("study_totals",), {"patients": {"value": 40, "source": "Abstract"},
                              "vertebrae": {"value": 39, "source": "Abstract"}})],
        [("study_totals.vertebrae", "vertebrae-fewer-than-patients", "error",
          "39 vertebrae for 40 patients (each patient has at least one treated vertebra)")]),
    "study totals equal": (
        [(("study_totals",), {"patients": {"value": 40, "source": "Abstract"},
                              "vertebrae": {"value": 40, "source": "Abstract"}})],
        []),
    "via expected": (
        _secondary(BASE, skip=TP2),
        [(f"{F_TP2}.source", "via-expected", "warning",
          "the study was read only in other papers: add via: <their key>")]),
    "follow-up required": (
        [((*A, "follow_up"), DELETE)],
        [("arms[0].follow_up", "required", "error",
          "follow_up is required: when it is not reported, write {unit: months, mean: null, "
          "reason: \"not reported in the text read\"}")]),
    "sex over patients": (
        [((*A, "sex", "male"), 23)],
        [("arms[0].sex", "sum-exceeds-patients", "error",
          "male + female = 41 exceeds the arm's 40 patients")]),
    "sex equal, no men": ([((*A, "sex", "male"), 0), ((*A, "sex", "female"), 40)], []),
    "sex equal, men not reported": (
        [((*A, "sex", "male"), None), ((*A, "sex", "female"), 40)], []),
    "primary tumours over patients": (
        [((*A, "primary_tumours", "counts", "lung"), 21)],
        [("arms[0].primary_tumours", "sum-exceeds-patients", "warning",
          "primary tumour counts sum to 41, more than 40 patients")]),
    "scale missing": (
        [((*VAS, "scale"), DELETE)],
        [("arms[0].outcomes[0].instrument", "scale-missing", "warning",
          "a pain scale needs scale: {min, max} (assumed: true when the source does not print "
          "it), so values can be checked and rescaled")]),
    "responder days missing": (
        [((*RESP, "days"), None)],
        [("arms[0].responders[0].days", "days-missing", "error",
          "days is null: say why in days_reason")]),
    "candidate totals": (
        [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
         ((*LEAK, "candidate_totals"), {"vertebra": 12, "patient": 41})],
        [(f"{F_LEAK}.candidate_totals.vertebra", "events-exceed-total", "error",
          "events 13 exceed the vertebra total 12"),
         (f"{F_LEAK}.candidate_totals.patient", "n-exceeds-patients", "error",
          "patient total 41 exceeds the arm's 40")]),
    # procedures are counted against the arm's procedures, under the vertebrae code
    "procedures over the arm's": (
        [((*A, "procedures"), {"value": 45, "source": "Methods"}),
         ((*COMP, "unit"), "procedure"), ((*COMP, "total"), 46)],
        [("arms[0].complications[0].total", "total-exceeds-vertebrae", "error",
          "total 46 exceeds the arm's 45 (procedure count)")]),
    "procedures equal": (
        [((*A, "procedures"), {"value": 45, "source": "Methods"}),
         ((*COMP, "unit"), "procedure"), ((*COMP, "total"), 45)],
        []),
    "events over total": (
        [((*LEAK, "events"), 51), ((*LEAK, "percent"), DELETE)],
        [(f"{F_LEAK}.events", "events-exceed-total", "error", "events 51 exceed total 50")]),
    "total over vertebrae": (
        [((*LEAK, "total"), 51), ((*LEAK, "percent"), DELETE)],
        [(f"{F_LEAK}.total", "total-exceeds-vertebrae", "error",
          "total 51 exceeds the arm's 50 (vertebra count)")]),
    # a symptomatic count without its own total is counted against the leakage total
    "symptomatic over the leakage total": (
        [((*LEAK, "symptomatic", "events"), 51)],
        [(f"{F_LEAK}.symptomatic.events", "events-exceed-total", "error",
          "events 51 exceed total 50"),
         (f"{F_LEAK}.symptomatic.events", "events-exceed-total", "error",
          "51 symptomatic leakages but 13 leakages in all")]),
    # a count the reviewer derived stands in for a null printed one
    "derived events over total": (
        [((*LEAK, "events"), None), ((*LEAK, "percent"), DELETE),
         ((*LEAK, "derived_events"), {"value": 51, "method": "sum of sites"})],
        [(f"{F_LEAK}.events", "events-exceed-total", "error", "events 51 exceed total 50")]),
    "derived events equal": (
        [((*LEAK, "events"), None), ((*LEAK, "percent"), DELETE),
         ((*LEAK, "derived_events"), {"value": 50, "method": "sum of sites"})],
        []),
    "derived total under events": (
        [((*LEAK, "total"), None), ((*LEAK, "percent"), DELETE),
         ((*LEAK, "derived_total"), {"value": 12, "method": "levels in Table 1"})],
        [(f"{F_LEAK}.events", "events-exceed-total", "error", "events 13 exceed total 12")]),
    "derived total equal": (
        [((*LEAK, "total"), None), ((*LEAK, "percent"), DELETE),
         ((*LEAK, "derived_total"), {"value": 13, "method": "levels in Table 1"})],
        []),
    "percent as a mapping": (
        [((*LEAK, "percent"), {"value": 26.1, "source": "Discussion"})],
        [(f"{F_LEAK}.percent.value", "percent-mismatch", "error",
          "printed 26.1% but 13/50 = 26.000%")]),
    "percent as a number": (
        [((*COMP, "events"), 1), ((*COMP, "total"), 16), ((*COMP, "percent"), 6.4)],
        [("arms[0].complications[0].percent", "percent-mismatch", "error",
          "printed 6.4% but 1/16 = 6.250%")]),
    "time point days missing": (
        [((*TP2, "days"), None)],
        [(f"{F_TP2}.days", "days-missing", "error", "days is null: say why in days_reason")]),
    # a time point without days is skipped, not the end of the list
    "two time points without days": (
        [((*TP1, "days"), None), ((*TP2, "days"), None)],
        [("arms[0].outcomes[0].timepoints[1].days", "days-missing", "error",
          "days is null: say why in days_reason"),
         (f"{F_TP2}.days", "days-missing", "error", "days is null: say why in days_reason")]),
    "order after a time point without days": (
        [((*TP1, "days"), None), ((*TP1, "days_reason"), "x"), ((*TP2, "days"), 0)],
        [(f"{F_TP2}.days", "timepoints-unordered", "error",
          f"days 0 does not come after 0 (timepoints[0]){NOT_UNIQUE}")]),
    "order names the earlier time point": (
        [((*TP2, "days"), 5)],
        [(f"{F_TP2}.days", "timepoints-unordered", "error",
          f"days 5 does not come after 7 (timepoints[1]){NOT_UNIQUE}")]),
    "n missing": (
        [((*TP2, "n"), None)],
        [(f"{F_TP2}.n", "n-missing-reason", "warning",
          "n is not given: say why in reason_n (e.g. 'not reported')")]),
    "change n over patients": (
        [((*TP2, "change"), {"n": 41, "mean": -4.0, "source": "Table 2"})],
        [(f"{F_TP2}.change.n", "n-exceeds-patients", "error",
          "n 41 exceeds the arm's 40 patients")]),
    "change n equal": ([((*TP2, "change"), {"n": 40, "mean": -4.0, "source": "Table 2"})], []),
    "value outside the scale": (
        [((*TP2, "max"), 10.5)],
        [(f"{F_TP2}.max", "value-outside-scale", "error",
          "max 10.5 lies outside the scale 0 to 10")]),
    "grim": (
        [((*TP0, "mean"), 7.26)],
        [(f"{F_TP0}.mean", "grim", "error",
          "mean 7.26 is impossible for 40 whole-number scores (GRIM)")]),
    "arm vertebrae under patients": (
        [((*A, "vertebrae", "value"), 39)],
        [("arms[0].vertebrae", "vertebrae-fewer-than-patients", "error",
          "39 vertebrae for 40 patients (each patient has at least one treated vertebra)"),
         (f"{F_LEAK}.total", "total-exceeds-vertebrae", "error",
          "total 50 exceeds the arm's 39 (vertebra count)")]),
    "summary n over patients": (
        [((*A, "follow_up", "n"), 41), ((*A, "age", "n"), 41)],
        [("arms[0].age.n", "n-exceeds-patients", "error", "n 41 exceeds the arm's 40 patients"),
         ("arms[0].follow_up.n", "n-exceeds-patients", "error",
          "n 41 exceeds the arm's 40 patients")]),
    "min above max": (
        [((*A, "follow_up", "min"), 12.5), ((*A, "follow_up", "max"), 12.0)],
        [("arms[0].follow_up.min", "range", "error", "min 12.5 is above max 12.0"),
         ("arms[0].follow_up.median", "mean-outside-range", "error",
          "median 12.0 lies outside the range 12.5 to 12.0")]),
    "q1 above q3": (
        [((*ODI0, "q1"), 60.5), ((*ODI0, "q3"), 60.0), ((*ODI0, "median"), 60.0)],
        [(f"{F_ODI0}.q1", "range", "error", "q1 60.5 is above q3 60.0"),
         (f"{F_ODI0}.median", "mean-outside-range", "error",
          "median 60.0 lies outside the IQR 60.5 to 60.0")]),
    "mean above max": (
        [((*TP2, "mean"), 6.1)],
        [(f"{F_TP2}.mean", "mean-outside-range", "error",
          "mean 6.1 lies outside the range 0.0 to 6.0")]),
    "mean below min": (
        [((*TP2, "min"), 2.6)],
        [(f"{F_TP2}.mean", "mean-outside-range", "error",
          "mean 2.5 lies outside the range 2.6 to 6.0")]),
    "median below min": (
        [((*A, "follow_up", "min"), 12.5)],
        [("arms[0].follow_up.median", "mean-outside-range", "error",
          "median 12.0 lies outside the range 12.5 to 30.0")]),
    "median above max": (
        [((*A, "follow_up", "max"), 11.5)],
        [("arms[0].follow_up.median", "mean-outside-range", "error",
          "median 12.0 lies outside the range 3.0 to 11.5")]),
    "median under q1": (
        [((*ODI0, "median"), 49.9)],
        [(f"{F_ODI0}.median", "mean-outside-range", "error",
          "median 49.9 lies outside the IQR 50.0 to 70.0")]),
    "median over q3": (
        [((*ODI0, "median"), 70.1)],
        [(f"{F_ODI0}.median", "mean-outside-range", "error",
          "median 70.1 lies outside the IQR 50.0 to 70.0")]),
    "median on q1 and q3": ([((*ODI0, "q1"), 60.0), ((*ODI0, "q3"), 60.0)], []),
    "summary mean below min": (
        [((*A, "age", "min"), 61.0)],
        [("arms[0].age.mean", "mean-outside-range", "error",
          "mean 60.5 lies outside the range 61.0 to 79.0")]),
    "summary median under q1": (
        [((*A, "follow_up", "q1"), 13.0), ((*A, "follow_up", "q3"), 20.0)],
        [("arms[0].follow_up.median", "mean-outside-range", "error",
          "median 12.0 lies outside the IQR 13.0 to 20.0")]),
    "summary median over q3": (
        [((*A, "follow_up", "q1"), 5.0), ((*A, "follow_up", "q3"), 11.0)],
        [("arms[0].follow_up.median", "mean-outside-range", "error",
          "median 12.0 lies outside the IQR 5.0 to 11.0")]),
    "candidate total over vertebrae": (
        [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
         ((*LEAK, "candidate_totals"), {"vertebra": 51, "patient": 40})],
        [(f"{F_LEAK}.candidate_totals.vertebra", "total-exceeds-vertebrae", "error",
          "vertebra total 51 exceeds the arm's 50")]),
    "narrative arm unknown": (
        [(("narrative", 0, "arms"), ["blastic", "lytic"])],
        [("narrative[0].arms[1]", "narrative-arm", "error", "no arm 'lytic' in this study")]),
    "narrative favours unknown": (
        [(("narrative", 0, "direction"), "favours_blastix")],
        [("narrative[0].direction", "narrative-arm", "error",
          "'blastix' is neither an arm id nor a lesion type")]),
    "narrative worse in unknown": (
        [(("narrative", 0, "direction"), "worse_in_lytic")],
        [("narrative[0].direction", "narrative-arm", "error",
          "'lytic' is neither an arm id nor a lesion type")]),
    "narrative favours an arm": ([(("narrative", 0, "direction"), "favours_blastic")], []),
    "narrative worse in a lesion type": (
        [(("narrative", 0, "direction"), "worse_in_osteolytic")], []),
    "declared field unknown": (
        [(("ambiguities",), [{"about": "x", "fields": ["arms[0].leakage[0]",
                                                      "arms[0].leakage[1]"]}])],
        [("ambiguities[0].fields[1]", "declared-field-unknown", "warning",
          "no field 'arms[0].leakage[1]' in this file")]),
    "discrepancy field unknown": (
        [(("discrepancies",), [{**_alt({"events": 14}), "fields": ["arms[0].leakag"]}])],
        [("discrepancies[0].fields[0]", "declared-field-unknown", "warning",
          "no field 'arms[0].leakag' in this file")]),
    "alternative with unknown fields": (
        [(("discrepancies",), [_alt({"totalz": 50, "events": 14, "eventz": 14})])],
        [("discrepancies[0].alternative", "alternative-path", "error",
          "'arms[0].leakage[0]' has no field eventz, totalz")]),
    "symptomatic over all leakages": (
        [((*LEAK, "symptomatic", "events"), 14)],
        [(f"{F_LEAK}.symptomatic.events", "events-exceed-total", "error",
          "14 symptomatic leakages but 13 leakages in all")]),
    # 13 of 40 patients leaked; 45 symptomatic vertebrae are not counted against 40 patients
    "symptomatic in another unit": (
        [((*LEAK, "unit"), "patient"), ((*LEAK, "total"), 40), ((*LEAK, "percent"), DELETE),
         ((*LEAK, "sites"), {}),
         ((*LEAK, "symptomatic"), {"events": 45, "unit": "vertebra", "source": "Results"})],
        []),
    "symptomatic total over patients": (
        [((*LEAK, "symptomatic"), {"events": 1, "total": 41, "unit": "patient",
                                   "source": "Results"})],
        [(f"{F_LEAK}.symptomatic.total", "n-exceeds-patients", "error",
          "total 41 exceeds the arm's 40 (patient count)")]),
    "site total over vertebrae": (
        [((*LEAK, "sites", "canal", "total"), 51)],
        [(f"{F_LEAK}.sites.canal.total", "total-exceeds-vertebrae", "error",
          "total 51 exceeds the arm's 50 (vertebra count)")]),
    "site in patients": (
        [((*LEAK, "sites", "disc"), {"events": 5, "total": 41, "unit": "patient",
                                     "source": "Results"})],
        [(f"{F_LEAK}.sites.disc.total", "n-exceeds-patients", "error",
          "total 41 exceeds the arm's 40 (patient count)")]),
    "site events over its total": (
        [((*LEAK, "sites", "canal", "total"), 1)],
        [(f"{F_LEAK}.sites.canal.events", "events-exceed-total", "error",
          "events 2 exceed total 1")]),
    "alternative at the first missing index": (
        [(("discrepancies",), [_alt({"events": 14}, "arms[0].leakage[1]")])],
        [("discrepancies[0].alternative", "alternative-path", "error",
          "no mapping 'arms[0].leakage[1]' in this file")]),
    "alternative through an unknown field": (
        [(("discrepancies",), [_alt({"events": 14}, "arms[0].leaks[0]")])],
        [("discrepancies[0].alternative", "alternative-path", "error",
          "no mapping 'arms[0].leaks[0]' in this file")]),
}


@pytest.mark.parametrize("name", CASES)
def test_finding_location_code_and_message(name):
    edits, expected = CASES[name]
    assert _check(edits) == expected


# -- printed precision (from the YAML text when there is one) ----------------------------------

@pytest.mark.parametrize(("value", "raw", "decimals"), [
    (4.5, "4.50", 2),       # trailing zeros count when the text is known
    (4.0, "4.0", 1),
    (4.0, None, 0),          # a whole float without text: no decimals
    (4.5, None, 1),
    (7.25, None, 2),
    (0.0015, "1.5e-3", 1),   # the mantissa's decimals
    (0.0015, "1.5E-3", 1),
    (12.0, "12", 0),
])
def test_decimals(value, raw, decimals):
    assert checks._decimals(value, raw) == decimals


def test_half_unit_without_text():
    assert checks._half_unit(4.5, None) == pytest.approx(0.05)
    assert checks._half_unit(4.0, None) == 0.5


def test_percent_precision_from_the_text():
    one_in_16 = [((*COMP, "events"), 1), ((*COMP, "total"), 16)]
    # "6.0" is printed with one decimal: 6.25% is neither 6.0 rounded nor truncated
    assert _check([*one_in_16, ((*COMP, "percent"), Raw("6.0"))]) == [
        ("arms[0].complications[0].percent", "percent-mismatch", "error",
         "printed 6.0% but 1/16 = 6.250%")]
    # without the text, 6.0 is a whole number, which 6.25% rounds to
    assert _check([*one_in_16, ((*COMP, "percent"), 6.0)], raw=False) == []


def test_percent_truncated_up_to_but_not_including_one_unit():
    # without the text 25.0 is a whole number: 26% truncated is 26, never 25
    assert _check([((*LEAK, "percent"), 25.0)], raw=False) == [
        (f"{F_LEAK}.percent", "percent-mismatch", "error", "printed 25.0% but 13/50 = 26.00%")]


# -- GRIM (Brown and Heathers 2017) -------------------------------------------------------------

def test_grim_precision_from_the_text():
    # 7.30 has two decimals: 11 scores give 80/11 = 7.27 or 81/11 = 7.36, never 7.30
    assert _check([((*TP0, "n"), 11), ((*TP0, "mean"), Raw("7.30"))]) == [
        (f"{F_TP0}.mean", "grim", "error",
         "mean 7.3 is impossible for 11 whole-number scores (GRIM)")]
    # 7.3 has one decimal, which 11 scores can always reach
    assert _check([((*TP0, "n"), 11), ((*TP0, "mean"), 7.3)]) == []


def test_grim_below_zero():
    scale = [((*VAS, "scale"), {"min": -10, "max": 10, "integer": True}), ((*TP0, "n"), 4)]
    assert _check([*scale, ((*TP0, "mean"), -3.25)]) == []  # -13 / 4
    assert _check([*scale, ((*TP0, "mean"), -3.26)]) == [
        (f"{F_TP0}.mean", "grim", "error",
         "mean -3.26 is impossible for 4 whole-number scores (GRIM)")]


# -- the SD bound (Bhatia and Davis 2000) ------------------------------------------------------

def test_sd_max():
    assert checks.sd_max(5.0, 2.0, 10.0, None) == math.sqrt(15.0)  # (5 - 2)(10 - 5)
    assert checks.sd_max(0.0, 0.0, 10.0, None) == 0.0
    assert checks.sd_max(0.0, 0.0, 10.0, 40) == 0.0
    assert checks.sd_max(5.0, 0.0, 10.0, 5) == pytest.approx(5.0 * math.sqrt(5 / 4))


@pytest.mark.parametrize(("n", "factor"), [(0, 1.0), (1, 1.0), (2, math.sqrt(2.0)),
                                           (5, math.sqrt(1.25))])
def test_sample_correction(n, factor):
    assert checks._sample(n) == pytest.approx(factor)


def test_widest_takes_the_mean_nearest_mid_scale():
    assert checks._widest(5.0, 0.5, 0.0, 10.0) == 5.0  # mid-scale within reach
    assert checks._widest(4.8, 0.5, 0.0, 10.0) == 5.0
    assert checks._widest(7.25, 0.005, 0.0, 10.0) == math.sqrt(7.245 * (10.0 - 7.245))
    assert checks._widest(2.0, 0.05, 0.0, 10.0) == math.sqrt(2.05 * (10.0 - 2.05))


def test_mean_on_the_scale_ends_is_still_checked():
    # at a scale end every value is that end: no SD above ~0.71 (mean 0.0 +- 0.05, n = 40)
    assert _check([((*TP0, "mean"), 0.0)]) == [
        (f"{F_TP0}.sd", "sd-impossible", "error",
         "sd 1.5 is larger than any sample on the scale 0 to 10 with mean 0.0 allows (0.71)")]
    assert _check([((*TP0, "mean"), 10.0)]) == [
        (f"{F_TP0}.sd", "sd-impossible", "error",
         "sd 1.5 is larger than any sample on the scale 0 to 10 with mean 10.0 allows (0.71)")]


def test_sd_precision_from_the_text():
    # mean 5.0 on 0-10, n = 40: at most 5.0637; "5.10" may be 5.095 at least, "5.1" 5.05
    mean = [((*TP0, "mean"), 5.0)]
    assert _check([*mean, ((*TP0, "sd"), Raw("5.10"))]) == [
        (f"{F_TP0}.sd", "sd-impossible", "error",
         "sd 5.1 is larger than any sample on the scale 0 to 10 with mean 5.0 allows (5.06)")]
    assert _check([*mean, ((*TP0, "sd"), 5.1)]) == []


def test_sd_equal_to_the_bound_is_possible():
    # mean 0.2 on 0-10, n = 13: the bound equals 1.63 - 0.005 exactly in floating point
    base = [((*TP0, "mean"), 0.2), ((*TP0, "n"), 13)]
    assert checks._widest(0.2, 0.05, 0, 10) * checks._sample(13) == 1.63 - 0.005
    assert _check([*base, ((*TP0, "sd"), 1.63)]) == []
    assert [f[1] for f in _check([*base, ((*TP0, "sd"), 1.64)])] == ["sd-impossible"]


def test_se_messages():
    odi = {"min": 0, "max": 24}
    assert _check(_point(odi, n=None, reason_n="x", mean=Raw("4.0000"), sd=Raw("8.9444"),
                         sd_kind="se")) == [
        (f"{F_ODI0}.sd", "sd-impossible", "error",
         "se 8.9444 is larger than any SD, let alone an SE, on the scale 0 to 24 with mean 4.0 "
         "(8.94)")]
    # with n = 2 the SE is read as an SD / sqrt(2)
    assert _check(_point(odi, n=2, mean=Raw("4.0000"), sd=Raw("8.9444"), sd_kind="se")) == [
        (f"{F_ODI0}.sd", "sd-impossible", "error",
         "se 8.9444 with n 2 implies an SD of 12.65 (se * sqrt(n)), larger than any sample on "
         "the scale 0 to 24 with mean 4.0 allows (12.65)")]


def test_se_equal_to_the_bound_is_possible():
    # VAS mean 0.2, n = 40: SE 0.3 (at least 0.25) implies exactly the largest SD
    assert _check([((*TP0, "mean"), 0.2), ((*TP0, "sd"), 0.3), ((*TP0, "sd_kind"), "se")]) == []
    assert [f[1] for f in _check([((*TP0, "mean"), 0.2), ((*TP0, "sd"), 0.4),
                                  ((*TP0, "sd_kind"), "se")])] == ["sd-impossible"]
    # mean 1.25 on 0-2.5: the population bound is 1.25 = 1.3 - 0.05, exactly
    scale = {"min": 0, "max": 2.5}
    for n in ({"n": None, "reason_n": "x"}, {"n": 2}):
        assert _check(_point(scale, **n, mean=1.25, sd=1.3, sd_kind="se")) == []
        assert [f[1] for f in _check(_point(scale, **n, mean=1.25, sd=1.4, sd_kind="se"))] == [
            "sd-impossible"]


LOOKS_LIKE_SE = ("sd {sd} is under 10% of the largest SD possible at mean {mean} on 0 to 10 "
                 "({cap}) and, read as an SE, implies a possible SD: set sd_kind: se if the "
                 "source says so, or accept it with a reason")


def test_looks_like_se_reads_n_before_the_arm_size():
    # n = 40 of 150 patients: read as an SE, 0.42 implies SD 2.6 (possible): it warns
    found = _check([*_patients(150), ((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.42)])
    assert found == [(f"{F_TP0}.sd", "sd-looks-like-se", "warning",
                      LOOKS_LIKE_SE.format(sd=0.42, mean=5.0, cap="5.06"))]
    # n unknown: the arm's 150 patients, under which 0.42 * sqrt(150) = 5.08 is impossible
    assert _check([*_patients(150), ((*TP0, "n"), None), ((*TP0, "reason_n"), "x"),
                   ((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.42)]) == []


def test_looks_like_se_against_the_sample_bound():
    # n = 150: read as an SE, 0.409 (at least 0.4085) implies SD 5.003, under the sample bound
    # 5 * sqrt(150 / 149) = 5.017: possible, so it warns
    assert 5.0 / checks._sample(150) < 0.4085 * math.sqrt(150) < 5.0 * checks._sample(150)
    found = _check([*_patients(150), ((*TP0, "n"), 150), ((*TP0, "mean"), 5.0),
                    ((*TP0, "sd"), Raw("0.409"))])
    assert found == [(f"{F_TP0}.sd", "sd-looks-like-se", "warning",
                      LOOKS_LIKE_SE.format(sd=0.409, mean=5.0, cap="5.02"))]


def test_looks_like_se_when_the_se_reading_reaches_the_bound():
    # mean 1.5, n = 125: read as an SE, 0.33 (at least 0.325) implies exactly the largest SD,
    # which is possible: it warns
    low = 0.33 - 0.005
    assert low * math.sqrt(125) == checks._widest(1.5, 0.05, 0, 10) * checks._sample(125)
    found = _check([*_patients(125), ((*TP0, "n"), 125), ((*TP0, "mean"), 1.5),
                    ((*TP0, "sd"), 0.33)])
    assert [f[:3] for f in found] == [(f"{F_TP0}.sd", "sd-looks-like-se", "warning")]
