"""The three surrogate methods (NN, RF, GNN stand-in), fitted with scikit-learn.

The campaign of the talk predicts the enthalpy per atom of each template with three surrogates:
a neural network, a random forest and a graph neural network. Here the first two are
scikit-learn's ``MLPRegressor`` and ``RandomForestRegressor``; the GNN is stood in for by a kernel
model (RBF features by the Nyström method + ridge regression), a third family whose smooth,
neighbourhood-based interpolation is what a message-passing network learns over a structure
graph, and which, like a GNN, extrapolates differently from trees and MLPs once the inputs drift.
A real GNN needs crystal graphs and a deep-learning stack the project does not ship.

Each fit keeps 20 % of its data out and stores the absolute residuals there: the reference a drift
test compares recent residuals against (:mod:`.drift`). Everything is seeded: the same data gives
the same model, in the planner, in a live worker or in the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from hpcsched.campaigns.materials.source import Array

METHODS = ("nn", "rf", "gnn")
HOLDOUT = 0.2
MAX_TRAIN_ROWS = 4000  # a refit keeps the most recent rows: bounded cost at any campaign size


def make_estimator(method: str, seed: int) -> Pipeline:
    if method == "nn":
        mlp = MLPRegressor(
            hidden_layer_sizes=(64, 32), max_iter=400, early_stopping=True, random_state=seed
        )
        return make_pipeline(StandardScaler(), mlp)
    if method == "rf":
        forest = RandomForestRegressor(
            n_estimators=60, max_depth=14, min_samples_leaf=2, n_jobs=1, random_state=seed
        )
        return make_pipeline(forest)
    if method == "gnn":
        kernel = Nystroem(gamma=0.3, n_components=150, random_state=seed)
        return make_pipeline(StandardScaler(), kernel, Ridge(alpha=1e-2))
    raise ValueError(f"unknown surrogate method {method!r}; choose one of {', '.join(METHODS)}")


@dataclass
class Surrogate:
    """A fitted model, its version and the reference residuals of its hold-out set."""

    method: str
    version: int
    model: Any
    reference: Array  # |y - y_hat| on the hold-out rows
    holdout_mae: float
    rows: int

    def predict(self, F: Array) -> Array:
        out: Array = np.asarray(self.model.predict(F), dtype=np.float64)
        return out


def fit_surrogate(method: str, version: int, F: Array, H: Array, seed: int = 0) -> Surrogate:
    """Fit on 80 % of the rows (the most recent ``MAX_TRAIN_ROWS``), keep 20 % for reference."""
    F, H = F[-MAX_TRAIN_ROWS:], H[-MAX_TRAIN_ROWS:]
    rng = np.random.default_rng([seed, version, METHODS.index(method)])
    order = rng.permutation(len(H))
    cut = max(1, int(len(H) * HOLDOUT))
    test, train = order[:cut], order[cut:]
    model = make_estimator(method, seed).fit(F[train], H[train])
    reference = np.abs(H[test] - np.asarray(model.predict(F[test])))
    return Surrogate(method, version, model, reference, float(reference.mean()), len(train))
