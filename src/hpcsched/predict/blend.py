"""The online ensemble of ``lightgbm-ensemble``: per retraining block, the mix of the learned
point and simple predictors that did best on the jobs already ended (split from
:mod:`hpcsched.predict.evaluate`).

Averaging a noisy learner with a simple, differently-wrong predictor cuts its variance (stacking,
Wolpert 1992); which mix helps differs between sites, so it is chosen online, never fixed. The
simple predictors are the baselines (Alea, user-last-two) and the *template median*
(:func:`template_median`): the robust form of Smith, Foster and Taylor's "similar jobs" predictor
(JSSPP 1998), which on its own is as accurate as the trees on KTH-SP2 and SDSC-SP2 yet errs on
other jobs, so their mean beats both.

Measured and not kept (ensemble MAE, s; KTH-SP2 3,833, SDSC-SP2 3,471, CTC 6,296, HPC2N 11,371,
CEA-Curie 4,466, SDSC-BLUE 1,980 with the candidates below): a fifth candidate, the median of the
learned point, Alea and the template median: 3,812 / 3,479 / 6,296 / 11,375 / 4,486 / 1,985
(noise, one way or the other); choosing per user the predictor with the lowest error over the
user's last k ended jobs, alone (KTH, k = 5 / 10 / 20 / 50: 4,012 / 3,894 / 3,850 / 3,837) or as
one more candidate (KTH 3,812, SDSC-SP2 3,452); choosing each block's mix on the last 2 / 4 / 8
blocks only instead of all the past (KTH 3,876 / 3,853 / 3,849).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]

#: The baselines the ensemble may combine with the learned point.
BLENDED: Final = ("alea", "user-last-two")
#: Template medians, most specific last (it overrides the broader one where it exists).
_TEMPLATE_ORDER: Final = ("h_tl_median_k", "h_same_median_k")


def template_median(features: pl.DataFrame, fallback: npt.ArrayLike) -> FloatArray:
    """Median runtime of the user's last k finished jobs with the same timelimit and cpus, else
    with the same timelimit, else ``fallback`` (e.g. Alea's prediction); from the features of
    :func:`.features.submission_features`, so only jobs ended before each submit count."""
    out = np.asarray(fallback, dtype=np.float64).copy()
    for name in _TEMPLATE_ORDER:
        value = features[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
        out = np.where(np.isfinite(value), value, out)
    return out


def _blends(learned: FloatArray, base: dict[str, FloatArray]) -> dict[str, FloatArray]:
    out = {
        "lightgbm": learned,
        "mean(lightgbm, alea)": (learned + base["alea"]) / 2.0,
        "median(lightgbm, alea, user-last-two)": np.median(
            np.stack([learned, base["alea"], base["user-last-two"]]), axis=0
        ),
    }
    if "template" in base:
        out["mean(lightgbm, template)"] = (learned + base["template"]) / 2.0
    return out


def select_blend(
    learned: FloatArray,
    base: dict[str, FloatArray],
    actual: FloatArray,
    submit: FloatArray,
    end: FloatArray,
    blocks: list[int],
    first_scored: int,
) -> tuple[FloatArray, list[str]]:
    """Per block, the combination of the learned point and the simple predictors ``base``
    (``alea``, ``user-last-two`` and optionally ``template``; :func:`_blends`) with the lowest MAE
    on the jobs already predicted out of sample (index >= ``first_scored``) and **ended before
    the block's first submit**: chosen only from what was known then."""
    candidates = _blends(learned, base)
    out = learned.copy()
    chosen: list[str] = []
    index = np.arange(len(learned))
    for k, first in enumerate(blocks):
        last = blocks[k + 1] if k + 1 < len(blocks) else len(learned)
        seen = (
            (index >= first_scored) & (index < first) & np.isfinite(actual) & (end < submit[first])
        )
        name = "lightgbm"
        if seen.sum() >= 100:
            name = min(
                candidates, key=lambda c: float(np.abs(candidates[c][seen] - actual[seen]).mean())
            )
        out[first:last] = candidates[name][first:last]
        chosen.append(name)
    return out, chosen
