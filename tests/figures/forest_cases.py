"""Forest plots whose saved bytes are pinned in ``data/forest_bytes.json``.

The hashes were computed before forest rows could carry a risk-of-bias appraisal, so they prove
that a plot without appraisals is drawn exactly as before. Do not change these specs: a changed
spec needs new hashes, and new hashes prove nothing about the old drawing. The PNG hashes
were re-pinned once, when the house style turned font hinting off (rasterisation only: the
SVG hashes, which fix the layout, did not change). A second set was added for matplotlib
3.10.9 (FreeType 2.6.1) from code that still matched the first set under matplotlib 3.11.2.
When the PNG encoder changed (pypng, no row filters), the PNG file hashes gave way to hashes
of the decoded pixels, taken from PNGs that still matched the file hashes.
"""

from __future__ import annotations

import math

import pandas as pd

from blastic_meta.figures import (
    ForestBlock,
    ForestRow,
    ForestSpec,
    ForestSummary,
    forest_plot,
    leave_one_out_plot,
)

HET = "Heterogeneity: τ² = 0.12; I² = 35%; Q = 3.1 (df = 2, p = 0.21)"


def subgroups_spec() -> ForestSpec:
    rows_a = [
        ForestRow("Alpha et al. 2016", "32", -4.1, -4.9, -3.3, 22.0),
        ForestRow("Bravo et al. 2021", "18", -3.2, -4.6, -1.8, 12.5, note="SD imputed"),
        ForestRow("Charlie 2019", "9", -5.6, -9.9, -1.3, 4.0),
    ]
    rows_b = [
        ForestRow("Delta et al. 2018", "45", -3.8, -4.3, -3.3, 30.0),
        ForestRow("Echo and Fox 2020", "27", -2.9, -3.6, -2.2, 31.5),
    ]
    return ForestSpec(
        title="VAS change at 3 months",
        blocks=[
            ForestBlock("Osteoblastic", rows_a,
                        ForestSummary("Subtotal osteoblastic", -4.0, -4.8, -3.2, -6.5, -1.5, HET)),
            ForestBlock("Osteolytic", rows_b,
                        ForestSummary("Subtotal osteolytic", -3.4, -4.2, -2.6, -7.9, 1.2, HET)),
        ],
        overall=ForestSummary("Total (random effects)", -3.6, -4.1, -3.1, -5.2, -2.0, HET),
        subgroup_test_text="Test for subgroup differences: Q = 1.05, df = 1, p = 0.31",
        method_text="Random effects, REML, Hartung-Knapp CI, prediction interval t(k-1)",
        xlabel="Change in VAS pain (0-10)",
        favours_left="pain reduced",
        favours_right="pain increased",
        effect_label="Mean change [95% CI]",
        footnote_lines=["Excluded: Golf 2015 (no SD reported)"],
    )


def ratio_spec() -> ForestSpec:
    rows = [ForestRow("A 2010", "3/20", 3.3, 0.37, 29.0, 40.0),
            ForestRow("B 2012", "5/31", 1.2, 0.36, 4.1, 60.0),
            ForestRow("C 2014", "0/12", *[math.nan] * 3)]
    return ForestSpec(title=None, blocks=[ForestBlock(None, rows, ForestSummary(
        "Pooled", 1.6, 0.6, 4.3))], log_scale=True, null_value=1.0, n_header="Events/Total",
        xlabel="Risk ratio", xlim=(0.2, 10.0))


def leave_one_out():
    loo = pd.DataFrame({"label": ["Alpha 2016", "Bravo 2021", "Charlie 2019"],
                        "estimate": [-3.9, -4.1, -3.7], "ci_low": [-4.8, -5.0, -4.5],
                        "ci_high": [-3.0, -3.2, -2.9], "i2": [30.0, 40.2, 0.0]})
    return leave_one_out_plot(loo, ForestSummary("All studies", -4.0, -4.8, -3.2),
                              xlabel="VAS change")


CASES = {
    "subgroups": lambda: forest_plot(subgroups_spec()),
    "ratio": lambda: forest_plot(ratio_spec()),
    "leave_one_out": leave_one_out,
}
