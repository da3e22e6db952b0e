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
from lossctl.domains import PROBABILITY, Interval
from lossctl.frameworks import one_hot as _oh
from lossctl.frameworks import sklearn_metrics as _skm
from lossctl.frameworks import torch_functional as _F  # noqa: N812
from lossctl.frameworks import torch_tensor as _tt
from lossctl.losses.binary import _EPS, _xlogy
from lossctl.registry import CONVEX, NONNEGATIVE, ZERO_AT_PERFECT, Example, Pred, Task, jit_helper, loss

# Logits may be -inf (a masked class) but not +inf.
LOGITS = Interval(-math.inf, math.inf, True, False)
_P3 = [0.1, 0.2, 0.7]
_X3 = [1.0, 2.0, 3.0]
_LSE3 = math.log(math.exp(1.0) + math.exp(2.0) + math.exp(3.0))


def _ids(y):  # type: ignore[no-untyped-def]
    return _tt(np.asarray(y).astype(np.int64))


def _one_hot(y, k):  # type: ignore[no-untyped-def]
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(float)
    out = np.zeros((y.shape[0], k))
    out[np.arange(y.shape[0]), y.astype(int)] = 1.0
    return out


def _cce_ref(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    if eps > 0:
        p = np.clip(p, eps, 1.0 - eps)
    return -_xlogy(_one_hot(y, p.shape[1]), p).sum(axis=1)


def cce_ids(c: int, p, eps: float) -> float:  # type: ignore[no-untyped-def]
    q = p[c]
    if eps > 0.0:
        q = min(max(q, eps), 1.0 - eps)
    return -math.log(q)


@loss(
    name="cce",
    aliases=("categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_cross_entropy"),
    task=Task.MULTICLASS,
    summary="Categorical cross-entropy on class probabilities (integer or one-hot/soft labels)",
    formula="-sum_c y_c log p_c; with a class id c: -log p_c",
    reference=_cce_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows_sum_to_one=True,
    pred_hint="cce takes class probabilities; for logits use --loss softmax_ce",
    params=(_EPS,),
    kernel_ids=cce_ids,
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, CONVEX}),
    examples=(
        Example(2, _P3, -math.log(0.7)),
        Example([0.0, 1.0, 0.0], _P3, -math.log(0.2)),
        Example([0.5, 0.0, 0.5], _P3, -0.5 * (math.log(0.1) + math.log(0.7)), why="soft labels"),
        Example(0, [0.0, 0.5, 0.5], math.inf, why="no clipping: -log 0"),
    ),
    notes=(
        "Probabilities are not renormalised: each row must sum to 1 (within 1e-3), as must label rows.",
        "No clipping by default (Keras clips to [1e-7, 1 - 1e-7]); pass -p eps=1e-7 to clip.",
    ),
    frameworks={
        "torch": lambda y, p, eps=0.0: float(_F().nll_loss(_tt(p).log(), _ids(y))),
        "sklearn": lambda y, p, eps=0.0: float(_skm().log_loss(y, p, labels=list(range(np.shape(p)[1])))),
    },
)
def cce(y, p, eps: float) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(p.shape[0]):
        if y[c] != 0.0:
            q = p[c]
            if eps > 0.0:
                q = min(max(q, eps), 1.0 - eps)
            out -= y[c] * math.log(q)
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
            s += math.exp(x[j] - m)
    return m, math.log1p(s)


def _softmax_ce_ref(y, x):  # type: ignore[no-untyped-def]
    x = np.asarray(x, dtype=float)
    top = x.argmax(axis=1)
    rows = np.arange(x.shape[0])
    m = x[rows, top][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.exp(x - m)
        e[rows, top] = 0.0
        log_softmax = (x - m) - np.log1p(e.sum(axis=1, keepdims=True))
        t = _one_hot(y, x.shape[1])
        return -np.where(t == 0, 0.0, t * log_softmax).sum(axis=1)


def softmax_ce_ids(c: int, x) -> float:  # type: ignore[no-untyped-def]
    m, lse_tail = log_softmax_parts(x)
    return (m - x[c]) + lse_tail


@loss(
    name="softmax_ce",
    aliases=("cross_entropy", "softmax_cross_entropy", "categorical_crossentropy_logits"),
    task=Task.MULTICLASS,
    summary="Softmax cross-entropy on logits (integer or one-hot/soft labels), stable for huge logits",
    formula="logsumexp(x) - x_c; soft labels: -sum_c y_c log_softmax(x)_c",
    reference=_softmax_ce_ref,
    y_true=PROBABILITY,
    y_pred=LOGITS,
    prediction=Pred.LOGIT,
    kernel_ids=softmax_ce_ids,
    properties=frozenset({NONNEGATIVE, CONVEX}),
    examples=(
        Example(2, _X3, _LSE3 - 3.0),
        Example([1.0, 0.0, 0.0], _X3, _LSE3 - 1.0),
        Example(0, [1e4, 0.0, -1e4], 0.0, why="huge logits: no overflow"),
        Example(1, [1e4, 0.0, -1e4], 1e4),
        Example(0, [0.0, -math.inf, 0.0], math.log(2.0), why="-inf masks a class"),
    ),
    notes=(
        "A logit of -inf masks its class; +inf is refused. A row whose logits are all -inf is undefined.",
        "Soft labels are used as given; their rows must sum to 1 (within 1e-3).",
    ),
    frameworks={"torch": lambda y, x: float(_F().cross_entropy(_tt(x), _ids(y)))},
)
def softmax_ce(y, x) -> float:  # type: ignore[no-untyped-def]
    m, lse_tail = log_softmax_parts(x)
    out = 0.0
    for c in range(x.shape[0]):
        if y[c] != 0.0:
            out += y[c] * ((m - x[c]) + lse_tail)
    return out


def _kl_ref(y, p):  # type: ignore[no-untyped-def]
    p = np.asarray(p, dtype=float)
    t = _one_hot(y, p.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t == 0, 0.0, t * (np.log(np.where(t == 0, 1.0, t)) - np.log(p)))
    return terms.sum(axis=1)


def kl_div_ids(c: int, p) -> float:  # type: ignore[no-untyped-def]
    return -math.log(p[c])


@loss(
    name="kl_div",
    aliases=("kld", "kl_divergence", "kullback_leibler"),
    task=Task.MULTICLASS,
    summary="Kullback-Leibler divergence KL(y || p) from the label distribution to the prediction",
    formula="sum_c y_c (log y_c - log p_c), with 0 log 0 = 0",
    reference=_kl_ref,
    y_true=PROBABILITY,
    y_pred=PROBABILITY,
    prediction=Pred.PROBABILITY,
    pred_rows_sum_to_one=True,
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
    frameworks={
        "torch": lambda y, p: float(
            _F().kl_div(_tt(p).log(), _tt(_oh(y, np.shape(p)[1], np.asarray(p).dtype)), reduction="batchmean")
        )
    },
)
def kl_div(y, p) -> float:  # type: ignore[no-untyped-def]
    out = 0.0
    for c in range(p.shape[0]):
        if y[c] != 0.0:
            out += y[c] * (math.log(y[c]) - math.log(p[c]))
    return out
