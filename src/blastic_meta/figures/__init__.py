"""Drawing only: frozen data classes and arrays in, matplotlib figures out.

Nothing here knows of studies, protocols or analyses (``review.figure_specs`` turns analysis
results into these specs). matplotlib is imported inside the drawing functions, so importing
this package stays cheap and changes no global state.
"""

from .diagnostics import funnel_plot, leave_one_out_plot, sensitivity_plot
from .forest import forest_plot
from .forest_spec import ForestBlock, ForestRow, ForestSpec, ForestSummary
from .io import save_figure
from .leakage import leakage_summary_plot

__all__ = [
    "ForestBlock",
    "ForestRow",
    "ForestSpec",
    "ForestSummary",
    "forest_plot",
    "funnel_plot",
    "leakage_summary_plot",
    "leave_one_out_plot",
    "save_figure",
    "sensitivity_plot",
]
