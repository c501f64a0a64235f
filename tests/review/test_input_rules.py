"""The study-level rules on their own: what a study file says about verification, access and
vertebrae per patient; which cohorts may be duplicates; the design effect; multi-arm studies."""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import pandas as pd
import pytest

from blastic_meta import load_protocol
from blastic_meta.review.input_rules import (
    StudyInfo,
    apply_study_rules,
    combine_arms,
    design_effect,
    duplicate_pairs,
    exclude_derived,
    is_derived,
    study_info,
)


@pytest.fixture(scope="module")
def protocol(repo_root):
    return load_protocol(repo_root / "evidence" / "protocol.yaml")


def _count(value):
    return NS(value=value)


def _arm(patients, vertebrae=None):
    return NS(patients=_count(patients),
              vertebrae=None if vertebrae is None else _count(vertebrae))


def _record(key, arms, *, totals=None, identity=None, access="full_text", overlap=()):
    return NS(key=key, arms=arms, study_totals=totals, identity=identity,
              source_access=access, known_overlap=overlap)


def test_vertebrae_per_patient_prefers_the_study_totals():
    rec = _record("a2001", [_arm(10, 30)],
                  totals=NS(patients=_count(20), vertebrae=_count(50)))
    assert study_info([rec])["a2001"].vertebrae_per_patient == 2.5


def test_vertebrae_per_patient_from_the_arms_that_report_both():
    rec = _record("b2002", [_arm(10, 15), _arm(30, 45), _arm(7)])
    assert study_info([rec])["b2002"].vertebrae_per_patient == 60 / 40


@pytest.mark.parametrize("totals", [None, NS(patients=_count(20), vertebrae=None),
                                    NS(patients=_count(0), vertebrae=_count(5)),
                                    NS(patients=_count(None), vertebrae=_count(5))])
def test_incomplete_totals_fall_back_to_the_arms(totals):
    rec = _record("c2003", [_arm(4, 6)], totals=totals)
    assert study_info([rec])["c2003"].vertebrae_per_patient == 1.5


def test_no_counts_no_ratio_and_zero_patients_is_no_ratio():
    assert study_info([_record("d2004", [_arm(9)])])["d2004"].vertebrae_per_patient is None
    assert study_info([_record("d2005", [_arm(0, 4)])])["d2005"].vertebrae_per_patient is None


def test_identity_and_access_are_read_from_the_record():
    plain = _record("e2005", [_arm(5)], access="abstract")
    doubtful = _record("f2006", [_arm(5)],
                       identity=NS(verified=False, reason="no DOI; title only"))
    info = study_info([plain, doubtful])
    assert info["e2005"] == StudyInfo("e2005", "abstract", True, None, None)
    assert info["f2006"].verified is False
    assert info["f2006"].verification_note == "no DOI; title only"
    assert info["f2006"].source_access == "full_text"


def test_duplicate_pairs_from_declarations_and_findings():
    recs = [_record("g2007", [], overlap=(NS(relation="possible", study="h2008"),
                                          NS(relation="same", study="i2009"),
                                          NS(relation="possible", study="g2007"))),
            _record("h2008", [], overlap=(NS(relation="possible", study="g2007"),))]
    findings = [NS(code="possible-duplicate-cohort", path="studies/k2011.yaml",
                   message="possible duplicate cohort with j2010 (same authors, 40 patients)"),
                NS(code="possible-duplicate-cohort", path="studies\\k2011.yml",
                   message="possible duplicate cohort with k2011"),
                NS(code="another-code", path="studies/m2013.yaml",
                   message="possible duplicate cohort with n2014")]
    assert duplicate_pairs(recs, findings) == [("g2007", "h2008"), ("j2010", "k2011")]


def _rows(**columns):
    n = len(next(iter(columns.values())))
    base = {"arm": ["all"] * n, "arm_label": [None] * n, "group": ["osteolytic"] * n,
            "procedure": ["PVP"] * n, "reason": [None] * n, "flags": [()] * n,
            "patients": [None] * n, "vertebrae": [None] * n}
    base.update(columns)
    return pd.DataFrame(base)


def test_design_effect_from_the_arm_then_the_study(protocol):
    frame = _rows(study=["p2015", "q2016", "r2017"], events=[10, 6, 3], total=[40, 30, 20],
                  patients=[20, None, None], vertebrae=[40, None, None])
    info = {"q2016": StudyInfo("q2016", "full_text", True, None, 3.0)}
    out = design_effect(frame, protocol, icc=0.2, info=info)
    p, q, r = (out.iloc[i] for i in range(3))
    assert p["design_effect"] == pytest.approx(1.2) and p["cluster_size"] == 2.0
    assert p["events"] == pytest.approx(10 / 1.2) and p["total"] == pytest.approx(40 / 1.2)
    assert p["events_observed"] == 10 and "arm; ICC 0.2" in p["flags"][-1]
    assert q["design_effect"] == pytest.approx(1.4) and "whole study" in q["flags"][-1]
    assert r["reason"].startswith("patients or vertebrae not reported")
    assert math.isnan(r["design_effect"])
    # ICC 0 is no adjustment at all, and the default ICC is the protocol's
    none = design_effect(frame.iloc[:1], protocol, icc=0.0)
    assert none.iloc[0]["events"] == 10 and none.iloc[0]["design_effect"] == 1.0
    default = design_effect(frame.iloc[:1], protocol)
    icc = protocol.unit_of_analysis.icc
    assert default.iloc[0]["design_effect"] == pytest.approx(1 + icc)


def test_design_effect_leaves_excluded_rows_alone(protocol):
    frame = _rows(study=["s2018"], events=[2], total=[8], patients=[4], vertebrae=[8],
                  reason=["unit not stated"])
    out = design_effect(frame, protocol)
    assert out.iloc[0]["events"] == 2 and out.iloc[0]["reason"] == "unit not stated"


def test_arms_in_one_group_add_up_for_proportions(protocol):
    frame = _rows(study=["t2019", "t2019", "u2020"], arm=["kp", "vp", "all"],
                  arm_label=["PKP arm", None, None], procedure=["PKP", "PVP", "PVP"],
                  events=[3, 5, 1], total=[20, 30, 10], n=[20, 30, 10],
                  patients=[15, 25, 10], vertebrae=[20, 30, 10],
                  flags=[("a",), ("a", "b"), ()], events_observed=[3, 5, 1],
                  total_observed=[20, 30, 10])
    out = combine_arms(frame, protocol.analysis("leak_patient"), protocol)
    assert len(out) == 2
    t = out[out["study"] == "t2019"].iloc[0]
    assert (t["events"], t["total"], t["n"], t["patients"], t["vertebrae"]) == (8, 50, 50, 40,
                                                                              50)
    assert (t["events_observed"], t["total_observed"]) == (8, 50)
    assert out["events"].dtype.kind == "i"  # whole counts stay whole (printed as 8, not 8.0)
    # counts deflated by a design effect are not whole, and stay as they are
    deflated = frame.assign(events=[1.5, 2.25, 1.0], total=[10.0, 12.5, 10.0])
    d = combine_arms(deflated, protocol.analysis("leak_patient"), protocol)
    assert d[d["study"] == "t2019"].iloc[0]["events"] == pytest.approx(3.75)
    assert t["arm"] == "kp+vp" and t["procedure"] == "PKP+PVP"
    assert t["flags"] == ("a", "b", "arms combined into one study: PKP arm, vp")


def test_arms_in_one_group_combine_scores_by_the_handbook(protocol):
    frame = _rows(study=["w2021", "w2021"], arm=["a", "b"], arm_label=["Arm A", "Arm B"],
                  n=[10, 30], days=[30, 28], mean_pre=[7.0, 8.5], sd_pre=[1.5, 2.0],
                  mean_post=[3.0, 2.0], sd_post=[1.5, 1.2], patients=[10, None])
    out = combine_arms(frame, protocol.analysis("vas_1m"), protocol)
    row = out.iloc[0]
    assert len(out) == 1 and row["n"] == 40 and row["patients"] is None
    assert row["arm"] == "a+b" and row["arm_label"] == "Arm A + Arm B"
    assert row["days"] == 30  # study-level fields come from the first arm

    def combined(n1, m1, s1, n2, m2, s2):  # Cochrane Handbook Table 6.5.a, written out
        n = n1 + n2
        mean = (n1 * m1 + n2 * m2) / n
        var = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2 + n1 * n2 / n * (m1 - m2) ** 2) / (n - 1)
        return mean, math.sqrt(var)

    assert (row["mean_pre"], row["sd_pre"]) == pytest.approx(combined(10, 7.0, 1.5,
                                                                      30, 8.5, 2.0))
    assert (row["mean_post"], row["sd_post"]) == pytest.approx(combined(10, 3.0, 1.5,
                                                                        30, 2.0, 1.2))


def test_the_largest_arm_rule_keeps_one(protocol):
    largest = protocol.with_changes({"unit_of_analysis": {"multi_arm": "largest"}})
    frame = _rows(study=["x2022", "x2022", "y2023", "y2023"], arm=["a", "b", "c", "d"],
                  events=[1, 2, 3, 4], total=[10, 12, 30, 20], n=[10, 12, 30, None])
    out = combine_arms(frame, largest.analysis("leak_patient"), largest)
    # every study gets the rule; an arm of unknown size never wins
    assert list(out["reason"].isna()) == [False, True, True, False]
    assert "another arm of the same study kept (b" in out.iloc[0]["reason"]
    assert "kept (c" in out.iloc[3]["reason"]


def test_arms_in_different_groups_or_excluded_stay_apart(protocol):
    frame = _rows(study=["y2023"] * 3, arm=["ob", "ol", "x"],
                  group=["osteoblastic", "osteolytic", "osteolytic"],
                  reason=[None, None, "no baseline"], events=[1, 2, 3], total=[5, 6, 7])
    out = combine_arms(frame, protocol.analysis("leak_patient"), protocol)
    assert out.equals(frame)


def test_rules_exclude_with_the_first_reason_only(protocol):
    info = {"z2024": StudyInfo("z2024", "abstract", False, None),
            "v2025": StudyInfo("v2025", "full_text", True, None)}
    strict = protocol.with_changes({"rules": {"exclude_abstract_only": True,
                                              "procedures": ["PVP"]}})
    frame = _rows(study=["z2024", "v2025", "v2025"], arm=["all", "a", "b"],
                  procedure=["PVP", "PVP", "PKP"])
    out = apply_study_rules(frame, strict, info, [])
    assert out.iloc[0]["reason"].startswith("identity unverified")
    # the reason reaches footnotes and figures: the scenario in words, never its id
    assert "_" not in out.iloc[0]["reason"] and "puts unverified studies back" in \
        out.iloc[0]["reason"]
    assert pd.isna(out.iloc[1]["reason"])
    assert out.iloc[2]["reason"] == "procedure not PVP"
    relaxed = apply_study_rules(frame, protocol, info, [])
    assert list(relaxed["reason"].isna()) == [False, True, True]


def test_the_smaller_of_a_possible_duplicate_is_left_out(protocol):
    dup = protocol.with_changes({"rules": {"exclude_possible_duplicates": True}})
    info = {s: StudyInfo(s, "full_text", True, None) for s in ("aa2001", "bb2002", "cc2003")}
    frame = _rows(study=["aa2001", "bb2002", "cc2003"], patients=[30, 40, 40])
    out = apply_study_rules(frame, dup, info, [("aa2001", "bb2002"), ("bb2002", "cc2003")])
    assert out.iloc[0]["reason"] == "possible duplicate of bb2002 (smaller cohort left out)"
    # equal sizes: the alphabetically later one goes
    assert pd.isna(out.iloc[1]["reason"])
    assert out.iloc[2]["reason"].startswith("possible duplicate of bb2002")
    assert apply_study_rules(frame, protocol, info, [("aa2001", "bb2002")])["reason"].isna().all()


def test_exclude_derived_leaves_out_flagged_rows_only():
    frame = _rows(study=["dd2004", "ee2005", "ff2006"], flags=[(), ("SD from range",), ()],
                  reason=[None, None, "no baseline"])
    out = exclude_derived(frame)
    assert pd.isna(out.iloc[0]["reason"])
    assert out.iloc[1]["reason"].startswith("derived or imputed value")
    assert out.iloc[2]["reason"] == "no baseline"


@pytest.mark.parametrize(("flags", "derived"), [
    ((), False),
    (("scale 0-100 divided by 10",), False),
    (("arms combined into one study: a, b", "design effect 1.40 (m = 2.00 vertebrae per "
      "patient, own counts; ICC 0.4)"), False),
    (("follow-up value marked ambiguous in the study file",), False),
    (("baseline: SD from the range (Hozo et al. 2005)",), True),
    (("scale 0-100 divided by 10", "n imputed from the arm's patients"), True),
    (("events derived: 3 of 40 read from a figure",), True),
])
def test_adjustments_and_caveats_are_not_derivations(flags, derived):
    assert is_derived(flags) is derived


def test_exclude_derived_keeps_a_rescaled_or_combined_row():
    frame = _rows(study=["gg2007", "hh2008"],
                  flags=[("scale 0-100 divided by 10",), ("denominator imputed from the arm's "
                                                          "patient count",)],
                  reason=[None, None])
    out = exclude_derived(frame)
    assert pd.isna(out.iloc[0]["reason"])
    assert out.iloc[1]["reason"].startswith("derived or imputed value")


def test_fields_a_study_file_leaves_out_take_their_defaults():
    # no identity block, no source_access, no known_overlap: verified, full text, no overlap
    bare = NS(key="ii2009", arms=[_arm(5)])
    noted = NS(key="jj2010", arms=[_arm(5)], identity=NS(reason="checked by hand"))
    confirmed = _record("kk2011", [_arm(5)], identity=NS(verified=True, reason=None))
    info = study_info([bare, noted, confirmed])
    assert info["ii2009"] == StudyInfo("ii2009", "full_text", True, None, None)
    assert info["jj2010"].verified is True
    assert info["jj2010"].verification_note == "checked by hand"
    assert info["kk2011"].verified is True
    assert duplicate_pairs([bare]) == []


def test_duplicate_findings_read_past_other_codes_and_incomplete_findings():
    code = "possible-duplicate-cohort"
    findings = [NS(code="another-code", path="studies/m2013.yaml",
                   message="possible duplicate cohort with n2014"),
                NS(path="studies/o2015.yaml", message="possible duplicate cohort with p2016"),
                NS(code=code, path="studies/q2017.yaml"),
                NS(code=code, message="possible duplicate cohort with r2018"),
                NS(code=code, path="studies/sub/s2019.yaml",
                   message="possible duplicate cohort with t2020"),
                NS(code=code, path="u2021.yml", message="possible duplicate cohort with v2022"),
                NS(code=code, path="studies\\sub\\w2023.yaml",
                   message="possible duplicate cohort with x2024")]
    # the stem is the file name alone, whatever the folder and the path separator
    assert duplicate_pairs([], findings) == [("s2019", "t2020"), ("u2021", "v2022"),
                                             ("w2023", "x2024")]


def test_study_rule_reasons_in_full(protocol):
    info = {"ab2001": StudyInfo("ab2001", "abstract", True, None),
            "ac2002": StudyInfo("ac2002", "full_text", False, None),
            "ad2003": StudyInfo("ad2003", "full_text", True, None)}
    strict = protocol.with_changes({"rules": {"exclude_abstract_only": True,
                                              "procedures": ["PVP", "PKP"]}})
    # ae2004 has no study file behind it: nothing shows it was read in full
    frame = _rows(study=["ab2001", "ae2004", "ac2002", "ad2003", "ad2003"],
                  arm=["all", "all", "all", "a", "b"],
                  procedure=["PVP", "PKP", "PVP", "PVP", "cement"])
    reasons = list(apply_study_rules(frame, strict, info, [])["reason"])
    abstract = "read only as an abstract or a secondary source"
    assert reasons[:3] == [abstract, abstract, "identity unverified (enters only the "
                           "sensitivity analysis that puts unverified studies back)"]
    assert pd.isna(reasons[3])
    assert reasons[4] == "procedure not PKP or PVP"


def test_a_duplicate_pair_without_usable_rows_is_skipped_and_later_pairs_apply(protocol):
    dup = protocol.with_changes({"rules": {"exclude_possible_duplicates": True}})
    studies = ["ba2001", "bb2002", "bd2004", "bd2004", "bd2004", "be2005"]
    info = {s: StudyInfo(s, "full_text", True, None) for s in studies}
    # bd2004's patients are not reported: it counts as 0 against be2005's 2
    frame = _rows(study=studies, arm=["all", "all", "a", "b", "c", "all"],
                  patients=[50, None, None, None, None, 2],
                  reason=["no baseline", None, None, None, None, None])
    out = apply_study_rules(frame, dup, info, [("ba2001", "bb2002"), ("bd2004", "be2005")])
    reasons = list(out["reason"])
    assert reasons[0] == "no baseline" and pd.isna(reasons[1])
    assert reasons[2:5] == ["possible duplicate of be2005 (smaller cohort left out)"] * 3
    assert pd.isna(reasons[5])


def test_design_effect_row_by_row(protocol):
    frame = _rows(study=["ca2001", "cb2002", "cc2003", "cd2004"], events=[6, 4, "n.r.", 3],
                  total=[30, 20, 10, 12], patients=[10, None, None, 10],
                  vertebrae=[None, None, None, 20], reason=[None, None, "no baseline", None])
    info = {"ca2001": StudyInfo("ca2001", "full_text", True, None, 3.0)}
    out = design_effect(frame, protocol, icc=0.5, info=info)
    ca, cb, cc, cd = (out.iloc[i] for i in range(4))
    # the arm reports patients but not vertebrae: the whole study's ratio
    assert ca["cluster_size"] == 3.0 and ca["design_effect"] == 2.0
    assert ca["flags"] == ("design effect 2.00 (m = 3.00 vertebrae per patient, whole study; "
                           "ICC 0.5)",)
    assert cb["reason"] == ("patients or vertebrae not reported: the design effect cannot be "
                            "computed")
    # an excluded row keeps no numbers it cannot have; the row after it is still adjusted
    assert math.isnan(cb["cluster_size"]) and math.isnan(cc["cluster_size"])
    assert cc["reason"] == "no baseline" and math.isnan(cc["events"])
    assert cd["cluster_size"] == 2.0 and cd["design_effect"] == 1.5
    assert cd["events"] == pytest.approx(2.0) and cd["total"] == pytest.approx(8.0)
    assert list(out["total_observed"]) == [30, 20, 10, 12]
    assert list(out["events_observed"]) == [6, 4, "n.r.", 3]


def test_reasons_are_written_cell_by_cell_and_the_column_keeps_its_type():
    from blastic_meta.review.input_rules import write_reasons

    frame = _rows(study=["a2001", "b2002", "c2003"])  # no reason yet: an object column
    rows = [{"reason": None}, {"reason": "left out"}, {"reason": None}]
    out = write_reasons(frame, rows)
    assert out["reason"].dtype == object and out["reason"].tolist() == [None, "left out", None]
    assert frame["reason"].tolist() == [None, None, None]  # a copy: the input is unchanged
    texts = pd.DataFrame({"reason": pd.Series(["unit not stated", None, None], dtype="str")})
    out = write_reasons(texts, [{"reason": "unit not stated"}, {"reason": None},
                                {"reason": "case report"}])
    assert out["reason"].dtype == texts["reason"].dtype
    assert out["reason"].iloc[2] == "case report" and pd.isna(out["reason"].iloc[1])
