"""Binary classification losses. Kernels take ``(y_true, y_pred, *params)`` as float64.

Labels are in [0, 1] for the cross-entropies (soft labels allowed) and {-1, 0, 1} for the hinge
losses, where a label > 0 is the positive class. No probability is clipped unless the user asks
with ``eps``: p = 0 for a positive label is an infinite loss, as the mathematics says.
"""

from __future__ import annotations

import math

from lossctl._lazy import np
from lossctl.domains import EXTENDED_REALS, PROBABILITY, Interval, OneOf
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_signed as _ts
from lossctl.frameworks import torch_tensor as _tt
from lossctl.registry import CONVEX, NONNEGATIVE, ZERO_AT_PERFECT, Example, Param, Pred, Task, jit_helper, loss

_EPS = Param(
    "eps",
    0.0,
    Interval(0.0, 0.5, True, False),
    "eps clips probabilities to [eps, 1 - eps] before the log; 0 means no clipping",
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


def _bce_ref(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    p = np.clip(p, eps, 1.0 - eps) if eps > 0 else np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        log_q = np.log1p(-p)
    one_minus_y = 1.0 - np.asarray(y, dtype=float)
    return -(_xlogy(y, p) + np.where(one_minus_y == 0, 0.0, one_minus_y * log_q))


@loss(
    name="bce",
    aliases=("log_loss", "binary_crossentropy", "binary_cross_entropy", "logloss"),
    task=Task.BINARY,
    summary="Binary cross-entropy on probabilities",
    formula="-(y log p + (1 - y) log(1 - p)), p = y_pred in [0, 1]",
    reference=_bce_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_hint="bce takes probabilities; for logits use --loss bce_logits",
    params=(_EPS,),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(1.0, 0.5, math.log(2.0)),
        Example(0.0, 0.9, -math.log(0.1)),
        Example(1.0, 0.0, math.inf, why="no clipping: -log 0"),
        Example(0.0, 0.0, 0.0, why="0 log 0 = 0"),
        Example(1.0, 0.0, -math.log(1e-7), {"eps": 1e-7}, why="clipped like Keras"),
    ),
    notes=_CE_NOTES,
    frameworks={
        # PyTorch clamps log at -100; scikit-learn clips p to machine epsilon (equal inside (0, 1)).
        "torch": lambda y, p, eps=0.0: float(_F().binary_cross_entropy(_tt(p), _tt(y))),
        "sklearn": lambda y, p, eps=0.0: float(_skm().log_loss(y, p, labels=[0, 1])),
    },
)
def bce(y: float, p: float, eps: float) -> float:
    if eps > 0.0:
        p = min(max(p, eps), 1.0 - eps)
    out = 0.0
    if y != 0.0:
        out -= y * math.log(p)
    if y != 1.0:
        out -= (1.0 - y) * math.log1p(-p)
    return out


@jit_helper
def softplus(x: float) -> float:
    """log(1 + e^x) without overflow; exact for x = +-inf."""
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def _bce_logits_ref(y, x):  # type: ignore[no-untyped-def]
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        pos = np.where(y == 0, 0.0, y * np.logaddexp(0.0, -x))
        neg = np.where(y == 1, 0.0, (1.0 - y) * np.logaddexp(0.0, x))
    return pos + neg


@loss(
    name="bce_logits",
    aliases=("sigmoid_cross_entropy", "bce_with_logits", "binary_cross_entropy_with_logits"),
    task=Task.BINARY,
    summary="Binary cross-entropy on logits (sigmoid applied inside, numerically stable)",
    formula="y softplus(-x) + (1 - y) softplus(x), x = y_pred a logit",
    reference=_bce_logits_ref,
    y_true=PROBABILITY,
    y_pred=EXTENDED_REALS,
    prediction=Pred.LOGIT,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(1.0, 0.0, math.log(2.0)),
        Example(0.0, 2.0, 2.0 + math.log1p(math.exp(-2.0))),
        Example(1.0, 1e4, 0.0, why="exp(-1e4) underflows to exactly 0 in the stable form"),
        Example(0.0, 1e4, 1e4),
        Example(1.0, -math.inf, math.inf),
        Example(1.0, math.inf, 0.0),
    ),
    notes=("Defined for every logit including +-inf; a label of exactly 0 or 1 drops the other term.",),
    frameworks={"torch": lambda y, x: float(_F().binary_cross_entropy_with_logits(_tt(x), _tt(y)))},
)
def bce_logits(y: float, x: float) -> float:
    out = 0.0
    if y != 0.0:
        out += y * softplus(-x)
    if y != 1.0:
        out += (1.0 - y) * softplus(x)
    return out


def _signed(y):  # type: ignore[no-untyped-def]
    return np.where(np.asarray(y) > 0, 1.0, -1.0)


_HINGE_NOTES = ("Labels {0, 1} are read as {-1, +1}; labels {-1, +1} are used as they are.",)


@loss(
    name="hinge",
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
    frameworks={
        "torch": lambda y, s: float((1 - _ts(y) * _tt(s)).clamp(min=0).mean()),  # composed: no binary hinge
        "sklearn": lambda y, s: float(_skm().hinge_loss(np.asarray(y) > 0, s)),
    },
)
def hinge(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    m = 1.0 - t * s
    return m if m > 0.0 else 0.0


@loss(
    name="squared_hinge",
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
    frameworks={"torch": lambda y, s: float((1 - _ts(y) * _tt(s)).clamp(min=0).square().mean())},
)
def squared_hinge(y: float, s: float) -> float:
    t = 1.0 if y > 0.0 else -1.0
    m = 1.0 - t * s
    return m * m if m > 0.0 else 0.0
