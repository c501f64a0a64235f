"""Small specs of every figure, shared by the figure tests (labels and numbers are made up)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from blastic_meta.figures import (
    AppraisalBlock,
    AppraisalRow,
    AppraisalSpec,
    ComparisonDifference,
    ComparisonPanel,
    ComparisonRow,
    ComparisonSpec,
    DirectionBlock,
    DirectionCell,
    DirectionRow,
    DirectionSpec,
    GroupEstimate,
    PrismaCount,
    PrismaCounts,
    PrismaOtherSources,
    StudyEstimate,
)

Y, N, U, NA = "yes", "no", "unclear", "not_applicable"
NAN = math.nan
CASE_SERIES_ITEMS = [f"Q{i}" for i in range(1, 11)]
CASE_SERIES_WORDING = [
    "Were there clear criteria for inclusion in the case series?",
    "Was the condition measured in a standard, reliable way for all participants?",
    "Were valid methods used for identification of the condition for all participants?",
    "Did the case series have consecutive inclusion of participants?",
    "Did the case series have complete inclusion of participants?",
    "Was there clear reporting of the demographics of the participants in the study?",
    "Was there clear reporting of clinical information of the participants?",
    "Were the outcomes or follow up results of cases clearly reported?",
    "Was there clear reporting of the presenting site(s)/clinic(s) demographic information?",
    "Was statistical analysis appropriate?",
]
COHORT_ITEMS = ["S1", "S2", "S3", "S4", "C1", "C2", "O1", "O2", "O3"]
COHORT_WORDING = ["Representativeness of the exposed cohort", "Selection of the non-exposed "
                  "cohort", "Ascertainment of exposure", "Outcome not present at start",
                  "Comparability on the most important factor", "Comparability on an "
                  "additional factor", "Assessment of outcome", "Follow-up long enough",
                  "Adequacy of follow-up"]


def appraisal_spec() -> AppraisalSpec:
    series = AppraisalBlock("JBI checklist for case series", CASE_SERIES_ITEMS,
                            CASE_SERIES_WORDING, [
        AppraisalRow("Alpha et al. 2016", [Y, Y, Y, N, U, Y, Y, Y, N, Y], "some"),
        AppraisalRow("Bravo et al. 2021", [Y, Y, U, U, U, Y, N, Y, N, NA], "high"),
        AppraisalRow("Charlie 2019", [Y] * 10, "low"),
        AppraisalRow("Delta and Echo 2018", None, "not appraised"),
        AppraisalRow("Golf 2020", [Y, Y, Y, Y, None, Y, Y, Y, Y, Y], "low"),
    ])
    cohort = AppraisalBlock("Newcastle-Ottawa scale", COHORT_ITEMS, COHORT_WORDING, [
        AppraisalRow("Hotel 2015", [Y, Y, Y, N, Y, N, Y, Y, U], "some"),
        AppraisalRow("India 2022", [Y] * 9, "low"),
    ])
    return AppraisalSpec("Risk of bias", [series, cohort],
                         ["Appraised by two reviewers independently."])


def prisma_counts(other: bool = False) -> PrismaCounts:
    others = PrismaOtherSources(
        identified=[("Citation searching", 14),
                    ("Websites", PrismaCount(None, "the website search was not logged"))],
        sought=14, not_retrieved=1, assessed=13, excluded=[("No lesion type reported", 10)],
        not_retrieved_reasons=[("Conference abstract only", 1)]) if other else None
    return PrismaCounts(
        identified=[("Databases", 1150), ("Registers", 39)],
        removed=[("Duplicate records removed", 389)],
        screened=800,
        screened_excluded=PrismaCount(None, "exclusions at title/abstract were not counted"),
        sought=72, not_retrieved=3,
        not_retrieved_reasons=[("No full text available", 2), ("Withdrawn", 1)],
        assessed=69,
        excluded=[("Lesion type not reported separately", 31), ("Fewer than 5 patients", 9),
                  ("Case report", 6), ("No outcome of interest", 4)],
        included_studies=21 if other else 18, included_reports=22 if other else 19,
        analyses=[("VAS, 3 months", 9), ("Leakage per vertebra", 14)],
        other_sources=others, title="Study selection", footnote_lines=["Searches to 2024."])


def direction_spec() -> DirectionSpec:
    c = DirectionCell
    s, ns = "significant", "not_significant"
    within = DirectionBlock("Within-study lesion-type comparisons", [
        DirectionRow("Alpha et al. 2016", 32, [c("up", ns), c("neutral", ns), None,
                                               c("down", s)], appraisal="some"),
        DirectionRow("Bravo et al. 2021", 120, [c("up", s), None, None, c("up")],
                     appraisal="high"),
        DirectionRow("Charlie 2019", None, [c("unclear"), None, None, c("neutral")]),
    ], up_means="favours osteoblastic", down_means="favours osteolytic",
        neutral_means="no difference")
    series = DirectionBlock("Before/after series", [
        DirectionRow("Delta et al. 2018", 450, [c("up", s), c("up", s), c("up", ns), None],
                     appraisal="low"),
        DirectionRow("Echo 2020", 18, [c("up", s), None, c("neutral"), c("down", ns)]),
    ], up_means="improvement after treatment", down_means="worse after treatment")
    return DirectionSpec("Direction of effect", ["Pain", "Function", "Quality of life",
                                                 "Cement leakage"], [within, series],
                         ["Sign test (pain, series): 2 of 2 improved, p = 0.50."])


def comparison_spec() -> ComparisonSpec:
    g = GroupEstimate
    pain = ComparisonPanel("Pain (points on 0-10)", "Reduction in VAS (points)", [
        ComparisonRow("VAS reduction, 3 months",
                      [g(4.1, 3.3, 4.9, k=3, patients=85, procedures="PVP"),
                       g(3.4, 2.6, 4.2, k=5, patients=212, procedures="PVP; PKP")],
                      ComparisonDifference("MD", 0.7, -0.4, 1.8), "between-study"),
        ComparisonRow("VAS reduction, 12 months",
                      [g(NAN, NAN, NAN, k=2, patients=40, procedures="PVP",
                         missing_text="not pooled, k = 2",
                         studies=[StudyEstimate("Alpha et al. 2011", 4.6, 3.9, 5.3),
                                  StudyEstimate("Bravo 2015", 2.1, 0.8, 3.4)]),
                       g(NAN, NAN, NAN, k=0, missing_text="no osteolytic series reported VAS "
                         "as mean and SD at 12 months")], None, "none"),
    ], null_value=0.0)
    leak = ComparisonPanel("Cement leakage (percent)", "Leakage rate (%)", [
        ComparisonRow("Leakage per vertebra",
                      [g(31.0, 20.0, 45.0, k=3, procedures="PVP"),
                       g(42.0, 33.0, 52.0, k=4, patients=260,
                         procedures="PVP | PKP, mesh container")],
                      ComparisonDifference("OR", 0.55, 0.2, 1.4), "within-study"),
    ], xlim=(0.0, 60.0), unit="%", digits=0)
    return ComparisonSpec("Osteoblastic versus osteolytic", ["Osteoblastic", "Osteolytic"],
                          [pain, leak], ["MD: osteoblastic minus osteolytic."])


BAUJAT_X = np.array([0.4, 2.9, 0.8, 5.2, 1.6, 0.2])
BAUJAT_Y = np.array([0.05, 0.6, 0.12, 0.35, 0.9, 0.02])
BAUJAT_LABELS = ["Alpha 2010", "Bravo 2012", "Charlie 2013", "Delta 2016", "Echo 2019",
                 "Foxtrot 2021"]


def cumulative_frame() -> pd.DataFrame:
    return pd.DataFrame({"label": ["Alpha 2012", "Bravo 2014", "Charlie 2016", "Delta 2019"],
                         "estimate": [-4.5, -4.1, -3.9, -3.8],
                         "ci_low": [-6.0, -5.4, -4.8, -4.4],
                         "ci_high": [-3.0, -2.8, -3.0, -3.2],
                         "k": [1, 2, 3, 4], "i2": [NAN, 12.0, 30.5, 38.0]})
