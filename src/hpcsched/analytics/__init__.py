"""Analytics of job tables, real or simulated: charts, summary tables, insights and the report.

``build_figures(table)`` gives every chart keyed as ``FIGURE_TITLES`` (the dashboard and the
static report draw the same figures); ``summaries``, ``insights`` and ``write_report`` build on it.
"""

from __future__ import annotations

from hpcsched.analytics.figures import FIGURE_TITLES, build_figures

__all__ = ["FIGURE_TITLES", "build_figures"]
