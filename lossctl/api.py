"""The Python API: ``evaluate`` checks inputs against the loss's declared domains, runs the fused
kernel and returns one result record. The CLI goes through this same function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lossctl import engine
from lossctl.domains import PROBABILITY, Domain
from lossctl.errors import InputError, UsageError
from lossctl.registry import Loss, Pred, Task, get_loss

REDUCTIONS = ("mean", "sum", "none")
NAN_POLICIES = ("error", "omit", "propagate")
# How far a row of class probabilities (or of a label distribution) may sum from 1.
ROW_SUM_TOLERANCE = 1e-3
QUANTILES = {"median": 0.5, "p90": 0.9, "p99": 0.99}


@dataclass
class EvalResult:
    """One loss evaluated on one data set: the record every renderer reads."""

    loss: str
    params: dict[str, float]
    n: int
    reduction: str
    cost: float | None
    total: float  # sum of w * loss
    weight_sum: float  # sum of w (n without weights): the divisor of the mean
    weighted: bool
    accuracy: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    _per_sample: Any = field(default=None, repr=False)
    _compute_per_sample: Callable[[], Any] | None = field(default=None, repr=False)
    _weights: Any = field(default=None, repr=False)
    omitted: int = 0  # rows left out under the nan policy "omit" or "propagate"
    nan_policy: str = "error"
    kept: Any = field(default=None, repr=False)  # indices of the rows used, when some were left out

    @property
    def per_sample(self) -> np.ndarray:
        """One (unweighted) loss value per sample; computed on first access."""
        if self._per_sample is None:
            assert self._compute_per_sample is not None
            self._per_sample = self._compute_per_sample()
        return self._per_sample  # type: ignore[no-any-return]

    @property
    def divisor(self) -> float | None:
        """What the summed loss was divided by: n, or the sum of weights; None for sum/none."""
        return self.weight_sum if self.reduction == "mean" else None

    def stats(self) -> dict[str, float]:
        """Spread of the per-sample losses (unweighted, except ``std`` which uses the weights)."""
        ls = self.per_sample
        if ls.size == 0:
            return {}
        if self.nan_policy == "propagate" and self.omitted:
            return {k: math.nan for k in ("min", *QUANTILES, "max", "std")}  # NaN in, NaN out
        finite = bool(np.isfinite(ls).all())
        # Interpolating between inf and a finite loss gives NaN: with infinite losses, take observations.
        qs = np.quantile(ls, list(QUANTILES.values()), method="linear" if finite else "inverted_cdf")
        out = {"min": float(ls.min())}
        out.update({k: float(v) for k, v in zip(QUANTILES, qs, strict=True)})
        out["max"] = float(ls.max())
        if not finite:
            out["std"] = math.inf
            return out
        with np.errstate(over="ignore"):
            mean = self.total / self.weight_sum if self.weight_sum else float(np.mean(ls))
            if self.weighted and self._weights is not None and self.weight_sum:
                var = float(np.sum(self._weights * (ls - mean) ** 2) / self.weight_sum)
            else:
                var = float(np.mean((ls - mean) ** 2))
        out["std"] = math.sqrt(var)
        return out

    def to_dict(self, with_stats: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "loss": self.loss,
            "params": dict(self.params),
            "n": self.n,
            "reduction": self.reduction,
            "cost": self.cost,
            "sum": self.total,
            "divisor": self.divisor,
            "weighted": self.weighted,
        }
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy
        if self.nan_policy != "error":
            d["nan_policy"] = self.nan_policy
            d["omitted"] = self.omitted
        if self.columns:
            d["columns"] = dict(self.columns)
        if with_stats:
            d["stats"] = self.stats()
        if self.timings:
            d["timings"] = dict(self.timings)
        return d


def _numeric(a: Any, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == np.float64 or arr.dtype == np.float32:
        return arr
    if arr.dtype.kind in "biu":
        return arr.astype(np.float64)
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} holds non-numeric values (dtype {arr.dtype}); give numbers") from None


def _where(i: int, arr: np.ndarray, name: str) -> str:
    if arr.ndim == 2:
        r, c = divmod(i, arr.shape[1])
        return f"{name} at row {r}, class {c}"
    return f"{name} at row {i}"


def _check_domain(arr: np.ndarray, domain: Domain, name: str, loss: Loss, hint: str = "") -> None:
    ok = domain.mask(arr)
    if ok.all():
        return
    i = int(np.argmin(ok.ravel()))
    value = float(arr.ravel()[i])
    where = _where(i, arr, name)
    if math.isnan(value):
        raise InputError(
            f"{where} is NaN; {loss.name} needs a number in every row "
            "(drop or fill missing values, or skip such rows with --nan omit)"
        )
    tail = f"; {hint}" if hint else ""
    raise InputError(f"{where} is {value:g}, outside {domain} for {loss.name}{tail}")


def _check_rows_sum_to_one(arr: np.ndarray, name: str, loss: Loss) -> None:
    sums = arr.sum(axis=1)
    bad = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(
            f"{name} at row {r} sums to {sums[r]:.6g}, not 1, for {loss.name}; "
            f"rows of class probabilities must sum to 1 (within {ROW_SUM_TOLERANCE:g})"
        )


def _shape(loss: Loss, y_true: Any, y_pred: Any, names: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Arrays shaped and typed for ``loss``: (n,) or (n, K)."""
    nt, npred = names.get("y_true", "y_true"), names.get("y_pred", "y_pred")
    yp = _numeric(y_pred, npred)
    yt = _numeric(y_true, nt)
    if loss.task is Task.MULTICLASS:
        if yp.ndim != 2 or yp.shape[1] < 2:
            raise InputError(
                f"{loss.name} is a multiclass loss and needs K >= 2 prediction columns, got shape {yp.shape}; "
                "name the class columns with --y-pred 'p_*'"
            )
        yp = np.ascontiguousarray(yp, dtype=np.float64)
        if yt.ndim == 2 and yt.shape[1] == 1:
            yt = yt[:, 0]
    else:
        if yp.ndim == 2 and yp.shape[1] == 1:
            yp = yp[:, 0]
        if yt.ndim == 2 and yt.shape[1] == 1:
            yt = yt[:, 0]
        if yp.ndim != 1:
            raise InputError(f"{loss.name} takes one prediction column, got shape {yp.shape}")
        if yt.ndim != 1:
            raise InputError(f"{loss.name} takes one label column, got shape {yt.shape}")
        yp = np.ascontiguousarray(yp)
        yt = np.ascontiguousarray(yt)
    if yt.shape[0] != yp.shape[0]:
        raise InputError(f"{nt} has {yt.shape[0]} rows but {npred} has {yp.shape[0]}; they must be aligned row by row")
    return yt, yp


def _inadmissible(a: np.ndarray, domain: Domain | None) -> np.ndarray:
    """Elements that are NaN, or an infinity ``domain`` does not admit (None admits none)."""
    mask = ~np.isfinite(a)
    if domain is not None:
        for inf in (np.inf, -np.inf):
            if domain.contains(inf):
                mask &= a != inf
    return mask


def _inputs(loss: Loss, yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> list[tuple[str, np.ndarray, Any]]:
    t_domain = loss.y_true if loss.task is not Task.MULTICLASS else None
    out = [("y_pred", yp, loss.y_pred), ("y_true", yt, t_domain)]
    return out + ([("weight", w, None)] if w is not None else [])


def _missing_rows(loss: Loss, yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Rows holding NaN, or an infinity that the input's domain does not admit."""
    rows = np.zeros(yp.shape[0], dtype=bool)
    for _, arr, domain in _inputs(loss, yt, yp, w):
        bad = _inadmissible(arr, domain)
        rows |= bad.any(axis=1) if bad.ndim == 2 else bad
    return rows


def _raise_missing(
    loss: Loss, i: int, yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None, names: Mapping[str, str]
) -> None:
    """Name the first row holding NaN or an inadmissible infinity, and the input it is in."""
    for key, arr, domain in _inputs(loss, yt, yp, w):
        row = np.atleast_1d(arr[i])
        bad = np.flatnonzero(_inadmissible(row, domain))
        if not bad.size:
            continue
        name = names.get(key, "sample_weight" if key == "weight" else key)
        where = f"{name} at row {i}" + (f", class {bad[0]}" if arr.ndim == 2 else "")
        value = float(row[bad[0]])
        skip = "or skip such rows with --nan omit"
        if key == "weight":
            raise InputError(f"{where} is {value:g}; sample weights must be finite and >= 0 ({skip})")
        if math.isnan(value):
            raise InputError(
                f"{where} is NaN; {loss.name} needs a number in every row (drop or fill missing values, {skip})"
            )
        allowed = domain if domain is not None else "finite class ids"
        raise InputError(f"{where} is {value:g}, outside {allowed} for {loss.name} ({skip})")


def _validate(loss: Loss, yt: np.ndarray, yp: np.ndarray, names: Mapping[str, str]) -> tuple[np.ndarray, str]:
    """Check values against the loss's domains; returns (y_true as the kernel takes it, layout)."""
    nt, npred = names.get("y_true", "y_true"), names.get("y_pred", "y_pred")
    _check_domain(yp, loss.y_pred, npred, loss, loss.pred_hint)
    if loss.pred_rows_sum_to_one:
        _check_rows_sum_to_one(yp, npred, loss)
    layout = engine.layout_for(loss, yt.ndim)
    if layout == "ids":
        k = yp.shape[1]
        finite = np.isfinite(yt)
        bad = ~finite | (yt != np.floor(np.where(finite, yt, 0))) | (yt < 0) | (yt >= k)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"{nt} at row {i} is {yt[i]:g}, not a class id in 0..{k - 1} for {loss.name} ({k} prediction columns)"
            )
        yt = yt.astype(np.int64)
    elif layout == "dist":
        if yt.shape[1] != yp.shape[1]:
            raise InputError(f"{nt} has {yt.shape[1]} columns but {npred} has {yp.shape[1]}; one per class in both")
        yt = np.ascontiguousarray(yt, dtype=np.float64)
        _check_domain(yt, PROBABILITY, nt, loss, "label rows are class distributions (one-hot or soft labels)")
        _check_rows_sum_to_one(yt, nt, loss)
    else:
        _check_domain(yt, loss.y_true, nt, loss)
    return yt, layout


def _shape_weights(w: Any, n: int, name: str) -> np.ndarray:
    arr = _numeric(w, name)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise InputError(f"{name} has shape {arr.shape}; it needs one weight per row ({n})")
    return np.ascontiguousarray(arr)


def _check_weights(arr: np.ndarray, name: str) -> None:
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name} at row {i} is {arr[i]:g}; sample weights must be finite and >= 0")


def _accuracy(loss: Loss, yt: np.ndarray, yp: np.ndarray, layout: str, w: np.ndarray | None) -> float | None:
    if loss.task is Task.REGRESSION or yp.shape[0] == 0:
        return None
    if loss.task is Task.BINARY:
        threshold = 0.5 if loss.prediction is Pred.PROBABILITY else 0.0
        hit = (yp > threshold) == (yt > 0.5)
    else:
        truth = yt if layout == "ids" else np.argmax(yt, axis=1)
        hit = np.argmax(yp, axis=1) == truth
    if w is None:
        return float(np.mean(hit))
    return float(np.sum(w * hit) / np.sum(w)) if np.sum(w) > 0 else None


def evaluate(
    y_true: Any,
    y_pred: Any,
    loss: str | Loss,
    sample_weight: Any = None,
    *,
    reduction: str = "mean",
    nan: str = "error",
    keep_per_sample: bool = False,
    names: Mapping[str, str] | None = None,
    **params: float,
) -> EvalResult:
    """Evaluate one loss.

    ``y_true`` and ``y_pred`` are array-likes of one value per sample; for multiclass losses
    ``y_pred`` is (n, K) and ``y_true`` is (n,) class ids or (n, K) label distributions.
    With weights the cost is sum(w l) / sum(w). ``reduction``: "mean" (the cost), "sum", or
    "none" (only per-sample losses; ``cost`` is None). Per-sample losses are computed in the same
    pass when ``keep_per_sample`` (or reduction "none"); otherwise the pass computes the cost alone
    and ``per_sample`` is computed on first access. ``names`` renames the inputs in error
    messages (the CLI passes column names).

    ``nan`` is the policy for rows holding NaN (or an infinity the input's domain does not admit):
    "error" (the default) names the first such row; "omit" leaves those rows out (counted in
    ``omitted``); "propagate" leaves them out of the computation but makes the cost NaN, as NaN
    arithmetic would, and their per-sample losses NaN. Raises :class:`lossctl.errors.InputError` or
    :class:`~lossctl.errors.UsageError` (both ValueErrors) on bad input.
    """
    t0 = time.perf_counter()
    lo = get_loss(loss) if isinstance(loss, str) else loss
    if reduction not in REDUCTIONS:
        raise UsageError(f"reduction '{reduction}' is not one of {', '.join(REDUCTIONS)}")
    if reduction == "sum" and lo.cost == "sqrt_mean":
        raise UsageError(f"{lo.name} is the root of a mean and has no sum; use mse with --reduction sum")
    pvals = lo.resolve_params(params)
    if nan not in NAN_POLICIES:
        raise UsageError(f"nan policy '{nan}' is not one of {', '.join(NAN_POLICIES)}")
    names = dict(names or {})
    wname = names.get("weight", "sample_weight")
    yt, yp = _shape(lo, y_true, y_pred, names)
    w = None if sample_weight is None else _shape_weights(sample_weight, yp.shape[0], wname)
    kept = None
    missing = _missing_rows(lo, yt, yp, w)
    if nan == "error" and missing.any():
        _raise_missing(lo, int(np.argmax(missing)), yt, yp, w, names)
    if nan != "error":
        if missing.any():
            kept = np.flatnonzero(~missing)
            yt, yp = yt[kept], yp[kept]
            w = None if w is None else w[kept]
    yt, layout = _validate(lo, yt, yp, names)
    if w is not None:
        _check_weights(w, wname)
    n = yp.shape[0]
    omitted = 0 if kept is None else int(missing.sum())
    ptuple = tuple(pvals.values())
    t1 = time.perf_counter()

    def compute(out: np.ndarray | None) -> tuple[float, float]:
        return engine.run_kernel(lo, layout, yt, yp, w, out, ptuple)

    def per_sample() -> np.ndarray:
        out = np.empty(n, dtype=np.float64)
        compute(out)
        return out

    # The first call in a process compiles the kernel or loads it from the disk cache: timed apart.
    want_out = keep_per_sample or reduction == "none"
    empty = np.empty(0, dtype=np.float64)
    engine.run_kernel(lo, layout, yt[:0], yp[:0], None if w is None else w[:0], empty if want_out else None, ptuple)
    t2 = time.perf_counter()
    out = np.empty(n, dtype=np.float64) if want_out else None
    total, wsum = compute(out)
    t3 = time.perf_counter()

    if math.isnan(total):
        ls = out if out is not None else per_sample()
        bad = np.isnan(ls) if w is None else np.isnan(ls) & (w != 0)
        i = int(np.argmax(bad))
        raise InputError(
            f"{lo.name} is undefined (NaN) at row {i} for y_true={_show(yt[i])}, y_pred={_show(yp[i])}; "
            "see `lossctl describe " + lo.name + "`"
        )
    if reduction == "mean":
        if wsum == 0:
            what = "the sample weights sum to 0" if (w is not None and n) else "there are no rows"
            raise InputError(f"the mean {lo.name} is undefined: {what}")
        cost: float | None = total / wsum
        if lo.cost == "sqrt_mean":
            cost = math.sqrt(cost)
    elif reduction == "sum":
        cost = total
    else:
        cost = None
    if nan == "propagate" and omitted:
        cost = None if cost is None else math.nan
        total = math.nan
    return EvalResult(
        loss=lo.name,
        params=pvals,
        n=n,
        reduction=reduction,
        cost=cost,
        total=total,
        weight_sum=wsum,
        weighted=w is not None,
        accuracy=_accuracy(lo, yt, yp, layout, w),
        timings={"validate": t1 - t0, "jit": t2 - t1, "compute": t3 - t2},
        columns={k: v for k, v in names.items()},
        _per_sample=out,
        _compute_per_sample=per_sample,
        _weights=w,
        omitted=omitted,
        nan_policy=nan,
        kept=kept,
    )


def _show(v: Any) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):g}"
    return "[" + ", ".join(f"{float(x):g}" for x in a[:8]) + (", ..." if a.size > 8 else "") + "]"
