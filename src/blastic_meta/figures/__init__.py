"""Drawing only: frozen data classes and arrays in, matplotlib figures out.

Nothing here knows of studies, protocols or analyses (``review.figure_specs`` turns analysis
results into these specs). matplotlib is imported inside the drawing functions, so importing
this package stays cheap and changes no global state.
"""

from .appraisal import traffic_light_plot
from .appraisal_spec import AppraisalBlock, AppraisalRow, AppraisalSpec
from .appraisal_summary import appraisal_shares, appraisal_summary_plot
from .baujat import baujat_plot
from .comparison import comparison_plot
from .comparison_spec import (
    ComparisonDifference,
    ComparisonPanel,
    ComparisonRow,
    ComparisonSpec,
    GroupEstimate,
    StudyEstimate,
)
from .diagnostics import cumulative_forest_plot, funnel_plot, leave_one_out_plot, sensitivity_plot
from .direction import effect_direction_plot
from .direction_spec import DirectionBlock, DirectionCell, DirectionRow, DirectionSpec
from .forest import forest_plot
from .forest_spec import ForestBlock, ForestRow, ForestSpec, ForestSummary
from .io import preload, save_figure
from .leakage import leakage_summary_plot
from .prisma import prisma_flow_diagram
from .prisma_spec import PrismaCount, PrismaCounts, PrismaOtherSources

__all__ = [
    "AppraisalBlock",
    "AppraisalRow",
    "AppraisalSpec",
    "ComparisonDifference",
    "ComparisonPanel",
    "ComparisonRow",
    "ComparisonSpec",
    "DirectionBlock",
    "DirectionCell",
    "DirectionRow",
    "DirectionSpec",
    "ForestBlock",
    "ForestRow",
    "ForestSpec",
    "ForestSummary",
    "GroupEstimate",
    "PrismaCount",
    "PrismaCounts",
    "PrismaOtherSources",
    "StudyEstimate",
    "appraisal_shares",
    "appraisal_summary_plot",
    "baujat_plot",
    "comparison_plot",
    "cumulative_forest_plot",
    "effect_direction_plot",
    "forest_plot",
    "funnel_plot",
    "leakage_summary_plot",
    "leave_one_out_plot",
    "preload",
    "prisma_flow_diagram",
    "save_figure",
    "sensitivity_plot",
    "traffic_light_plot",
]
