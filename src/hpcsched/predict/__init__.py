"""Runtime and memory prediction at submission time: baselines, a learned model, bounds.

``baselines`` (requested walltime, user's last two, Alea's per-user ratio), ``learned``
(LightGBM on the submission-time ``features``), ``conformal`` and ``bound`` (an upper bound at a
chosen coverage), ``evaluate`` (chronological: train on the past, predict the future) and
``impact`` (EASY planned with the predictions, in the simulator). Estimators keep the
scikit-learn contract; ``X`` is always a polars job table in submission order.
"""

from hpcsched.predict.baselines import AleaUserRatio, RequestedWalltime, UserLastTwo
from hpcsched.predict.bound import FittedBound, fit_bound
from hpcsched.predict.learned import GradientBoostedRuntime

__all__ = [
    "AleaUserRatio",
    "FittedBound",
    "GradientBoostedRuntime",
    "RequestedWalltime",
    "UserLastTwo",
    "fit_bound",
]
