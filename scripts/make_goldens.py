"""Golden loss values from Keras (JAX backend) and Optax, for lossctl's tests.

The script calls the real framework functions on fixed, seeded float32 inputs and writes what they
return. It does not import lossctl, so the files do not depend on lossctl's implementation.

How to run (from the repository root; the frameworks are not lossctl dependencies, so use a
separate virtualenv outside the repository)::

    python3.11 -m venv .venv-goldens
    .venv-goldens/bin/pip install jax jaxlib optax keras numpy
    KERAS_BACKEND=jax .venv-goldens/bin/python scripts/make_goldens.py

It writes ``tests/goldens/keras.json`` and ``tests/goldens/optax.json`` (``--out-dir`` to change the
directory, ``--framework keras|optax`` for one file only). The script sets ``KERAS_BACKEND=jax``
itself when it is unset and refuses any other backend. JAX runs with its default float32.

File layout: a header (framework, versions, date, seed, field descriptions) and ``cases``, one JSON
object per line. Each case has:

- ``loss``: lossctl's loss name; ``framework``; ``api``: the framework function or class called;
  ``call``: how the stored inputs are passed to it (only where that is not the obvious order).
- ``params``: lossctl parameters (SPEC names) the case corresponds to; ``framework_kwargs``: the
  keyword arguments given to the framework.
- ``label_format``: ``ids`` (integer class ids), ``onehot`` (rows: one-hot, soft label rows in
  ``*_soft`` and kl_div cases, 0/1 multi-label rows, or plain target vectors for the cosine losses),
  ``binary`` (0/1, or soft labels in [0, 1]), ``signed`` (-1/+1; the ``edge_mixed_labels`` cases
  also hold 0), or null for regression targets.
- ``y_true``, ``y_pred``: flat lists (one value per sample) or lists of rows, float32 values
  written exactly (``float(np.float32(x))``); class ids as ints.
- ``sample_weight``: list or null. ``reduction``: how ``expected`` was reduced.
- ``expected``: the framework's reduced value (Keras: the Loss object's call with its default
  reduction ``sum_over_batch_size`` = sum(w * l) / n, n = batch size even with zero weights; Optax:
  ``jnp.mean`` of the per-example values), from its float32 result.
- ``per_sample``: the framework's unweighted per-sample values (Keras: the same Loss with
  ``reduction=None`` and no sample weight; Optax: the function's output).
- ``notes``: where the framework's definition differs from lossctl's SPEC formula.

Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20250611
N = 20  # rows in the random cases
K = 4  # classes in the multiclass cases
KERAS_EPS = 1e-7  # keras.config.epsilon()

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# Inputs


def rng_for(*key: object) -> np.random.Generator:
    """A generator per case, so adding or reordering cases does not change the others' inputs."""
    return np.random.default_rng([SEED, zlib.crc32("/".join(map(str, key)).encode())])


def f32(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def onehot(ids: np.ndarray, k: int = K) -> np.ndarray:
    return f32(np.eye(k)[ids])


def class_ids(rng: np.random.Generator, n: int = N) -> np.ndarray:
    ids = rng.integers(0, K, n)
    ids[0], ids[1] = 0, K - 1  # both ends always present
    return ids.astype(np.int32)


def weights(rng: np.random.Generator, n: int = N) -> np.ndarray:
    w = rng.uniform(0.1, 2.0, n)
    w[rng.choice(n, size=max(2, n // 5), replace=False)] = 0.0
    return f32(w)


def regression(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.normal(0.0, 2.0, N)
    return f32(y), f32(y + rng.normal(0.0, 1.5, N))


def positive(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.gamma(2.0, 1.5, N)), f32(rng.gamma(2.0, 1.5, N) + 0.05)


def counts(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.poisson(3.0, N)), f32(rng.gamma(3.0, 1.0, N) + 0.05)


def nonzero_targets(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.uniform(0.5, 5.0, N) * rng.choice([-1.0, 1.0], N)
    return f32(y), f32(y + rng.normal(0.0, 1.0, N))


def binary_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.integers(0, 2, N)), f32(rng.uniform(0.02, 0.98, N))


def soft_binary_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.uniform(0.0, 1.0, N)), f32(rng.uniform(0.02, 0.98, N))


def binary_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.integers(0, 2, N)), f32(rng.normal(0.0, 3.0, N))


def soft_binary_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.uniform(0.0, 1.0, N)), f32(rng.normal(0.0, 3.0, N))


def signed_scores(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(2 * rng.integers(0, 2, N) - 1), f32(rng.normal(0.0, 1.5, N))


def binary_scores(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.integers(0, 2, N)), f32(rng.normal(0.0, 1.5, N))


def prob_rows(rng: np.random.Generator) -> np.ndarray:
    return f32(softmax(rng.normal(0.0, 1.5, (N, K))))


def logit_rows(rng: np.random.Generator) -> np.ndarray:
    return f32(rng.normal(0.0, 2.5, (N, K)))


def soft_rows(rng: np.random.Generator) -> np.ndarray:
    return f32(rng.dirichlet(np.ones(K), N))


def vectors(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return f32(rng.normal(0.0, 1.0, (N, K))), f32(rng.normal(0.0, 1.0, (N, K)))


# Edge inputs (fixed lists).
EDGE_P01 = (f32([1, 0, 1, 0, 1, 0]), f32([0, 1, 1, 0, 0.5, 0.5]))  # p exactly 0 and 1, both labels
EDGE_LOGITS = (f32([1, 0, 1, 0, 1, 0, 1, 0]), f32([100, -100, -100, 100, 0, 0, 30, -30]))
INF = float("inf")
EDGE_LOGITS_INF = (f32([1, 0, 1, 0]), f32([INF, -INF, -INF, INF]))
EDGE_RESIDUALS = (f32([0, 0, 0, 0, 0, 0, 0, 5]), f32([0, 1, -1, 1.5, -1.5, 1000, -1000, 5.001]))
EDGE_SIGNED = (f32([1, -1, 1, -1, 1, -1, 1, -1]), f32([0, 0, 1, -1, -1, 1, 100, -100]))
EDGE_BINARY_SCORES = (f32([1, 0, 1, 0, 1, 0, 1, 0]), f32([0, 0, 1, -1, -1, 1, 100, -100]))
EDGE_IDS = np.array([0, K - 1, 0, K - 1, 1, 2], dtype=np.int32)
EDGE_LOGIT_ROWS = f32(
    [
        [100, -100, 0, 0],  # right and confident
        [100, -100, 0, 0],  # wrong and confident (id K-1)
        [-100, 0, 0, 100],  # wrong and confident (id 0)
        [0, 0, 0, 100],  # right, id K-1
        [0, 0, 0, 0],  # uniform
        [1e4, 1e4, -1e4, 0],  # tie at a large value
    ]
)
EDGE_LOGIT_ROWS_INF = f32([[INF, 0, 0, 0], [-INF, 0, 0, 0], [0, 0, 0, -INF]])
EDGE_LOGIT_IDS_INF = np.array([0, 0, 0], dtype=np.int32)
EDGE_PROB_ROWS = f32(
    [
        [1, 0, 0, 0],  # right, p = 1
        [1, 0, 0, 0],  # wrong, p_target = 0 (id K-1)
        [0, 0, 0, 1],  # right at K-1
        [0.25, 0.25, 0.25, 0.25],
        [0.5, 0.5, 0, 0],
        [0.7, 0.1, 0.1, 0.1],
    ]
)


# ---------------------------------------------------------------------------------------------
# Encoding


def enc_float(v: float) -> float | str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def enc(a: Any) -> Any:
    """float32 values as exact Python floats (non-finite as strings); ints as ints."""
    if a is None:
        return None
    arr = np.asarray(a)
    if arr.dtype.kind in "iub":
        return arr.astype(int).tolist()
    if arr.ndim == 0:
        return enc_float(float(np.float32(arr)))
    return [enc(row) for row in arr]


def scalar(x: Any) -> float | str:
    return enc_float(float(np.float32(np.asarray(x))))


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def write_json(path: Path, header: dict[str, Any], cases: list[dict[str, Any]]) -> None:
    head = json.dumps(header, indent=1, allow_nan=False)
    lines = [json.dumps(case, allow_nan=False, separators=(",", ":")) for case in cases]
    body = ",\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head[:-2] + ',\n "cases": [\n' + body + "\n ]\n}\n")


def record(
    *,
    loss: str,
    framework: str,
    case: str,
    api: str,
    params: dict[str, Any],
    framework_kwargs: dict[str, Any],
    label_format: str | None,
    y_true: Any,
    y_pred: Any,
    sample_weight: Any,
    reduction: str,
    expected: Any,
    per_sample: Any,
    call: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "loss": loss,
        "framework": framework,
        "case": case,
        "api": api,
    }
    if call:
        out["call"] = call
    out.update(
        params=params,
        framework_kwargs=framework_kwargs,
        label_format=label_format,
        y_true=enc(y_true),
        y_pred=enc(y_pred),
        sample_weight=enc(sample_weight),
        reduction=reduction,
        expected=scalar(expected),
        per_sample=enc(np.asarray(per_sample, dtype=np.float32).ravel()),
    )
    if notes:
        out["notes"] = notes
    return out


# ---------------------------------------------------------------------------------------------
# Keras

# Notes shared by several Keras cases.
KN_CLIP = (
    "keras clips p to [1e-7, 1 - 1e-7] in float32; the upper bound rounds to 1 - 2**-23, so p = 1 with "
    "label 0 costs -log(2**-23) = 15.942385 while p = 0 with label 1 costs -log(1e-7) = 16.118095"
)
KN_RENORM = "keras divides each probability row by its sum, then clips to [1e-7, 1 - 1e-7] before the log"
KN_LOGITS_INF = (
    "keras computes -y log_sigmoid(x) - (1 - y) log_sigmoid(-x): an infinite logit on the right side "
    "gives 0 * inf = nan, on the wrong side inf"
)


def keras_cases(keras: Any) -> list[dict[str, Any]]:
    losses = keras.losses
    cases: list[dict[str, Any]] = []

    def add(
        loss: str,
        cls_name: str,
        case: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        *,
        layout: str,
        label_format: str | None,
        kwargs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        sample_weight: np.ndarray | None = None,
        notes: str | None = None,
    ) -> None:
        kwargs = kwargs or {}
        cls = getattr(losses, cls_name)
        if layout == "elementwise":  # one value per sample: shape (n, 1) so axis=-1 keeps samples
            yt, yp = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
        else:  # "rows": (n, K) both; "ids": (n,) int32 and (n, K)
            yt, yp = y_true, y_pred
        expected = cls(**kwargs)(yt, yp, sample_weight=sample_weight)
        per_sample = cls(reduction=None, **kwargs)(yt, yp)
        cases.append(
            record(
                loss=loss,
                framework="keras",
                case=case,
                api=f"keras.losses.{cls_name}",
                params=params or {},
                framework_kwargs=kwargs,
                label_format=label_format,
                y_true=y_true,
                y_pred=y_pred,
                sample_weight=sample_weight,
                reduction="sum_over_batch_size",
                expected=expected,
                per_sample=per_sample,
                notes=notes,
            )
        )

    def standard(
        loss: str,
        cls_name: str,
        data: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
        edge: tuple[np.ndarray, np.ndarray] | None,
        *,
        layout: str = "elementwise",
        label_format: str | None = None,
        kwargs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        notes: str | None = None,
        edge_notes: str | None = None,
        suffix: str = "",
    ) -> None:
        """random, weighted (zeros included) and edge cases of one call."""
        common = dict(layout=layout, label_format=label_format, kwargs=kwargs, params=params)
        y, p = data(rng_for("keras", loss, "random" + suffix))
        add(loss, cls_name, "random" + suffix, y, p, notes=notes, **common)
        rng = rng_for("keras", loss, "weighted" + suffix)
        y, p = data(rng)
        add(loss, cls_name, "weighted" + suffix, y, p, sample_weight=weights(rng), notes=notes, **common)
        if edge is not None:
            add(loss, cls_name, "edge" + suffix, *edge, notes=edge_notes or notes, **common)

    # Regression -------------------------------------------------------------------------------
    standard("mse", "MeanSquaredError", regression, EDGE_RESIDUALS)
    standard("mae", "MeanAbsoluteError", regression, EDGE_RESIDUALS)
    msle_note = "keras uses log(max(x, 1e-7) + 1) for y and p: values below 1e-7 (negatives too) count as 1e-7"
    standard(
        "msle",
        "MeanSquaredLogarithmicError",
        positive,
        (f32([0, 0, 1e4, 0, -0.5, 0.5, 3]), f32([0, 1e4, 0, 1e-8, 0.5, -0.5, 3])),
        notes=msle_note,
    )
    standard("huber", "Huber", regression, EDGE_RESIDUALS, params={"delta": 1.0})
    standard(
        "huber",
        "Huber",
        regression,
        EDGE_RESIDUALS,
        kwargs={"delta": 1.5},
        params={"delta": 1.5},
        suffix="_delta1.5",
    )
    standard(
        "log_cosh",
        "LogCosh",
        regression,
        (f32([0] * 8), f32([0, 1, -1, 20, -20, 100, -100, 1e4])),
        notes="keras computes x + softplus(-2x) - log(2)",
    )
    standard(
        "mape",
        "MeanAbsolutePercentageError",
        nonzero_targets,
        (f32([0, 0, 1e-8, -2, 2, 1e-3]), f32([1, 0, 1, -1, 3, 0])),
        params={"eps": KERAS_EPS, "percent": 1},
        notes="keras: 100 * |y - p| / max(|y|, 1e-7)",
    )
    standard(
        "poisson",
        "Poisson",
        counts,
        (f32([0, 2, 0, 1, 5]), f32([0, 0, 3, 1, 1e-9])),
        params={"eps": KERAS_EPS},
        notes="keras: p - y log(p + 1e-7)",
    )

    # Binary -----------------------------------------------------------------------------------
    bce = {"eps": KERAS_EPS}
    standard(
        "bce",
        "BinaryCrossentropy",
        binary_probs,
        EDGE_P01,
        label_format="binary",
        params=bce,
        edge_notes=KN_CLIP,
    )
    standard(
        "bce",
        "BinaryCrossentropy",
        soft_binary_probs,
        None,
        label_format="binary",
        params=bce,
        suffix="_soft",
    )
    standard(
        "bce",
        "BinaryCrossentropy",
        binary_probs,
        EDGE_P01,
        label_format="binary",
        kwargs={"label_smoothing": 0.1},
        params={**bce, "label_smoothing": 0.1},
        notes="keras smooths y to y (1 - s) + s / 2",
        edge_notes="keras smooths y to y (1 - s) + s / 2; " + KN_CLIP,
        suffix="_ls0.1",
    )
    standard(
        "bce_logits",
        "BinaryCrossentropy",
        binary_logits,
        EDGE_LOGITS,
        label_format="binary",
        kwargs={"from_logits": True},
    )
    standard(
        "bce_logits",
        "BinaryCrossentropy",
        soft_binary_logits,
        None,
        label_format="binary",
        kwargs={"from_logits": True},
        suffix="_soft",
    )
    standard(
        "bce_logits",
        "BinaryCrossentropy",
        binary_logits,
        EDGE_LOGITS,
        label_format="binary",
        kwargs={"from_logits": True, "label_smoothing": 0.1},
        params={"label_smoothing": 0.1},
        notes="keras smooths y to y (1 - s) + s / 2",
        suffix="_ls0.1",
    )
    add(
        "bce_logits",
        "BinaryCrossentropy",
        "edge_inf",
        *EDGE_LOGITS_INF,
        layout="elementwise",
        label_format="binary",
        kwargs={"from_logits": True},
        notes=KN_LOGITS_INF,
    )
    hinge_note = "keras maps labels to 2y - 1 only when every label in the batch is 0 or 1"
    for loss, cls_name in (("hinge", "Hinge"), ("squared_hinge", "SquaredHinge")):
        standard(loss, cls_name, binary_scores, EDGE_BINARY_SCORES, label_format="binary", notes=hinge_note)
        standard(loss, cls_name, signed_scores, EDGE_SIGNED, label_format="signed", suffix="_signed")
        add(
            loss,
            cls_name,
            "edge_mixed_labels",
            f32([1, 0, -1, 0, 1, -1]),
            f32([0.5, 0.5, 0.5, -0.5, 2, -2]),
            layout="elementwise",
            label_format="signed",
            notes=hinge_note + "; here a 0 label stays 0 (loss 1 or 1**2), where lossctl reads it as -1",
        )
    focal_note = (
        "keras: bce on p clipped to [1e-7, 1 - 1e-7] (upper bound 1 - 2**-23 in float32), times "
        "(1 - p_t)**gamma with p_t from the unclipped p; alpha only with apply_class_balancing=True"
    )
    standard(
        "focal",
        "BinaryFocalCrossentropy",
        binary_probs,
        EDGE_P01,
        label_format="binary",
        kwargs={"gamma": 2.0},
        params={"gamma": 2.0, "alpha": -1},
        notes=focal_note,
    )
    standard(
        "focal",
        "BinaryFocalCrossentropy",
        binary_probs,
        EDGE_P01,
        label_format="binary",
        kwargs={"gamma": 1.5, "alpha": 0.25, "apply_class_balancing": True},
        params={"gamma": 1.5, "alpha": 0.25},
        notes=focal_note,
        suffix="_alpha0.25",
    )
    focal_logits_note = (
        "keras applies sigmoid, then the probability-space focal loss with p clipped to "
        "[1e-7, 1 - 1e-7]; not log-space, so |logit| > ~16 saturates (logit 100 wrong costs 15.94 "
        "or 16.12, not 100)"
    )
    standard(
        "focal_logits",
        "BinaryFocalCrossentropy",
        binary_logits,
        EDGE_LOGITS,
        label_format="binary",
        kwargs={"gamma": 2.0, "from_logits": True},
        params={"gamma": 2.0, "alpha": -1},
        notes=focal_logits_note,
    )
    standard(
        "focal_logits",
        "BinaryFocalCrossentropy",
        binary_logits,
        None,
        label_format="binary",
        kwargs={"gamma": 1.5, "alpha": 0.25, "apply_class_balancing": True, "from_logits": True},
        params={"gamma": 1.5, "alpha": 0.25},
        notes=focal_logits_note,
        suffix="_alpha0.25",
    )

    # Multiclass -------------------------------------------------------------------------------
    def ids_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return class_ids(rng), prob_rows(rng)

    def onehot_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), prob_rows(rng)

    def soft_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return soft_rows(rng), prob_rows(rng)

    def ids_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return class_ids(rng), logit_rows(rng)

    def onehot_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), logit_rows(rng)

    def soft_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return soft_rows(rng), logit_rows(rng)

    cce = {"eps": KERAS_EPS}
    standard(
        "cce",
        "SparseCategoricalCrossentropy",
        ids_probs,
        (EDGE_IDS, EDGE_PROB_ROWS),
        layout="ids",
        label_format="ids",
        params=cce,
        notes=KN_RENORM,
    )
    standard(
        "cce",
        "CategoricalCrossentropy",
        onehot_probs,
        (onehot(EDGE_IDS), EDGE_PROB_ROWS),
        layout="rows",
        label_format="onehot",
        params=cce,
        notes=KN_RENORM,
        suffix="_onehot",
    )
    standard(
        "cce",
        "CategoricalCrossentropy",
        soft_probs,
        None,
        layout="rows",
        label_format="onehot",
        params=cce,
        notes=KN_RENORM,
        suffix="_soft",
    )
    standard(
        "cce",
        "CategoricalCrossentropy",
        onehot_probs,
        None,
        layout="rows",
        label_format="onehot",
        kwargs={"label_smoothing": 0.1},
        params={**cce, "label_smoothing": 0.1},
        notes="keras smooths y to y (1 - s) + s / K; " + KN_RENORM,
        suffix="_ls0.1",
    )
    rng = rng_for("keras", "cce", "unnormalised")
    add(
        "cce",
        "SparseCategoricalCrossentropy",
        "unnormalised_rows",
        class_ids(rng),
        f32(rng.uniform(0.05, 0.6, (N, K))),
        layout="ids",
        label_format="ids",
        params=cce,
        notes=KN_RENORM + "; these rows do not sum to 1, so keras's value is that of the renormalised rows",
    )
    rng = rng_for("keras", "cce", "ignore")
    ids = class_ids(rng)
    ids[rng.choice(np.arange(2, N), size=5, replace=False)] = -1
    add(
        "cce",
        "SparseCategoricalCrossentropy",
        "ignore_index",
        ids,
        prob_rows(rng),
        layout="ids",
        label_format="ids",
        kwargs={"ignore_class": -1},
        params={**cce, "ignore_index": -1},
        notes="keras masks ignored rows (per-sample 0) and sum_over_batch_size divides by the number of "
        "rows not ignored; " + KN_RENORM,
    )
    sce_inf_note = (
        "keras sums y * log_softmax(x) over all K columns: +inf at the target gives nan, -inf at the "
        "target inf, and -inf at a non-target column gives 0 * -inf = nan as well"
    )
    standard(
        "softmax_ce",
        "SparseCategoricalCrossentropy",
        ids_logits,
        (EDGE_IDS, EDGE_LOGIT_ROWS),
        layout="ids",
        label_format="ids",
        kwargs={"from_logits": True},
    )
    add(
        "softmax_ce",
        "SparseCategoricalCrossentropy",
        "edge_inf",
        EDGE_LOGIT_IDS_INF,
        EDGE_LOGIT_ROWS_INF,
        layout="ids",
        label_format="ids",
        kwargs={"from_logits": True},
        notes=sce_inf_note,
    )
    standard(
        "softmax_ce",
        "CategoricalCrossentropy",
        onehot_logits,
        (onehot(EDGE_IDS), EDGE_LOGIT_ROWS),
        layout="rows",
        label_format="onehot",
        kwargs={"from_logits": True},
        suffix="_onehot",
    )
    standard(
        "softmax_ce",
        "CategoricalCrossentropy",
        soft_logits,
        None,
        layout="rows",
        label_format="onehot",
        kwargs={"from_logits": True},
        suffix="_soft",
    )
    standard(
        "softmax_ce",
        "CategoricalCrossentropy",
        onehot_logits,
        (onehot(EDGE_IDS), EDGE_LOGIT_ROWS),
        layout="rows",
        label_format="onehot",
        kwargs={"from_logits": True, "label_smoothing": 0.1},
        params={"label_smoothing": 0.1},
        notes="keras smooths y to y (1 - s) + s / K",
        suffix="_ls0.1",
    )
    standard(
        "kl_div",
        "KLDivergence",
        soft_probs,
        (
            f32([[0, 1, 0, 0], [0.5, 0.5, 0, 0], [0.25] * 4, [0, 0, 0, 1]]),
            f32([[0.25] * 4, [0.5, 0.5, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]),
        ),
        layout="rows",
        label_format="onehot",
        notes="keras clips y and p to [1e-7, 1] then sums y log(y / p): y = 0 terms contribute "
        "1e-7 log(1e-7 / p), not 0",
    )

    def onehot_scores_pos(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), f32(rng.uniform(0.0, 3.0, (N, K)))

    def onehot_scores(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), f32(rng.normal(0.0, 1.5, (N, K)))

    cat_hinge_note = (
        "keras: max(0, 1 + max_j (1 - y_j) s_j - sum_j y_j s_j); the target column enters the max as 0, "
        "so when every other score is negative keras gives 1 + 0 - s_c, not Crammer-Singer's "
        "max(0, 1 + max_{j != c} s_j - s_c)"
    )
    standard(
        "multiclass_hinge",
        "CategoricalHinge",
        onehot_scores_pos,
        None,
        layout="rows",
        label_format="onehot",
        params={"margin": 1.0},
        notes="non-negative scores, where keras equals Crammer-Singer",
        suffix="_nonneg",
    )
    standard(
        "multiclass_hinge",
        "CategoricalHinge",
        onehot_scores,
        (
            onehot(np.array([0, 0, 3, 1, 2], dtype=np.int32)),
            f32([[-1, -2, -3, -4], [5, 4, 3, 2], [0, 0, 0, 1], [1, 1, 1, 1], [-5, -5, 100, -5]]),
        ),
        layout="rows",
        label_format="onehot",
        params={"margin": 1.0},
        notes=cat_hinge_note,
    )
    cfocal_note = (
        "keras renormalises rows, clips to [1e-7, 1 - 1e-7], then -sum alpha (1 - p_c)**gamma y_c log p_c; "
        "keras's default alpha is 0.25, lossctl's 1"
    )
    standard(
        "categorical_focal",
        "CategoricalFocalCrossentropy",
        onehot_probs,
        (onehot(EDGE_IDS), EDGE_PROB_ROWS),
        layout="rows",
        label_format="onehot",
        kwargs={"alpha": 1.0, "gamma": 2.0},
        params={"gamma": 2.0, "alpha": 1.0},
        notes=cfocal_note,
    )
    standard(
        "categorical_focal",
        "CategoricalFocalCrossentropy",
        soft_probs,
        None,
        layout="rows",
        label_format="onehot",
        kwargs={"alpha": 0.25, "gamma": 1.5},
        params={"gamma": 1.5, "alpha": 0.25},
        notes=cfocal_note,
        suffix="_soft_alpha0.25",
    )
    standard(
        "cosine_similarity",
        "CosineSimilarity",
        vectors,
        (
            f32([[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0], [1, 0, 0, 0], [1, 2, 0, 0], [1e-8, 0, 0, 0]]),
            f32([[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0], [-3, 0, 0, 0], [2, 4, 0, 0], [1e-8, 0, 0, 0]]),
        ),
        layout="rows",
        label_format="onehot",
        notes="keras: -sum(l2_normalize(y) * l2_normalize(p)), l2_normalize(x) = x * min(rsqrt(sum x**2), "
        "1e7): a zero vector gives 0, vectors shorter than 1e-7 are scaled by 1e7 only",
    )

    def onehot_probs_dice(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), prob_rows(rng)

    def multilabel(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return f32(rng.integers(0, 2, (N, K))), f32(rng.uniform(0.0, 1.0, (N, K)))

    dice_edge = (
        f32([[0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]),
        f32([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0.5, 0.5, 0], [0.2, 0.3, 0.1, 0.4]]),
    )
    dice_note = (
        "keras.losses.dice has no smoothing: 1 - 2 sum(y p) / (sum y + sum p + 1e-7); its default axis=None "
        "reduces the whole batch to one number, axis=-1 gives lossctl's per-row dice"
    )
    standard(
        "dice",
        "Dice",
        onehot_probs_dice,
        dice_edge,
        layout="rows",
        label_format="onehot",
        kwargs={"axis": -1},
        params={"smooth": 0.0},
        notes=dice_note,
    )
    standard(
        "dice",
        "Dice",
        multilabel,
        None,
        layout="rows",
        label_format="onehot",
        kwargs={"axis": -1},
        params={"smooth": 0.0},
        notes=dice_note + "; multi-label 0/1 rows",
        suffix="_multilabel",
    )
    tversky_note = (
        "keras.losses.tversky weights sum(y (1 - p)) by its alpha and sum(p (1 - y)) by its beta, the "
        "reverse of lossctl's alpha/beta; so lossctl (alpha=a, beta=b) is keras (alpha=b, beta=a). No "
        "smoothing; 1e-7 is added to the denominator; axis=-1 for per-row values"
    )
    for a, b, suffix in ((0.5, 0.5, ""), (0.7, 0.3, "_a0.7_b0.3")):
        standard(
            "tversky",
            "Tversky",
            multilabel,
            dice_edge,
            layout="rows",
            label_format="onehot",
            kwargs={"alpha": b, "beta": a, "axis": -1},
            params={"alpha": a, "beta": b, "smooth": 0.0},
            notes=tversky_note,
            suffix=suffix,
        )
    return cases


# ---------------------------------------------------------------------------------------------
# Optax


def optax_cases(jnp: Any, optax: Any) -> list[dict[str, Any]]:
    ol = optax.losses
    cases: list[dict[str, Any]] = []

    def add(
        loss: str,
        api: str,
        case: str,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        fn: Callable[[Any, Any], Any],
        *,
        label_format: str | None,
        call: str,
        kwargs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        notes: str | None = None,
    ) -> None:
        yt = jnp.asarray(y_true)
        yp = jnp.asarray(y_pred)
        per_sample = fn(yt, yp)
        expected = jnp.mean(per_sample)
        cases.append(
            record(
                loss=loss,
                framework="optax",
                case=case,
                api=f"optax.losses.{api}",
                call=call,
                params=params or {},
                framework_kwargs=kwargs or {},
                label_format=label_format,
                y_true=y_true,
                y_pred=y_pred,
                sample_weight=None,
                reduction="mean",
                expected=expected,
                per_sample=per_sample,
                notes=notes,
            )
        )

    def both(
        loss: str,
        api: str,
        data: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
        edge: tuple[np.ndarray, np.ndarray] | None,
        fn: Callable[[Any, Any], Any],
        *,
        suffix: str = "",
        edge_notes: str | None = None,
        **kw: Any,
    ) -> None:
        y, p = data(rng_for("optax", loss, "random" + suffix))
        add(loss, api, "random" + suffix, y, p, fn, **kw)
        if edge is not None:
            if edge_notes:
                kw = {**kw, "notes": edge_notes}
            add(loss, api, "edge" + suffix, *edge, fn, **kw)

    # Regression -------------------------------------------------------------------------------
    both(
        "mse",
        "squared_error",
        regression,
        EDGE_RESIDUALS,
        lambda y, p: ol.squared_error(p, y),
        label_format=None,
        call="squared_error(y_pred, y_true)",
    )
    for delta, suffix in ((1.0, ""), (1.5, "_delta1.5")):
        both(
            "huber",
            "huber_loss",
            regression,
            EDGE_RESIDUALS,
            lambda y, p, d=delta: ol.huber_loss(p, y, delta=d),
            label_format=None,
            call="huber_loss(y_pred, y_true, delta=delta)",
            kwargs={"delta": delta},
            params={"delta": delta},
            suffix=suffix,
        )
    both(
        "log_cosh",
        "log_cosh",
        regression,
        (f32([0] * 8), f32([0, 1, -1, 20, -20, 100, -100, 1e4])),
        lambda y, p: ol.log_cosh(p, y),
        label_format=None,
        call="log_cosh(y_pred, y_true)",
        notes="optax computes logaddexp(r, -r) - log(2)",
    )

    # Binary -----------------------------------------------------------------------------------
    def sbce(y: Any, p: Any) -> Any:
        return ol.sigmoid_binary_cross_entropy(p, y)

    inf_note = (
        "optax computes -y log_sigmoid(x) - (1 - y) log_sigmoid(-x): an infinite logit on the right side "
        "gives 0 * inf = nan, on the wrong side inf"
    )
    both(
        "bce_logits",
        "sigmoid_binary_cross_entropy",
        binary_logits,
        EDGE_LOGITS,
        sbce,
        label_format="binary",
        call="sigmoid_binary_cross_entropy(y_pred, y_true)",
    )
    both(
        "bce_logits",
        "sigmoid_binary_cross_entropy",
        soft_binary_logits,
        None,
        sbce,
        label_format="binary",
        call="sigmoid_binary_cross_entropy(y_pred, y_true)",
        suffix="_soft",
    )
    add(
        "bce_logits",
        "sigmoid_binary_cross_entropy",
        "edge_inf",
        *EDGE_LOGITS_INF,
        sbce,
        label_format="binary",
        call="sigmoid_binary_cross_entropy(y_pred, y_true)",
        notes=inf_note,
    )
    both(
        "hinge",
        "hinge_loss",
        signed_scores,
        EDGE_SIGNED,
        lambda y, p: ol.hinge_loss(p, y),
        label_format="signed",
        call="hinge_loss(y_pred, y_true)",
        notes="optax uses the targets as given: max(0, 1 - s t)",
    )
    add(
        "hinge",
        "hinge_loss",
        "binary_labels_as_given",
        *binary_scores(rng_for("optax", "hinge", "binary")),
        lambda y, p: ol.hinge_loss(p, y),
        label_format="binary",
        call="hinge_loss(y_pred, y_true)",
        notes="optax does not convert 0/1 labels: a 0 label gives loss 1 whatever the score, where lossctl "
        "reads it as -1",
    )
    focal_note = (
        "optax: sigmoid_binary_cross_entropy * exp(gamma * log(1 - p_t)), log(1 - p_t) by logsumexp of the "
        "log-sigmoids weighted (1 - y, y); alpha=None means no alpha weighting"
    )
    both(
        "focal_logits",
        "sigmoid_focal_loss",
        binary_logits,
        EDGE_LOGITS,
        lambda y, p: ol.sigmoid_focal_loss(p, y, gamma=2.0),
        label_format="binary",
        call="sigmoid_focal_loss(y_pred, y_true, gamma=2.0)",
        kwargs={"gamma": 2.0, "alpha": None},
        params={"gamma": 2.0, "alpha": -1},
        notes=focal_note,
    )
    both(
        "focal_logits",
        "sigmoid_focal_loss",
        soft_binary_logits,
        None,
        lambda y, p: ol.sigmoid_focal_loss(p, y, alpha=0.25, gamma=1.5),
        label_format="binary",
        call="sigmoid_focal_loss(y_pred, y_true, alpha=0.25, gamma=1.5)",
        kwargs={"gamma": 1.5, "alpha": 0.25},
        params={"gamma": 1.5, "alpha": 0.25},
        notes=focal_note + "; soft labels",
        suffix="_soft_alpha0.25",
    )
    both(
        "focal_logits",
        "sigmoid_focal_loss",
        binary_logits,
        EDGE_LOGITS,
        lambda y, p: ol.sigmoid_focal_loss(p, y, alpha=0.25, gamma=1.5),
        label_format="binary",
        call="sigmoid_focal_loss(y_pred, y_true, alpha=0.25, gamma=1.5)",
        kwargs={"gamma": 1.5, "alpha": 0.25},
        params={"gamma": 1.5, "alpha": 0.25},
        notes=focal_note,
        suffix="_alpha0.25",
    )
    add(
        "focal_logits",
        "sigmoid_focal_loss",
        "edge_inf",
        *EDGE_LOGITS_INF,
        lambda y, p: ol.sigmoid_focal_loss(p, y, gamma=2.0),
        label_format="binary",
        call="sigmoid_focal_loss(y_pred, y_true, gamma=2.0)",
        kwargs={"gamma": 2.0, "alpha": None},
        params={"gamma": 2.0, "alpha": -1},
        notes=inf_note,
    )

    # Multiclass -------------------------------------------------------------------------------
    def ids_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return class_ids(rng), logit_rows(rng)

    def onehot_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), logit_rows(rng)

    def soft_logits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return soft_rows(rng), logit_rows(rng)

    def sce_ids(y: Any, p: Any) -> Any:
        return ol.softmax_cross_entropy_with_integer_labels(p, y)

    def sce(y: Any, p: Any) -> Any:
        return ol.softmax_cross_entropy(p, y)

    sce_inf_note = (
        "integer labels: logsumexp(x) - x[label]; +inf at the target gives nan, -inf at the target inf, "
        "-inf at another column is harmless (softmax_cross_entropy with one-hot rows would give "
        "0 * -inf = nan there)"
    )
    both(
        "softmax_ce",
        "softmax_cross_entropy_with_integer_labels",
        ids_logits,
        (EDGE_IDS, EDGE_LOGIT_ROWS),
        sce_ids,
        label_format="ids",
        call="softmax_cross_entropy_with_integer_labels(y_pred, y_true)",
        notes="optax: logsumexp(x) - x[label]; an id >= K gives nan, a negative id indexes from the end",
    )
    add(
        "softmax_ce",
        "softmax_cross_entropy_with_integer_labels",
        "edge_inf",
        EDGE_LOGIT_IDS_INF,
        EDGE_LOGIT_ROWS_INF,
        sce_ids,
        label_format="ids",
        call="softmax_cross_entropy_with_integer_labels(y_pred, y_true)",
        notes=sce_inf_note,
    )
    both(
        "softmax_ce",
        "softmax_cross_entropy",
        onehot_logits,
        (onehot(EDGE_IDS), EDGE_LOGIT_ROWS),
        sce,
        label_format="onehot",
        call="softmax_cross_entropy(y_pred, y_true)",
        suffix="_onehot",
    )
    both(
        "softmax_ce",
        "softmax_cross_entropy",
        soft_logits,
        None,
        sce,
        label_format="onehot",
        call="softmax_cross_entropy(y_pred, y_true)",
        suffix="_soft",
    )
    both(
        "softmax_ce",
        "softmax_cross_entropy",
        onehot_logits,
        (onehot(EDGE_IDS), EDGE_LOGIT_ROWS),
        lambda y, p: ol.softmax_cross_entropy(p, ol.smooth_labels(y, 0.1)),
        label_format="onehot",
        call="softmax_cross_entropy(y_pred, smooth_labels(y_true, 0.1))",
        kwargs={"smooth_labels.alpha": 0.1},
        params={"label_smoothing": 0.1},
        notes="optax.smooth_labels: (1 - alpha) y + alpha / K",
        suffix="_ls0.1",
    )

    def soft_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return soft_rows(rng), prob_rows(rng)

    kl_call = "kl_divergence(log(y_pred), y_true), the log taken in float32"
    both(
        "kl_div",
        "kl_divergence",
        soft_probs,
        (
            f32([[0, 1, 0, 0], [0.5, 0.5, 0, 0], [0.25] * 4, [0, 0, 0, 1]]),
            f32([[0.25] * 4, [0.5, 0.3, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1], [0.01, 0.01, 0.01, 0.97]]),
        ),
        lambda y, p: ol.kl_divergence(jnp.log(p), y),
        label_format="onehot",
        call=kl_call,
        notes="optax: sum y (where(y == 0, 0, log y) - log p); y = 0 terms are 0 while p > 0",
    )
    add(
        "kl_div",
        "kl_divergence",
        "edge_p0",
        f32([[0, 1, 0, 0], [0.5, 0.5, 0, 0]]),
        f32([[0, 1, 0, 0], [1, 0, 0, 0]]),
        lambda y, p: ol.kl_divergence(jnp.log(p), y),
        label_format="onehot",
        call=kl_call,
        notes="p = 0: with y = 0 optax gives 0 * inf = nan (lossctl takes 0 log 0 = 0); with y > 0 inf",
    )
    both(
        "multiclass_hinge",
        "multiclass_hinge_loss",
        lambda rng: (class_ids(rng), f32(rng.normal(0.0, 1.5, (N, K)))),
        (
            np.array([0, 0, 3, 1, 2], dtype=np.int32),
            f32([[-1, -2, -3, -4], [5, 4, 3, 2], [0, 0, 0, 1], [1, 1, 1, 1], [-5, -5, 100, -5]]),
        ),
        lambda y, p: ol.multiclass_hinge_loss(p, y),
        label_format="ids",
        call="multiclass_hinge_loss(y_pred, y_true)",
        params={"margin": 1.0},
        notes="optax: max_j (s_j + 1 - onehot_j) - s_label, Crammer-Singer with margin 1 (no margin argument)",
    )
    cos_note = (
        "optax cosine_distance = 1 - cos with each squared norm clipped below at epsilon (norm >= "
        "sqrt(epsilon)); epsilon=0 (the default) gives nan for a zero vector"
    )
    both(
        "cosine",
        "cosine_distance",
        vectors,
        (
            f32([[1, 2, 3, 4], [1, 0, 0, 0], [1, 2, 0, 0], [1e-8, 0, 0, 0]]),
            f32([[1, 2, 3, 4], [-3, 0, 0, 0], [0, 0, 5, 1], [1e-8, 0, 0, 0]]),
        ),
        lambda y, p: ol.cosine_distance(p, y),
        label_format="onehot",
        call="cosine_distance(y_pred, y_true)",
        kwargs={"epsilon": 0.0},
        notes=cos_note,
    )
    zero_vecs = (
        f32([[0, 0, 0, 0], [1, 2, 3, 4], [0, 0, 0, 0], [1e-5, 0, 0, 0]]),
        f32([[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0], [1e-5, 0, 0, 0]]),
    )
    add(
        "cosine",
        "cosine_distance",
        "edge_zero_eps0",
        *zero_vecs,
        lambda y, p: ol.cosine_distance(p, y),
        label_format="onehot",
        call="cosine_distance(y_pred, y_true)",
        kwargs={"epsilon": 0.0},
        notes=cos_note,
    )
    add(
        "cosine",
        "cosine_distance",
        "edge_zero_eps1e-8",
        *zero_vecs,
        lambda y, p: ol.cosine_distance(p, y, epsilon=1e-8),
        label_format="onehot",
        call="cosine_distance(y_pred, y_true, epsilon=1e-8)",
        kwargs={"epsilon": 1e-8},
        params={"eps": 1e-4},
        notes=cos_note + "; with epsilon=1e-8 a zero vector gives distance 1 and the 1e-5 vectors are "
        "divided by 1e-4, not by their norm",
    )

    both(
        "cosine_similarity",
        "cosine_similarity",
        vectors,
        None,
        lambda y, p: ol.cosine_similarity(p, y),
        label_format="onehot",
        call="cosine_similarity(y_pred, y_true)",
        kwargs={"epsilon": 0.0},
        notes="optax returns +cos, the negative of lossctl's cosine_similarity (Keras's loss, -cos)",
    )

    def onehot_probs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return onehot(class_ids(rng)), prob_rows(rng)

    def soft_probs_rows(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return soft_rows(rng), prob_rows(rng)

    dice_note = (
        "optax dice_loss(apply_softmax=False, axis=-1, reduction='none') gives per-row "
        "1 - (I + s) / (I + alpha (P - I) + beta (T - I) + s); with alpha = beta = 0.5 that is "
        "1 - (2 I + 2 s) / (P + T + 2 s), so lossctl's dice smooth is twice optax's smooth. With "
        "apply_softmax=False optax raises unless every y_pred row sums to 1 (rtol 1e-5); its default "
        "smooth is 1 and its default axis=None sums nothing for 2-D input"
    )
    edge_dice = (
        f32([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0.5, 0.5, 0, 0]]),
        f32([[1, 0, 0, 0], [0, 1, 0, 0], [0.25] * 4, [0.25] * 4, [0.5, 0.5, 0, 0]]),
    )
    for smooth in (0.0, 1.0):
        sfx = "" if smooth == 0.0 else "_smooth1"
        both(
            "dice",
            "dice_loss",
            onehot_probs,
            edge_dice,
            lambda y, p, s=smooth: ol.dice_loss(p, y, smooth=s / 2, apply_softmax=False, axis=-1, reduction="none"),
            label_format="onehot",
            call="dice_loss(y_pred, y_true, smooth=smooth / 2, apply_softmax=False, axis=-1, reduction='none')",
            kwargs={"smooth": smooth / 2, "apply_softmax": False, "axis": -1, "reduction": "none"},
            params={"smooth": smooth},
            notes=dice_note,
            suffix=sfx,
        )
    for a, b, smooth, sfx in ((0.7, 0.3, 0.0, "_a0.7_b0.3"), (0.3, 0.7, 1.0, "_a0.3_b0.7_smooth1")):
        both(
            "tversky",
            "dice_loss",
            soft_probs_rows if smooth else onehot_probs,
            edge_dice,
            lambda y, p, a=a, b=b, s=smooth: ol.dice_loss(
                p, y, smooth=s, alpha=a, beta=b, apply_softmax=False, axis=-1, reduction="none"
            ),
            label_format="onehot",
            call="dice_loss(y_pred, y_true, smooth, alpha, beta, apply_softmax=False, axis=-1, reduction='none')",
            kwargs={
                "smooth": smooth,
                "alpha": a,
                "beta": b,
                "apply_softmax": False,
                "axis": -1,
                "reduction": "none",
            },
            params={"alpha": a, "beta": b, "smooth": smooth},
            notes="optax's alpha weights the false positives sum(p (1 - y)) and beta the false negatives, "
            "as lossctl's; smooth maps one to one for tversky",
            suffix=sfx,
        )
    return cases


# ---------------------------------------------------------------------------------------------


def header(framework: str, versions: dict[str, str], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "generator": "scripts/make_goldens.py",
        "framework": framework,
        "versions": versions,
        "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "seed": SEED,
        "dtype": "float32",
        **extra,
        "fields": (
            "see the docstring of scripts/make_goldens.py; non-finite floats are the strings "
            "'nan', 'inf', '-inf'; per_sample values are unweighted"
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "tests" / "goldens")
    parser.add_argument("--framework", choices=("keras", "optax", "all"), default="all")
    args = parser.parse_args(argv)

    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if os.environ["KERAS_BACKEND"] != "jax":
        raise SystemExit("set KERAS_BACKEND=jax (the goldens are for Keras on JAX)")

    import jax
    import jax.numpy as jnp

    if jax.config.jax_enable_x64:
        raise SystemExit("run with JAX's default float32 (unset JAX_ENABLE_X64)")

    base = {
        "jax": jax.__version__,
        "jaxlib": package_version("jaxlib"),
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    written = []
    if args.framework in ("keras", "all"):
        import keras

        if keras.backend.backend() != "jax" or keras.backend.floatx() != "float32":
            raise SystemExit("Keras must run on the jax backend with floatx float32")
        cases = keras_cases(keras)
        extra = {
            "keras_backend": "jax",
            "keras_epsilon": keras.config.epsilon(),
            "reduction": "Loss(...)(y_true, y_pred, sample_weight) with the default "
            "'sum_over_batch_size': sum(w * l) / n, n = number of samples",
        }
        path = args.out_dir / "keras.json"
        write_json(path, header("keras", {"keras": keras.__version__, **base}, extra), cases)
        written.append((path, len(cases)))
    if args.framework in ("optax", "all"):
        import optax

        cases = optax_cases(jnp, optax)
        extra = {"reduction": "jnp.mean of the per-example values; optax takes no sample weights"}
        path = args.out_dir / "optax.json"
        write_json(path, header("optax", {"optax": optax.__version__, **base}, extra), cases)
        written.append((path, len(cases)))
    for path, n in written:
        print(f"wrote {path} ({n} cases, {path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
