"""Multiclass losses over K class columns.

Each loss has two kernels: ``kernel(y_row, x_row, *params)`` for a label distribution (one-hot or
soft labels, K columns) and ``kernel_ids(c, x_row, *params)`` for an integer class id. Rows are
float64 arrays. References are vectorised NumPy over the whole (n, K) matrix and always take the
distribution form (class ids are one-hot encoded first), so they share no code path with either
kernel.
"""

from __future__ import annotations

import math

from lossctl._lazy import np
from lossctl._vecmath import vexp, vlog1p
from lossctl.domains import NON_NEGATIVE, PROBABILITY, REALS, Interval
from lossctl.frameworks import one_hot as _oh
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_tensor as _tt
from lossctl.losses.binary import _EPS, _xlogy, smoothed
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

# Logits may be -inf (a masked class) but not +inf.
LOGITS = Interval(-math.inf, math.inf, True, False)
_P3 = [0.1, 0.2, 0.7]
_X3 = [1.0, 2.0, 3.0]
_LSE3 = math.log(math.exp(1.0) + math.exp(2.0) + math.exp(3.0))
_SMOOTHING = Param(
    "label_smoothing",
    0.0,
    Interval(0.0, 1.0, True, True),
    "label_smoothing s mixes each label row with the uniform one: y (1 - s) + s / K, s in [0, 1]",
)


def _smooth_rows(t, s):  # type: ignore[no-untyped-def]
    return t * (1.0 - s) + s / t.shape[1] if s else t


def _ids(y):  # type: ignore[no-untyped-def]
    return _tt(np.asarray(y).astype(np.int64))


def _one_hot(y, k):  # type: ignore[no-untyped-def]
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(float)
    out = np.zeros((y.shape[0], k))
    out[np.arange(y.shape[0]), y.astype(int)] = 1.0
    return out


def _cce_ref(y, p, eps=0.0, label_smoothing=0.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    if eps > 0:
        p = np.clip(p, eps, 1.0 - eps)
    return -_xlogy(_smooth_rows(_one_hot(y, p.shape[1]), label_smoothing), p).sum(axis=1)


@jit_helper
def clipped_log(q: float, eps: float) -> float:
    if eps > 0.0:
        q = min(max(q, eps), 1.0 - eps)
    return math.log(q)


def cce_ids(c: int, p, eps: float, label_smoothing: float) -> float:  # type: ignore[no-untyped-def]
    out = -clipped_log(p[c], eps)
    if label_smoothing == 0.0:
        return out
    spread = 0.0
    for j in range(p.shape[0]):
        spread -= clipped_log(p[j], eps)
    return (1.0 - label_smoothing) * out + label_smoothing / p.shape[0] * spread


def cce_grad(y, p, out, eps: float, label_smoothing: float) -> None:  # type: ignore[no-untyped-def]
    k = p.shape[0]
    for j in range(k):
        t = smoothed(y[j], label_smoothing, k)
        if t == 0.0 or (eps > 0.0 and (p[j] <= eps or p[j] >= 1.0 - eps)):
            # a dropped term, or p clipped to [eps, 1 - eps]: flat. At the clip boundary itself the
            # one-sided slopes are -t/p and 0; 0 is the one of least magnitude.
            out[j] = 0.0
        else:
            out[j] = -t / p[j]


@loss(
    name="cce",
    grad=cce_grad,
    aliases=("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_cross_entropy"),
    task=Task.MULTICLASS,
    summary="Categorical cross-entropy on class probabilities (integer or one-hot/soft labels)",
    formula="-sum_c y_c log p_c; with a class id c: -log p_c",
    reference=_cce_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows="probabilities",
    pred_hint="cce takes class probabilities; for logits use --loss softmax_ce",
    params=(_EPS, _SMOOTHING),
    kernel_ids=cce_ids,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(2, _P3, -math.log(0.7)),
        Example([0.0, 1.0, 0.0], _P3, -math.log(0.2)),
        Example([0.5, 0.0, 0.5], _P3, -0.5 * (math.log(0.1) + math.log(0.7)), why="soft labels"),
        Example(0, [0.0, 0.5, 0.5], math.inf, why="no clipping: -log 0"),
        Example(
            0,
            [0.5, 0.25, 0.25],
            0.7 * math.log(2.0) + 0.1 * (math.log(2.0) + 2 * math.log(4.0)),
            {"label_smoothing": 0.3},
            why="labels (0.8, 0.1, 0.1)",
        ),
    ),
    notes=(
        "Probabilities are not renormalised: each row must sum to 1 (within 1e-3), as must label rows.",
        "No clipping by default (Keras clips to [1e-7, 1 - 1e-7]); pass -p eps=1e-7 to clip.",
    ),
    compat={
        "keras": Convention(
            "keras.losses.categorical_crossentropy",
            normalize_pred=True,
            clip_pred=(1e-7, 1.0 - 1e-7),
            kwargs={"label_smoothing": "label_smoothing"},
            notes=("Rows are renormalised, then clipped to [1e-7, 1 - 1e-7], in float32.",),
        ),
        "sklearn": Convention(
            "sklearn.metrics.log_loss",
            clip_pred=(2.0**-52, 1.0 - 2.0**-52),
            call=lambda y, p: float(_skm().log_loss(y, p, labels=list(range(np.shape(p)[1])))),
        ),
    },
    composed={"torch": lambda y, p, **_: float(_F().nll_loss(_tt(p).log(), _ids(y)))},  # at default params
)
def cce(y, p, eps: float, label_smoothing: float) -> float:  # type: ignore[no-untyped-def]
    k = p.shape[0]
    out = 0.0
    for c in range(k):
        t = smoothed(y[c], label_smoothing, k)
        if t != 0.0:
            out -= t * clipped_log(p[c], eps)
    return out


@jit_helper
def log_softmax_parts(x):  # type: ignore[no-untyped-def]
    """(m, l) with logsumexp(x) = m + l: m the largest logit, l = log1p(sum of exp(x_j - m) over
    the others). Keeping m apart lets callers form (m - x_c) + l, which stays exact for huge
    logits, and log1p keeps small losses (confident, correct rows) to full precision."""
    m = -math.inf
    top = 0
    for j in range(x.shape[0]):
        if x[j] > m:
            m = x[j]
            top = j
    if m == -math.inf:
        return m, 0.0
    s = 0.0
    for j in range(x.shape[0]):
        if j != top:
            s += vexp(x[j] - m)
    return m, vlog1p(s)


def _softmax_ce_ref(y, x, label_smoothing=0.0):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    top = x.argmax(axis=1)
    rows = np.arange(x.shape[0])
    m = x[rows, top][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(x - m)
        e[rows, top] = 0.0
        log_softmax = (x - m) - np.log1p(e.sum(axis=1, keepdims=True))
        t = _smooth_rows(_one_hot(y, x.shape[1]), label_smoothing)
        return -np.where(t == 0, 0.0, t * log_softmax).sum(axis=1)


def softmax_ce_ids(c: int, x, label_smoothing: float) -> float:  # type: ignore[no-untyped-def]
    m, lse_tail = log_softmax_parts(x)
    out = (m - x[c]) + lse_tail
    if label_smoothing == 0.0:
        return out
    spread = 0.0
    for j in range(x.shape[0]):
        spread += (m - x[j]) + lse_tail
    return (1.0 - label_smoothing) * out + label_smoothing / x.shape[0] * spread


def softmax_ce_grad(y, x, out, label_smoothing: float) -> None:  # type: ignore[no-untyped-def]
    # dl/dx_j = T softmax(x)_j - t_j, T = sum of the (smoothed) labels, softmax_j = exp((x_j - m) - l).
    m, lse_tail = log_softmax_parts(x)
    k = x.shape[0]
    if math.isinf(m):
        # all logits -inf (or a refused +inf): the loss is undefined, and so is its derivative
        for j in range(k):
            out[j] = math.nan
        return
    top = 0  # the largest logit, first of ties, as log_softmax_parts takes it
    for j in range(k):
        if x[j] == m:
            top = j
            break
    rest = 0.0  # T - t_top, summed directly
    for j in range(k):
        if j != top:
            rest += smoothed(y[j], label_smoothing, k)
    t_top = smoothed(y[top], label_smoothing, k)
    total = rest + t_top
    for j in range(k):
        if j == top:
            # softmax_top - 1 = expm1(-l): no cancellation for a confident, correct row
            out[j] = total * math.expm1(-lse_tail) + rest
        else:
            out[j] = total * math.exp((x[j] - m) - lse_tail) - smoothed(y[j], label_smoothing, k)


@loss(
    name="softmax_ce",
    grad=softmax_ce_grad,
    aliases=("cross_entropy", "softmax_cross_entropy", "categorical_crossentropy_logits"),
    task=Task.MULTICLASS,
    summary="Softmax cross-entropy on logits (integer or one-hot/soft labels), stable for huge logits",
    formula="logsumexp(x) - x_c; soft labels: -sum_c y_c log_softmax(x)_c",
    reference=_softmax_ce_ref,
    y_true=PROBABILITY,
    y_pred=LOGITS,
    prediction=Pred.LOGIT,
    kernel_ids=softmax_ce_ids,
    params=(_SMOOTHING,),
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(2, _X3, _LSE3 - 3.0),
        Example([1.0, 0.0, 0.0], _X3, _LSE3 - 1.0),
        Example(0, [1e4, 0.0, -1e4], 0.0, why="huge logits: no overflow"),
        Example(1, [1e4, 0.0, -1e4], 1e4),
        Example(0, [0.0, -math.inf, 0.0], math.log(2.0), why="-inf masks a class"),
        Example(0, [0.0, 0.0], math.log(2.0), {"label_smoothing": 0.5}, why="equal logits: smoothing changes nothing"),
    ),
    notes=(
        "A logit of -inf masks its class; +inf is refused. A row whose logits are all -inf is undefined.",
        "Soft labels are used as given; their rows must sum to 1 (within 1e-3).",
    ),
    compat={
        "torch": Convention(
            "torch.nn.functional.cross_entropy",
            kwargs={"label_smoothing": "label_smoothing"},
            class_weights=True,
            call=lambda y, x, label_smoothing=0.0: float(
                _F().cross_entropy(_tt(x), _ids(y), label_smoothing=label_smoothing)
            ),
            notes=("With class weights the mean divides by the weights of the targets.",),
        ),
        "keras": Convention(
            "keras.losses.categorical_crossentropy(from_logits=True)",
            kwargs={"label_smoothing": "label_smoothing"},
            nan_if=("inf_pred",),
            notes=("A -inf logit (a masked class) gives NaN, even on a class that is not the target.",),
        ),
        "optax": Convention(
            "optax.losses.softmax_cross_entropy_with_integer_labels",
            kwargs={"label_smoothing": "alpha of optax.smooth_labels"},
            nan_if=("inf_pred",),
            notes=("A -inf logit (a masked class) gives NaN, even on a class that is not the target.",),
        ),
    },
)
def softmax_ce(y, x, label_smoothing: float) -> float:  # type: ignore[no-untyped-def]
    m, lse_tail = log_softmax_parts(x)
    k = x.shape[0]
    out = 0.0
    for c in range(k):
        t = smoothed(y[c], label_smoothing, k)
        if t != 0.0:
            out += t * ((m - x[c]) + lse_tail)
    return out


def _kl_ref(y, p):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t == 0, 0.0, t * (np.log(np.where(t == 0, 1.0, t)) - np.log(p)))
    return terms.sum(axis=1)


def kl_div_ids(c: int, p) -> float:  # type: ignore[no-untyped-def]
    return -math.log(p[c])


def kl_div_grad(y, p, out) -> None:  # type: ignore[no-untyped-def]
    for j in range(p.shape[0]):
        out[j] = -y[j] / p[j] if y[j] != 0.0 else 0.0


@loss(
    name="kl_div",
    grad=kl_div_grad,
    aliases=("kld", "kl_divergence", "kullback_leibler"),
    task=Task.MULTICLASS,
    summary="Kullback-Leibler divergence KL(y || p) from the label distribution to the prediction",
    formula="sum_c y_c (log y_c - log p_c), with 0 log 0 = 0",
    reference=_kl_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows="probabilities",
    pred_hint="kl_div takes class probabilities",
    kernel_ids=kl_div_ids,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example([0.5, 0.5, 0.0], _P3, 0.5 * (math.log(5.0) + math.log(2.5))),
        Example(2, _P3, -math.log(0.7), why="one-hot labels: KL equals cross-entropy"),
        Example([0.2, 0.3, 0.5], [0.2, 0.3, 0.5], 0.0),
    ),
    notes=(
        "The cost is the mean over samples of the full KL divergence (PyTorch's 'batchmean'), not divided by K.",
        "lossctl takes probabilities for both arguments; PyTorch's kl_div takes log-probabilities.",
    ),
    compat={
        "torch": Convention(
            "torch.nn.functional.kl_div(p.log(), y)",
            per_element=True,
            nan_if=("zero_pair",),
            call=lambda y, p: float(_F().kl_div(_tt(p).log(), _tt(_oh(y, np.shape(p)[1], np.asarray(p).dtype)))),
            notes=("PyTorch's default reduction 'mean' divides by n * K; reduction='batchmean' is lossctl's mean.",),
        ),
        "keras": Convention(
            "keras.losses.kl_divergence",
            clip_true=(1e-7, 1.0),
            clip_pred=(1e-7, 1.0),
            notes=("Both inputs are clipped to [1e-7, 1], so a zero label still adds 1e-7 log(1e-7 / p).",),
        ),
        "optax": Convention("optax.losses.kl_divergence(log p, y)", nan_if=("zero_pair",)),
    },
)
def kl_div(y, p) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(p.shape[0]):
        if y[c] != 0.0:
            out += y[c] * (math.log(y[c]) - math.log(p[c]))
    return out


def _nll_ref(y, x):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    t = _one_hot(y, x.shape[1])
    with np.errstate(invalid="ignore"):
        return -np.where(t == 0, 0.0, t * x).sum(axis=1)


def nll_ids(c: int, x) -> float:  # type: ignore[no-untyped-def]
    return -x[c]


def nll_grad(y, x, out) -> None:  # type: ignore[no-untyped-def]
    for j in range(x.shape[0]):
        out[j] = 0.0 - y[j]  # 0 - y: +0 (not -0) for a zero label


@loss(
    name="nll",
    grad=nll_grad,
    aliases=("nll_loss", "negative_log_likelihood"),
    task=Task.MULTICLASS,
    summary="Negative log-likelihood on log-probabilities (the output of log_softmax)",
    formula="-x_c; soft labels: -sum_c y_c x_c, x = log-probabilities",
    reference=_nll_ref,
    y_true=PROBABILITY,
    y_pred=Interval(-math.inf, 0.0, True, True),
    prediction=Pred.LOGIT,
    pred_rows="log_probabilities",
    pred_hint="nll takes log-probabilities (<= 0); for logits use softmax_ce, for probabilities cce",
    kernel_ids=nll_ids,
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(2, [math.log(0.1), math.log(0.2), math.log(0.7)], -math.log(0.7)),
        Example([0.5, 0.5, 0.0], [math.log(0.1), math.log(0.2), math.log(0.7)], -0.5 * math.log(0.02)),
        Example(0, [-math.inf, 0.0, -math.inf], math.inf, why="log 0 for the true class"),
    ),
    notes=("Each row must exponentiate to a distribution (within 1e-3): log_softmax output.",),
    compat={
        "torch": Convention(
            "torch.nn.functional.nll_loss",
            class_weights=True,
            call=lambda y, x: float(_F().nll_loss(_tt(x), _ids(y))),
        ),
    },
)
def nll(y, x) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(x.shape[0]):
        if y[c] != 0.0:
            out -= y[c] * x[c]
    return out


_MARGIN = Param("margin", 1.0, Interval(0.0, math.inf, True, False), "margin the true class must win by, >= 0")


def _label_of(y):  # type: ignore[no-untyped-def]
    return np.asarray(y).astype(int) if np.ndim(y) == 1 else np.argmax(y, axis=1)


def _cs_ref(y, x, margin=1.0, rival_floor=-math.inf):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    c = _label_of(y)
    rows = np.arange(x.shape[0])
    others = x.copy()
    others[rows, c] = -np.inf
    rival = np.maximum(others.max(axis=1), rival_floor)
    with np.errstate(invalid="ignore"):
        return np.maximum(0.0, (rival - x[rows, c]) + margin)


def multiclass_hinge_ids(c: int, x, margin: float, rival_floor: float) -> float:  # type: ignore[no-untyped-def]
    return crammer_singer(c, x, margin, rival_floor)


@jit_helper
def crammer_singer(c: int, x, margin: float, rival_floor: float) -> float:  # type: ignore[no-untyped-def]
    rival = rival_floor
    for j in range(x.shape[0]):
        if j != c and x[j] > rival:
            rival = x[j]
    m = (rival - x[c]) + margin  # the difference first: exact for tied scores of any size
    return m if m > 0.0 else 0.0


@jit_helper
def hard_class(y) -> int:  # type: ignore[no-untyped-def]
    """The class of a one-hot label row."""
    c = 0
    for j in range(y.shape[0]):
        if y[j] > y[c]:
            c = j
    return c


def multiclass_hinge_grad(y, x, out, margin: float, rival_floor: float) -> None:  # type: ignore[no-untyped-def]
    c = hard_class(y)
    rival = rival_floor
    r = -1  # the best rival's index; -1 while the floor is the rival
    for j in range(x.shape[0]):
        out[j] = 0.0
        # Strictly greater, as crammer_singer: of tied rivals the first index is the one that
        # counts, and a rival tied with the floor leaves the floor (derivative 0) in place.
        if j != c and x[j] > rival:
            rival = x[j]
            r = j
    # relu'(0) = 0: a row exactly at the margin has derivative 0.
    if (rival - x[c]) + margin > 0.0:
        out[c] = -1.0
        if r >= 0:
            out[r] = 1.0


@loss(
    name="multiclass_hinge",
    grad=multiclass_hinge_grad,
    aliases=("crammer_singer", "categorical_hinge", "multiclass_hinge_cs"),
    task=Task.MULTICLASS,
    summary="Multiclass hinge loss, Crammer-Singer form: the true class must beat the best rival by the margin",
    formula="max(0, margin + max_{j != c} x_j - x_c), x = class scores",
    reference=_cs_ref,
    y_true=PROBABILITY,
    y_pred=REALS,
    prediction=Pred.SCORE,
    hard_labels=True,
    kernel_ids=multiclass_hinge_ids,
    params=(
        _MARGIN,
        Param(
            "rival_floor",
            -math.inf,
            Interval(-math.inf, math.inf, True, False),
            "rival_floor is the least score the best rival counts with (Keras's categorical_hinge: 0)",
        ),
    ),
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(2, _X3, 0.0, why="3 beats 2 by exactly the margin"),
        Example(0, _X3, 3.0, why="1 + 3 - 1"),
        Example([0.0, 1.0, 0.0], [-2.0, 1.0, -3.0], 0.0),
        Example(1, [-2.0, 0.5, -3.0], 0.5, {"rival_floor": 0.0}, why="Keras counts the rival as at least 0"),
    ),
    notes=(
        "Needs hard labels: class ids or one-hot rows.",
        "Keras's categorical_hinge takes the best rival as at least 0; --compat keras shows that.",
    ),
    compat={
        "keras": Convention("keras.losses.categorical_hinge", params={"rival_floor": 0.0}),
        "sklearn": Convention(
            "sklearn.metrics.hinge_loss",
            call=lambda y, x: float(_skm().hinge_loss(_label_of(y), x, labels=list(range(np.shape(x)[1])))),
        ),
        "optax": Convention("optax.losses.multiclass_hinge_loss"),
    },
)
def multiclass_hinge(y, x, margin: float, rival_floor: float) -> float:  # type: ignore[no-untyped-def]
    return crammer_singer(hard_class(y), x, margin, rival_floor)


def _ww_ref(y, x, margin=1.0):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    c = _label_of(y)
    rows = np.arange(x.shape[0])
    terms = np.maximum(0.0, (x - x[rows, c][:, None]) + margin)
    terms[rows, c] = 0.0
    return terms.sum(axis=1)


def multiclass_hinge_ww_ids(c: int, x, margin: float) -> float:  # type: ignore[no-untyped-def]
    return weston_watkins(c, x, margin)


@jit_helper
def weston_watkins(c: int, x, margin: float) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for j in range(x.shape[0]):
        if j != c:
            m = (x[j] - x[c]) + margin
            if m > 0.0:
                out += m
    return out


def multiclass_hinge_ww_grad(y, x, out, margin: float) -> None:  # type: ignore[no-untyped-def]
    c = hard_class(y)
    active = 0.0
    for j in range(x.shape[0]):
        out[j] = 0.0
        # relu'(0) = 0: a rival exactly at the margin adds nothing.
        if j != c and (x[j] - x[c]) + margin > 0.0:
            out[j] = 1.0
            active += 1.0
    out[c] = 0.0 - active


@loss(
    name="multiclass_hinge_ww",
    grad=multiclass_hinge_ww_grad,
    aliases=("weston_watkins", "multi_margin", "multi_margin_loss"),
    task=Task.MULTICLASS,
    summary="Multiclass hinge loss, Weston-Watkins form: every rival within the margin adds to the loss",
    formula="sum_{j != c} max(0, margin - x_c + x_j), x = class scores",
    reference=_ww_ref,
    y_true=PROBABILITY,
    y_pred=REALS,
    prediction=Pred.SCORE,
    hard_labels=True,
    kernel_ids=multiclass_hinge_ww_ids,
    params=(_MARGIN,),
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(2, _X3, 0.0),
        Example(0, _X3, 5.0, why="(1 - 1 + 2) + (1 - 1 + 3)"),
        Example(1, [0.0, 0.5, 0.0], 1.0, why="two rivals within the margin, 0.5 each"),
    ),
    notes=("PyTorch's MultiMarginLoss divides each sample's sum by K; --compat torch shows that.",),
    compat={
        "torch": Convention(
            "torch.nn.functional.multi_margin_loss",
            per_element=True,
            class_weights=True,
            class_divisor="count",
            kwargs={"margin": "margin"},
            call=lambda y, x, margin=1.0: float(_F().multi_margin_loss(_tt(x), _ids(_label_of(y)), margin=margin)),
        ),
    },
)
def multiclass_hinge_ww(y, x, margin: float) -> float:  # type: ignore[no-untyped-def]
    return weston_watkins(hard_class(y), x, margin)


def _cfocal_ref(y, p, gamma=2.0, alpha=1.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t == 0, 0.0, -t * alpha * np.power(1.0 - p, gamma) * np.log(p))
        terms = np.where((t != 0) & (p == 1.0), 0.0, terms)
    return terms.sum(axis=1)


def categorical_focal_ids(c: int, p, gamma: float, alpha: float) -> float:  # type: ignore[no-untyped-def]
    if p[c] == 1.0:
        return 0.0
    return -alpha * (1.0 - p[c]) ** gamma * math.log(p[c])


def categorical_focal_grad(y, p, out, gamma: float, alpha: float) -> None:  # type: ignore[no-untyped-def]
    for j in range(p.shape[0]):
        if y[j] == 0.0:
            out[j] = 0.0
        elif p[j] == 1.0:
            # the limit p -> 1 of the formula below: 0 for gamma > 0, -alpha y (cross-entropy) at 0
            out[j] = 0.0 - y[j] * alpha if gamma == 0.0 else 0.0
        else:
            q = 1.0 - p[j]
            # d/dp [-(1 - p)^g log p] = g (1 - p)^(g - 1) log p - (1 - p)^g / p
            d = -(q**gamma) / p[j]
            if gamma != 0.0:
                d += gamma * q ** (gamma - 1.0) * math.log(p[j])
            out[j] = y[j] * alpha * d


@loss(
    name="categorical_focal",
    grad=categorical_focal_grad,
    aliases=("categorical_focal_crossentropy", "multiclass_focal", "softmax_focal"),
    task=Task.MULTICLASS,
    summary="Categorical focal loss on class probabilities: cross-entropy scaled by (1 - p_c)^gamma",
    formula="-sum_c y_c alpha (1 - p_c)^gamma log p_c",
    reference=_cfocal_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows="probabilities",
    kernel_ids=categorical_focal_ids,
    params=(
        Param("gamma", 2.0, NON_NEGATIVE, "gamma >= 0 is the focusing exponent; 0 gives cross-entropy"),
        Param("alpha", 1.0, Interval(0.0, 1.0, False, True), "alpha in (0, 1] scales the loss (Keras: 0.25)"),
    ),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example(2, _P3, -(0.3**2) * math.log(0.7)),
        Example(0, _P3, -(0.9**2) * math.log(0.1)),
        Example(2, _P3, -0.25 * 0.09 * math.log(0.7), {"alpha": 0.25}),
        Example(2, _P3, -math.log(0.7), {"gamma": 0.0}, why="gamma 0 is cce"),
    ),
    notes=("alpha is one scalar for all classes (as in Keras); class weights give per-class weighting.",),
    compat={
        "keras": Convention(
            "keras.losses.categorical_focal_crossentropy",
            params={"alpha": 0.25},
            normalize_pred=True,
            clip_pred=(1e-7, 1.0 - 1e-7),
            kwargs={"gamma": "gamma", "alpha": "alpha"},
        ),
    },
)
def categorical_focal(y, p, gamma: float, alpha: float) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(p.shape[0]):
        if y[c] != 0.0 and p[c] != 1.0:
            out -= y[c] * alpha * (1.0 - p[c]) ** gamma * math.log(p[c])
    return out


def multiclass_brier_ids(c: int, p) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for j in range(p.shape[0]):
        d = p[j] - 1.0 if j == c else p[j]
        out += d * d
    return out


def multiclass_brier_grad(y, p, out) -> None:  # type: ignore[no-untyped-def]
    for j in range(p.shape[0]):
        out[j] = 2.0 * (p[j] - y[j])


@loss(
    name="multiclass_brier",
    grad=multiclass_brier_grad,
    aliases=("brier_multiclass", "multiclass_brier_score"),
    task=Task.MULTICLASS,
    summary="Multiclass Brier score: squared distance between the probability row and the label row",
    formula="sum_c (p_c - y_c)^2",
    reference=lambda y, p: np.square(np.asarray(p, dtype=float) - _one_hot(y, np.shape(p)[1])).sum(axis=1),
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows="probabilities",
    kernel_ids=multiclass_brier_ids,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(Example(2, _P3, 0.01 + 0.04 + 0.09), Example([0.0, 1.0, 0.0], [0.0, 1.0, 0.0], 0.0)),
    notes=("Ranges over [0, 2]; scikit-learn's multiclass brier_score_loss is this (not halved).",),
    compat={
        "sklearn": Convention(
            "sklearn.metrics.brier_score_loss",
            call=lambda y, p: float(_skm().brier_score_loss(_label_of(y), p, labels=list(range(np.shape(p)[1])))),
        ),
    },
)
def multiclass_brier(y, p) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(p.shape[0]):
        d = p[c] - y[c]
        out += d * d
    return out


@jit_helper
def cosine_of(y, p, eps: float) -> float:  # type: ignore[no-untyped-def]
    """cos(y, p) = y.p / (max(|y|, eps) max(|p|, eps)); 0/0 (a zero vector without eps) is NaN."""
    # Each vector is scaled by its largest |entry| first, so squares neither overflow nor underflow.
    my = 0.0
    mp = 0.0
    for j in range(p.shape[0]):
        my = max(my, abs(y[j]))
        mp = max(mp, abs(p[j]))
    if my == 0.0 or mp == 0.0:
        return 0.0 / (max(my, eps) * max(mp, eps))  # 0/0 (NaN) unless eps floors the norms
    dot = 0.0
    ny = 0.0
    np_ = 0.0
    for j in range(p.shape[0]):
        a = y[j] / my
        b = p[j] / mp
        dot += a * b
        ny += a * a
        np_ += b * b
    ny = math.sqrt(ny)
    np_ = math.sqrt(np_)
    if my * ny >= eps and mp * np_ >= eps:
        return dot / (ny * np_)
    return (dot * my * mp) / (max(my * ny, eps) * max(mp * np_, eps))


@jit_helper
def cosine_of_grad(y, p, out, eps: float) -> None:  # type: ignore[no-untyped-def]
    """Writes d cos(y, p) / dp into ``out``, cos as :func:`cosine_of` (same floors, same scaling)."""
    k = p.shape[0]
    my = 0.0
    mp = 0.0
    for j in range(k):
        my = max(my, abs(y[j]))
        mp = max(mp, abs(p[j]))
    if my == 0.0 or (mp == 0.0 and eps == 0.0):
        # y = 0: cos is 0 for every p (with eps) or NaN; p = 0 without eps: no direction, NaN.
        fill = 0.0 if eps > 0.0 else math.nan
        for j in range(k):
            out[j] = fill
        return
    ny = 0.0
    for j in range(k):
        a = y[j] / my
        ny += a * a
    ny = math.sqrt(ny)
    y_floored = my * ny < eps
    if mp == 0.0 or mp * math.sqrt(_scaled_sq(p, mp)) < eps:
        # |p| floored at eps: cos = y.p / (max(|y|, eps) eps) is linear in p.
        for j in range(k):
            u = y[j] / eps if y_floored else (y[j] / my) / ny
            out[j] = u / eps
        return
    # |p| >= eps (at |p| = eps this, the projection of the floored gradient orthogonal to p, is
    # also the one of least magnitude): d cos / dp_j = (y_j / max(|y|, eps) - cos p_j / |p|) / |p|.
    cos = cosine_of(y, p, eps)
    nb = math.sqrt(_scaled_sq(p, mp))
    for j in range(k):
        u = y[j] / eps if y_floored else (y[j] / my) / ny
        out[j] = (u - cos * ((p[j] / mp) / nb)) / (mp * nb)


@jit_helper
def _scaled_sq(v, scale: float) -> float:
    """sum (v_j / scale)^2."""
    s = 0.0
    for j in range(v.shape[0]):
        b = v[j] / scale
        s += b * b
    return s


def _cos_ref(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        st = np.abs(t).max(axis=1, keepdims=True)  # scaled: no overflow or underflow of the squares
        sp = np.abs(p).max(axis=1, keepdims=True)
        tt = np.where(st > 0, t / np.where(st > 0, st, 1.0), 0.0)
        pp = np.where(sp > 0, p / np.where(sp > 0, sp, 1.0), 0.0)
        nt = np.linalg.norm(tt, axis=1) * st[:, 0]
        np_ = np.linalg.norm(pp, axis=1) * sp[:, 0]
        floored = (nt < eps) | (np_ < eps) | (nt == 0) | (np_ == 0)
        plain = (tt * pp).sum(axis=1) / (np.linalg.norm(tt, axis=1) * np.linalg.norm(pp, axis=1))
        raw = (t * p).sum(axis=1) / (np.maximum(nt, eps) * np.maximum(np_, eps))
        return np.where(floored, raw, plain)


_VECTOR = dict(
    task=Task.MULTICLASS,
    y_true=REALS,
    y_pred=REALS,
    prediction=Pred.VALUE,
    label_rows_are_distributions=False,
)
_COS_EPS = Param(
    "eps", 0.0, NON_NEGATIVE, "eps floors each norm |y| and |p|; 0 leaves a zero vector undefined (1e-8: orthogonal)"
)


def cosine_grad(y, p, out, eps: float) -> None:  # type: ignore[no-untyped-def]
    cosine_of_grad(y, p, out, eps)
    for j in range(p.shape[0]):
        out[j] = 0.0 - out[j]  # d(1 - cos) = -d cos


@loss(
    name="cosine",
    grad=cosine_grad,
    aliases=("cosine_distance", "cosine_embedding"),
    summary="Cosine distance between the label vector and the prediction vector, in [0, 2]",
    formula="1 - y.p / (max(|y|, eps) max(|p|, eps))",
    reference=lambda y, p, eps=0.0: 1.0 - _cos_ref(y, p, eps),
    params=(_COS_EPS,),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example([1.0, 0.0], [2.0, 0.0], 0.0, why="same direction"),
        Example([1.0, 0.0], [0.0, 3.0], 1.0),
        Example([1.0, 1.0], [-1.0, -1.0], 2.0),
        Example([0.0, 0.0], [1.0, 0.0], 1.0, {"eps": 1e-8}, why="a zero vector is orthogonal with eps"),
    ),
    notes=("Labels are vectors (any real values): give the label columns with --y-true 'GLOB'.",),
    **_VECTOR,
    compat={
        "torch": Convention(
            "torch.nn.functional.cosine_embedding_loss(target=1)",
            params={"eps": 1e-6},
            notes=("PyTorch adds 1e-12 to each squared norm; lossctl floors each norm at 1e-6 (equal unless tiny).",),
            call=lambda y, p: float(
                _F().cosine_embedding_loss(
                    _tt(p), _tt(_one_hot(y, np.shape(p)[1]).astype(np.asarray(p).dtype)), _tt(np.ones(len(p)))
                )
            ),
        ),
        "optax": Convention("optax.losses.cosine_distance", kwargs={"eps": "sqrt of epsilon"}),
    },
)
def cosine(y, p, eps: float) -> float:  # type: ignore[no-untyped-def]
    return 1.0 - cosine_of(y, p, eps)


@loss(
    name="cosine_similarity",
    grad=cosine_grad,  # -cos and 1 - cos have the same derivative
    aliases=("neg_cosine", "cosine_proximity"),
    summary="Negative cosine similarity (Keras's cosine loss), in [-1, 1]: lower is better",
    formula="-y.p / (max(|y|, eps) max(|p|, eps))",
    reference=lambda y, p, eps=0.0: -_cos_ref(y, p, eps),
    params=(_COS_EPS,),
    examples=(Example([1.0, 0.0], [2.0, 0.0], -1.0), Example([1.0, 0.0], [0.0, 3.0], 0.0)),
    notes=(
        "The negative of the similarity, so that lower is better, as Keras's CosineSimilarity loss.",
        "optax.losses.cosine_similarity returns +cos; --compat optax shows that.",
    ),
    **_VECTOR,
    compat={
        "keras": Convention("keras.losses.cosine_similarity", params={"eps": 1e-7}),
        "optax": Convention("optax.losses.cosine_similarity", scale=-1.0, kwargs={"eps": "sqrt of epsilon"}),
    },
)
def cosine_similarity(y, p, eps: float) -> float:  # type: ignore[no-untyped-def]
    return -cosine_of(y, p, eps)


_SMOOTH = Param("smooth", 0.0, NON_NEGATIVE, "smooth is added to numerator and denominator, >= 0")
_DEN_EPS = Param("eps", 0.0, NON_NEGATIVE, "eps is added to the denominator only (Keras: 1e-7), >= 0")
_OVERLAP = dict(
    task=Task.MULTICLASS,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    label_rows_are_distributions=False,
)


def _tversky_ref(y, p, alpha=0.5, beta=0.5, smooth=0.0, eps=0.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    tp = (t * p).sum(axis=1)
    fp = ((1.0 - t) * p).sum(axis=1)
    fn = (t * (1.0 - p)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (alpha * fp + beta * fn + eps) / (tp + alpha * fp + beta * fn + smooth + eps)


def _dice_ref(y, p, smooth=0.0, eps=0.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        # 1 - (2 I + s) / (T + P + s + eps) = (T + P - 2 I + eps) / (...), with T + P - 2 I formed
        # as sum t (1 - p) + sum (1 - t) p, so no cancellation near a perfect row.
        miss = (t * (1.0 - p)).sum(axis=1) + ((1.0 - t) * p).sum(axis=1)
        return (miss + eps) / (t.sum(axis=1) + p.sum(axis=1) + smooth + eps)


def dice_grad(y, p, out, smooth: float, eps: float) -> None:  # type: ignore[no-untyped-def]
    tversky_of_grad(y, p, out, 0.5, 0.5, 0.5 * smooth, 0.5 * eps)  # as dice: Tversky at 1/2, 1/2


@loss(
    name="dice",
    grad=dice_grad,
    aliases=("dice_loss", "soft_dice"),
    summary="Soft Dice loss per row (multi-label or one-hot rows)",
    formula="1 - (2 sum y p + smooth) / (sum y + sum p + smooth + eps)",
    reference=_dice_ref,
    params=(_SMOOTH, _DEN_EPS),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], 0.0),
        Example([1.0, 0.0], [0.5, 0.5], 1.0 - 1.0 / 2.0),
        Example([0.0, 0.0], [0.0, 0.0], 0.0, {"smooth": 1.0}, why="empty rows agree with smoothing"),
    ),
    notes=(
        "Per row: the mean over rows is the cost. A row with no positives and no predicted mass is "
        "undefined unless smooth > 0.",
    ),
    **_OVERLAP,
    compat={
        "keras": Convention(
            "keras.losses.dice(axis=-1)",
            params={"eps": 1e-7},
            notes=(
                "Keras has no smoothing (it adds 1e-7 to the denominator only); its default axis=None "
                "computes one Dice over the whole batch, not a mean over rows.",
            ),
        ),
        "optax": Convention(
            "optax.losses.dice_loss(apply_softmax=False, axis=-1)",
            params={"smooth": 2.0},
            kwargs={"smooth": "smooth (lossctl's smooth is twice optax's)"},
            notes=("Optax's default smooth=1 is lossctl's smooth=2.",),
        ),
    },
)
def dice(y, p, smooth: float, eps: float) -> float:  # type: ignore[no-untyped-def]
    # 2 TP + FP + FN = sum y + sum p: Tversky at alpha = beta = 1/2, with halved constants.
    return tversky_of(y, p, 0.5, 0.5, 0.5 * smooth, 0.5 * eps)


@jit_helper
def tversky_counts(y, p) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Soft true positives, false positives and false negatives of one row."""
    tp = 0.0
    fp = 0.0
    fn = 0.0
    for j in range(p.shape[0]):
        tp += y[j] * p[j]
        fp += (1.0 - y[j]) * p[j]
        fn += y[j] * (1.0 - p[j])
    return tp, fp, fn


@jit_helper
def tversky_of(y, p, alpha: float, beta: float, smooth: float, eps: float) -> float:  # type: ignore[no-untyped-def]
    tp, fp, fn = tversky_counts(y, p)
    # 1 - (TP + s) / den = (alpha FP + beta FN + eps) / den: no cancellation near a perfect row.
    return (alpha * fp + beta * fn + eps) / (tp + alpha * fp + beta * fn + smooth + eps)


@jit_helper
def tversky_of_grad(y, p, out, alpha: float, beta: float, smooth: float, eps: float) -> None:  # type: ignore[no-untyped-def]
    """Writes d tversky_of / dp into ``out``."""
    tp, fp, fn = tversky_counts(y, p)
    num = alpha * fp + beta * fn + eps
    den = tp + alpha * fp + beta * fn + smooth + eps
    # l = N / D with D = N + TP + s, dN/dp_j = alpha (1 - y_j) - beta y_j, dTP/dp_j = y_j:
    # dl/dp_j = (dN_j (D - N) - N y_j) / D^2, D - N = TP + s formed directly.
    rest = tp + smooth
    for j in range(p.shape[0]):
        dn = alpha * (1.0 - y[j]) - beta * y[j]
        out[j] = (dn * rest - num * y[j]) / den / den  # twice: den * den could underflow


def tversky_grad(y, p, out, alpha: float, beta: float, smooth: float, eps: float) -> None:  # type: ignore[no-untyped-def]
    tversky_of_grad(y, p, out, alpha, beta, smooth, eps)


@loss(
    name="tversky",
    grad=tversky_grad,
    aliases=("tversky_loss",),
    summary="Tversky loss per row: Dice with separate weights for false positives and false negatives",
    formula="1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth + eps), "
    "TP = sum y p, FP = sum (1-y) p, FN = sum y (1-p)",
    reference=_tversky_ref,
    params=(
        Param("alpha", 0.5, NON_NEGATIVE, "alpha weights false positives, >= 0"),
        Param("beta", 0.5, NON_NEGATIVE, "beta weights false negatives, >= 0"),
        _SMOOTH,
        _DEN_EPS,
    ),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT}),
    examples=(
        Example([1.0, 0.0], [0.5, 0.5], 0.5),
        Example([1.0, 0.0], [0.5, 1.0], 2.0 / 3.0, {"alpha": 1.0, "beta": 0.0}, why="1 - 0.5 / (0.5 + 1.0)"),
    ),
    notes=("alpha = beta = 0.5 is Dice; alpha = beta = 1 is the Jaccard (IoU) loss.",),
    **_OVERLAP,
    compat={
        "keras": Convention(
            "keras.losses.tversky(axis=-1)",
            params={"eps": 1e-7},
            kwargs={"alpha": "beta", "beta": "alpha"},
            notes=("Keras's alpha weights the false negatives and beta the false positives: the reverse of lossctl.",),
        ),
        "optax": Convention(
            "optax.losses.dice_loss(apply_softmax=False, axis=-1)",
            params={"smooth": 1.0},
            kwargs={"alpha": "alpha", "beta": "beta", "smooth": "smooth"},
        ),
    },
)
def tversky(y, p, alpha: float, beta: float, smooth: float, eps: float) -> float:  # type: ignore[no-untyped-def]
    return tversky_of(y, p, alpha, beta, smooth, eps)
