"""Lesion types compared: the test for subgroup differences between studies, and contrasts
within one study that reports arms of two compared lesion types."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BlasticMetaWarning
from .analysis_input import z_quantile
from .fitting import NAN, SOFT_ERRORS, clean
from .protocol import AnalysisSpec, Protocol


@dataclass(frozen=True)
class SubgroupTest:
    """Test for subgroup differences under one tau2 convention (or why it is not assessable)."""

    tau2: str
    groups: tuple[str, ...]
    q_between: float = NAN
    df: float = NAN
    pval: float = NAN
    note: str | None = None
    statistic: str = "Q"
    df2: float = NAN

    @property
    def assessable(self) -> bool:
        return self.note is None

    def to_dict(self) -> dict[str, Any]:
        return clean({"tau2": self.tau2, "groups": list(self.groups),
                       "q_between": self.q_between, "df": self.df, "pval": self.pval,
                       "note": self.note, "statistic": self.statistic, "df2": self.df2})


@dataclass(frozen=True)
class WithinComparison:
    """A within-study contrast between two lesion types of one study (first minus second)."""

    study: str
    label: str
    groups: tuple[str, str]
    measure: str
    yi: float
    vi: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return clean({"study": self.study, "label": self.label, "groups": list(self.groups),
                       "measure": self.measure, "yi": self.yi, "vi": self.vi,
                       "ci_low": self.ci_low, "ci_high": self.ci_high})


def subgroup_tests(included: pd.DataFrame, protocol: Protocol) -> tuple[SubgroupTest, ...]:
    compared = [g for g in protocol.subgroups.compared if (included["group"] == g).any()]
    rows = included[included["group"].isin(compared)]
    out = []
    for conv in ("separate", "common"):
        if len(compared) < 2:
            have = ", ".join(compared) or "none"
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: fewer than two compared lesion "
                                         f"types have data ({have})"))
            continue
        if conv == "common" and len(rows) <= len(compared):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note=f"not assessable: k = {len(rows)} studies for "
                                         f"{len(compared)} subgroups"))
            continue
        from ..stats.subgroups import compare_subgroups

        m = protocol.model
        try:
            # a subgroup whose estimate has se = 0 makes the statistic NaN (reported below as
            # not assessable); numpy's divide warning for it is expected here
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore", category=BlasticMetaWarning)
                res = compare_subgroups(rows["yi"].astype(float).to_numpy(),
                                        rows["vi"].astype(float).to_numpy(),
                                        rows["group"].tolist(), method=m.method, test=m.test,
                                        tau2=conv, level=m.level)
        except SOFT_ERRORS as exc:
            out.append(SubgroupTest(conv, tuple(compared), note=f"not assessable: {exc}"))
            continue
        if not math.isfinite(float(res.pval_between)):
            out.append(SubgroupTest(conv, tuple(compared),
                                    note="not assessable: the test statistic is not estimable"))
            continue
        out.append(SubgroupTest(conv, tuple(compared), q_between=float(res.q_between),
                                df=float(res.df_between), pval=float(res.pval_between),
                                statistic=str(getattr(res, "statistic", "Q")),
                                df2=float(getattr(res, "df2_between", NAN))))
    return tuple(out)


def within_study(included: pd.DataFrame, spec: AnalysisSpec, protocol: Protocol,
            ) -> tuple[WithinComparison, ...]:
    compared = list(protocol.subgroups.compared)
    out = []
    for study, rows in included.groupby("study", sort=True):
        groups = [g for g in compared if (rows["group"] == g).any()]
        if len(groups) < 2:
            continue
        a = rows[rows["group"] == groups[0]].iloc[0]
        b = rows[rows["group"] == groups[1]].iloc[0]
        if spec.kind == "change":
            yi = float(a["yi"]) - float(b["yi"])
            vi = float(a["vi"]) + float(b["vi"])
            measure = "MD of change"
        else:
            from ..stats.effects import effect_sizes

            es = effect_sizes("OR", ai=[float(a["events"])], n1i=[float(a["total"])],
                              ci=[float(b["events"])], n2i=[float(b["total"])])
            yi, vi = float(es["yi"].iloc[0]), float(es["vi"].iloc[0])
            measure = "log OR"
        z = z_quantile(protocol.model.level)
        out.append(WithinComparison(study, str(a["label"]), (groups[0], groups[1]), measure,
                                    yi, vi, yi - z * math.sqrt(vi), yi + z * math.sqrt(vi)))
    return tuple(out)
