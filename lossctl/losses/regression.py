"""Regression losses. Kernels take ``(y_true, y_pred, *params)`` as float64 and return the loss.

Each kernel is plain Python over ``math`` so numba can compile it; its reference is vectorised
NumPy written independently (another formula where the kernel needs a trick for accuracy).
"""

from __future__ import annotations

import math

from lossctl._lazy import np
from lossctl._vecmath import vexp, vlog1p
from lossctl.domains import ABOVE_MINUS_ONE, EXTENDED_REALS, NON_NEGATIVE, POSITIVE, REALS, Interval, OneOf
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_tensor as _tt
from lossctl.registry import (
    CONVEX,
    NONNEGATIVE,
    SYMMETRIC,
    ZERO_AT_PERFECT,
    Convention,
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


@jit_helper
def sign(r: float) -> float:
    """The sign of r: 1, -1, or r itself at 0 (and NaN), the least-magnitude subgradient of |r|."""
    if r > 0.0:
        return 1.0
    if r < 0.0:
        return -1.0
    return r


def _mse_ref(y, p):  # type: ignore[no-untyped-def]
    return np.square(np.subtract(p, y))


def mse_grad(y: float, p: float) -> float:
    return 2.0 * (p - y)


@loss(
    name="mse",
    grad=mse_grad,
    aliases=("l2", "mean_squared_error"),
    summary="Mean squared error",
    formula="(y_pred - y_true)^2",
    reference=_mse_ref,
    properties=_ALL_PROPS,
    examples=(Example(1.0, 3.5, 6.25), Example(-2.0, -2.0, 0.0), Example(0.5, -0.25, 0.5625)),
    **_REGRESSION,
    compat={
        "torch": Convention("torch.nn.functional.mse_loss", call=lambda y, p: float(_F().mse_loss(_tt(p), _tt(y)))),
        "keras": Convention("keras.losses.mean_squared_error"),
        "sklearn": Convention(
            "sklearn.metrics.mean_squared_error", call=lambda y, p: float(_skm().mean_squared_error(y, p))
        ),
        "optax": Convention("optax.losses.squared_error"),
    },
)
def mse(y: float, p: float) -> float:
    r = p - y
    return r * r


def rmse_grad(y: float, p: float) -> float:
    return 2.0 * (p - y)  # of the per-sample term (y_pred - y_true)^2


@loss(
    name="rmse",
    grad=rmse_grad,
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
    compat={
        "sklearn": Convention(
            "sklearn.metrics.root_mean_squared_error", call=lambda y, p: float(_skm().root_mean_squared_error(y, p))
        ),
    },
    composed={"torch": lambda y, p: float(_F().mse_loss(_tt(p), _tt(y)).sqrt())},
)
def rmse(y: float, p: float) -> float:
    r = p - y
    return r * r


def mae_grad(y: float, p: float) -> float:
    return sign(p - y)  # 0 at p = y, between the one-sided slopes -1 and 1


@loss(
    name="mae",
    grad=mae_grad,
    aliases=("l1", "mean_absolute_error"),
    summary="Mean absolute error",
    formula="|y_pred - y_true|",
    reference=lambda y, p: np.abs(np.subtract(p, y)),
    properties=_ALL_PROPS,
    examples=(Example(1.0, 3.5, 2.5), Example(2.0, -1.0, 3.0), Example(7.0, 7.0, 0.0)),
    **_REGRESSION,
    compat={
        "torch": Convention("torch.nn.functional.l1_loss", call=lambda y, p: float(_F().l1_loss(_tt(p), _tt(y)))),
        "keras": Convention("keras.losses.mean_absolute_error"),
        "sklearn": Convention(
            "sklearn.metrics.mean_absolute_error", call=lambda y, p: float(_skm().mean_absolute_error(y, p))
        ),
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


def msle_grad(y: float, p: float) -> float:
    return 2.0 * log1p_diff(y, p) / (1.0 + p)


@loss(
    name="msle",
    grad=msle_grad,
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
    compat={
        "keras": Convention(
            "keras.losses.mean_squared_logarithmic_error",
            clip_pred=(1e-7, math.inf),
            clip_true=(1e-7, math.inf),
            notes=("Keras raises both inputs to at least 1e-7 before log1p: negative values count as 0.",),
        ),
        "sklearn": Convention(
            "sklearn.metrics.mean_squared_log_error", call=lambda y, p: float(_skm().mean_squared_log_error(y, p))
        ),
    },
    composed={"torch": lambda y, p: float(_F().mse_loss(_tt(p).log1p(), _tt(y).log1p()))},
)
def msle(y: float, p: float) -> float:
    return log1p_diff(y, p) ** 2


@jit_helper
def log1p_diff(y: float, p: float) -> float:
    """log1p(p) - log1p(y). That difference cancels when p is close to y; the log of their ratio
    does not (1 + y and p - y are exact there, by Sterbenz's lemma)."""
    q = (1.0 + p) / (1.0 + y)
    if 0.5 < q < 2.0:
        return vlog1p((p - y) / (1.0 + y))
    return vlog1p(p) - vlog1p(y)


def rmsle_grad(y: float, p: float) -> float:
    return 2.0 * log1p_diff(y, p) / (1.0 + p)  # of the per-sample squared log error


@loss(
    name="rmsle",
    grad=rmsle_grad,
    aliases=("root_mean_squared_log_error", "root_mean_squared_logarithmic_error"),
    summary="Root mean squared logarithmic error: the square root of the mean MSLE",
    formula="sqrt(mean((log1p(y_pred) - log1p(y_true))^2)); the per-sample term is the squared log error",
    reference=_msle_ref,
    y_true=ABOVE_MINUS_ONE,
    y_pred=ABOVE_MINUS_ONE,
    pred_hint="rmsle takes log1p of both columns",
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    cost="sqrt_mean",
    examples=(
        Example(0.0, math.e - 1.0, 1.0, why="per-sample term; the cost is the root of the mean"),
        Example(3.0, 3.0, 0.0),
    ),
    notes=("The per-sample value is the squared log error; only the aggregate takes the square root.",),
    task=Task.REGRESSION,
    prediction=Pred.VALUE,
    compat={
        "sklearn": Convention(
            "sklearn.metrics.root_mean_squared_log_error",
            call=lambda y, p: float(_skm().root_mean_squared_log_error(y, p)),
        ),
    },
)
def rmsle(y: float, p: float) -> float:
    return log1p_diff(y, p) ** 2


def _huber_ref(y, p, delta):  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore"):
        a = np.abs(np.subtract(p, y))
        linear = np.where(np.isinf(a), np.abs(np.subtract(np.multiply(delta, p), np.multiply(delta, y))), delta * a)
    return np.where(a <= delta, 0.5 * a * a, linear - 0.5 * delta * delta)


def huber_grad(y: float, p: float, delta: float) -> float:
    r = p - y
    return r if abs(r) <= delta else delta * sign(r)


@loss(
    name="huber",
    grad=huber_grad,
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
    compat={
        "torch": Convention(
            "torch.nn.functional.huber_loss",
            kwargs={"delta": "delta"},
            call=lambda y, p, delta=1.0: float(_F().huber_loss(_tt(p), _tt(y), delta=delta)),
        ),
        "keras": Convention("keras.losses.huber", kwargs={"delta": "delta"}),
        "optax": Convention("optax.losses.huber_loss", kwargs={"delta": "delta"}),
    },
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


def pseudo_huber_grad(y: float, p: float, delta: float) -> float:
    # r / sqrt(1 + (r / delta)^2) = r (delta / hypot(r, delta)): the factor is <= 1, nothing overflows
    r = p - y
    if abs(r) == math.inf:  # the residual overflowed: the slope has reached delta
        return delta * sign(r)
    return r * (delta / math.hypot(r, delta))


@loss(
    name="pseudo_huber",
    grad=pseudo_huber_grad,
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
    composed={
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
        s = sinh_small(0.5 * a)
        return vlog1p(2.0 * s * s)  # cosh(a) - 1 = 2 sinh(a/2)^2
    return a + vlog1p(vexp(-2.0 * a)) - LN2


@jit_helper
def sinh_small(h: float) -> float:
    """sinh(h) for |h| <= 1/2 by its Taylor series to h^15 (the next term is below 2^-60 of the
    result there): plain arithmetic, so a loop over log_cosh stays vectorisable."""
    z = h * h
    c = 1.0 / 1307674368000.0  # 1/15!
    c = 1.0 / 6227020800.0 + z * c  # 1/13!
    c = 1.0 / 39916800.0 + z * c  # 1/11!
    c = 1.0 / 362880.0 + z * c  # 1/9!
    c = 1.0 / 5040.0 + z * c  # 1/7!
    c = 1.0 / 120.0 + z * c  # 1/5!
    c = 1.0 / 6.0 + z * c  # 1/3!
    return h + h * (z * c)


def _log_cosh_ref(y, p):  # type: ignore[no-untyped-def]
    a = np.abs(np.subtract(p, y))
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.expm1(np.minimum(a, 700.0))
        small = np.log1p(e * e / (2.0 * (1.0 + e)))  # cosh(a) - 1 = expm1(a)^2 / (2 e^a)
    large = a - LN2 + np.log1p(np.exp(-2.0 * a))
    return np.where(a < 20.0, small, large)


def log_cosh_grad(y: float, p: float) -> float:
    return math.tanh(p - y)


@loss(
    name="log_cosh",
    grad=log_cosh_grad,
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
    compat={
        "keras": Convention("keras.losses.log_cosh"),
        "optax": Convention("optax.losses.log_cosh"),
    },
    composed={"torch": lambda y, p: float((_tt(p) - _tt(y)).cosh().log().mean())},  # overflows beyond 710
)
def log_cosh(y: float, p: float) -> float:
    return log_cosh_of(p - y)


def _smooth_l1_ref(y, p, beta):  # type: ignore[no-untyped-def]
    a = np.abs(np.subtract(p, y, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a < beta, 0.5 * a * (a / np.where(beta > 0, beta, 1.0)), a - 0.5 * beta)


def smooth_l1_grad(y: float, p: float, beta: float) -> float:
    r = p - y
    return r / beta if abs(r) < beta else sign(r)  # beta = 0: sign(r), 0 at r = 0


@loss(
    name="smooth_l1",
    grad=smooth_l1_grad,
    aliases=("smooth_l1_loss",),
    summary="Smooth L1 loss: quadratic below beta, then |r| - beta/2 (Huber divided by delta)",
    formula="0.5 r^2 / beta if |r| < beta else |r| - 0.5 beta, r = y_pred - y_true",
    reference=_smooth_l1_ref,
    params=(Param("beta", 1.0, NON_NEGATIVE, "beta is where the loss turns linear, >= 0 (0 gives the L1 loss)"),),
    properties=_ALL_PROPS,
    examples=(
        Example(0.0, 0.5, 0.125),
        Example(0.0, 3.0, 2.5, why="linear part: 3 - 0.5"),
        Example(0.0, 0.5, 0.5, {"beta": 0.0}, why="beta = 0 is the L1 loss"),
        Example(0.0, 1.0, 0.25, {"beta": 2.0}, why="0.5 * 1 / 2"),
    ),
    notes=("smooth_l1 with beta equals huber with delta = beta, divided by beta.",),
    **_REGRESSION,
    compat={
        "torch": Convention(
            "torch.nn.functional.smooth_l1_loss",
            kwargs={"beta": "beta"},
            call=lambda y, p, beta=1.0: float(_F().smooth_l1_loss(_tt(p), _tt(y), beta=beta)),
        ),
    },
)
def smooth_l1(y: float, p: float, beta: float) -> float:
    a = abs(p - y)
    if a < beta:
        return 0.5 * a * (a / beta)  # a / beta < 1: neither overflows nor underflows early
    return a - 0.5 * beta


def _mape_ref(y, p, eps=0.0, percent=0.0):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = np.abs(p - y)
        half = np.abs(0.5 * p - 0.5 * y) / np.maximum(np.abs(y), eps)  # where the difference overflowed
        out = np.where(d == 0, 0.0, np.where(np.isinf(d), 2.0 * half, d / np.maximum(np.abs(y), eps)))
    return out * (100.0 if percent else 1.0)


def mape_grad(y: float, p: float, eps: float, percent: float) -> float:
    r = p - y
    if r == 0.0:
        return 0.0  # the kink at p = y: 0 lies between the one-sided slopes -+1 / den
    den = max(abs(y), eps)
    g = sign(r) * math.inf if den == 0.0 else sign(r) / den  # den = 0: a miss on y = 0, IEEE +-inf
    return g * 100.0 if percent != 0.0 else g


@loss(
    name="mape",
    grad=mape_grad,
    aliases=("mean_absolute_percentage_error",),
    summary="Mean absolute percentage error, as a fraction (-p percent=1 for percent)",
    formula="|y_pred - y_true| / max(|y_true|, eps), times 100 with percent=1",
    reference=_mape_ref,
    params=(
        Param("eps", 0.0, NON_NEGATIVE, "eps is the least denominator, >= 0; 0 makes a miss on y_true = 0 infinite"),
        Param("percent", 0.0, OneOf((0.0, 1.0)), "percent=1 reports percent instead of a fraction"),
    ),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(2.0, 3.0, 0.5),
        Example(-4.0, -3.0, 0.25),
        Example(2.0, 3.0, 50.0, {"percent": 1.0}),
        Example(0.0, 1.0, math.inf, why="a miss on a zero target"),
        Example(0.0, 0.0, 0.0, why="an exact hit costs nothing, even on zero"),
        Example(0.0, 1.0, 1e7, {"eps": 1e-7}, why="denominator floored like Keras"),
    ),
    notes=(
        "A fraction by default, as scikit-learn reports it; Keras reports percent (100x).",
        "y_true = 0 with a miss is infinite unless eps floors the denominator (Keras 1e-7, scikit-learn 2.2e-16).",
    ),
    **_REGRESSION,
    compat={
        "keras": Convention("keras.losses.mean_absolute_percentage_error", params={"eps": 1e-7, "percent": 1.0}),
        "sklearn": Convention(
            "sklearn.metrics.mean_absolute_percentage_error",
            params={"eps": 2.0**-52},  # float64 machine epsilon
            call=lambda y, p, **_: float(_skm().mean_absolute_percentage_error(y, p)),
        ),
    },
)
def mape(y: float, p: float, eps: float, percent: float) -> float:
    d = abs(p - y)
    if d == 0.0:
        return 0.0
    if d == math.inf:  # p - y overflowed; its half does not
        out = 2.0 * (abs(0.5 * p - 0.5 * y) / max(abs(y), eps))
    else:
        out = d / max(abs(y), eps)
    return out * 100.0 if percent != 0.0 else out


def _smape_ref(y, p):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = np.abs(y) + np.abs(p)
        big = np.isinf(den)  # overflowed: the halves do not (inputs are finite)
        y = np.where(big, 0.5 * y, y)
        p = np.where(big, 0.5 * p, p)
        den = np.abs(y) + np.abs(p)
        return np.where(den == 0, 0.0, 2.0 * (np.abs(p - y) / np.where(den == 0, 1.0, den)))


def smape_grad(y: float, p: float) -> float:
    # 2 sign(r) (|y| + y sign(p)) / (|y| + |p|)^2: 4 sign(r) |y| / den^2 where y and p have the
    # same sign, 0 where they do not (the loss is the constant 2 there).
    r = p - y
    if r == 0.0 or p == 0.0:  # kinks: 0 lies between the one-sided slopes at p = y; at p = 0 one of them is 0
        return 0.0
    if (y < 0.0) != (p < 0.0):
        return 0.0
    a = abs(y)
    den = a + abs(p)
    if den == math.inf:  # the sum overflowed; the halves do not
        h = 0.5 * a + 0.5 * abs(p)
        return sign(r) * 2.0 * ((0.5 * a) / h) / h
    return sign(r) * 4.0 * (a / den) / den


@loss(
    name="smape",
    grad=smape_grad,
    aliases=("symmetric_mape",),
    summary="Symmetric mean absolute percentage error, as a fraction in [0, 2]",
    formula="2 |y_pred - y_true| / (|y_true| + |y_pred|), 0 when both are 0",
    reference=_smape_ref,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(1.0, 3.0, 1.0),
        Example(0.0, 5.0, 2.0, why="the largest value: one side is zero"),
        Example(0.0, 0.0, 0.0),
        Example(-2.0, 2.0, 2.0),
    ),
    notes=("Bounded by 2; no framework ships it (it is the forecasting-competition definition).",),
    **_REGRESSION,
)
def smape(y: float, p: float) -> float:
    den = abs(y) + abs(p)
    if den == 0.0:
        return 0.0
    if den == math.inf:  # the sum overflowed; the halves do not (inputs are finite)
        return 2.0 * (abs(0.5 * p - 0.5 * y) / (0.5 * abs(y) + 0.5 * abs(p)))
    return 2.0 * (abs(p - y) / den)


def _pinball_ref(y, p, quantile):  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore", invalid="ignore"):
        h = 0.5 * np.asarray(y, dtype=np.float64) - 0.5 * np.asarray(p, dtype=np.float64)
        r = np.subtract(y, p, dtype=np.float64)
        r_big = np.isinf(r)
        h = np.where(r_big, h, r)  # halves only where the difference overflowed
        scale = np.where(r_big, 2.0, 1.0)
        return scale * np.where(h >= 0, quantile * h, (quantile - 1.0) * h)


def pinball_grad(y: float, p: float, quantile: float) -> float:
    r = y - p
    if r > 0.0:
        return -quantile
    if r < 0.0:
        return 1.0 - quantile
    return 0.0  # at p = y, 0 lies between the one-sided slopes -q and 1 - q


@loss(
    name="pinball",
    grad=pinball_grad,
    aliases=("quantile", "quantile_loss", "mean_pinball_loss"),
    summary="Pinball (quantile) loss for the given quantile",
    formula="q (y - p) if y >= p else (1 - q) (p - y)",
    reference=_pinball_ref,
    params=(Param("quantile", 0.5, Interval(0.0, 1.0, True, True), "quantile is the target quantile q, in [0, 1]"),),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(3.0, 1.0, 1.0, why="q = 0.5: half the absolute error"),
        Example(3.0, 1.0, 1.8, {"quantile": 0.9}, why="under-prediction costs q"),
        Example(1.0, 3.0, 0.2, {"quantile": 0.9}, why="over-prediction costs 1 - q"),
    ),
    notes=(
        "Several quantiles at once: -p quantile=0.1,0.5,0.9 evaluates each (one result per value).",
        "At quantile 0.5 it is half the absolute error, as scikit-learn's mean_pinball_loss.",
    ),
    **_REGRESSION,
    compat={
        "sklearn": Convention(
            "sklearn.metrics.mean_pinball_loss",
            kwargs={"quantile": "alpha"},
            call=lambda y, p, quantile=0.5: float(_skm().mean_pinball_loss(y, p, alpha=quantile)),
        ),
    },
)
def pinball(y: float, p: float, quantile: float) -> float:
    r = y - p
    if abs(r) == math.inf:  # the difference overflowed; its halves do not
        h = 0.5 * y - 0.5 * p
        return 2.0 * (quantile * h if h >= 0.0 else (quantile - 1.0) * h)
    return quantile * r if r >= 0.0 else (quantile - 1.0) * r


_COUNTS = dict(task=Task.REGRESSION, y_true=NON_NEGATIVE, prediction=Pred.VALUE)


def _poisson_ref(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return p - np.where(y == 0, 0.0, y * np.log(p + eps))


def poisson_grad(y: float, p: float, eps: float) -> float:
    if y == 0.0:
        return 1.0
    d = p + eps
    if d == 0.0:  # a zero rate with a count: the loss is inf, its slope -inf
        return -math.inf
    return (d - y) / d  # 1 - y / (p + eps), without cancellation when the rate is near y


@loss(
    name="poisson",
    grad=poisson_grad,
    aliases=("poisson_nll", "poisson_loss"),
    summary="Poisson negative log-likelihood of counts given a predicted rate (without the log y! term)",
    formula="p - y log(p + eps), p = y_pred a rate >= 0",
    reference=_poisson_ref,
    y_pred=NON_NEGATIVE,
    pred_hint="poisson takes a rate >= 0; for a log-rate use --loss poisson_log",
    params=(Param("eps", 0.0, NON_NEGATIVE, "eps is added to the rate inside the log, >= 0"),),
    properties=frozenset({CONVEX}),
    examples=(
        Example(2.0, 2.0, 2.0 - 2.0 * math.log(2.0)),
        Example(0.0, 3.0, 3.0, why="a zero count costs the rate"),
        Example(1.0, 0.0, math.inf, why="a zero rate cannot produce a count"),
        Example(0.0, 0.0, 0.0),
        Example(1.0, 0.0, -math.log(1e-8), {"eps": 1e-8}, why="PyTorch's eps"),
    ),
    notes=(
        "The constant log(y!) is left out, as PyTorch (full=False) and Keras do; the minimum is not 0.",
        "PyTorch adds eps = 1e-8 inside the log, Keras 1e-7; lossctl adds nothing unless asked.",
    ),
    **_COUNTS,
    compat={
        "torch": Convention(
            "torch.nn.functional.poisson_nll_loss(log_input=False)",
            params={"eps": 1e-8},
            kwargs={"eps": "eps"},
            call=lambda y, p, eps=1e-8: float(_F().poisson_nll_loss(_tt(p), _tt(y), log_input=False, eps=eps)),
        ),
        "keras": Convention("keras.losses.poisson", params={"eps": 1e-7}),
    },
)
def poisson(y: float, p: float, eps: float) -> float:
    if y == 0.0:
        return p
    return p - y * math.log(p + eps)


def _poisson_log_ref(y, x):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        out = e - np.where(y == 0, 0.0, y * x)
    return np.where(np.isinf(e), np.inf, out)


def poisson_log_grad(y: float, x: float) -> float:
    if x > 709.782712893384:  # log of the largest float: exp(x) overflows, as the loss does
        return math.inf
    return math.exp(x) - y


@loss(
    name="poisson_log",
    grad=poisson_log_grad,
    aliases=("poisson_nll_log", "poisson_log_rate"),
    summary="Poisson negative log-likelihood given a predicted log-rate (without the log y! term)",
    formula="exp(x) - y x, x = y_pred a log-rate",
    reference=_poisson_log_ref,
    y_pred=EXTENDED_REALS,
    properties=frozenset({CONVEX}),
    examples=(
        Example(2.0, math.log(2.0), 2.0 - 2.0 * math.log(2.0)),
        Example(0.0, 0.0, 1.0),
        Example(0.0, -math.inf, 0.0, why="a zero rate and a zero count"),
        Example(3.0, math.inf, math.inf),
    ),
    notes=("PyTorch's default (log_input=True); equals poisson on exp(x).",),
    **_COUNTS,
    compat={
        "torch": Convention(
            "torch.nn.functional.poisson_nll_loss(log_input=True)",
            call=lambda y, x: float(_F().poisson_nll_loss(_tt(x), _tt(y), log_input=True)),
        ),
    },
)
def poisson_log(y: float, x: float) -> float:
    e = math.exp(x)
    if e == math.inf:  # exp(x) outgrows y x
        return math.inf
    if y == 0.0:
        return e
    return e - y * x


@jit_helper
def gamma_half_deviance(y: float, p: float) -> float:
    """log(p / y) + y / p - 1 = d - log1p(d), d = (y - p) / p. Near d = 0 the subtraction cancels,
    so there it is the series sum_{k>=2} (-d)^k / k (|d| < 1/4: 30 terms reach 1e-19 relative);
    elsewhere log p - log y + d, which stays finite when y / p under- or overflows."""
    d = (y - p) / p  # y - p is exact when y ~ p
    if abs(d) < 0.25:
        s = 0.0
        for k in range(31, 1, -1):  # Horner, from the smallest term
            s = 1.0 / k - d * s
        return d * d * s
    r = y / p
    if 1e-300 < r < 1e300:  # the ratio is exact to an ulp: its log loses nothing at any scale
        return d - math.log(r)
    return (math.log(p) - math.log(y)) + d


@jit_helper
def poisson_half_deviance(y: float, p: float) -> float:
    """y log(y / p) - y + p = p ((1 + d) log1p(d) - d), d = (y - p) / p: by the series
    sum_{k>=2} (-d)^k / (k (k - 1)) near d = 0, where the direct form cancels."""
    if y == 0.0:
        return p
    d = (y - p) / p
    if abs(d) < 0.25:
        s = 0.0
        for k in range(31, 1, -1):
            s = 1.0 / (k * (k - 1)) - d * s
        return p * (d * d * s)
    r = y / p
    if 1e-300 < r < 1e300:
        return y * math.log(r) - y + p
    return y * (math.log(y) - math.log(p)) - y + p


def _series(d, coef):  # type: ignore[no-untyped-def]
    """sum_{k=2}^{40} (-d)^k coef(k), summed from the smallest term (for the references)."""
    out = np.zeros_like(d)
    for k in range(40, 1, -1):
        out = out + coef(k) * np.power(-d, k)
    return out


def _poisson_dev_ref(y, p):  # type: ignore[no-untyped-def]
    # y log(y/p) - y + p = p g(d) with d = y/p - 1 and g(d) = (1 + d) log(1 + d) - d.
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ylog = np.where(y == 0, 0.0, y * (np.log(np.where(y == 0, 1.0, y)) - np.log(p)))
        direct = ylog - y + p
        d = (y - p) / p  # y - p is exact when y ~ p; y / p - 1 would not be
        near = p * _series(np.where(np.abs(d) < 0.2, d, 0.0), lambda k: 1.0 / (k * (k - 1)))
    return 2.0 * np.where(np.abs(d) < 0.2, near, direct)


def poisson_deviance_grad(y: float, p: float) -> float:
    return 2.0 * ((p - y) / p)  # 2 (1 - y / p)


@loss(
    name="poisson_deviance",
    grad=poisson_deviance_grad,
    aliases=("mean_poisson_deviance",),
    summary="Poisson deviance: twice the log-likelihood ratio against a perfect prediction",
    formula="2 (y log(y / p) - y + p), 0 log 0 = 0, p = y_pred > 0",
    reference=_poisson_dev_ref,
    y_pred=POSITIVE,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(2.0, 2.0, 0.0),
        Example(0.0, 1.5, 3.0, why="2 * p for a zero count"),
        Example(1.0, math.e, 2.0 * (-1.0 - 1.0 + math.e)),
    ),
    **_COUNTS,
    compat={
        "sklearn": Convention(
            "sklearn.metrics.mean_poisson_deviance", call=lambda y, p: float(_skm().mean_poisson_deviance(y, p))
        ),
    },
)
def poisson_deviance(y: float, p: float) -> float:
    return 2.0 * poisson_half_deviance(y, p)


def _gamma_ref(y, p):  # type: ignore[no-untyped-def]
    # log(p/y) + y/p - 1 = f(d), d = y/p - 1, f(d) = d - log(1 + d).
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = (y - p) / p  # y - p is exact when y ~ p; y / p - 1 would not be
        direct = np.log(p) - np.log(y) + d
        near = _series(np.where(np.abs(d) < 0.2, d, 0.0), lambda k: 1.0 / k)
    return 2.0 * np.where(np.abs(d) < 0.2, near, direct)


def gamma_deviance_grad(y: float, p: float) -> float:
    return 2.0 * ((p - y) / p) / p  # 2 (p - y) / p^2


@loss(
    name="gamma_deviance",
    grad=gamma_deviance_grad,
    aliases=("mean_gamma_deviance", "gamma"),
    summary="Gamma deviance, for strictly positive skewed targets",
    formula="2 (log(p / y) + y / p - 1), y, p > 0",
    reference=_gamma_ref,
    y_true=POSITIVE,
    y_pred=POSITIVE,
    task=Task.REGRESSION,
    prediction=Pred.VALUE,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(Example(2.0, 2.0, 0.0), Example(1.0, 2.0, 2.0 * (math.log(2.0) - 0.5))),
    notes=("Scale-free: multiplying y and p by the same factor leaves it unchanged.",),
    compat={
        "sklearn": Convention(
            "sklearn.metrics.mean_gamma_deviance", call=lambda y, p: float(_skm().mean_gamma_deviance(y, p))
        ),
    },
)
def gamma_deviance(y: float, p: float) -> float:
    return 2.0 * gamma_half_deviance(y, p)


def _tweedie_ref(y, p, power):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if power == 1.0:
        return _poisson_dev_ref(y, p)
    if power == 2.0:
        return _gamma_ref(y, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.power(y, 2.0 - power) / ((1.0 - power) * (2.0 - power))
        dev = 2.0 * (a - y * np.power(p, 1.0 - power) / (1.0 - power) + np.power(p, 2.0 - power) / (2.0 - power))
    return np.maximum(dev, 0.0)  # the deviance is >= 0; rounding in the cancelling sum is not


def tweedie_grad(y: float, p: float, power: float) -> float:
    # 2 (p - y) p^-k. The kernel's max(dev, 0) only undoes rounding (the deviance is >= 0, with
    # slope 0 at its minimum p = y), so it adds no kink.
    if y == 0.0 and power >= 2.0:
        return math.nan  # the deviance is inf for every p: its slope is undefined
    if p == y:
        return 0.0  # the minimum, also where p^(1 - k) overflows (a tiny p)
    g = 2.0 * ((p - y) / p)
    if power == 1.0:
        return g
    if power == 2.0:
        return g / p
    return g * p ** (1.0 - power)


@loss(
    name="tweedie",
    grad=tweedie_grad,
    aliases=("tweedie_deviance", "mean_tweedie_deviance"),
    summary="Tweedie deviance with a power parameter (1 Poisson, 2 gamma, between: compound Poisson-gamma)",
    formula="2 (y^(2-k) / ((1-k)(2-k)) - y p^(1-k) / (1-k) + p^(2-k) / (2-k)), k = power",
    reference=_tweedie_ref,
    y_pred=POSITIVE,
    params=(
        Param(
            "power",
            1.5,
            Interval(1.0, math.inf, True, False),
            "power >= 1: 1 is Poisson, 2 gamma, 3 inverse Gaussian (power 0 is mse)",
        ),
    ),
    properties=frozenset({NONNEGATIVE}),
    examples=(
        Example(2.0, 2.0, 0.0, {"power": 1.0}),
        Example(0.0, 1.5, 3.0, {"power": 1.0}, why="Poisson deviance"),
        Example(1.0, 2.0, 2.0 * (math.log(2.0) - 0.5), {"power": 2.0}, why="gamma deviance"),
        Example(0.0, 4.0, 8.0, {"power": 1.5}, why="2 p^0.5 / 0.5 for a zero target"),
    ),
    notes=("For power >= 2 a zero target has infinite deviance (its distribution has no mass at 0).",),
    **_COUNTS,
    compat={
        "sklearn": Convention(
            "sklearn.metrics.mean_tweedie_deviance",
            kwargs={"power": "power"},
            call=lambda y, p, power=1.5: float(_skm().mean_tweedie_deviance(y, p, power=power)),
        ),
    },
)
def tweedie(y: float, p: float, power: float) -> float:
    if power == 2.0:
        return 2.0 * gamma_half_deviance(y, p)
    if power == 1.0:
        return 2.0 * poisson_half_deviance(y, p)
    if y == 0.0:
        if power > 2.0:
            return math.inf
        return 2.0 * p ** (2.0 - power) / (2.0 - power)
    a = y ** (2.0 - power) / ((1.0 - power) * (2.0 - power))
    dev = 2.0 * (a - y * p ** (1.0 - power) / (1.0 - power) + p ** (2.0 - power) / (2.0 - power))
    return max(dev, 0.0)  # the deviance is >= 0; rounding in the cancelling sum is not


HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _gaussian_nll_ref(y, mv, eps=0.0, full=0.0):  # type: ignore[no-untyped-def]
    mv = np.asarray(mv, dtype=float)
    var = np.maximum(mv[:, 1], eps)
    r = np.asarray(y, dtype=float) - mv[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * (np.log(var) + r * (r / var)) + (HALF_LOG_2PI if full else 0.0)


def gaussian_nll_grad(y: float, mv, out, eps: float, full: float) -> None:  # type: ignore[no-untyped-def]
    var = max(mv[1], eps)
    r = y - mv[0]
    if var == 0.0:  # a zero variance and no floor: the loss is undefined; -r / 0 and nan, as IEEE gives
        out[0] = -r * math.inf
        out[1] = math.nan
        return
    q = r / var
    out[0] = -q
    # 0 where eps floors the variance, and at the floor itself (one of the one-sided slopes is 0)
    out[1] = 0.5 * (1.0 / var - q * q) if mv[1] > eps else 0.0


@loss(
    name="gaussian_nll",
    grad=gaussian_nll_grad,
    aliases=("gaussian_nll_loss", "normal_nll", "heteroscedastic"),
    summary="Gaussian negative log-likelihood of a predicted mean and variance",
    formula="0.5 (log v + (y - mu)^2 / v) [+ 0.5 log 2 pi with full=1], v = max(var, eps)",
    reference=_gaussian_nll_ref,
    task=Task.REGRESSION,
    y_true=REALS,
    y_pred=(REALS, NON_NEGATIVE),
    prediction=Pred.VALUE,
    pred_columns=(
        ("mean", ("mean", "mu", "y_pred", "pred", "prediction")),
        ("var", ("var", "variance", "y_var", "sigma2", "pred_var")),
    ),
    pred_hint="the variance column must be >= 0",
    params=(
        Param("eps", 0.0, NON_NEGATIVE, "eps is the least variance used, >= 0 (PyTorch: 1e-6)"),
        Param("full", 0.0, OneOf((0.0, 1.0)), "full=1 adds the constant 0.5 log(2 pi)"),
    ),
    examples=(
        Example(1.0, [1.0, 1.0], 0.0),
        Example(3.0, [1.0, 2.0], 0.5 * (math.log(2.0) + 2.0)),
        Example(1.0, [1.0, 1.0], HALF_LOG_2PI, {"full": 1.0}),
        Example(0.0, [0.0, 0.0], 0.5 * math.log(1e-6), {"eps": 1e-6}, why="variance floored like PyTorch"),
    ),
    notes=(
        "Two prediction columns: the mean and the variance (not the standard deviation).",
        "A variance of 0 is undefined unless eps floors it; PyTorch floors at 1e-6.",
    ),
    compat={
        "torch": Convention(
            "torch.nn.functional.gaussian_nll_loss",
            params={"eps": 1e-6},
            kwargs={"eps": "eps", "full": "full"},
            call=lambda y, mv, eps=1e-6, full=0.0: float(
                _F().gaussian_nll_loss(_tt(mv)[:, 0], _tt(y), _tt(mv)[:, 1], full=bool(full), eps=eps)
            ),
        ),
    },
)
def gaussian_nll(y: float, mv, eps: float, full: float) -> float:  # type: ignore[no-untyped-def]
    var = max(mv[1], eps)
    r = y - mv[0]
    out = 0.5 * (math.log(var) + r * (r / var))  # r (r / var): no early overflow of r^2
    return out + HALF_LOG_2PI if full != 0.0 else out
