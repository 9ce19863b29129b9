"""Drift detection: a two-sample Kolmogorov–Smirnov test on a surrogate's residuals.

A surrogate has drifted when the absolute residuals on the most recent structures no longer come
from the distribution of its hold-out residuals at fit time (Rabanser et al., "Failing loudly",
NeurIPS 2019, use the two-sample KS test the same way; Gama et al., ACM Comput. Surv. 2014, for
residual-based detectors). Only degradation counts: the test must reject at ``alpha`` *and* the
recent mean residual must exceed the reference one, so an easier stretch of candidates is not
called drift. ``alpha`` defaults to 0.001 because a campaign runs hundreds of checks per model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import ks_2samp

from hpcsched.campaigns.materials.source import Array

ALPHA = 1e-3
MIN_WINDOW = 8  # below this a KS test has no power; the check says "no drift"


@dataclass(frozen=True)
class DriftResult:
    drift: bool
    statistic: float
    p_value: float
    reference_mae: float
    recent_mae: float
    window: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ks_drift(reference: Array, recent: Array, alpha: float = ALPHA) -> DriftResult:
    """Does ``recent`` (absolute residuals) look worse than ``reference``?"""
    ref_mae = float(np.mean(reference)) if len(reference) else 0.0
    recent_mae = float(np.mean(recent)) if len(recent) else 0.0
    if len(recent) < MIN_WINDOW or len(reference) < MIN_WINDOW:
        return DriftResult(False, 0.0, 1.0, ref_mae, recent_mae, len(recent))
    test = ks_2samp(reference, recent)
    statistic, p_value = float(test.statistic), float(test.pvalue)
    drift = p_value < alpha and recent_mae > ref_mae
    return DriftResult(drift, statistic, p_value, ref_mae, recent_mae, len(recent))
