"""Typical inputs for a loss, drawn from its declared domains.

One generator feeds both the registry-driven tests and ``lossctl bench``, so what is benchmarked
is what is checked for correctness.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lossctl.domains import Interval, OneOf
from lossctl.registry import Loss, Pred, Task

K = 5


def draw(
    loss: Loss,
    rng: np.random.Generator,
    n: int,
    *,
    dist_labels: bool = False,
    soft_labels: bool = False,
    k: int = K,
    dtype: Any = np.float64,
) -> tuple[Any, Any]:
    """Typical valid (y_true, y_pred) for ``loss``: n rows (k columns for multiclass).

    Binary labels are hard (0/1, or the hinge's -1/0/1) unless ``soft_labels``; multiclass labels
    are class ids unless ``dist_labels``.
    """
    if loss.pred_columns:
        yt = loss.y_true.sample(rng, n)
        if loss.task is Task.BINARY:
            yt = np.where(rng.random(n) < 0.5, 1.0, -1.0)
            return yt.astype(dtype), rng.normal(0.0, 1.5, (n, 2)).astype(dtype)
        mean = yt + rng.normal(0.0, 1.0, n)
        var = rng.gamma(2.0, 0.5, n)
        return yt.astype(dtype), np.column_stack([mean, var]).astype(dtype)
    if loss.task is Task.MULTICLASS:
        if loss.pred_rows in ("probabilities", "log_probabilities"):
            # Normalised gamma draws (a Dirichlet sample), generated in blocks to bound memory.
            yp = rng.standard_gamma(0.7, (n, k)).astype(dtype)
            yp /= yp.sum(axis=1, keepdims=True, dtype=dtype)
            if loss.pred_rows == "log_probabilities":
                with np.errstate(divide="ignore"):
                    yp = np.log(yp)
        elif loss.prediction is Pred.PROBABILITY:  # independent per-class probabilities (multi-label)
            yp = rng.random((n, k)).astype(dtype)
        else:
            yp = rng.normal(0.0, 3.0, (n, k)).astype(dtype)
        if not dist_labels:
            return rng.integers(0, k, n), yp
        if not loss.label_rows_are_distributions:
            if isinstance(loss.y_true, Interval) and loss.y_true.low == 0.0:  # multi-label rows
                return (rng.random((n, k)) < 0.4).astype(dtype), yp
            return rng.normal(0.0, 1.0, (n, k)).astype(dtype), yp
        if loss.hard_labels:
            return np.eye(k, dtype=dtype)[rng.integers(0, k, n)], yp
        return rng.dirichlet(np.full(k, 0.5), n).astype(dtype), yp
    if loss.task is Task.BINARY and not soft_labels and isinstance(loss.y_true, Interval):
        yt = (rng.random(n) < 0.4).astype(np.float64)
    else:
        yt = loss.y_true.sample(rng, n)
    yp = loss.y_pred.sample(rng, n)
    if loss.prediction is Pred.VALUE:
        # Predictions near the targets, as a model's are, with a few far off.
        yp = yt + rng.normal(0.0, 1.5, n) * np.where(rng.random(n) < 0.05, 20.0, 1.0)
        lo = loss.y_pred.low if isinstance(loss.y_pred, Interval) else -math.inf
        yp = np.maximum(yp, lo + 1e-3) if math.isfinite(lo) else yp
    return yt.astype(dtype), yp.astype(dtype)


def perfect(loss: Loss, y: float) -> float:
    """The prediction that is exactly right for a label y (binary labels are 0/1 or -1/1)."""
    positive = y > 0
    if loss.prediction is Pred.VALUE:
        return y
    if loss.prediction is Pred.PROBABILITY:
        return 1.0 if positive else 0.0
    if loss.prediction is Pred.LOGIT:
        return math.inf if positive else -math.inf
    return 1.0 if positive else -1.0  # a score on the right side of the margin


def default_params(loss: Loss) -> dict[str, float]:
    return {p.name: p.default for p in loss.params}


def param_grid(loss: Loss) -> list[dict[str, float]]:
    """Defaults plus, per parameter, a small and a large value inside its range."""
    grid = [default_params(loss)]
    for p in loss.params:
        if isinstance(p.domain, OneOf):
            grid += [{**default_params(loss), p.name: v} for v in p.domain.values if v != p.default]
            continue
        lo = p.domain.low if math.isfinite(p.domain.low) else -10.0
        hi = p.domain.high if math.isfinite(p.domain.high) else 10.0
        for v in (lo + 0.01 * (hi - lo) + 1e-3, lo + 0.4 * (hi - lo)):
            if p.domain.contains(v):
                grid.append({**default_params(loss), p.name: v})
    return grid
