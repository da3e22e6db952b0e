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
from lossctl.errors import InputError, UsageError, did_you_mean, renumbered
from lossctl.registry import (
    FRAMEWORK_CLASS_DIVISOR,
    FRAMEWORK_DIVISOR,
    FRAMEWORK_DTYPE,
    FRAMEWORKS,
    Convention,
    Loss,
    Pred,
    Task,
    get_loss,
)

REDUCTIONS = ("mean", "element_mean", "sum", "none")
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
    ignored: int = 0  # rows left out by ignore_index
    nan_policy: str = "error"
    kept: Any = field(default=None, repr=False)  # indices of the rows used, when some were left out
    divisor: float | None = None  # what the sum was divided by (n, the weight sum, times K); None for sum/none
    compat: str | None = None  # the framework whose conventions were applied
    api: str | None = None  # that framework's function
    label: str = ""  # how a report names this result ("huber", "pinball[quantile=0.9]", "bce (torch)")
    vs_lossctl: float | None = None  # under --compat all: this cost minus lossctl's own
    extras: dict[str, Any] = field(default_factory=dict)  # analyses a report adds (interval, groups, ...)
    _y_true: Any = field(default=None, repr=False)  # the rows evaluated, as given (for --top)
    _y_pred: Any = field(default=None, repr=False)
    _hits: Any = field(default=None, repr=False)  # per-row correctness of a classifier
    _count_divisor: bool = field(default=False, repr=False)  # the mean divides by rows, not weights
    _k: int = field(default=1, repr=False)  # the mean is also divided by K classes
    _root: bool = field(default=False, repr=False)  # the cost is the root of the mean
    _missing: Any = field(default=None, repr=False)  # input rows left out for NaN (--nan omit/propagate)
    _gradient: Any = field(default=None, repr=False)
    _compute_gradient: Callable[[], Any] | None = field(default=None, repr=False)
    _no_gradient: str = field(default="", repr=False)  # why gradient() is refused, if it is
    _sweep_totals: Callable[..., tuple[Any, float]] | None = field(default=None, repr=False)
    _loss: Loss | None = field(default=None, repr=False)
    # The kernel's block sums of w * loss and of w, and the convention's scale (for streaming).
    _blocks: tuple[Any, Any, float] | None = field(default=None, repr=False)

    @property
    def per_sample(self) -> np.ndarray:
        """One (unweighted) loss value per sample; computed on first access."""
        if self._per_sample is None:
            assert self._compute_per_sample is not None
            self._per_sample = self._compute_per_sample()
        return self._per_sample  # type: ignore[no-any-return]

    def parts(self, rows: Any = None) -> Any:
        """The cost as :class:`lossctl.stats.Parts`, ``f(sum(v) / sum(d))`` over rows (or over
        ``rows``, positions in ``per_sample``): what intervals, comparisons and breakdowns use."""
        from lossctl.stats import Parts

        if self.reduction == "none":
            raise UsageError("reduction 'none' has no cost; use mean, element_mean or sum")
        ls = self.per_sample
        w = self._weights
        if rows is not None:
            ls = ls[rows]
            w = None if w is None else w[rows]
        v = ls if w is None else w * ls
        if self.reduction == "sum":
            d = np.full(ls.shape[0], 1.0 / max(ls.shape[0], 1))  # sum(d) = 1: the ratio is the sum
        else:
            d = np.ones(ls.shape[0]) if (w is None or self._count_divisor) else np.asarray(w, dtype=np.float64)
            if self._k != 1:
                d = d * self._k
        return Parts(np.asarray(v, dtype=np.float64), d, self._root)

    def interval(
        self, level: float = 0.95, method: str = "normal", *, replicates: int | None = None, seed: int = 0
    ) -> Any:
        """A confidence interval for the cost (:class:`lossctl.stats.Interval`): "normal" (the
        delta method with Student's t) or "bootstrap" (seeded percentile bootstrap)."""
        from lossctl import stats

        if self.nan_policy == "propagate" and self.omitted:
            return stats.Interval(level, method, math.nan, math.nan, math.nan, note="the cost is NaN (--nan propagate)")
        reps = stats.DEFAULT_REPLICATES if replicates is None else replicates
        return stats.interval(self.parts(), level, method, replicates=reps, seed=seed, floor=self.floor())

    def floor(self) -> float | None:
        """The least cost the loss can have: 0 for a non-negative loss (None if unbounded)."""
        from lossctl.registry import NONNEGATIVE

        return 0.0 if NONNEGATIVE in self._declaration().properties else None

    def _declaration(self) -> Loss:
        """The loss evaluated (also one that is not registered, such as an expression's)."""
        return self._loss if self._loss is not None else get_loss(self.loss)

    def gradient(self) -> np.ndarray:
        """The derivative of each (unweighted) per-sample loss with respect to its prediction:
        (n,) for one prediction column, (n, K) (or (n, m) named columns) otherwise, in the rows
        and order of ``per_sample``. Computed on first access from the loss's declared derivative."""
        if self._gradient is None:
            if self._compute_gradient is None:
                raise UsageError(self._no_gradient or f"{self.loss} declares no gradient")
            self._gradient = self._compute_gradient()
        return self._gradient  # type: ignore[no-any-return]

    def cost_gradient(self) -> np.ndarray:
        """d(cost)/d(prediction) for every row (and column): the per-sample gradient times the
        row's weight over the cost's divisor, through the root for rmse-like costs. This is the
        gradient a training step on this data would follow."""
        if self.reduction == "none":
            raise UsageError("reduction 'none' has no cost to differentiate; use mean, element_mean or sum")
        g = self.gradient()
        w = np.ones(g.shape[0]) if self._weights is None else np.asarray(self._weights, dtype=np.float64)
        scale = w if self.divisor is None else w / self.divisor
        if self._root:  # d sqrt(m) = dm / (2 sqrt(m)); at a zero cost every gradient is 0 too
            scale = scale / (2.0 * self.cost) if self.cost else scale * 0.0
        with np.errstate(invalid="ignore"):
            # A zero-weight row does not move the cost, even where its own gradient is inf.
            out = np.where(
                (scale == 0)[:, None] if g.ndim == 2 else scale == 0,
                0.0,
                g * (scale[:, None] if g.ndim == 2 else scale),
            )
        return out  # type: ignore[no-any-return]

    def sweep(self, param: str, values: Any) -> Sweep:
        """The cost at each value of one parameter (the others as evaluated), in one pass over the
        rows: every row is read once and its loss computed at every value."""
        lo = self._declaration()
        if self._sweep_totals is None:
            raise UsageError(f"a sweep evaluates lossctl's own {lo.name}; drop --compat to sweep it")
        if self.reduction == "none":
            raise UsageError("reduction 'none' has no cost to sweep; use mean, element_mean or sum")
        if param not in lo.param_names:
            takes = ", ".join(lo.param_names) or "no parameters"
            hint = did_you_mean(param, lo.param_names)
            raise UsageError(f"{lo.name} has no parameter '{param}' to sweep; it takes {takes}.{hint}")
        checked = [lo.resolve_params({**self.params, param: float(v)}) for v in np.asarray(values, dtype=np.float64)]
        if not checked:
            raise UsageError(f"the sweep of {param} has no values")
        grid = np.array([list(c.values()) for c in checked], dtype=np.float64).reshape(len(checked), len(lo.params))
        t0 = time.perf_counter()
        self._sweep_totals(grid[:1], rows=0)  # compile, or load from the disk cache: timed apart
        t1 = time.perf_counter()
        totals, _ = self._sweep_totals(grid)
        seconds = time.perf_counter() - t1
        self.timings["sweep_jit"] = t1 - t0
        self.timings["sweep"] = seconds
        costs = np.asarray(totals, dtype=np.float64)
        if self.divisor is not None:
            costs = costs / self.divisor
        if self._root:
            costs = np.sqrt(costs)
        if self.nan_policy == "propagate" and self.omitted:
            costs = np.full_like(costs, math.nan)
        fixed = {k: v for k, v in self.params.items() if k != param}
        return Sweep(
            self.label or self.loss, param, grid[:, lo.param_names.index(param)], costs, fixed, self.n, seconds
        )

    def gradient_magnitude(self) -> np.ndarray:
        """|gradient| per row (the Euclidean norm of the row for several prediction columns)."""
        g = self.gradient()
        return np.abs(g) if g.ndim == 1 else np.sqrt(np.einsum("ij,ij->i", g, g))  # type: ignore[no-any-return]

    def gradient_summary(self) -> dict[str, float]:
        """The norm of the cost's gradient and the spread of the per-sample gradient magnitudes."""
        dc = self.cost_gradient()
        mag = self.gradient_magnitude()
        with np.errstate(over="ignore", invalid="ignore"):
            norm = float(np.sqrt(np.sum(dc * dc)))
        return {
            "cost_grad_norm": norm,
            "mean_abs": float(np.mean(mag)) if mag.size else math.nan,
            "max_abs": float(np.max(mag)) if mag.size else math.nan,
        }

    def tail_shares(self) -> dict[str, float | None]:
        """The share of the total loss carried by the worst 1% and 10% of rows."""
        from lossctl import stats

        return stats.tail_shares(self.parts().v if self.reduction != "none" else self.per_sample)

    def worst(self, k: int) -> np.ndarray:
        """Positions (in ``per_sample``) of the ``k`` largest per-sample losses, largest first."""
        from lossctl import stats

        return stats.worst_rows(self.per_sample, k)

    def histogram(self, bins: int = 20) -> dict[str, Any]:
        """Counts of per-sample losses in ``bins`` bins (log-spaced for heavy tails)."""
        from lossctl import stats

        return stats.histogram(self.per_sample, bins)

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
            "label": self.label or self.loss,
            "compat": self.compat,
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
        if self.api is not None:
            d["api"] = self.api
        if self.vs_lossctl is not None:
            d["vs_lossctl"] = self.vs_lossctl
        if self.ignored:
            d["ignored"] = self.ignored
        if self.nan_policy != "error":
            d["nan_policy"] = self.nan_policy
            d["omitted"] = self.omitted
        if self.columns:
            d["columns"] = dict(self.columns)
        if with_stats:
            d["stats"] = self.stats()
        d.update(self.extras)
        if self.timings:
            d["timings"] = dict(self.timings)
        return d


@dataclass
class Sweep:
    """The cost of one loss at each value of one parameter."""

    loss: str
    param: str
    values: np.ndarray
    costs: np.ndarray
    fixed: dict[str, float]  # the other parameters
    n: int
    seconds: float  # the sweep pass (every value, one read of the rows)

    def least(self) -> tuple[float, float] | None:
        """(value, cost) where the cost is least (the first such value), or None if none is finite.
        Costs at different parameter values are often on different scales (Huber's delta, focal's
        gamma): the least cost describes the data, it does not choose a parameter."""
        finite = np.isfinite(self.costs)
        if not finite.any():
            return None
        i = int(np.argmin(np.where(finite, self.costs, np.inf)))
        return float(self.values[i]), float(self.costs[i])

    def to_dict(self) -> dict[str, Any]:
        least = self.least()
        return {
            "loss": self.loss,
            "param": self.param,
            "fixed": dict(self.fixed),
            "n": self.n,
            "values": [float(v) for v in self.values],
            "costs": [float(c) for c in self.costs],
            "least": None if least is None else {"value": least[0], "cost": least[1]},
            "seconds": self.seconds,
        }


def parse_grid(text: str) -> tuple[str, np.ndarray]:
    """``delta=0.1:5:20`` (20 evenly spaced values from 0.1 to 5), ``delta=0.01:10:30:log`` (log
    spaced) or ``delta=0.5,1,2`` -> (name, values)."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    example = "for example --sweep delta=0.1:5:20 (start:stop:count[:log]) or --sweep delta=0.5,1,2"
    if not sep or not name or not spec.strip():
        raise UsageError(f"--sweep takes NAME=START:STOP:COUNT, got '{text}'; {example}")
    try:
        if ":" in spec:
            parts = [x.strip() for x in spec.split(":")]
            log = parts[-1].lower() == "log"
            if log:
                parts = parts[:-1]
            if len(parts) != 3:
                raise ValueError
            lo_, hi_, count = float(parts[0]), float(parts[1]), int(parts[2])
            if not (math.isfinite(lo_) and math.isfinite(hi_)) or not 2 <= count <= 100_000:
                raise UsageError(f"--sweep {text}: give finite ends and a count from 2 to 100000; {example}")
            if log and (lo_ <= 0 or hi_ <= 0):
                raise UsageError(f"--sweep {text}: a log grid needs positive ends; {example}")
            values = np.geomspace(lo_, hi_, count) if log else np.linspace(lo_, hi_, count)
        else:
            values = np.array([float(x) for x in spec.split(",")])
            if not np.isfinite(values).all():
                raise UsageError(f"--sweep {text}: every value must be finite")
    except ValueError as e:
        if isinstance(e, UsageError):
            raise
        raise UsageError(f"--sweep '{text}' is not a grid; {example}") from None
    return name, values


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
    """Arrays shaped and typed for ``loss``: (n,) or (n, K) (or (n, m) named prediction columns)."""
    nt, npred = names.get("y_true", "y_true"), names.get("y_pred", "y_pred")
    yp = _numeric(y_pred, npred)
    yt = _numeric(y_true, nt)
    if yt.ndim == 2 and yt.shape[1] == 1:
        yt = yt[:, 0]
    if loss.pred_columns:
        m = len(loss.pred_columns)
        roles = ", ".join(role for role, _ in loss.pred_columns)
        if yp.ndim != 2 or yp.shape[1] != m:
            raise InputError(f"{loss.name} takes {m} prediction columns ({roles}), got shape {yp.shape}")
        yp = np.ascontiguousarray(yp, dtype=np.float64)
        if yt.ndim != 1:
            raise InputError(f"{loss.name} takes one label column, got shape {yt.shape}")
    elif loss.task is Task.MULTICLASS:
        if yp.ndim != 2 or yp.shape[1] < 2:
            raise InputError(
                f"{loss.name} is a multiclass loss and needs K >= 2 prediction columns, got shape {yp.shape}; "
                "name the class columns with --y-pred 'p_*'"
            )
        yp = np.ascontiguousarray(yp, dtype=np.float64)
    else:
        if yp.ndim == 2 and yp.shape[1] == 1:
            yp = yp[:, 0]
        if yp.ndim != 1:
            raise InputError(f"{loss.name} takes one prediction column, got shape {yp.shape}")
        if yt.ndim != 1:
            raise InputError(f"{loss.name} takes one label column, got shape {yt.shape}")
        yp = np.ascontiguousarray(yp)
        yt = np.ascontiguousarray(yt)
    if yt.shape[0] != yp.shape[0]:
        raise InputError(f"{nt} has {yt.shape[0]} rows but {npred} has {yp.shape[0]}; they must be aligned row by row")
    return yt, yp


def _column_domains(loss: Loss) -> tuple[Domain, ...] | None:
    """Per-column domains of a loss with named prediction columns."""
    return loss.y_pred if isinstance(loss.y_pred, tuple) else None


def _inadmissible(a: np.ndarray, domain: Any) -> np.ndarray:
    """Elements that are NaN, or an infinity ``domain`` does not admit (None admits none); a
    tuple of domains is one per column."""
    if isinstance(domain, tuple):
        return np.column_stack([_inadmissible(a[:, j], d) for j, d in enumerate(domain)])
    mask = ~np.isfinite(a)
    if domain is not None:
        for inf in (np.inf, -np.inf):
            if domain.contains(inf):
                mask &= a != inf
    return mask


def _inputs(loss: Loss, yt: np.ndarray, yp: np.ndarray, w: np.ndarray | None) -> list[tuple[str, np.ndarray, Any]]:
    t_domain = None if loss.task is Task.MULTICLASS and yt.ndim == 1 else loss.y_true
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
        flags = _inadmissible(row[None, :], domain)[0] if isinstance(domain, tuple) else _inadmissible(row, domain)
        bad = np.flatnonzero(flags)
        if not bad.size:
            continue
        name = names.get(key, "sample_weight" if key == "weight" else key)
        if isinstance(domain, tuple):
            where = f"{name} ({loss.pred_columns[bad[0]][0]}) at row {i}"
            domain = domain[bad[0]]
        else:
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


def _check_log_rows(arr: np.ndarray, name: str, loss: Loss) -> None:
    with np.errstate(over="ignore"):
        sums = np.exp(arr).sum(axis=1)
    bad = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(
            f"{name} at row {r}: its exp sums to {sums[r]:.6g}, not 1, for {loss.name}; rows of log-probabilities "
            "must exponentiate to a distribution (apply log_softmax, or use softmax_ce on logits)"
        )


def _one_hot_rows(arr: np.ndarray) -> np.ndarray:
    """Which rows of a (n, K) label matrix are one-hot."""
    return np.isin(arr, (0.0, 1.0)).all(axis=1) & (arr.sum(axis=1) == 1.0)


def _check_hard_rows(arr: np.ndarray, name: str, loss: Loss) -> None:
    hard = _one_hot_rows(arr)
    if not hard.all():
        r = int(np.argmin(hard))
        raise InputError(
            f"{name} at row {r} is {_show(arr[r])}, not a one-hot row; "
            f"{loss.name} needs hard labels (one-hot or class ids)"
        )


def _validate(loss: Loss, yt: np.ndarray, yp: np.ndarray, names: Mapping[str, str]) -> tuple[np.ndarray, str]:
    """Check values against the loss's domains; returns (y_true as the kernel takes it, layout)."""
    nt, npred = names.get("y_true", "y_true"), names.get("y_pred", "y_pred")
    columns = _column_domains(loss)
    if columns is not None:
        for j, ((role, _), domain) in enumerate(zip(loss.pred_columns, columns, strict=True)):
            _check_domain(yp[:, j], domain, f"{npred} ({role})", loss, loss.pred_hint)
    else:
        _check_domain(yp, loss.y_pred, npred, loss, loss.pred_hint)
    if loss.pred_rows == "probabilities":
        _check_rows_sum_to_one(yp, npred, loss)
    elif loss.pred_rows == "log_probabilities":
        _check_log_rows(yp, npred, loss)
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
        if loss.kernel_ids is None:  # the loss has only the distribution form: one-hot the ids
            onehot = np.zeros(yp.shape, dtype=np.float64)
            onehot[np.arange(yt.shape[0]), yt] = 1.0
            return onehot, "dist"
    elif layout == "dist":
        if yt.shape[1] != yp.shape[1]:
            raise InputError(f"{nt} has {yt.shape[1]} columns but {npred} has {yp.shape[1]}; one per class in both")
        yt = np.ascontiguousarray(yt, dtype=np.float64)
        if loss.label_rows_are_distributions:
            _check_domain(yt, PROBABILITY, nt, loss, "label rows are class distributions (one-hot or soft labels)")
            _check_rows_sum_to_one(yt, nt, loss)
        else:
            _check_domain(yt, loss.y_true, nt, loss)
        if loss.hard_labels:
            _check_hard_rows(yt, nt, loss)
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


def _hits(loss: Loss, yt: np.ndarray, yp: np.ndarray, layout: str) -> np.ndarray | None:
    """Per row, whether a classifier's prediction names the true class (None for regression)."""
    if loss.task is Task.REGRESSION or loss.pred_columns:
        return None
    if loss.task is Task.BINARY:
        threshold = 0.5 if loss.prediction is Pred.PROBABILITY else 0.0
        return (yp > threshold) == (yt > 0.5)  # type: ignore[no-any-return]
    truth = yt if layout == "ids" else np.argmax(yt, axis=1)
    return np.argmax(yp, axis=1) == truth  # type: ignore[no-any-return]


def accuracy_of(hits: np.ndarray | None, w: np.ndarray | None) -> float | None:
    """The (weighted) share of correct rows."""
    if hits is None or hits.shape[0] == 0:
        return None
    if w is None:
        return float(np.mean(hits))
    return float(np.sum(w * hits) / np.sum(w)) if np.sum(w) > 0 else None


def _convention(lo: Loss, framework: str) -> Convention:
    if framework not in FRAMEWORKS:
        raise UsageError(f"--compat '{framework}' is not a framework; use one of {', '.join(FRAMEWORKS)} or all")
    conv = lo.compat.get(framework)
    if conv is None:
        have = ", ".join(lo.compat) or "none of them"
        raise UsageError(f"{framework} has no {lo.name} loss (frameworks with it: {have}); drop --compat {framework}")
    return conv


def compat_params(lo: Loss, framework: str, given: Mapping[str, float]) -> dict[str, float]:
    """The parameters that reproduce ``framework``: its conventions, then what the user gave for
    the parameters the framework exposes. Giving one it does not expose is an error."""
    conv = _convention(lo, framework)
    target = get_loss(conv.via) if conv.via else lo
    for k in given:
        if k not in conv.kwargs:
            exposed = ", ".join(f"{k2} ({v})" for k2, v in conv.kwargs.items()) or "none"
            raise UsageError(
                f"{conv.api} has no parameter for lossctl's '{k}' (it exposes: {exposed}); drop -p {k} or --compat"
            )
    return target.resolve_params({**conv.params, **given})


def _in_dtype(a: np.ndarray, dt: Any) -> np.ndarray:
    return a.astype(dt) if a.dtype.kind == "f" else a


def _apply_convention(conv: Convention, dtype: str, yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inputs as the framework sees them: cast to its precision, transformed in it, then
    widened back to float64 for lossctl's kernels (exact: every float32 is a float64)."""
    dt = np.dtype(dtype).type
    yt, yp = _in_dtype(yt, dt), _in_dtype(yp, dt)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if conv.pred_transform == "sigmoid":
            yp = (dt(1) / (dt(1) + np.exp(-yp))).astype(dt)
        if conv.normalize_pred:
            yp = (yp / yp.sum(axis=-1, keepdims=True, dtype=dt)).astype(dt)
        if conv.clip_pred is not None:
            yp = np.clip(yp, dt(conv.clip_pred[0]), dt(conv.clip_pred[1]))
        if "inf_pred" in conv.nan_if:  # as the framework's arithmetic does (0 * inf): undefined
            yp = np.where(np.isinf(yp), dt(np.nan), yp)
        if "zero_pair" in conv.nan_if and yp.ndim == 2:  # 0 * (log 0 - log 0)
            if yt.shape == yp.shape:
                zero_label = yt == 0
            else:  # class ids: every other class has label 0 (invalid ids are refused later)
                zero_label = np.ones(yp.shape, dtype=bool)
                ok = np.isfinite(yt) & (yt >= 0) & (yt < yp.shape[1])
                rows = np.flatnonzero(ok)
                zero_label[rows, yt[rows].astype(np.int64)] = False
            yp = np.where(zero_label & (yp == 0), dt(np.nan), yp)
        if conv.clip_true is not None and yt.dtype.kind == "f":
            yt = np.clip(yt, dt(conv.clip_true[0]), dt(conv.clip_true[1]))
    return _in_dtype(yt, np.float64), _in_dtype(yp, np.float64)


def _labels_as_given(conv: Convention, yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frameworks that take a binary label as the target t itself: t = 0 makes the margin term
    t s vanish, which lossctl's kernels reproduce as label +1 with a zero score (for every loss of
    t s: hinge, squared hinge, soft margin; margin ranking with x1 = x2)."""
    if not conv.labels or yt.ndim != 1 or yt.dtype.kind != "f":
        return yt, yp
    zero = yt == 0.0
    if conv.labels == "keras" and np.isin(yt, (0.0, 1.0)).all():
        return yt, yp  # all 0/1: Keras converts them to -1/+1, as lossctl reads them
    if not zero.any():
        return yt, yp
    yt = np.where(zero, 1.0, yt)
    yp = yp.copy()
    # 0 times an infinite score is NaN in the framework's arithmetic: the row is undefined there.
    undefined = zero & (~np.isfinite(yp) if yp.ndim == 1 else ~np.isfinite(yp).all(axis=1))
    yp[zero] = 0.0
    yp[undefined] = np.nan
    return yt, yp


def _class_of(yt: np.ndarray, lo: Loss, k: int, name: str) -> np.ndarray:
    """The hard class of each row, for class weights: 0/1 for binary, the id for multiclass."""
    if yt.ndim == 2:
        hard = _one_hot_rows(yt)
        if not hard.all():
            i = int(np.argmin(hard))
            raise InputError(f"{name} at row {i} is not a one-hot row; class weights need hard labels")
        return np.argmax(yt, axis=1)
    if lo.task is Task.BINARY:
        soft = (yt > 0) & (yt < 1)
        if soft.any():
            i = int(np.argmax(soft))
            raise InputError(f"{name} at row {i} is {yt[i]:g}, a soft label; class weights need hard labels")
        return (yt > 0).astype(np.int64)
    return yt.astype(np.int64)


def _class_weights(class_weight: Any, k: int) -> np.ndarray:
    """Class weights as an array of k: from a sequence (one per class) or a mapping id -> weight."""
    if isinstance(class_weight, Mapping):
        out = np.ones(k)
        for c, v in class_weight.items():
            ci = int(c)
            if not 0 <= ci < k:
                raise UsageError(f"class weight for class {c}: there are classes 0..{k - 1}")
            out[ci] = float(v)
    else:
        out = np.asarray(class_weight, dtype=np.float64).ravel()
        if out.shape[0] != k:
            raise UsageError(f"{out.shape[0]} class weights given for {k} classes; give one per class")
    bad = ~(np.isfinite(out) & (out >= 0))
    if bad.any():
        raise UsageError(f"class weight {out[np.argmax(bad)]:g} must be finite and >= 0")
    return out


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
    class_weight: Any = None,
    ignore_index: int | None = None,
    compat: str | None = None,
    compat_dtype: str | None = None,
    **params: float,
) -> EvalResult:
    """Evaluate one loss.

    ``y_true`` and ``y_pred`` are array-likes of one value per sample; for multiclass losses
    ``y_pred`` is (n, K) and ``y_true`` is (n,) class ids or (n, K) label distributions; losses
    with several prediction columns (``gaussian_nll``: mean and variance) take ``y_pred`` as (n, m).
    With weights the cost is sum(w l) / sum(w). ``reduction``: "mean" (the cost), "element_mean"
    (the mean also divided by the K class columns, as PyTorch's kl_div does by default), "sum", or
    "none" (only per-sample losses; ``cost`` is None). Per-sample losses are computed in the same
    pass when ``keep_per_sample`` (or reduction "none"); otherwise the pass computes the cost alone
    and ``per_sample`` is computed on first access. ``names`` renames the inputs in error
    messages (the CLI passes column names).

    ``class_weight`` (a sequence with one weight per class, or a mapping class -> weight; binary
    classes are 0 and 1) multiplies each row's weight by its class's weight; it needs hard labels.
    ``ignore_index`` leaves out the rows whose class id equals it (counted in ``ignored``).
    ``compat`` ("torch", "keras", "sklearn" or "optax") computes the loss as that framework does:
    its precision, epsilons and clipping, label handling and weighted-mean divisor;
    ``compat_dtype`` ("float32" or "float64") replaces the precision it computes in by default.

    ``nan`` is the policy for rows holding NaN (or an infinity the input's domain does not admit):
    "error" (the default) names the first such row; "omit" leaves those rows out (counted in
    ``omitted``); "propagate" leaves them out of the computation but makes the cost NaN, as NaN
    arithmetic would, and their per-sample losses NaN. Raises :class:`lossctl.errors.InputError` or
    :class:`~lossctl.errors.UsageError` (both ValueErrors) on bad input.
    """
    return _evaluate(
        y_true,
        y_pred,
        loss,
        sample_weight,
        reduction=reduction,
        nan=nan,
        keep_per_sample=keep_per_sample,
        names=names,
        class_weight=class_weight,
        ignore_index=ignore_index,
        compat=compat,
        compat_dtype=compat_dtype,
        params=params,
    )


def _evaluate(
    y_true: Any,
    y_pred: Any,
    loss: str | Loss,
    sample_weight: Any,
    *,
    reduction: str,
    nan: str,
    keep_per_sample: bool,
    names: Mapping[str, str] | None,
    class_weight: Any,
    ignore_index: int | None,
    compat: str | None,
    compat_dtype: str | None,
    params: Mapping[str, float],
    reduce: bool = True,
) -> EvalResult:
    """:func:`evaluate`; without ``reduce``, the sums alone (no divisor, no cost): one batch of
    rows streamed (see lossctl.stream), which may be empty once rows are left out."""
    t0 = time.perf_counter()
    lo = get_loss(loss) if isinstance(loss, str) else loss
    if reduction not in REDUCTIONS:
        raise UsageError(f"reduction '{reduction}' is not one of {', '.join(REDUCTIONS)}")
    if reduction == "sum" and lo.cost == "sqrt_mean":
        raise UsageError(f"{lo.name} is the root of a mean and has no sum; use its square with --reduction sum")
    if nan not in NAN_POLICIES:
        raise UsageError(f"nan policy '{nan}' is not one of {', '.join(NAN_POLICIES)}")
    conv = _convention(lo, compat) if compat else None
    target = get_loss(conv.via) if conv and conv.via else lo
    pvals = compat_params(lo, compat, params) if compat else lo.resolve_params(params)
    names = dict(names or {})
    wname = names.get("weight", "sample_weight")
    yt, yp = _shape(target, y_true, y_pred, names)
    n_in = yp.shape[0]
    w = None if sample_weight is None else _shape_weights(sample_weight, n_in, wname)
    selected = np.ones(n_in, dtype=bool)
    ignored = 0
    if ignore_index is not None:
        if not (target.task is Task.MULTICLASS and yt.ndim == 1):
            raise UsageError(f"--ignore-index applies to class ids of multiclass losses, not to {lo.name}")
        skip = yt == float(ignore_index)
        ignored = int(skip.sum())
        selected &= ~skip
    missing = _missing_rows(target, yt, yp, w) & selected
    if nan == "error" and missing.any():
        _raise_missing(target, int(np.argmax(missing)), yt, yp, w, names)
    selected &= ~missing
    kept = None
    if not selected.all():
        kept = np.flatnonzero(selected)
        yt, yp = yt[kept], yp[kept]
        w = None if w is None else w[kept]
    given_true, given_pred = yt, yp
    if conv is not None:
        dtype = compat_dtype or conv.dtype or FRAMEWORK_DTYPE[compat]
        if dtype not in ("float32", "float64"):
            raise UsageError(f"compat dtype '{dtype}' is not float32 or float64")
        yt, yp = _apply_convention(conv, dtype, yt, yp)
        yt, yp = _labels_as_given(conv, yt, yp)
    try:
        yt, layout = _validate(target, yt, yp, names)
        if w is not None:
            _check_weights(w, wname)
        k = yp.shape[1] if target.task is Task.MULTICLASS else 1
        if class_weight is not None:
            if target.task is Task.REGRESSION:
                raise UsageError(f"class weights apply to classification losses, not to {lo.name}")
            if conv is not None and compat == "torch" and not conv.class_weights:
                raise UsageError(f"{conv.api} takes no class weights; drop --class-weight or --compat torch")
            cw = _class_weights(class_weight, max(k, 2))
            cls = _class_of(yt, target, k, names.get("y_true", "y_true"))
            w = cw[cls] if w is None else w * cw[cls]
    except InputError as e:
        raise e if kept is None else renumbered(e, lambda i: int(kept[i])) from None
    n = yp.shape[0]
    omitted = int(missing.sum()) if kept is not None else 0
    ptuple = tuple(pvals.values())
    scale = conv.scale if conv is not None else 1.0
    t1 = time.perf_counter()

    parallel = engine.parallel_for(n)
    blocks: list[Any] = []

    def compute(out: np.ndarray | None) -> tuple[float, float]:
        sums, wsums = engine.run_blocks(target, layout, yt, yp, w, out, ptuple, parallel)
        blocks[:] = [sums, wsums]
        if out is not None and scale != 1.0:
            out *= scale
        wsum = engine.block_total(wsums) if w is not None else float(n)
        return engine.block_total(sums) * scale, wsum

    def per_sample() -> np.ndarray:
        out = np.empty(n, dtype=np.float64)
        compute(out)
        return out

    def gradient() -> np.ndarray:
        return engine.run_grad(target, layout, yt, yp, ptuple)

    def sweep_totals(grid: Any, rows: int | None = None) -> tuple[Any, float]:
        return engine.run_sweep(target, layout, yt[:rows], yp[:rows], None if w is None else w[:rows], grid)

    no_gradient = ""
    if target.grad is None:
        no_gradient = f"{lo.name} declares no derivative, so it has no gradient"
    elif conv is not None:
        no_gradient = f"gradients follow lossctl's own {lo.name}, not --compat {compat}'s; drop --compat to get them"

    # The first call in a process compiles the kernel or loads it from the disk cache: timed apart.
    want_out = keep_per_sample or reduction == "none"
    empty = np.empty(0, dtype=np.float64)
    empty_w = None if w is None else w[:0]
    engine.run_kernel(target, layout, yt[:0], yp[:0], empty_w, empty if want_out else None, ptuple, parallel)
    t2 = time.perf_counter()
    out = np.empty(n, dtype=np.float64) if want_out else None
    total, wsum = compute(out)
    t3 = time.perf_counter()

    if math.isnan(total):
        try:
            _undefined_cost(lo, out if out is not None else per_sample(), w, yt, yp)
        except InputError as e:
            raise e if kept is None else renumbered(e, lambda i: int(kept[i])) from None
    by_count = w is not None and conv is not None and _divides_by_count(conv, compat, sample_weight is not None)
    per_element = reduction == "element_mean" or (conv is not None and conv.per_element)
    cost, divisor = None, None
    if reduce:
        cost, divisor, total = reduce_cost(
            lo, reduction, total, wsum, n, k if per_element else 1, by_count, w is not None
        )
        if nan == "propagate" and omitted:
            cost = None if cost is None else math.nan
            total = math.nan
    hits = _hits(target, yt, yp, layout)
    return EvalResult(
        loss=lo.name,
        params=pvals,
        n=n,
        reduction=reduction,
        cost=cost,
        total=total,
        weight_sum=wsum,
        weighted=w is not None,
        divisor=divisor,
        accuracy=accuracy_of(hits, w),
        timings={"validate": t1 - t0, "jit": t2 - t1, "compute": t3 - t2},
        columns={k2: v for k2, v in names.items()},
        _per_sample=out,
        _compute_per_sample=per_sample,
        _weights=w,
        omitted=omitted,
        ignored=ignored,
        nan_policy=nan,
        kept=kept,
        compat=compat,
        api=conv.api if conv is not None else None,
        _y_true=given_true,
        _y_pred=given_pred,
        _hits=hits,
        _count_divisor=by_count,
        _k=k if per_element else 1,
        _root=lo.cost == "sqrt_mean",
        _missing=np.flatnonzero(missing) if omitted else None,
        _compute_gradient=None if no_gradient else gradient,
        _no_gradient=no_gradient,
        _sweep_totals=sweep_totals if conv is None else None,
        _loss=lo,
        _blocks=(blocks[0], blocks[1], scale),
    )


def _undefined_cost(lo: Loss, ls: np.ndarray, w: np.ndarray | None, yt: np.ndarray, yp: np.ndarray) -> None:
    """Raise for a NaN total: the first row whose loss is NaN, or rows of +inf and -inf."""
    bad = np.isnan(ls) if w is None else np.isnan(ls) & (w != 0)
    if not bad.any():  # no row is NaN: losses of +inf and -inf cancel in the sum
        up, down = int(np.argmax(ls == np.inf)), int(np.argmax(ls == -np.inf))
        raise InputError(
            f"the cost of {lo.name} is undefined: row {up} has loss +inf and row {down} has loss -inf; "
            "a loss that can be -inf has no mean (drop or fix those rows)"
        )
    i = int(np.argmax(bad))
    raise InputError(
        f"{lo.name} is undefined (NaN) at row {i} for y_true={_show(yt[i])}, y_pred={_show(yp[i])}; "
        + ("see `lossctl describe " + lo.name + "`" if lo.origin == "built-in" else "check its definition")
    )


def reduce_cost(
    lo: Loss, reduction: str, total: float, wsum: float, n: int, k: int, by_count: bool, weighted: bool
) -> tuple[float | None, float | None, float]:
    """(cost, divisor, total) from the sum of w * loss: the mean divides by the weight sum (or
    the rows, ``by_count``) times ``k`` class columns, and is rooted for a root-mean cost."""
    if reduction == "sum":
        return total, None, total
    if reduction not in ("mean", "element_mean"):
        return None, None, total
    divisor = (float(n) if by_count else wsum) * k
    if divisor == 0:
        what = "the sample weights sum to 0" if (weighted and n) else "there are no rows"
        raise InputError(f"the mean {lo.name} is undefined: {what}")
    cost = total / divisor
    return (math.sqrt(cost) if lo.cost == "sqrt_mean" else cost), divisor, total


def _divides_by_count(conv: Convention, framework: str, sample_weights: bool) -> bool:
    """Whether the framework's weighted mean divides by the number of rows (not the weights)."""
    if sample_weights:
        return (conv.divisor or FRAMEWORK_DIVISOR[framework]) == "count"
    return (conv.class_divisor or FRAMEWORK_CLASS_DIVISOR[framework]) == "count"


def _show(v: Any) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return f"{float(a):g}"
    return "[" + ", ".join(f"{float(x):g}" for x in a[:8]) + (", ..." if a.size > 8 else "") + "]"
