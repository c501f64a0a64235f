"""Every validation rule at its boundary: the first invalid value, the last valid value and the
equality case, each built by mutating the valid fixture, so that valid data provably stays
clean. ``test_every_check_code_has_boundary_cases`` keeps the list complete."""

from __future__ import annotations

import ast
import copy
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from blastic_meta.registry import checks, cohorts, findings
from blastic_meta.registry.findings import CODES
from blastic_meta.registry.validation import SCHEMA_COMMENT, validate_studies
from blastic_meta.registry.yamlio import dump_yaml, parse_yaml

DATA = Path(__file__).parent / "data"
BIB = DATA / "references.bib"
BASE = parse_yaml((DATA / "valid" / "fixture2020.yaml").read_bytes()).data
TWIN = parse_yaml((DATA / "extra" / "twin2021.yaml").read_bytes()).data

DELETE = object()


class Raw(str):
    """A number written exactly as given (so its printed decimals are known)."""


A = ("arms", 0)
TP0 = (*A, "outcomes", 0, "timepoints", 0)  # VAS 0-10 (integer), n 40, mean 7.25, sd 1.5
TP1 = (*A, "outcomes", 0, "timepoints", 1)  # days 7
TP2 = (*A, "outcomes", 0, "timepoints", 2)  # days 90, n 36, mean 2.5, min 0, max 6
ODI = (*A, "outcomes", 1)
ODI0 = (*ODI, "timepoints", 0)  # ODI 0-100: median 60, q1 50, q3 70
LEAK = (*A, "leakage", 0)  # 13/50 vertebrae, percent 26.0
COMP = (*A, "complications", 0)  # 0/40 patients
RESP = (*A, "responders", 0)  # 30/40 patients
REASON = "checked against Table 2"


def bd_max(mean: float, lo: float, hi: float, n: int | None = None) -> float:
    """Bhatia and Davis (2000): the largest SD of n values on [lo, hi] with this mean."""
    bound = math.sqrt((mean - lo) * (hi - mean))
    return bound * math.sqrt(n / (n - 1)) if n else bound


def _set(data: Any, path: tuple, value: Any) -> None:
    *parents, last = path
    for part in parents:
        data = data[part]
    if value is DELETE:
        del data[last]
    else:
        data[last] = copy.deepcopy(value)


def _text(base: dict, edits: list[tuple[tuple, Any]]) -> str:
    data = copy.deepcopy(base)
    raws: dict[str, str] = {}

    def tokens(value: Any) -> Any:
        if isinstance(value, Raw):
            token = f"RAW{len(raws)}X"
            raws[token] = str(value)
            return token
        if isinstance(value, dict):
            return {k: tokens(v) for k, v in value.items()}
        return value

    for path, value in edits:
        _set(data, path, tokens(value))
    text = SCHEMA_COMMENT + "\n" + dump_yaml(data)
    for token, raw in raws.items():
        assert text.count(token) == 1
        text = text.replace(token, raw)
    return text


def _findings(tmp_path: Path, edits: list, twin: list | None = None) -> list:
    (tmp_path / "fixture2020.yaml").write_text(_text(BASE, edits), encoding="utf-8")
    if twin is not None:
        (tmp_path / "twin2021.yaml").write_text(_text(TWIN, twin), encoding="utf-8")
    return validate_studies(tmp_path, BIB)


class Case(NamedTuple):
    code: str
    kind: str  # "invalid", "last valid" or "equal" (valid ones must give no finding at all)
    edits: list
    severity: str = "error"
    twin: list | None = None
    valid: bool | None = None  # overrides the kind (an equality that is invalid)

    @property
    def is_valid(self) -> bool:
        return self.kind != "invalid" if self.valid is None else self.valid


def _secondary(data: Any, skip: tuple = ()) -> list:
    """Edits giving every located mapping a via (except the one at ``skip``)."""
    edits: list = [(("source_access",), "secondary_only"),
                   (("appraisal", "appraised_from"), "secondary_only")]

    def walk(node: Any, where: tuple) -> None:
        if isinstance(node, dict):
            if node.get("source") is not None and where != skip:
                edits.append(((*where, "via"), "secondary2019"))
            for key, value in node.items():
                walk(value, (*where, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*where, i))

    walk(data, ())
    return edits


def _odi(**values: Any) -> list:
    """The ODI time point replaced by a mean/SD time point on a 0-24 scale."""
    point = {"label": "baseline", "days": 0, "source": "Table 3", **values}
    return [((*ODI, "scale"), {"min": 0, "max": 24}), (ODI0, point)]


def _alt(values: dict, path: str = "arms[0].leakage[0]") -> dict:
    """A discrepancy whose alternative value (14 leaks) is printed in its values."""
    return {"item": "leaks", "values": [{"value": "13/50", "source": "Results"},
                                        {"value": "14/50", "source": "Discussion"}],
            "used": "13/50", "reason": "the results are the primary report",
            "alternative": {path: values}}


_TWIN_ARM = {"lesion_type": "osteoblastic", "vertebrae": {"value": 45, "source": "Abstract"}}
_TWIN = [(("procedure",), "PVP"), (("setting", "centre"), "Other Hospital"),
         *(((("arms", 0, k)), v) for k, v in _TWIN_ARM.items())]


CASES = [
    # -- counts
    Case("events-exceed-total", "invalid", [((*LEAK, "events"), 51)]),
    Case("events-exceed-total", "equal", [((*LEAK, "events"), 50), ((*LEAK, "percent"), 100.0)]),
    Case("events-exceed-total", "last valid",
         [((*LEAK, "events"), 49), ((*LEAK, "percent"), 98.0)]),
    Case("events-exceed-total", "invalid", [((*RESP, "events"), 41)]),
    Case("events-exceed-total", "equal", [((*RESP, "events"), 40), ((*RESP, "percent"), 100.0)]),
    Case("events-exceed-total", "invalid", [((*LEAK, "symptomatic", "events"), 14)]),
    Case("events-exceed-total", "equal", [((*LEAK, "symptomatic", "events"), 13)]),
    Case("events-exceed-total", "invalid",
         [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
          ((*LEAK, "candidate_totals"), {"vertebra": 12, "patient": 13})]),
    Case("events-exceed-total", "equal",
         [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
          ((*LEAK, "candidate_totals"), {"vertebra": 13, "patient": 13})]),
    Case("n-exceeds-patients", "invalid", [((*TP2, "n"), 41)]),
    Case("n-exceeds-patients", "equal", [((*TP2, "n"), 40)]),
    Case("n-exceeds-patients", "last valid", [((*TP2, "n"), 39)]),
    Case("n-exceeds-patients", "invalid", [((*A, "follow_up", "n"), 41)]),
    Case("n-exceeds-patients", "equal", [((*A, "follow_up", "n"), 40)]),
    Case("n-exceeds-patients", "invalid", [((*COMP, "total"), 41)]),
    Case("n-exceeds-patients", "equal", [((*COMP, "total"), 40)]),
    Case("n-exceeds-patients", "invalid",
         [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
          ((*LEAK, "candidate_totals"), {"patient": 41})]),
    Case("n-exceeds-patients", "equal",
         [((*LEAK, "unit"), "ambiguous"), ((*LEAK, "candidate_units"), ["vertebra", "patient"]),
          ((*LEAK, "candidate_totals"), {"patient": 40})]),
    Case("total-exceeds-vertebrae", "invalid", [((*LEAK, "total"), 51)]),
    Case("total-exceeds-vertebrae", "equal", [((*LEAK, "total"), 50)]),
    Case("total-exceeds-vertebrae", "last valid",
         [((*LEAK, "total"), 49), ((*LEAK, "percent"), 26.5)]),  # 13/49 = 26.53%
    Case("vertebrae-fewer-than-patients", "invalid", [((*A, "vertebrae", "value"), 39)]),
    Case("vertebrae-fewer-than-patients", "equal",
         [((*A, "vertebrae", "value"), 40), ((*LEAK, "total"), 40), ((*LEAK, "percent"), 32.5)]),
    Case("sum-exceeds-patients", "invalid", [((*A, "sex", "male"), 23)]),
    Case("sum-exceeds-patients", "equal", [((*A, "sex", "male"), 23), ((*A, "sex", "female"), 17)]),
    Case("sum-exceeds-patients", "invalid",
         [((*A, "primary_tumours", "counts", "lung"), 21)], "warning"),
    Case("sum-exceeds-patients", "last valid", [((*A, "primary_tumours", "counts", "lung"), 19)]),
    # -- percentages: 1/16 = 6.25% printed with one decimal (rounded or truncated), 1/8 = 12.5%
    # printed as a whole number
    *(Case("percent-mismatch", kind, [((*COMP, "events"), 1), ((*COMP, "total"), 16),
                                      ((*COMP, "percent"), printed)])
      for kind, printed in (("equal", 6.25), ("last valid", 6.3), ("last valid", 6.2),
                            ("invalid", 6.4), ("invalid", 6.1))),
    *(Case("percent-mismatch", kind, [((*COMP, "events"), 1), ((*COMP, "total"), 8),
                                      ((*COMP, "percent"), printed)])
      for kind, printed in (("equal", 12.5), ("last valid", 13), ("last valid", 12),
                            ("invalid", 14), ("invalid", 11))),
    Case("percent-mismatch", "equal",
         [((*LEAK, "percent"), {"value": 26.0, "source": "Discussion"})]),
    Case("percent-mismatch", "invalid",
         [((*LEAK, "percent"), {"value": 26.1, "source": "Discussion"})]),
    # -- ranges and scales
    Case("mean-outside-range", "equal", [((*TP2, "mean"), 6.0)]),
    Case("mean-outside-range", "invalid", [((*TP2, "mean"), 6.1)]),
    Case("mean-outside-range", "equal", [((*TP2, "min"), 2.5)]),
    Case("mean-outside-range", "invalid", [((*TP2, "min"), 2.6)]),
    Case("mean-outside-range", "equal", [((*ODI0, "median"), 50.0)]),
    Case("mean-outside-range", "invalid", [((*ODI0, "median"), 49.9)]),
    Case("mean-outside-range", "equal", [((*ODI0, "median"), 70.0)]),
    Case("mean-outside-range", "invalid", [((*ODI0, "median"), 70.1)]),
    Case("mean-outside-range", "equal", [((*A, "follow_up", "min"), 12.0)]),
    Case("range", "equal", [((*A, "follow_up", "min"), 12.0), ((*A, "follow_up", "max"), 12.0)]),
    Case("range", "invalid", [((*A, "follow_up", "min"), 12.5), ((*A, "follow_up", "max"), 12.0)]),
    Case("range", "equal", [((*ODI0, "q1"), 60.0), ((*ODI0, "q3"), 60.0)]),
    Case("range", "invalid", [((*ODI0, "q1"), 60.5), ((*ODI0, "q3"), 60.0)]),
    Case("range", "equal", [((*COMP, "events"), 40),
                            ((*COMP, "percent"), {"value": 100.0, "source": "Results"})]),
    Case("range", "invalid", [((*COMP, "events"), 40),
                              ((*COMP, "percent"), {"value": 100.5, "source": "Results"})]),
    Case("value-outside-scale", "equal", [((*TP2, "max"), 10)]),
    Case("value-outside-scale", "invalid", [((*TP2, "max"), 10.5)]),
    Case("value-outside-scale", "invalid", [((*TP2, "min"), -0.5)]),
    Case("value-outside-scale", "equal", [((*ODI, "scale"), {"min": 50, "max": 70})]),
    Case("value-outside-scale", "invalid", [((*ODI, "scale"), {"min": 50.5, "max": 70})]),
    Case("scale-range", "equal", [((*ODI, "scale"), {"min": 70, "max": 70})], valid=False),
    Case("scale-range", "last valid", [((*ODI, "scale"), {"min": 50, "max": 70})]),
    # -- GRIM (Brown and Heathers 2017): n = 40 whole-number scores; 291/40 = 7.275
    Case("grim", "equal", [((*TP0, "mean"), 7.25)]),
    Case("grim", "last valid", [((*TP0, "mean"), 7.27)]),
    Case("grim", "last valid", [((*TP0, "mean"), 7.28)]),
    Case("grim", "invalid", [((*TP0, "mean"), 7.26)]),
    Case("grim", "invalid", [((*TP0, "mean"), 7.24)]),
    Case("grim", "invalid", [((*TP0, "n"), 9), ((*TP0, "mean"), 7.5)]),  # 67/9, 68/9
    Case("grim", "last valid", [((*TP0, "n"), 10), ((*TP0, "mean"), 7.5)]),
    # -- SD bound (Bhatia and Davis 2000): mean 5.0 on 0-10 with n = 40 allows 5.0637
    Case("sd-impossible", "last valid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 5.06)]),
    Case("sd-impossible", "invalid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 5.07)]),
    # mean 4 on 0-24 with n = 5: exactly 10
    Case("sd-impossible", "equal", _odi(n=5, mean=Raw("4.0000"), sd=Raw("10.0000"),
                                        sd_kind="sd")),
    Case("sd-impossible", "invalid", _odi(n=5, mean=Raw("4.0000"), sd=Raw("10.0002"),
                                          sd_kind="sd")),
    # n unknown: the loosest bound (n = 2), 8.94428 * sqrt(2) = 12.64917 (mean up to 4.00005)
    Case("sd-impossible", "last valid", _odi(n=None, reason_n="x", mean=Raw("4.0000"),
                                             sd=Raw("12.6492"), sd_kind="sd")),
    Case("sd-impossible", "invalid", _odi(n=None, reason_n="x", mean=Raw("4.0000"),
                                          sd=Raw("12.6493"), sd_kind="sd")),
    # an SE implies SD = SE * sqrt(n): 10 / sqrt(5) = 4.4721360 (10.00005 at mean 4.00005)
    Case("sd-impossible", "equal", _odi(n=5, mean=Raw("4.0000"), sd=Raw("4.4721360"),
                                        sd_kind="se")),
    Case("sd-impossible", "last valid", _odi(n=5, mean=Raw("4.0000"), sd=Raw("4.4722"),
                                             sd_kind="se")),
    Case("sd-impossible", "invalid", _odi(n=5, mean=Raw("4.0000"), sd=Raw("4.4723"),
                                          sd_kind="se")),
    Case("sd-impossible", "invalid", [((*TP0, "mean"), 7.35), ((*TP0, "n"), 40),
                                      ((*TP0, "sd"), 0.72), ((*TP0, "sd_kind"), "se")]),
    Case("sd-impossible", "last valid", [((*TP0, "mean"), 7.35), ((*TP0, "sd"), 0.71),
                                         ((*TP0, "sd_kind"), "se")]),
    # n unknown: no SE exceeds the population bound (8.94430 at mean 4.00005)
    Case("sd-impossible", "last valid", _odi(n=None, reason_n="x", mean=Raw("4.0000"),
                                             sd=Raw("8.9443"), sd_kind="se")),
    Case("sd-impossible", "invalid", _odi(n=None, reason_n="x", mean=Raw("4.0000"),
                                          sd=Raw("8.9444"), sd_kind="se")),
    # -- SDs that look like SEs: under a tenth of 5.0637 (mean 5.0, n = 40)
    Case("sd-looks-like-se", "last valid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.51)]),
    Case("sd-looks-like-se", "invalid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.50)],
         "warning"),
    Case("sd-looks-like-se", "invalid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.50),
                                         ((*TP0, "sd_kind"), "unlabelled")], "warning"),
    Case("sd-looks-like-se", "last valid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.2),
                                            ((*TP0, "sd_kind"), "se")]),
    # no n and no patients: the bound is 5 exactly, a tenth 0.5
    *(Case("sd-looks-like-se", kind, [((*A, "patients"), {"value": None, "reason": "x"}),
                                      ((*TP0, "n"), None), ((*TP0, "reason_n"), "x"),
                                      ((*TP0, "mean"), 5.0), ((*TP0, "sd"), sd)],
           "warning")
      for kind, sd in (("equal", 0.5), ("invalid", 0.49))),
    # 150 patients: read as an SE, 0.42 would imply SD 5.08 > 5.017 (impossible): an SD
    *(Case("sd-looks-like-se", kind, [((*A, "patients", "value"), 150),
                                      ((*A, "vertebrae", "value"), 150),
                                      ((*TP0, "n"), 150), ((*TP0, "mean"), 5.0),
                                      ((*TP0, "sd"), sd)], "warning")
      for kind, sd in (("last valid", 0.42), ("invalid", 0.41))),
    # the reported false alarm: an ODI SD of 4.87 on 0-100
    Case("sd-looks-like-se", "last valid",
         [(ODI0, {"label": "baseline", "days": 0, "n": 40, "mean": 30.0, "sd": 4.87,
                  "sd_kind": "sd", "source": "Table 3"})]),
    # -- time points
    Case("timepoints-unordered", "equal", [((*TP1, "days"), 0)], valid=False),
    Case("timepoints-unordered", "last valid", [((*TP1, "days"), 1)]),
    Case("timepoints-unordered", "invalid", [((*TP1, "days"), -1)]),
    Case("timepoints-unordered", "last valid", [((*TP0, "days"), -2)]),
    Case("days-missing", "invalid", [((*TP2, "days"), None)]),
    Case("days-missing", "last valid", [((*TP2, "days"), None), ((*TP2, "days_reason"), "x")]),
    Case("days-missing", "invalid", [((*RESP, "days"), None)]),
    Case("days-missing", "last valid", [((*RESP, "days"), None), ((*RESP, "days_reason"), "x")]),
    Case("n-missing-reason", "invalid", [((*TP2, "n"), None)], "warning"),
    Case("n-missing-reason", "last valid", [((*TP2, "n"), None), ((*TP2, "reason_n"), "x")]),
    Case("negative-count", "equal", [((*COMP, "events"), 0)]),
    Case("negative-count", "invalid", [((*COMP, "events"), -1)]),
    Case("sd-not-positive", "last valid", [((*A, "age", "sd"), 0.01)]),
    Case("sd-not-positive", "equal", [((*A, "age", "sd"), 0.0)], valid=False),
    Case("scale-missing", "invalid", [((*A, "outcomes", 0, "scale"), DELETE)], "warning"),
    Case("scale-missing", "invalid", [((*A, "outcomes", 0, "scale"), DELETE),
                                      ((*A, "outcomes", 0, "instrument"), "NRS")], "warning"),
    Case("scale-missing", "last valid", [((*A, "outcomes", 0, "scale"),
                                          {"min": None, "max": None, "reason": "x"})]),
    Case("scale-missing", "last valid", [((*ODI, "scale"), DELETE)]),
    # -- structure of the file
    Case("required", "invalid", [((*A, "follow_up"), DELETE)]),
    Case("required", "last valid", [((*A, "follow_up"),
                                     {"unit": "months", "mean": None, "reason": "x"})]),
    Case("candidate-units", "invalid", [((*LEAK, "unit"), "ambiguous"),
                                        ((*LEAK, "candidate_units"), ["vertebra", "vertebra"])]),
    Case("candidate-units", "last valid", [((*LEAK, "unit"), "ambiguous"),
                                           ((*LEAK, "candidate_units"), ["vertebra", "patient"])]),
    Case("narrative-arm", "invalid", [(("narrative", 0, "direction"), "favours_blastix")]),
    Case("narrative-arm", "last valid", [(("narrative", 0, "direction"), "favours_blastic")]),
    Case("narrative-arm", "invalid", [(("narrative", 0, "arms"), ["blastic", "lytic"])]),
    Case("narrative-arm", "last valid", [(("narrative", 0, "arms"), ["blastic"])]),
    Case("declared-field-unknown", "last valid",
         [(("ambiguities",), [{"about": "x", "fields": ["arms[0].leakage[0]"]}])]),
    Case("declared-field-unknown", "invalid",
         [(("ambiguities",), [{"about": "x", "fields": ["arms[0].leakage[1]"]}])], "warning"),
    Case("alternative-path", "last valid", [(("discrepancies",), [_alt({"events": 14})])]),
    Case("alternative-path", "invalid",
         [(("discrepancies",), [_alt({"events": 14}, "arms[0].leakage[3]")])]),
    Case("alternative-path", "invalid",
         [(("discrepancies",), [_alt({"eventz": 14})])]),
    Case("via-expected", "last valid", _secondary(BASE)),
    Case("via-expected", "invalid", _secondary(BASE, skip=TP2), "warning"),
    # -- cohorts: arms within 10% (40 vs 36 patients, 50 vs 45 vertebrae) look alike
    Case("possible-duplicate-cohort", "equal", [], "warning",
         twin=[*_TWIN, (("arms", 0, "patients", "value"), 36)], valid=False),
    Case("possible-duplicate-cohort", "last valid", [],
         twin=[*_TWIN, (("arms", 0, "patients", "value"), 35)]),
    Case("overlap-unknown-study", "last valid",
         [(("known_overlap",), [{"study": "twin2021", "note": "x", "relation": "distinct"}])],
         twin=[]),
    Case("overlap-unknown-study", "invalid",
         [(("known_overlap",), [{"study": "ghost2000", "note": "x"}])], "warning"),
    # -- acceptances (the accepted warning itself is tested below)
    Case("accept-unused", "invalid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.51),
                                      ((*TP0, "accept"), [{"check": "sd-looks-like-se",
                                                           "reason": REASON}])], "warning"),
    Case("accept-unused", "last valid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.50),
                                         ((*TP0, "accept"), [{"check": "sd-looks-like-se",
                                                              "reason": REASON}])]),
    Case("accept-unknown-check", "invalid",
         [((*TP0, "accept"), [{"check": "sd-looks-like-sd", "reason": REASON}])]),
    Case("accept-unknown-check", "last valid", [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.50),
                                                ((*TP0, "accept"), [{"check": "sd-looks-like-se",
                                                                     "reason": REASON}])]),
    # a declared error is a warning, so it can be accepted
    Case("accept-not-warning", "last valid",
         [((*TP2, "n"), 41), ((*TP2, "ambiguous"), True),
          ((*TP2, "accept"), [{"check": "n-exceeds-patients", "reason": REASON}])]),
    Case("accept-not-warning", "invalid",
         [((*TP2, "n"), 41), ((*TP2, "accept"), [{"check": "n-exceeds-patients",
                                                  "reason": REASON}])]),
    Case("accept-not-warning", "invalid",
         [((*TP2, "accept"), [{"check": "timepoints-unordered", "reason": REASON}])]),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{c.kind}-{i}"
                                             for i, c in enumerate(CASES)])
def test_boundary(case, tmp_path):
    found = _findings(tmp_path, case.edits, case.twin)
    hits = [f for f in found if f.code == case.code]
    if case.is_valid:
        shown = [str(f) for f in found if f.severity != "accepted"]
        assert shown == [], f"valid data must stay clean ({case.kind})"
    else:
        assert hits, [str(f) for f in found]
        assert {f.severity for f in hits} == {case.severity}


def test_boundary_values_straddle_the_formulas():
    """The printed values above sit where the published formulas put the boundaries."""
    assert 5.06 - 0.005 <= bd_max(5.0, 0, 10, 40) < 5.07 - 0.005
    assert bd_max(4.0, 0, 24, 5) == pytest.approx(10.0, abs=1e-12)
    assert bd_max(4.00005, 0, 24, 5) < 10.0002 - 0.00005
    assert 12.6492 - 0.00005 <= bd_max(4.00005, 0, 24, 2) < 12.6493 - 0.00005
    assert (4.4722 - 0.00005) * math.sqrt(5) <= bd_max(4.00005, 0, 24, 5)
    assert (4.4723 - 0.00005) * math.sqrt(5) > bd_max(4.00005, 0, 24, 5)
    assert 8.9443 - 0.00005 <= bd_max(4.00005, 0, 24) < 8.9444 - 0.00005
    assert (0.71 - 0.005) * math.sqrt(40) <= bd_max(7.345, 0, 10, 40)
    assert (0.72 - 0.005) * math.sqrt(40) > bd_max(7.345, 0, 10, 40)
    assert 0.50 < 0.1 * bd_max(5.0, 0, 10, 40) < 0.51
    assert (0.41 - 0.005) * math.sqrt(150) <= bd_max(5.0, 0, 10, 150)
    assert (0.42 - 0.005) * math.sqrt(150) > bd_max(5.0, 0, 10, 150)
    assert 0.1 * bd_max(30.0, 0, 100, 40) < 4.87
    assert abs(291 / 40 - 7.27) <= 0.005 + 1e-12 and abs(291 / 40 - 7.28) <= 0.005 + 1e-12
    assert min(abs(k / 40 - 7.26) for k in range(280, 300)) > 0.005
    assert min(abs(k / 9 - 7.5) for k in range(60, 75)) > 0.05


def test_se_of_the_issue_is_impossible(tmp_path):
    # SE 0.78 with n = 43 at mean 7.35 on 0-10 implies SD 5.11 > 4.47
    found = _findings(tmp_path, [((*A, "patients", "value"), 43), ((*TP0, "n"), 43),
                                 ((*TP0, "mean"), 7.35), ((*TP0, "sd"), 0.78),
                                 ((*TP0, "sd_kind"), "se")])
    (hit,) = [f for f in found if f.code == "sd-impossible"]
    assert hit.field == "arms[0].outcomes[0].timepoints[0].sd" and "5.11" in hit.message


def _code_literals(module: Any) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", node.value)}


def test_every_check_code_has_boundary_cases():
    used = _code_literals(checks) | _code_literals(cohorts) | {
        c for c in _code_literals(findings) if c.startswith("accept-")}
    assert used <= CODES, f"codes missing from findings.CODES: {sorted(used - CODES)}"
    kinds: dict[str, set[str]] = {}
    for case in CASES:
        kinds.setdefault(case.code, set()).add("invalid" if not case.is_valid else "valid")
    untested = sorted(c for c in used if kinds.get(c) != {"invalid", "valid"})
    assert untested == [], "each code needs a valid and an invalid boundary case"


def test_accepted_warning_is_counted_not_shown(tmp_path):
    found = _findings(tmp_path, [((*TP0, "mean"), 5.0), ((*TP0, "sd"), 0.50),
                                 ((*TP0, "accept"), [{"check": "sd-looks-like-se",
                                                      "reason": REASON}])])
    (hit,) = found
    assert (hit.code, hit.severity, hit.reason) == ("sd-looks-like-se", "accepted", REASON)
    assert str(hit).endswith(f"(accepted: {REASON}) [sd-looks-like-se]")
    assert hit.to_dict()["reason"] == REASON


def test_declared_error_can_be_accepted_on_its_own_mapping_only(tmp_path):
    declared = [{"item": "leakage percentage", "values": [
        {"value": "27.5%", "source": "Discussion"}, {"value": "13/50", "source": "Results"}],
        "used": "13/50", "reason": "counts are primary",
        "fields": ["arms[0].leakage[0].percent"]}]
    accept = [{"check": "percent-mismatch", "reason": "declared in discrepancies"}]
    percent = {"value": 27.5, "source": "Discussion"}
    on_value = _findings(tmp_path, [(("discrepancies",), declared),
                                    ((*LEAK, "percent"), {**percent, "accept": accept})])
    assert [(f.code, f.severity) for f in on_value] == [("percent-mismatch", "accepted")]
    # the entry's accept does not reach into its percent mapping: the warning stays, and the
    # acceptance is reported as unused
    on_parent = _findings(tmp_path, [(("discrepancies",), declared),
                                     ((*LEAK, "percent"), percent), ((*LEAK, "accept"), accept)])
    assert sorted((f.code, f.severity) for f in on_parent) == [
        ("accept-unused", "warning"), ("percent-mismatch", "warning")]


def test_an_error_stays_an_error_when_accepted(tmp_path):
    found = _findings(tmp_path, [((*TP2, "n"), 41), ((*TP2, "accept"), [
        {"check": "n-exceeds-patients", "reason": REASON}])])
    assert sorted((f.code, f.severity) for f in found) == [
        ("accept-not-warning", "error"), ("n-exceeds-patients", "error")]


def test_acceptance_needs_a_reason(tmp_path):
    found = _findings(tmp_path, [((*TP0, "accept"), [{"check": "sd-looks-like-se"}])])
    assert [(f.code, f.field) for f in found] == [
        ("required", "arms[0].outcomes[0].timepoints[0].accept[0].reason")]
