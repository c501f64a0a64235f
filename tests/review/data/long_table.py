"""A small long table in the registry's layout (one row per arm x outcome x time point)."""

from __future__ import annotations

import pandas as pd

COLUMNS = [
    "study", "arm", "arm_label", "lesion_type", "design", "procedure", "outcome", "instrument",
    "scale_min", "scale_max", "timepoint", "days", "n", "mean", "sd", "sd_kind", "median",
    "q1", "q3", "min", "max", "events", "total", "unit", "symptomatic", "patients",
    "vertebrae", "source", "via", "ambiguous", "note",
]


def row(study, arm="all", **kw):
    base = dict.fromkeys(COLUMNS)
    base.update(study=study, arm=arm, arm_label=arm, lesion_type="osteoblastic",
                design="case_series", procedure="PVP", ambiguous=False, source="Abstract")
    base.update(kw)
    return base


def vas(study, arm, lesion, patients, points, **kw):
    """points: list of (days, mean, sd[, sd_kind[, n]])"""
    out = []
    for p in points:
        days, mean, sd = p[:3]
        kind = p[3] if len(p) > 3 else "sd"
        n = p[4] if len(p) > 4 else None
        out.append(row(study, arm, lesion_type=lesion, outcome="vas", instrument="VAS",
                       scale_min=0, scale_max=10, timepoint=f"{days} d", days=days, n=n,
                       mean=mean, sd=sd, sd_kind=kind, patients=patients, **kw))
    return out


def leak(study, arm, lesion, events, total, unit, patients, vertebrae, **kw):
    return row(study, arm, lesion_type=lesion, outcome="leakage", events=events, total=total,
               unit=unit, patients=patients, vertebrae=vertebrae, **kw)


def table():
    rows = []
    rows += vas("alpha2010", "all", "osteoblastic", 30,
                [(-1, 7.0, 1.5), (3, 3.0, 1.2), (30, 2.5, 1.0, "sd", 29), (90, 2.0, 1.1)])
    rows += vas("beta2012", "all", "osteoblastic", 20,
                [(0, 6.5, 1.8, "unlabelled"), (7, 3.5, 1.6, "unlabelled"),
                 (28, 3.0, 1.5, "unlabelled"), (35, 2.8, 1.5, "unlabelled")])
    rows += vas("gamma2015", "blastic", "osteoblastic", 15,
                [(0, 7.2, 0.4, "se", 15), (30, 2.0, 0.3, "se", 15)])
    rows += vas("gamma2015", "lytic", "osteolytic", 25,
                [(0, 7.8, 1.2), (30, 2.9, 1.3)])
    rows += vas("delta2018", "all", "osteolytic", 40,
                [(0, 8.0, 1.0), (30, 3.5, 1.4), (180, 3.0, 1.5)])
    rows += vas("eps2019", "all", "osteolytic", 12, [(0, 7.5, None), (30, 3.0, None)])
    rows += vas("zeta2020", "all", "osteoblastic", 1, [(0, 9.0, None), (30, 3.0, None)],
                design="case_report")
    rows += vas("eta2021", "all", "unspecified", 50, [(0, 7.0, 2.0), (30, 3.0, 2.0)])
    rows.append(leak("alpha2010", "all", "osteoblastic", 5, 40, "vertebra", 30, 40))
    rows.append(leak("alpha2010", "all", "osteoblastic", 4, 30, "patient", 30, 40))
    rows.append(leak("beta2012", "all", "osteoblastic", 9, None, "ambiguous", 20, 26,
                     ambiguous=True))
    rows.append(leak("gamma2015", "blastic", "osteoblastic", 6, 22, "vertebra", 15, 22))
    rows.append(leak("gamma2015", "lytic", "osteolytic", 3, 31, "vertebra", 25, 31))
    rows.append(leak("delta2018", "all", "osteolytic", 12, 60, "vertebra", 40, 60))
    rows.append(leak("delta2018", "all", "osteolytic", 8, None, "patient", 40, 60))
    rows.append(leak("eta2021", "all", "unspecified", 10, 70, "vertebra", 50, 70))
    rows.append(leak("kappa2022", "all", "osteolytic", 7, 45, "vertebra", 30, 45))
    return pd.DataFrame(rows, columns=COLUMNS)
