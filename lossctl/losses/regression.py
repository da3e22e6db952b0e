"""Regression losses. Kernels take ``(y_true, y_pred, *params)`` as float64 and return the loss.

Each kernel is plain Python over ``math`` so numba can compile it; its reference is vectorised
NumPy written independently (another formula where the kernel needs a trick for accuracy).
"""

from __future__ import annotations

import math

from lossctl._lazy import np
from lossctl.domains import ABOVE_MINUS_ONE, POSITIVE, REALS
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_tensor as _tt
from lossctl.registry import (
    CONVEX,
    NONNEGATIVE,
    SYMMETRIC,
    ZERO_AT_PERFECT,
    Example,
    Param,
    Pred,
    Task,
    jit_helper,
    loss,
)

_REGRESSION = dict(task=Task.REGRESSION, y_true=REALS, y_pred=REALS, prediction=Pred.VALUE)
_ALL_PROPS = frozenset({NONNEGATIVE, ZERO_AT_PERFECT, SYMMETRIC, CONVEX})
_DELTA = Param("delta", 1.0, POSITIVE, "delta is where the loss turns from quadratic to linear, > 0")
LN2 = math.log(2.0)


def _mse_ref(y, p):  # type: ignore[no-untyped-def]
    return np.square(np.subtract(p, y))


@loss(
    name="mse",
    aliases=("l2", "mean_squared_error"),
    summary="Mean squared error",
    formula="(y_pred - y_true)^2",
    reference=_mse_ref,
    properties=_ALL_PROPS,
    examples=(Example(1.0, 3.5, 6.25), Example(-2.0, -2.0, 0.0), Example(0.5, -0.25, 0.5625)),
    **_REGRESSION,
    frameworks={
        "torch": lambda y, p: float(_F().mse_loss(_tt(p), _tt(y))),
        "sklearn": lambda y, p: float(_skm().mean_squared_error(y, p)),
    },
)
def mse(y: float, p: float) -> float:
    r = p - y
    return r * r


@loss(
    name="rmse",
    aliases=("root_mean_squared_error",),
    summary="Root mean squared error: the square root of the mean of (y_pred - y_true)^2",
    formula="sqrt(mean((y_pred - y_true)^2)); the per-sample term is (y_pred - y_true)^2",
    reference=_mse_ref,
    properties=_ALL_PROPS,
    cost="sqrt_mean",
    examples=(
        Example(1.0, 3.5, 6.25, why="per-sample term; the cost is the root of the mean"),
        Example(-1.0, -1.0, 0.0),
    ),
    notes=("The per-sample value is the squared error; only the aggregate takes the square root.",),
    **_REGRESSION,
    frameworks={
        "torch": lambda y, p: float(_F().mse_loss(_tt(p), _tt(y)).sqrt()),
        "sklearn": lambda y, p: float(_skm().root_mean_squared_error(y, p)),
    },
)
def rmse(y: float, p: float) -> float:
    r = p - y
    return r * r


@loss(
    name="mae",
    aliases=("l1", "mean_absolute_error"),
    summary="Mean absolute error",
    formula="|y_pred - y_true|",
    reference=lambda y, p: np.abs(np.subtract(p, y)),
    properties=_ALL_PROPS,
    examples=(Example(1.0, 3.5, 2.5), Example(2.0, -1.0, 3.0), Example(7.0, 7.0, 0.0)),
    **_REGRESSION,
    frameworks={
        "torch": lambda y, p: float(_F().l1_loss(_tt(p), _tt(y))),
        "sklearn": lambda y, p: float(_skm().mean_absolute_error(y, p)),
    },
)
def mae(y: float, p: float) -> float:
    return abs(p - y)


def _msle_ref(y, p):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(all="ignore"):
        ratio = (1.0 + p) / (1.0 + y)
        near = np.log1p((p - y) / (1.0 + y))  # log of a ratio near 1 without cancellation
        far = np.log1p(p) - np.log1p(y)
    return np.square(np.where((ratio > 0.5) & (ratio < 2.0), near, far))


@loss(
    name="msle",
    aliases=("mean_squared_logarithmic_error",),
    summary="Mean squared logarithmic error",
    formula="(log1p(y_pred) - log1p(y_true))^2, inputs > -1",
    reference=_msle_ref,
    y_true=ABOVE_MINUS_ONE,
    y_pred=ABOVE_MINUS_ONE,
    pred_hint="msle takes log1p of both columns",
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(0.0, math.e - 1.0, 1.0, why="log1p(e - 1) = 1"),
        Example(3.0, 3.0, 0.0),
        Example(1.0, 0.0, LN2 * LN2),
    ),
    task=Task.REGRESSION,
    prediction=Pred.VALUE,
    frameworks={
        "torch": lambda y, p: float(_F().mse_loss(_tt(p).log1p(), _tt(y).log1p())),
        "sklearn": lambda y, p: float(_skm().mean_squared_log_error(y, p)),
    },
)
def msle(y: float, p: float) -> float:
    # log1p(p) - log1p(y) cancels when p is close to y; the log of their ratio does not.
    # (1 + y and p - y are exact there, by Sterbenz's lemma.)
    q = (1.0 + p) / (1.0 + y)
    if 0.5 < q < 2.0:
        d = math.log1p((p - y) / (1.0 + y))
    else:
        d = math.log1p(p) - math.log1p(y)
    return d * d


def _huber_ref(y, p, delta):  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore"):
        a = np.abs(np.subtract(p, y))
        linear = np.where(np.isinf(a), np.abs(np.subtract(np.multiply(delta, p), np.multiply(delta, y))), delta * a)
    return np.where(a <= delta, 0.5 * a * a, linear - 0.5 * delta * delta)


@loss(
    name="huber",
    aliases=("huber_loss",),
    summary="Huber loss: quadratic for small residuals, linear beyond delta",
    formula="0.5 r^2 if |r| <= delta else delta (|r| - 0.5 delta), r = y_pred - y_true",
    reference=_huber_ref,
    params=(_DELTA,),
    properties=_ALL_PROPS,
    examples=(
        Example(0.0, 0.5, 0.125),
        Example(0.0, 2.0, 1.5, why="linear part: 1 * (2 - 0.5)"),
        Example(0.0, -3.0, 4.0, {"delta": 2.0}, why="2 * (3 - 0.5 * 2)"),
        Example(0.0, 1.0, 0.5, why="at |r| = delta both pieces give 0.5"),
    ),
    notes=("Matches PyTorch HuberLoss, Keras Huber and Optax huber_loss (0.5 r^2 inside delta).",),
    **_REGRESSION,
    frameworks={"torch": lambda y, p, delta: float(_F().huber_loss(_tt(p), _tt(y), delta=delta))},
)
def huber(y: float, p: float, delta: float) -> float:
    a = abs(p - y)
    if a <= delta:
        return 0.5 * a * a
    if a == math.inf:  # the residual overflows but delta * residual may not
        return abs(delta * p - delta * y) - 0.5 * delta * delta
    return delta * (a - 0.5 * delta)


def _pseudo_huber_ref(y, p, delta):  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore", under="ignore"):
        a = np.abs(np.subtract(p, y, dtype=np.float64))
        t = np.minimum(a / delta, 1.0)
        inside = np.square(a) / (np.sqrt(1.0 + t * t) + 1.0)  # delta^2 t^2 / (sqrt(1 + t^2) + 1)
        da = np.where(np.isinf(a), np.abs(delta * np.asarray(p, float) - delta * np.asarray(y, float)), delta * a)
        outside = np.hypot(da, delta * delta) - delta * delta  # delta (sqrt(a^2 + delta^2) - delta)
    return np.where(a <= delta, inside, outside)


@loss(
    name="pseudo_huber",
    aliases=("pseudohuber", "smooth_huber"),
    summary="Pseudo-Huber loss: a smooth approximation of Huber",
    formula="delta^2 (sqrt(1 + (r / delta)^2) - 1), r = y_pred - y_true",
    reference=_pseudo_huber_ref,
    params=(_DELTA,),
    properties=_ALL_PROPS,
    examples=(
        Example(0.0, 1.0, math.sqrt(2.0) - 1.0),
        Example(1.0, -1.0, 4.0 * (math.sqrt(2.0) - 1.0), {"delta": 2.0}),
        Example(0.0, 0.0, 0.0),
    ),
    notes=(
        "Computed as delta r^2 / (hypot(r, delta) + delta), without cancellation, so tiny residuals keep "
        "full precision and no extreme delta overflows.",
    ),
    **_REGRESSION,
    frameworks={
        # PyTorch has no pseudo-Huber: the expression a PyTorch user writes.
        "torch": lambda y, p, delta: float((delta**2 * (((_tt(p) - _tt(y)) / delta) ** 2 + 1).sqrt() - delta**2).mean())
    },
)
def pseudo_huber(y: float, p: float, delta: float) -> float:
    # delta^2 (sqrt(1 + (a/delta)^2) - 1) = delta a^2 / (h + delta), h = hypot(a, delta): no
    # cancellation. Ordered as n * (a * (m / (h + delta))) with m = max(a, delta), n = min(a, delta),
    # every factor is at most its input, so nothing overflows or underflows unless the loss does,
    # for any delta. Branch-free but for the overflowed residual, so the loop vectorises.
    a = abs(p - y)
    m = max(a, delta)
    n = min(a, delta)
    r = n / m
    h = m * math.sqrt(1.0 + r * r)
    out = n * (a * (m / (h + delta)))
    if a == math.inf:  # the residual overflows but delta * residual may not; then h - delta ~ a
        out = abs(delta * p - delta * y) - delta * delta
    return out


@jit_helper
def log_cosh_of(r: float) -> float:
    """log(cosh(r)) without overflow for large |r| and without cancellation for small |r|."""
    a = abs(r)
    if a < 1.0:
        s = math.sinh(0.5 * a)
        return math.log1p(2.0 * s * s)  # cosh(a) - 1 = 2 sinh(a/2)^2
    return a + math.log1p(math.exp(-2.0 * a)) - LN2


def _log_cosh_ref(y, p):  # type: ignore[no-untyped-def]
    a = np.abs(np.subtract(p, y))
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.expm1(np.minimum(a, 700.0))
        small = np.log1p(e * e / (2.0 * (1.0 + e)))  # cosh(a) - 1 = expm1(a)^2 / (2 e^a)
    large = a - LN2 + np.log1p(np.exp(-2.0 * a))
    return np.where(a < 20.0, small, large)


@loss(
    name="log_cosh",
    aliases=("logcosh",),
    summary="Log-cosh loss: about r^2 / 2 for small residuals and |r| - log 2 for large ones",
    formula="log(cosh(y_pred - y_true))",
    reference=_log_cosh_ref,
    properties=_ALL_PROPS,
    examples=(
        Example(0.0, 1.0, math.log(math.cosh(1.0))),
        Example(2.0, 2.0, 0.0),
        Example(0.0, 1000.0, 1000.0 - LN2, why="cosh(1000) overflows; the stable form does not"),
    ),
    notes=("Stable for all finite residuals: no overflow at |r| > 710, full precision near 0.",),
    **_REGRESSION,
    frameworks={"torch": lambda y, p: float((_tt(p) - _tt(y)).cosh().log().mean())},  # composed; overflows > 710
)
def log_cosh(y: float, p: float) -> float:
    return log_cosh_of(p - y)
