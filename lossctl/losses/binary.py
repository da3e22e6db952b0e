"""Binary classification losses. Kernels take ``(y_true, y_pred, *params)`` as float64.

Labels are in [0, 1] for the cross-entropies (soft labels allowed) and {-1, 0, 1} for the hinge
losses, where a label > 0 is the positive class. No probability is clipped unless the user asks
with ``eps``: p = 0 for a positive label is an infinite loss, as the mathematics says.
"""

from __future__ import annotations

import math

from lossctl._lazy import np
from lossctl._vecmath import vexp, vlog, vlog1p
from lossctl.domains import EXTENDED_REALS, NON_NEGATIVE, PROBABILITY, REALS, Interval, OneOf
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_signed as _ts
from lossctl.frameworks import torch_tensor as _tt
from lossctl.registry import (
    CONVEX,
    NONNEGATIVE,
    ZERO_AT_PERFECT,
    Convention,
    Example,
    Param,
    Pred,
    Task,
    jit_helper,
    loss,
)

_EPS = Param(
    "eps",
    0.0,
    Interval(0.0, 0.5, True, False),
    "eps clips probabilities to [eps, 1 - eps] before the log; 0 means no clipping",
)
_SMOOTHING = Param(
    "label_smoothing",
    0.0,
    Interval(0.0, 1.0, True, True),
    "label_smoothing s moves each label toward 1/2: y (1 - s) + s / 2, s in [0, 1]",
)
_LOG_FLOOR = Param(
    "log_floor",
    -math.inf,
    Interval(-math.inf, 0.0, True, True),
    "log_floor clamps each log from below (PyTorch's BCELoss uses -100); -inf means no clamp",
)
_CE_NOTES = (
    "No clipping by default: p = 0 with a positive label gives inf (PyTorch clamps log at -100, "
    "Keras clips p to [1e-7, 1 - 1e-7], scikit-learn to machine epsilon). Pass -p eps=1e-7 to clip.",
    "0 log 0 is taken as 0, so p = 0 with label 0 costs nothing.",
)
_HINGE_LABELS = OneOf((-1.0, 0.0, 1.0))


def _xlogy(x, y):  # type: ignore[no-untyped-def]
    """x * log(y), 0 where x == 0 (even if y == 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _smooth(y, s):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    return y * (1.0 - s) + 0.5 * s if s else y


def _bce_ref(y, p, eps=0.0, log_floor=-math.inf, label_smoothing=0.0):  # type: ignore[no-untyped-def]
    y = _smooth(y, label_smoothing)
    p = np.clip(p, eps, 1.0 - eps) if eps > 0 else np.asarray(p, dtype=float)
    one_minus_y = 1.0 - y
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.maximum(np.log(p), log_floor)
        log_q = np.maximum(np.log1p(-p), log_floor)
        return -(np.where(y == 0, 0.0, y * log_p) + np.where(one_minus_y == 0, 0.0, one_minus_y * log_q))


def bce_grad(y: float, p: float, eps: float, log_floor: float, label_smoothing: float) -> float:
    y = smoothed(y, label_smoothing, 2.0)
    if eps > 0.0 and (p < eps or p > 1.0 - eps):
        return 0.0  # clipped to [eps, 1 - eps]: flat
    # One-sided slopes: the clip at an end, like a log at its floor, is flat on the outer side.
    left = 0.0 if eps > 0.0 and p == eps else prob_ce_slope(y, p, log_floor, -1.0)
    right = 0.0 if eps > 0.0 and p == 1.0 - eps else prob_ce_slope(y, p, log_floor, 1.0)
    return least_subgradient(left, right)


@loss(
    name="bce",
    grad=bce_grad,
    aliases=("log_loss", "binary_crossentropy", "binary_cross_entropy", "logloss"),
    task=Task.BINARY,
    summary="Binary cross-entropy on probabilities",
    formula="-(y log p + (1 - y) log(1 - p)), p = y_pred in [0, 1]",
    reference=_bce_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_hint="bce takes probabilities; for logits use --loss bce_logits",
    params=(_EPS, _LOG_FLOOR, _SMOOTHING),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(1.0, 0.5, math.log(2.0)),
        Example(0.0, 0.9, -math.log(0.1)),
        Example(1.0, 0.0, math.inf, why="no clipping: -log 0"),
        Example(0.0, 0.0, 0.0, why="0 log 0 = 0"),
        Example(1.0, 0.0, -math.log(1e-7), {"eps": 1e-7}, why="clipped like Keras"),
        Example(1.0, 0.0, 100.0, {"log_floor": -100.0}, why="log clamped like PyTorch"),
        Example(1.0, 0.5, math.log(2.0), {"label_smoothing": 0.2}, why="at p = 1/2 smoothing changes nothing"),
    ),
    notes=_CE_NOTES,
    compat={
        "torch": Convention(
            "torch.nn.functional.binary_cross_entropy",
            params={"log_floor": -100.0},
            call=lambda y, p: float(_F().binary_cross_entropy(_tt(p), _tt(y))),
            notes=("Each log is clamped at -100: a certain wrong answer costs 100.",),
        ),
        "keras": Convention(
            "keras.losses.binary_crossentropy",
            clip_pred=(1e-7, 1.0 - 1e-7),
            kwargs={"label_smoothing": "label_smoothing"},
            notes=("Probabilities are clipped to [1e-7, 1 - 1e-7] in float32: a certain wrong answer costs ~16.",),
        ),
        "sklearn": Convention(
            "sklearn.metrics.log_loss",
            clip_pred=(2.0**-52, 1.0 - 2.0**-52),
            call=lambda y, p: float(_skm().log_loss(y, p, labels=[0, 1])),
            notes=("Probabilities are clipped to machine epsilon: a certain wrong answer costs ~36.04.",),
        ),
    },
)
def bce(y: float, p: float, eps: float, log_floor: float, label_smoothing: float) -> float:
    y = smoothed(y, label_smoothing, 2.0)
    if eps > 0.0:
        p = min(max(p, eps), 1.0 - eps)
    return prob_ce(y, p, log_floor)


@jit_helper
def smoothed(y: float, s: float, k: float) -> float:
    """A label moved toward the uniform one over k classes: y (1 - s) + s / k."""
    if s == 0.0:
        return y
    return y * (1.0 - s) + s / k


@jit_helper
def prob_ce(y: float, p: float, log_floor: float) -> float:
    """-(y log p + (1 - y) log(1 - p)), each log floored; a zero coefficient drops its term."""
    out = 0.0
    if y != 0.0:
        out -= y * max(vlog(p), log_floor)
    if y != 1.0:
        out -= (1.0 - y) * max(vlog1p(-p), log_floor)
    return out


@jit_helper
def logit_ce(y: float, x: float, pos_weight: float) -> float:
    """pos_weight y softplus(-x) + (1 - y) softplus(x): cross-entropy of the logit x. Both
    softplus share log1p(e^-|x|) (see ``softplus``), computed once."""
    tail = vlog1p(vexp(-abs(x)))
    out = 0.0
    if y != 0.0:
        out += pos_weight * y * (max(-x, 0.0) + tail)
    if y != 1.0:
        out += (1.0 - y) * (max(x, 0.0) + tail)
    return out


@jit_helper
def softplus(x: float) -> float:
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, exact for x = +-inf, and no
    branch (the loop stays vectorisable)."""
    return max(x, 0.0) + vlog1p(vexp(-abs(x)))


@jit_helper
def prob_ce_slope(y: float, p: float, log_floor: float, side: float) -> float:
    """The one-sided derivative of prob_ce in p, right for side > 0, left for side < 0:
    (1 - y) / (1 - p) - y / p, where a zero coefficient drops its term, a log below log_floor is
    flat, one equal to it is flat on the side where it drops below, and p = 0 or 1 gives the
    infinite slope without dividing by 0."""
    out = 0.0
    if y != 0.0:
        lp = math.log(p) if p > 0.0 else -math.inf
        if lp > log_floor or (lp == log_floor and (side > 0.0 or lp == -math.inf)):
            out -= y / p if p != 0.0 else y * math.inf
    if y != 1.0:
        lq = math.log1p(-p) if p < 1.0 else -math.inf
        if lq > log_floor or (lq == log_floor and (side < 0.0 or lq == -math.inf)):
            out += (1.0 - y) / (1.0 - p) if p != 1.0 else (1.0 - y) * math.inf
    return out


@jit_helper
def least_subgradient(left: float, right: float) -> float:
    """The subgradient of least magnitude at a kink with these one-sided derivatives: 0 if it lies
    between them, else the one nearer 0."""
    if left == right:
        return left
    if left <= 0.0 <= right or right <= 0.0 <= left:
        return 0.0
    return left if abs(left) < abs(right) else right


@jit_helper
def sigmoid(x: float) -> float:
    """1 / (1 + e^-x), with e^-|x| only: no overflow, and sigmoid(-x) keeps full relative precision."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _bce_logits_ref(y, x, pos_weight=1.0, label_smoothing=0.0):  # type: ignore[no-untyped-def]
    y = _smooth(y, label_smoothing)
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        pos = np.where(y == 0, 0.0, pos_weight * y * np.logaddexp(0.0, -x))
        neg = np.where(y == 1, 0.0, (1.0 - y) * np.logaddexp(0.0, x))
    return pos + neg


def bce_logits_grad(y: float, x: float, pos_weight: float, label_smoothing: float) -> float:
    # -pos_weight y sigmoid(-x) + (1 - y) sigmoid(x), each sigmoid in its stable form
    y = smoothed(y, label_smoothing, 2.0)
    out = 0.0
    if y != 0.0:
        out -= pos_weight * y * sigmoid(-x)
    if y != 1.0:
        out += (1.0 - y) * sigmoid(x)
    return out


@loss(
    name="bce_logits",
    grad=bce_logits_grad,
    aliases=("sigmoid_cross_entropy", "bce_with_logits", "binary_cross_entropy_with_logits"),
    task=Task.BINARY,
    summary="Binary cross-entropy on logits (sigmoid applied inside, numerically stable)",
    formula="y softplus(-x) + (1 - y) softplus(x), x = y_pred a logit",
    reference=_bce_logits_ref,
    y_true=PROBABILITY,
    y_pred=EXTENDED_REALS,
    prediction=Pred.LOGIT,
    params=(
        Param("pos_weight", 1.0, NON_NEGATIVE, "pos_weight multiplies the positive term (PyTorch's pos_weight), >= 0"),
        _SMOOTHING,
    ),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(1.0, 0.0, 3.0 * math.log(2.0), {"pos_weight": 3.0}, why="the positive term tripled"),
        Example(1.0, 0.0, math.log(2.0)),
        Example(0.0, 2.0, 2.0 + math.log1p(math.exp(-2.0))),
        Example(1.0, 1e4, 0.0, why="exp(-1e4) underflows to exactly 0 in the stable form"),
        Example(0.0, 1e4, 1e4),
        Example(1.0, -math.inf, math.inf),
        Example(1.0, math.inf, 0.0),
    ),
    notes=("Defined for every logit including +-inf; a label of exactly 0 or 1 drops the other term.",),
    compat={
        "torch": Convention(
            "torch.nn.functional.binary_cross_entropy_with_logits",
            kwargs={"pos_weight": "pos_weight"},
            nan_if=("inf_pred",),
            call=lambda y, x, pos_weight=1.0: float(
                _F().binary_cross_entropy_with_logits(_tt(x), _tt(y), pos_weight=_tt(np.asarray([pos_weight], x.dtype)))
            ),
        ),
        "keras": Convention(
            "keras.losses.binary_crossentropy(from_logits=True)",
            kwargs={"label_smoothing": "label_smoothing"},
            nan_if=("inf_pred",),
        ),
        "optax": Convention("optax.losses.sigmoid_binary_cross_entropy", nan_if=("inf_pred",)),
    },
)
def bce_logits(y: float, x: float, pos_weight: float, label_smoothing: float) -> float:
    return logit_ce(smoothed(y, label_smoothing, 2.0), x, pos_weight)


def _signed(y):  # type: ignore[no-untyped-def]
    return np.where(np.asarray(y) > 0, 1.0, -1.0)


_HINGE_NOTES = ("Labels {0, 1} are read as {-1, +1}; labels {-1, +1} are used as they are.",)


def hinge_grad(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    return -t if 1.0 - t * s > 0.0 else 0.0  # 0 on the margin itself (relu'(0) = 0)


@loss(
    name="hinge",
    grad=hinge_grad,
    task=Task.BINARY,
    summary="Hinge loss on a raw score (SVM margin)",
    formula="max(0, 1 - t s), t = +1 for a positive label and -1 otherwise, s = y_pred a score",
    reference=lambda y, s: np.maximum(0.0, 1.0 - _signed(y) * s),
    y_true=_HINGE_LABELS,
    y_pred=EXTENDED_REALS,
    prediction=Pred.SCORE,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(1.0, 0.3, 0.7),
        Example(0.0, 0.3, 1.3, why="label 0 means t = -1"),
        Example(-1.0, -2.0, 0.0),
        Example(1.0, 1.0, 0.0, why="on the margin"),
    ),
    notes=_HINGE_NOTES,
    compat={
        "keras": Convention("keras.losses.hinge", labels="keras"),
        "sklearn": Convention(
            "sklearn.metrics.hinge_loss", call=lambda y, s: float(_skm().hinge_loss(np.asarray(y) > 0, s))
        ),
        "optax": Convention("optax.losses.hinge_loss", labels="as_given"),
    },
    composed={"torch": lambda y, s: float((1 - _ts(y) * _tt(s)).clamp(min=0).mean())},  # torch has no binary hinge
)
def hinge(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    m = 1.0 - t * s
    return m if m > 0.0 else 0.0


def squared_hinge_grad(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    m = 1.0 - t * s
    return -2.0 * t * m if m > 0.0 else 0.0


@loss(
    name="squared_hinge",
    grad=squared_hinge_grad,
    task=Task.BINARY,
    summary="Squared hinge loss on a raw score",
    formula="max(0, 1 - t s)^2, t = +1 for a positive label and -1 otherwise",
    reference=lambda y, s: np.square(np.maximum(0.0, 1.0 - _signed(y) * s)),
    y_true=_HINGE_LABELS,
    y_pred=EXTENDED_REALS,
    prediction=Pred.SCORE,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(Example(1.0, 0.3, 0.49), Example(0.0, 0.5, 2.25), Example(1.0, 2.0, 0.0)),
    notes=_HINGE_NOTES,
    compat={"keras": Convention("keras.losses.squared_hinge", labels="keras")},
    composed={"torch": lambda y, s: float((1 - _ts(y) * _tt(s)).clamp(min=0).square().mean())},
)
def squared_hinge(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    m = 1.0 - t * s
    return m * m if m > 0.0 else 0.0


_GAMMA = Param("gamma", 2.0, NON_NEGATIVE, "gamma >= 0 is the focusing exponent; 0 gives cross-entropy")
_ALPHA = Param(
    "alpha",
    -1.0,
    Interval(-1.0, 1.0, True, True),
    "alpha in [0, 1] weights positives by alpha and negatives by 1 - alpha; a negative alpha means no weighting",
)
_FOCAL_NOTES = (
    "alpha is off by default (as in Optax and Keras without class balancing); torchvision defaults to 0.25.",
    "With soft labels, p_t = y p + (1 - y)(1 - p) and the cross-entropy is the soft-label one.",
)


def _alpha_t(y, alpha):  # type: ignore[no-untyped-def]
    return alpha * y + (1.0 - alpha) * (1.0 - y) if alpha >= 0 else 1.0


def _focal_ref(y, p, gamma=2.0, alpha=-1.0):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    one_minus_pt = y * (1.0 - p) + (1.0 - y) * p
    with np.errstate(divide="ignore", invalid="ignore"):
        mod = np.where(one_minus_pt == 0, 1.0 if gamma == 0 else 0.0, np.power(one_minus_pt, gamma))
        ce = _bce_ref(y, p)
        out = np.where(ce == 0, 0.0, np.where(np.isinf(ce), np.inf, mod * ce))
        return _alpha_t(y, alpha) * out


def focal_grad(y: float, p: float, gamma: float, alpha: float) -> float:
    # d/dp alpha_t m^gamma ce = alpha_t m^gamma (gamma m' ce / m + ce'), m = 1 - p_t, m' = 1 - 2y
    at = alpha * y + (1.0 - alpha) * (1.0 - y) if alpha >= 0.0 else 1.0
    dce = prob_ce_slope(y, p, -math.inf, 1.0)  # no floor: both sides agree
    if (y != 0.0 and p == 0.0) or (y != 1.0 and p == 1.0):
        return at * dce  # an infinite cross-entropy: its infinite slope dominates, as inf does in the loss
    ce = prob_ce(y, p, -math.inf)
    if ce == 0.0:  # a hard label predicted with certainty, m = 0: m^gamma ce ~ m^(gamma + 1) is flat
        return at * dce if gamma == 0.0 else 0.0
    m = y * (1.0 - p) + (1.0 - y) * p
    return at * m**gamma * (gamma * (1.0 - 2.0 * y) * (ce / m) + dce)


@loss(
    name="focal",
    grad=focal_grad,
    aliases=("binary_focal", "focal_loss", "binary_focal_crossentropy"),
    task=Task.BINARY,
    summary="Binary focal loss on probabilities: cross-entropy scaled down where the model is already right",
    formula="alpha_t (1 - p_t)^gamma bce(y, p), p_t = y p + (1 - y)(1 - p)",
    reference=_focal_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_hint="focal takes probabilities; for logits use --loss focal_logits",
    params=(_GAMMA, _ALPHA),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(1.0, 0.5, 0.25 * math.log(2.0)),
        Example(1.0, 0.9, 0.01 * -math.log(0.9), why="(1 - 0.9)^2 scales an easy example down"),
        Example(0.0, 0.9, 0.81 * -math.log(0.1)),
        Example(1.0, 0.5, 0.25 * 0.25 * math.log(2.0), {"alpha": 0.25}),
        Example(1.0, 0.9, -math.log(0.9), {"gamma": 0.0}, why="gamma 0 is bce"),
        Example(1.0, 0.0, math.inf),
    ),
    notes=_FOCAL_NOTES,
    compat={
        "keras": Convention(
            "keras.losses.binary_focal_crossentropy",
            clip_pred=(1e-7, 1.0 - 1e-7),
            kwargs={"gamma": "gamma", "alpha": "alpha (with apply_class_balancing=True)"},
        ),
    },
)
def focal(y: float, p: float, gamma: float, alpha: float) -> float:
    ce = prob_ce(y, p, -math.inf)
    if ce == 0.0:
        return 0.0
    m = y * (1.0 - p) + (1.0 - y) * p  # 1 - p_t, formed without cancellation
    # An infinite cross-entropy stays infinite even where m^gamma underflows (a tiny soft label).
    out = ce if ce == math.inf else ce * m**gamma
    if alpha >= 0.0:
        out *= alpha * y + (1.0 - alpha) * (1.0 - y)
    return out


def _sigmoid(x):  # type: ignore[no-untyped-def]
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def _focal_logits_ref(y, x, gamma=2.0, alpha=-1.0):  # type: ignore[no-untyped-def]
    # In probability space with mpmath-free care: sigma(-x) and sigma(x) directly, not 1 - sigma.
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    one_minus_pt = y * _sigmoid(-x) + (1.0 - y) * _sigmoid(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        mod = np.power(one_minus_pt, gamma) if gamma else 1.0
        ce = _bce_logits_ref(y, x)
        out = np.where(ce == 0, 0.0, np.where(np.isinf(ce), np.inf, mod * ce))
        return _alpha_t(y, alpha) * out


def focal_logits_grad(y: float, x: float, gamma: float, alpha: float) -> float:
    # alpha_t m^gamma (gamma m' ce / m + ce'), m = 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x),
    # m' = (1 - 2y) sigmoid(x) sigmoid(-x), ce' = (1 - y) sigmoid(x) - y sigmoid(-x)
    ce = logit_ce(y, x, 1.0)
    if ce == 0.0:  # a hard label and a logit so sure of it that the loss underflowed: so has its slope
        return 0.0
    s = sigmoid(x)
    sn = sigmoid(-x)
    dce = (1.0 - y) * s - y * sn
    m = y * sn + (1.0 - y) * s
    at = alpha * y + (1.0 - alpha) * (1.0 - y) if alpha >= 0.0 else 1.0
    if ce == math.inf:  # x = +-inf: the limit, where the gamma term (~ x e^-|x|) has vanished
        return at * m**gamma * dce
    return at * m**gamma * (gamma * (1.0 - 2.0 * y) * (s * sn) * (ce / m) + dce)


@loss(
    name="focal_logits",
    grad=focal_logits_grad,
    aliases=("sigmoid_focal", "sigmoid_focal_loss", "binary_focal_logits"),
    task=Task.BINARY,
    summary="Binary focal loss on logits, computed in log space (exact for huge logits)",
    formula="alpha_t (1 - p_t)^gamma bce_logits(y, x), (1 - p_t)^gamma = exp(-gamma softplus(+-x)) for hard labels",
    reference=_focal_logits_ref,
    y_true=PROBABILITY,
    y_pred=EXTENDED_REALS,
    prediction=Pred.LOGIT,
    params=(_GAMMA, _ALPHA),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(1.0, 0.0, 0.25 * math.log(2.0)),
        Example(0.0, 100.0, 100.0, why="confidently wrong: (1 - p_t)^2 = 1, bce = 100"),
        Example(1.0, -1e4, 1e4),
        Example(1.0, math.inf, 0.0),
        Example(1.0, 0.0, 0.25 * 0.25 * math.log(2.0), {"alpha": 0.25}),
    ),
    notes=(
        *_FOCAL_NOTES,
        "Keras applies the sigmoid and then clips to [1e-7, 1 - 1e-7]: --compat keras shows that; lossctl stays exact.",
    ),
    compat={
        "keras": Convention(
            "keras.losses.binary_focal_crossentropy(from_logits=True)",
            via="focal",
            pred_transform="sigmoid",
            clip_pred=(1e-7, 1.0 - 1e-7),
            kwargs={"gamma": "gamma", "alpha": "alpha (with apply_class_balancing=True)"},
        ),
        "optax": Convention(
            "optax.losses.sigmoid_focal_loss", kwargs={"gamma": "gamma", "alpha": "alpha"}, nan_if=("inf_pred",)
        ),
    },
)
def focal_logits(y: float, x: float, gamma: float, alpha: float) -> float:
    ce = logit_ce(y, x, 1.0)
    if ce == 0.0:
        return 0.0
    if gamma == 0.0:
        m = 1.0
    elif y == 1.0:
        m = math.exp(-gamma * softplus(x))  # (1 - sigmoid(x))^gamma = sigmoid(-x)^gamma
    elif y == 0.0:
        m = math.exp(-gamma * softplus(-x))
    else:
        m = (y * math.exp(-softplus(x)) + (1.0 - y) * math.exp(-softplus(-x))) ** gamma
    out = ce if ce == math.inf else ce * m  # inf stays inf where m underflows
    if alpha >= 0.0:
        out *= alpha * y + (1.0 - alpha) * (1.0 - y)
    return out


def soft_margin_grad(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    return -t * sigmoid(-t * s)


@loss(
    name="soft_margin",
    grad=soft_margin_grad,
    aliases=("soft_margin_loss", "logistic"),
    task=Task.BINARY,
    summary="Soft-margin (logistic) loss on a score with labels -1/+1",
    formula="log(1 + exp(-t s)), t = +1 for a positive label and -1 otherwise",
    reference=lambda y, s: np.logaddexp(0.0, -_signed(y) * np.asarray(s, dtype=float)),
    y_true=_HINGE_LABELS,
    y_pred=EXTENDED_REALS,
    prediction=Pred.SCORE,
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(1.0, 0.0, math.log(2.0)),
        Example(-1.0, 2.0, 2.0 + math.log1p(math.exp(-2.0))),
        Example(0.0, -1e4, 0.0, why="label 0 means t = -1; a huge right score costs nothing"),
    ),
    notes=_HINGE_NOTES,
    compat={
        "torch": Convention(
            "torch.nn.functional.soft_margin_loss",
            labels="as_given",
            call=lambda y, s: float(_F().soft_margin_loss(_tt(s), _tt(y))),
        ),
    },
)
def soft_margin(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    return softplus(-t * s)


def brier_grad(y: float, p: float) -> float:
    return 2.0 * (p - y)


@loss(
    name="brier",
    grad=brier_grad,
    aliases=("brier_score", "brier_score_loss"),
    task=Task.BINARY,
    summary="Brier score: squared error of the positive-class probability",
    formula="(p - y)^2",
    reference=lambda y, p: np.square(np.subtract(p, y, dtype=np.float64)),
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(Example(1.0, 0.7, 0.09), Example(0.0, 0.7, 0.49), Example(1.0, 1.0, 0.0)),
    compat={
        "sklearn": Convention(
            "sklearn.metrics.brier_score_loss", call=lambda y, p: float(_skm().brier_score_loss(y, p, pos_label=1))
        ),
    },
)
def brier(y: float, p: float) -> float:
    d = p - y
    return d * d


def zero_one_grad(y: float, p: float, threshold: float) -> float:
    return 0.0  # piecewise constant: 0 everywhere, including at the jump p = threshold


@loss(
    name="zero_one",
    grad=zero_one_grad,
    aliases=("zero_one_loss", "error_rate", "misclassification"),
    task=Task.BINARY,
    summary="Zero-one loss: 1 for a wrong decision, 0 for a right one (the error rate)",
    formula="1 if (p > threshold) != (y > 0.5) else 0",
    reference=lambda y, p, threshold=0.5: ((np.asarray(p) > threshold) != (np.asarray(y) > 0.5)).astype(np.float64),
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    params=(
        Param("threshold", 0.5, Interval(0.0, 1.0, True, True), "threshold: p above it predicts the positive class"),
    ),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(1.0, 0.7, 0.0),
        Example(0.0, 0.7, 1.0),
        Example(1.0, 0.5, 1.0, why="p must exceed the threshold"),
        Example(1.0, 0.35, 0.0, {"threshold": 0.3}),
    ),
    notes=("The cost is the error rate, 1 - accuracy.",),
    compat={
        "sklearn": Convention(
            "sklearn.metrics.zero_one_loss(y, p > 0.5)",
            call=lambda y, p: float(_skm().zero_one_loss(np.asarray(y) > 0.5, np.asarray(p) > 0.5)),
        ),
    },
)
def zero_one(y: float, p: float, threshold: float) -> float:
    return 1.0 if (p > threshold) != (y > 0.5) else 0.0


def _margin_ranking_ref(y, x, margin=0.0):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    return np.maximum(0.0, -_signed(y) * (x[:, 0] - x[:, 1]) + margin)


def margin_ranking_grad(y: float, x, out, margin: float) -> None:  # type: ignore[no-untyped-def]
    t = 1.0 if y > 0.0 else -1.0
    active = margin - t * (x[0] - x[1]) > 0.0  # 0 on the margin itself, as for the hinge
    out[0] = -t if active else 0.0
    out[1] = t if active else 0.0


@loss(
    name="margin_ranking",
    grad=margin_ranking_grad,
    aliases=("margin_ranking_loss", "ranking_hinge"),
    task=Task.BINARY,
    summary="Margin ranking loss: label +1 wants x1 above x2 by the margin, -1 the reverse",
    formula="max(0, -t (x1 - x2) + margin), t = +1 for a positive label and -1 otherwise",
    reference=_margin_ranking_ref,
    y_true=_HINGE_LABELS,
    y_pred=(REALS, REALS),
    prediction=Pred.SCORE,
    pred_columns=(
        ("x1", ("x1", "score1", "score_1", "s1", "pred1")),
        ("x2", ("x2", "score2", "score_2", "s2", "pred2")),
    ),
    params=(Param("margin", 0.0, Interval(-math.inf, math.inf), "margin by which x1 should exceed x2"),),
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(1.0, [2.0, 1.0], 0.0),
        Example(1.0, [1.0, 2.0], 1.0),
        Example(-1.0, [1.0, 2.0], 0.0),
        Example(1.0, [2.0, 1.5], 0.5, {"margin": 1.0}),
    ),
    notes=("Two prediction columns, x1 and x2 (the scores of the two items of each pair).",),
    compat={
        "torch": Convention(
            "torch.nn.functional.margin_ranking_loss",
            labels="as_given",
            kwargs={"margin": "margin"},
            call=lambda y, x, margin=0.0: float(
                _F().margin_ranking_loss(_tt(x)[:, 0], _tt(x)[:, 1], _tt(y), margin=margin)
            ),
        ),
    },
)
def margin_ranking(y: float, x, margin: float) -> float:  # type: ignore[no-untyped-def]
    t = 1.0 if y > 0.0 else -1.0
    m = margin - t * (x[0] - x[1])
    return m if m > 0.0 else 0.0
