"""What a single mean does not say: intervals, paired comparisons, group gaps, worst rows, spread.

Every cost lossctl reports is a ratio of two sums over the rows, ``R = sum(v) / sum(d)``, with
``v = w * loss`` and ``d = w`` (or 1 when a framework divides by the row count; times K for an
element mean), possibly followed by a square root (rmse, rmsle). :class:`Parts` holds those two
columns, and everything here works on them, so weights, class weights, framework divisors and
root costs are handled once:

- a normal-approximation interval from the ratio's linearisation (the delta method), with the
  Student t quantile; for an unweighted mean this is the textbook ``mean +- t s / sqrt(n)``;
- a seeded percentile bootstrap in a parallel numba kernel (its own counter-based generator, so
  the result depends on the seed only, never on the thread count);
- paired comparisons of several models on the same rows (difference, interval, t-test or
  bootstrap test, win share) and independent-group gaps (train versus validation).

NumPy is imported here; numba only when a bootstrap runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lossctl.errors import UsageError
from lossctl.render import p_text

CI_METHODS = ("normal", "bootstrap")
DEFAULT_REPLICATES = 1000
TAIL_FRACTIONS = (0.01, 0.10)


@dataclass
class Parts:
    """A cost as ``f(sum(v) / sum(d))`` over rows; ``f`` is the square root when ``root``."""

    v: np.ndarray
    d: np.ndarray
    root: bool = False

    @property
    def n(self) -> int:
        return int(self.v.shape[0])

    def ratio(self) -> float:
        den = float(np.sum(self.d))
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.sum(self.v)) / den if den != 0 else math.nan

    def cost(self) -> float:
        return _f(self.ratio(), self.root)

    def subset(self, rows: Any) -> Parts:
        return Parts(self.v[rows], self.d[rows], self.root)

    def weighted_rows(self) -> Parts:
        """Without the rows whose denominator is 0 (zero sample weight): they add nothing to the
        cost, so they must not count as evidence (n, degrees of freedom, resamples)."""
        keep = self.d != 0
        return self if keep.all() else Parts(self.v[keep], self.d[keep], self.root)

    def influence(self) -> np.ndarray:
        """Each row's first-order effect on the cost (the delta method's linearisation)."""
        r, den = self.ratio(), float(np.sum(self.d))
        lin = (self.v - r * self.d) / den
        if self.root:
            lin = lin / (2.0 * math.sqrt(r)) if r > 0 else np.zeros_like(lin)
        return lin


def _f(r: float, root: bool) -> float:
    if not root or math.isnan(r):
        return r
    return math.sqrt(max(r, 0.0))


@dataclass
class Interval:
    """A confidence interval for a cost (or a difference of costs)."""

    level: float
    method: str
    low: float
    high: float
    se: float
    replicates: int | None = None
    seed: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"level": self.level, "method": self.method, "low": self.low, "high": self.high}
        d["se"] = self.se
        if self.replicates is not None:
            d["replicates"] = self.replicates
            d["seed"] = self.seed
        if self.note:
            d["note"] = self.note
        return d


def check_level(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise UsageError(f"confidence level {level!r} must be between 0 and 1 (e.g. 0.95)")
    return float(level)


def check_method(method: str) -> str:
    if method not in CI_METHODS:
        raise UsageError(f"interval method '{method}' is not one of {', '.join(CI_METHODS)}")
    return method


# --- Student's t, without SciPy ----------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _log_inv_beta(a: float, b: float) -> float:
    """log(Gamma(a + b) / (Gamma(a) Gamma(b))). For Student's t (one argument 1/2, the other
    large) the lgamma difference cancels badly, so the asymptotic series of
    log Gamma(c + 1/2) - log Gamma(c) is used instead."""
    c = a if b == 0.5 else (b if a == 0.5 else 0.0)
    if c > 1e3:
        series = 0.5 * math.log(c) - 1 / (8 * c) + 1 / (192 * c**3) - 1 / (640 * c**5) + 17 / (14336 * c**7)
        return series - math.lgamma(0.5)
    return math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)


def betainc(a: float, b: float, x: float, y: float | None = None) -> float:
    """The regularised incomplete beta function I_x(a, b); ``y`` is 1 - x when the caller has it
    without rounding (for x near 1)."""
    y = 1.0 - x if y is None else y
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log(x) if x < 0.5 else math.log1p(-y)
    log_y = math.log(y) if y < 0.5 else math.log1p(-x)
    log_front = _log_inv_beta(a, b) + a * log_x + b * log_y
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, y) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom (normal beyond 1e7)."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    if df > 1e7:
        return 0.5 * math.erfc(t / math.sqrt(2.0))  # erfc keeps the far tail (cdf(-t) underflows to 0)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))
    return tail if t > 0 else 1.0 - tail


@functools.lru_cache(maxsize=4096)
def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on the tail probability, to full precision
    in both tails: the smaller of q and 1 - q is never rounded through 1 - q)."""
    if q == 0.5:
        return 0.0
    if not 0.0 < q < 1.0:
        return -math.inf if q <= 0.0 else math.inf
    tail = q if q < 0.5 else 1.0 - q  # P(T > t) wanted for t = |quantile|
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > tail:
        hi *= 2.0
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    t = 0.5 * (lo + hi)
    return -t if q < 0.5 else t


# --- intervals ----------------------------------------------------------------------------------


def _se(lin: np.ndarray) -> float:
    n = lin.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        return math.sqrt(float(np.sum(lin * lin)) * n / (n - 1))


def _undefined(parts: Parts, level: float, method: str) -> Interval | None:
    """An interval with a note when there is none to compute; ``parts`` without zero-weight rows."""
    cost = parts.cost()
    if parts.n == 0:
        return Interval(level, method, cost, cost, math.nan, note="no interval: the weights of these rows sum to 0")
    if parts.n < 2:
        return Interval(
            level, method, math.nan, math.nan, math.nan, note="an interval needs at least 2 rows with weight"
        )
    if not math.isfinite(cost) or not np.isfinite(parts.v).all():
        return Interval(level, method, cost, cost, math.nan, note="no interval: a per-sample loss is not finite")
    return None


def interval(
    parts: Parts,
    level: float = 0.95,
    method: str = "normal",
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    floor: float | None = None,
    draws: np.ndarray | None = None,
) -> Interval:
    """A ``level`` confidence interval for ``parts.cost()``; ``floor`` is the smallest cost the
    loss can have (0 for a non-negative loss), which a normal interval is not allowed to cross.
    ``draws`` are bootstrap costs already computed for these parts (see :func:`group_seed`).

    "normal": ratio +- t(n-1) * se from the delta method; for root costs the ratio's interval is
    mapped through the square root (so it stays >= 0). "bootstrap": the percentile interval of
    ``replicates`` seeded resamples of the rows.
    """
    level, method = check_level(level), check_method(method)
    parts = parts.weighted_rows()
    bad = _undefined(parts, level, method)
    if bad is not None:
        return bad
    if method == "bootstrap":
        costs = bootstrap_costs([parts], replicates, seed)[:, 0] if draws is None else draws
        low, high = _percentiles(costs, level)
        return Interval(level, method, low, high, float(np.std(costs, ddof=1)), replicates, seed)
    return group_intervals(parts, np.zeros(parts.n, dtype=np.intp), 1, level, floor)[1][0]


def _bootstrap_difference(diffs: np.ndarray, level: float, replicates: int, seed: int) -> tuple[Interval, float]:
    """The percentile interval of bootstrap differences and a two-sided p-value: twice the smaller
    share of replicates on either side of zero (+1 smoothing, so it is never 0)."""
    low, high = _percentiles(diffs, level)
    side = min(int(np.sum(diffs <= 0)), int(np.sum(diffs >= 0)))
    p = min(1.0, 2.0 * (side + 1) / (replicates + 1))
    return Interval(level, "bootstrap", low, high, float(np.std(diffs, ddof=1)), replicates, seed), p


def group_seed(seed: int, group: str) -> int:
    """A seed of its own for each group, so groups resample independently, and the draws behind
    a group's interval can be reused for its gap to another group."""
    import zlib

    return (seed + zlib.crc32(group.encode()) * 0x9E3779B1) % 2**63


def group_intervals(
    parts: Parts, group: np.ndarray, k: int, level: float = 0.95, floor: float | None = None
) -> tuple[np.ndarray, list[Interval]]:
    """Costs and normal intervals of ``k`` groups at once (``group[i]`` is row i's group id):
    the same numbers as :func:`interval` per group, with per-group sums from one bincount pass,
    so 10^5 groups cost about as much as one."""
    level = check_level(level)
    v, d = parts.v, parts.d
    weighted = d != 0
    V = np.bincount(group, weights=v, minlength=k)
    D = np.bincount(group, weights=d, minlength=k)
    n_eff = np.bincount(group, weights=weighted.astype(np.float64), minlength=k)
    finite = np.bincount(group, weights=(~np.isfinite(v)).astype(np.float64), minlength=k) == 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        R = V / D
        z = np.where(weighted, v - R[group] * d, 0.0)
        ss = np.bincount(group, weights=z * z, minlength=k)
        se = np.sqrt(ss * n_eff / (n_eff - 1)) / D
    costs = np.sqrt(np.maximum(R, 0.0)) if parts.root else R
    out = []
    for g in range(k):
        cost = float(costs[g])
        if n_eff[g] == 0:
            out.append(
                Interval(level, "normal", cost, cost, math.nan, note="no interval: the weights of these rows sum to 0")
            )
        elif n_eff[g] < 2:
            out.append(
                Interval(
                    level, "normal", math.nan, math.nan, math.nan, note="an interval needs at least 2 rows with weight"
                )
            )
        elif not finite[g] or not math.isfinite(cost):
            out.append(
                Interval(level, "normal", cost, cost, math.nan, note="no interval: a per-sample loss is not finite")
            )
        else:
            half = t_ppf(0.5 + level / 2.0, float(n_eff[g] - 1)) * float(se[g])
            low, high = _f(float(R[g]) - half, parts.root), _f(float(R[g]) + half, parts.root)
            if floor is not None:
                low = max(low, floor)
            g_se = float(se[g]) / (2.0 * math.sqrt(R[g])) if parts.root and R[g] > 0 else float(se[g])
            out.append(Interval(level, "normal", low, high, g_se))
    return costs, out


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


def _check_replicates(replicates: int) -> int:
    if not (isinstance(replicates, int) and 100 <= replicates <= 1_000_000):
        raise UsageError(f"bootstrap replicates {replicates!r} must be a whole number from 100 to 1000000")
    return replicates


def bootstrap_costs(models: Sequence[Parts], replicates: int, seed: int) -> np.ndarray:
    """(replicates, m) costs of m models on the same resampled rows (the rows are paired).

    Every model shares the first model's denominators ``d``; rows with ``d == 0`` are left out
    (a resample of only zero-weight rows would have no cost). The generator is counter-based
    (replicate b has its own stream from (seed, b)), so the answer does not depend on threads.
    """
    from lossctl import _bootstrap

    replicates = _check_replicates(replicates)
    if not (isinstance(seed, int) and 0 <= seed < 2**63):
        raise UsageError(f"seed {seed!r} must be a whole number from 0 to 2**63 - 1")
    keep = models[0].d != 0
    v = np.ascontiguousarray(np.vstack([p.v[keep] for p in models]), dtype=np.float64)
    d = np.ascontiguousarray(models[0].d[keep], dtype=np.float64)
    sums_v = np.empty((replicates, len(models)), dtype=np.float64)
    sums_d = np.empty(replicates, dtype=np.float64)
    _bootstrap.resampled_sums(v, d, np.uint64(seed), sums_v, sums_d)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = sums_v / sums_d[:, None]
    for j, p in enumerate(models):
        if p.root:
            ratios[:, j] = np.sqrt(np.maximum(ratios[:, j], 0.0))
    return ratios


# --- comparing models on the same rows -------------------------------------------------------


@dataclass
class PairedDiff:
    """Candidate minus baseline on the same rows: > 0 means the candidate's cost is higher."""

    diff: float
    interval: Interval
    p_value: float
    test: str  # "paired t-test" or "paired bootstrap"
    n: int
    better: int  # rows where the candidate's loss is lower
    worse: int
    ties: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "diff": self.diff,
            "ci": self.interval.to_dict(),
            "p_value": self.p_value,
            "test": self.test,
            "n": self.n,
            "rows_better": self.better,
            "rows_worse": self.worse,
            "rows_tied": self.ties,
            "win_share": self.better / self.n if self.n else None,
        }


def paired(
    baseline: Parts,
    candidate: Parts,
    losses: tuple[np.ndarray, np.ndarray],
    level: float = 0.95,
    method: str = "normal",
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> PairedDiff:
    """Compare two models' costs on the same rows (same denominators). ``losses`` are the two
    per-sample loss columns, for the win share."""
    level, method = check_level(level), check_method(method)
    n = baseline.n
    la, lb = losses
    better, worse = int(np.sum(lb < la)), int(np.sum(lb > la))
    ties = n - better - worse
    diff = candidate.cost() - baseline.cost()
    keep = baseline.d != 0
    baseline, candidate = baseline.subset(keep), candidate.subset(keep)
    both = Parts(np.concatenate([baseline.v, candidate.v]), np.concatenate([baseline.d, candidate.d]))
    bad = _undefined(both, level, method) if baseline.n >= 2 else _undefined(baseline, level, method)
    if bad is not None:
        bad.low = bad.high = diff
        return PairedDiff(diff, bad, math.nan, "none", n, better, worse, ties)
    if method == "bootstrap":
        costs = bootstrap_costs([baseline, candidate], replicates, seed)
        iv, p = _bootstrap_difference(costs[:, 1] - costs[:, 0], level, replicates, seed)
        return PairedDiff(diff, iv, p, "paired bootstrap", n, better, worse, ties)
    se = _se(candidate.influence() - baseline.influence())
    df = baseline.n - 1
    if se == 0.0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = min(1.0, 2.0 * t_sf(abs(diff) / se, df))
    half = t_ppf(0.5 + level / 2.0, df) * se
    return PairedDiff(
        diff, Interval(level, method, diff - half, diff + half, se), p, "paired t-test", n, better, worse, ties
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: p-values that hold for several comparisons at once. A NaN
    (a comparison that could not be tested) stays NaN and does not count among the tests."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    out = [math.nan] * len(p_values)
    running = 0.0
    m = len(tested)
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


@dataclass
class GroupGap:
    """The cost of one group minus another's (independent rows), e.g. validation minus train."""

    gap: float
    ratio: float
    interval: Interval
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"gap": self.gap, "ratio": self.ratio, "ci": self.interval.to_dict(), "p_value": self.p_value}


def group_gap(
    first: Parts,
    second: Parts,
    level: float = 0.95,
    method: str = "normal",
    *,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> GroupGap:
    """``second.cost() - first.cost()`` for two independent sets of rows, with its interval and a
    two-sided p-value (Welch's t with Satterthwaite's degrees of freedom, or a bootstrap that
    resamples each group on its own)."""
    level, method = check_level(level), check_method(method)
    first, second = first.weighted_rows(), second.weighted_rows()
    a, b = first.cost(), second.cost()
    gap = b - a
    # A ratio of costs means something only for costs on a positive scale (not gaussian_nll's).
    ratio = b / a if a > 0 and b >= 0 and math.isfinite(a) and math.isfinite(b) else math.nan
    for p in (first, second):
        bad = _undefined(p, level, method)
        if bad is not None:
            bad.low = bad.high = gap
            return GroupGap(gap, ratio, bad, math.nan)
    if method == "bootstrap":
        if draws is not None:
            ra, rb = draws
        else:
            ra = bootstrap_costs([first], replicates, seed)[:, 0]
            rb = bootstrap_costs([second], replicates, (seed + 1) % 2**63)[:, 0]  # its own stream
        iv, p = _bootstrap_difference(rb - ra, level, replicates, seed)
        return GroupGap(gap, ratio, iv, p)
    sa, sb = _se(first.influence()), _se(second.influence())
    se = math.sqrt(sa * sa + sb * sb)
    if se == 0.0:
        return GroupGap(gap, ratio, Interval(level, method, gap, gap, 0.0), 1.0 if gap == 0 else 0.0)
    df = se**4 / (sa**4 / (first.n - 1) + sb**4 / (second.n - 1))
    half = t_ppf(0.5 + level / 2.0, df) * se
    p = min(1.0, 2.0 * t_sf(abs(gap) / se, df))
    return GroupGap(gap, ratio, Interval(level, method, gap - half, gap + half, se), p)


# --- where the loss comes from --------------------------------------------------------------


def tail_shares(v: np.ndarray, fractions: Sequence[float] = TAIL_FRACTIONS) -> dict[str, float | None]:
    """The share of the total loss carried by the worst ``f`` of rows, per fraction ("1%": 0.42).

    None when a share has no meaning: some contributions are negative or not finite, or the
    total is 0.
    """
    keys = [f"{100 * f:g}%" for f in fractions]
    n = v.shape[0]
    if n == 0 or not np.isfinite(v).all() or (v < 0).any():
        return dict.fromkeys(keys)
    total = float(np.sum(v))
    if total <= 0:
        return dict.fromkeys(keys)
    out: dict[str, float | None] = {}
    for key, f in zip(keys, fractions, strict=True):
        m = max(1, math.ceil(f * n))
        top = np.partition(v, n - m)[n - m :] if m < n else v
        out[key] = min(1.0, float(np.sum(top)) / total)
    return out


def worst_rows(losses: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest losses, largest first (NaN last; ties in row order)."""
    n = losses.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    key = np.where(np.isnan(losses), -np.inf, losses)
    order = np.argsort(-key, kind="stable")
    return order[:k]


def histogram(values: np.ndarray, bins: int = 20) -> dict[str, Any]:
    """Counts of per-sample losses in ``bins`` bins: log-spaced when the positive values span more
    than three decades (losses are often heavy-tailed), with exact zeros counted apart."""
    finite = values[np.isfinite(values)]
    out: dict[str, Any] = {"n": int(values.shape[0]), "nonfinite": int(values.shape[0] - finite.shape[0])}
    if finite.shape[0] == 0:
        out.update(scale="linear", edges=[], counts=[], zeros=0)
        return out
    lo, hi = float(finite.min()), float(finite.max())
    positive = finite[finite > 0]
    if lo >= 0 and positive.shape[0] and hi / float(positive.min()) > 1e3:
        zeros = int(finite.shape[0] - positive.shape[0])
        edges = np.geomspace(float(positive.min()), hi, bins + 1)
        counts, edges = np.histogram(positive, bins=edges)
        out.update(scale="log", edges=edges.tolist(), counts=counts.tolist(), zeros=zeros)
        return out
    if lo == hi:
        edges = np.array([lo, hi])
        counts = np.array([finite.shape[0]])
    else:
        counts, edges = np.histogram(finite, bins=bins, range=(lo, hi))
    out.update(scale="linear", edges=edges.tolist(), counts=counts.tolist(), zeros=0)
    return out


# --- train / validation ------------------------------------------------------------------------

TRAIN_NAMES = ("train", "training", "trn")
HELD_OUT_NAMES = ("validation", "valid", "val", "dev", "test", "holdout", "eval", "evaluation")


def split_pair(groups: Sequence[str]) -> tuple[str, str] | None:
    """(train group, held-out group) among a column's values, when it holds both."""
    lower = {g.strip().lower(): g for g in groups}
    train = next((lower[x] for x in TRAIN_NAMES if x in lower), None)
    held = next((lower[x] for x in HELD_OUT_NAMES if x in lower), None)
    return (train, held) if train is not None and held is not None else None


def overfitting_verdict(train: str, held: str, gap: GroupGap, train_cost: float, held_cost: float) -> str:
    """One sentence on what a train / held-out gap says."""
    iv = gap.interval
    ci = f"{iv.level:.0%} CI [{iv.low:.4g}, {iv.high:.4g}]"
    if math.isnan(gap.p_value):
        return f"{held} minus {train} is {gap.gap:+.4g}; no interval ({iv.note})"
    significant = iv.low > 0 or iv.high < 0
    if not significant:
        return (
            f"no significant gap: {held} {held_cost:.4g} vs {train} {train_cost:.4g} "
            f"(gap {gap.gap:+.4g}, {ci}); no sign of overfitting at this sample size"
        )
    if gap.gap > 0 and not math.isfinite(gap.ratio):  # costs not on a positive scale: no ratio
        return (
            f"overfitting: {held} cost {held_cost:.4g} is above the {train} cost {train_cost:.4g} "
            f"(gap {gap.gap:+.4g}, {ci}, p={p_text(gap.p_value)}); "
            "the model fits its training rows better than new ones"
        )
    if gap.gap > 0:
        times = f"{gap.ratio:.3g}x"
        strength = "strong" if gap.ratio >= 1.5 else "mild"
        return (
            f"{strength} overfitting: {held} cost {held_cost:.4g} is {times} "
            f"the {train} cost {train_cost:.4g} (gap {gap.gap:+.4g}, {ci}, p={p_text(gap.p_value)}); "
            "the model fits its training rows better than new ones"
        )
    return (
        f"{held} cost {held_cost:.4g} is below {train} {train_cost:.4g} (gap {gap.gap:+.4g}, {ci}): unusual; "
        "check for leakage between the splits, or train-time noise (dropout, augmentation) in the train numbers"
    )
