"""An arbitrary-precision oracle for every loss, and the accuracy of the summation.

Each loss is written again here, independently, as its textbook formula in mpmath (no lossctl
kernel or NumPy reference is called), evaluated exactly on the float64 inputs lossctl receives,
and lossctl's per-sample values must match it to 1e-13 relative on hard inputs: zero, tiny,
subnormal and huge residuals, the Huber boundary and one ulp either side, probabilities of 0, 1
and 1e-300, logits of +-1e4 and +-inf, masked classes and so on.

How the comparison reads:
- an exact value of 0 or +-inf (mathematically, not after rounding) must come out exactly;
- a finite exact value must come out within ``RTOL * |exact| + SUBNORMAL_SLACK``; the slack, four
  units of the smallest subnormal, only matters for results below 2.2e-308, where a float64
  has fewer than 53 bits and a correctly computed intermediate (r * r for r = 1e-160) already
  rounds on that coarse grid; an exact value that underflows must come out as (nearly) 0 and one
  that overflows as inf.

The oracle works with ``DPS`` = 50 significant digits. The formulas are literal (sqrt(1 + t^2) - 1,
log cosh r, log(1 - p), log(1 + e^-x), log softmax), so where they form 1 + x for a tiny x the
oracle first raises its working precision by the digits that sum would lose (``_lost``): the 50
digits are what remains after the cancellation. ``test_oracle_is_converged`` checks this by
evaluating every case again with 60 more digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pytest

import lossctl
from lossctl.registry import Task, registry

try:
    import mpmath
except ImportError:  # the oracle tests skip (through the ``mp`` fixture); the summation tests still run
    mpmath = None

DPS = 50
RTOL = 1e-13
SUBNORMAL_SLACK = 4 * 5e-324
TINY = 5e-324  # the smallest subnormal
MAX = 1.7976931348623157e308
INF = math.inf


@pytest.fixture
def mp():  # type: ignore[no-untyped-def]
    """mpmath at DPS significant digits, or a skip when mpmath is not installed."""
    module = pytest.importorskip("mpmath")
    with module.workdps(DPS):
        yield module


def mpf(x):  # type: ignore[no-untyped-def]
    return mpmath.mpf(x)


def _lost(x) -> int:  # type: ignore[no-untyped-def]
    """Decimal digits of a tiny ``x`` that 1 + x loses at the current precision (0 for |x| >= 1e-5)."""
    x = abs(mpf(x))
    if x == 0 or not mpmath.isfinite(x) or x >= mpf("1e-5"):
        return 0
    return int(-mpmath.log10(x)) + 2


def _xlogy(x, y):  # type: ignore[no-untyped-def]
    """x log y, with 0 log y = 0 for every y (the convention for 0 log 0 and for a dropped term)."""
    return mpf(0) if x == 0 else x * mpmath.log(y)


# --- the oracle: each loss's formula in mpmath, on exact copies of the float64 inputs --------------


def o_mse(y, p):  # type: ignore[no-untyped-def]
    return (p - y) ** 2


def o_mae(y, p):  # type: ignore[no-untyped-def]
    return abs(p - y)


def o_msle(y, p):  # type: ignore[no-untyped-def]
    # log(1 + v) needs 1 + v to keep v's digits; the difference of the two logs cancels when p ~ y.
    guard = max(_lost(p), _lost(y), _lost((p - y) / (1 + max(abs(p), abs(y)))))
    with mpmath.workdps(DPS + guard):
        return (mpmath.log(1 + p) - mpmath.log(1 + y)) ** 2


def o_huber(y, p, delta):  # type: ignore[no-untyped-def]
    a = abs(p - y)
    return a * a / 2 if a <= delta else delta * (a - delta / 2)


def o_pseudo_huber(y, p, delta):  # type: ignore[no-untyped-def]
    t = (p - y) / delta
    with mpmath.workdps(DPS + _lost(t * t)):
        return delta**2 * (mpmath.sqrt(1 + t * t) - 1)


def o_log_cosh(y, p):  # type: ignore[no-untyped-def]
    r = p - y
    with mpmath.workdps(DPS + _lost(r * r / 2)):
        return mpmath.log(mpmath.cosh(r))


def o_bce(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    if eps > 0:
        # The clip bounds are the float64 numbers eps and fl(1 - eps), as in every framework.
        p = min(max(p, mpf(eps)), mpf(1.0 - float(eps)))
    with mpmath.workdps(DPS + max(_lost(p), _lost(1 - p))):
        return -(_xlogy(y, p) + _xlogy(1 - y, 1 - p))


def o_bce_logits(y, x):  # type: ignore[no-untyped-def]
    # -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))), with log sigmoid(x) = -log(1 + e^-x) and
    # log(1 - sigmoid(x)) = -log(1 + e^x): sigmoid(1e4) itself would round to 1 at any precision.
    # A term below 1e-400 is far below the smallest double, so the guard stops there.
    def log1pexp(v):  # type: ignore[no-untyped-def]
        with mpmath.workdps(DPS + min(_lost(mpmath.exp(v)), 400)):
            return mpmath.log(1 + mpmath.exp(v))

    out = mpf(0)
    if y != 0:
        out += y * log1pexp(-x)
    if y != 1:
        out += (1 - y) * log1pexp(x)
    return out


def o_hinge(y, s):  # type: ignore[no-untyped-def]
    t = 1 if y > 0 else -1
    return max(mpf(0), 1 - t * s)


def o_squared_hinge(y, s):  # type: ignore[no-untyped-def]
    return o_hinge(y, s) ** 2


def o_softmax_ce(y, x):  # type: ignore[no-untyped-def]
    # -sum_c y_c log softmax(x)_c with softmax_c = e^x_c / sum_j e^x_j, written out.
    out = mpf(0)
    for c, yc in enumerate(y):
        if yc == 0:
            continue
        rest = mpmath.fsum(mpmath.exp(xj - x[c]) for j, xj in enumerate(x) if j != c)
        with mpmath.workdps(DPS + min(_lost(rest), 400)):  # softmax_c = 1 - rest/(1 + rest)
            softmax_c = mpmath.exp(x[c]) / mpmath.fsum(mpmath.exp(xj) for xj in x)
            out -= yc * mpmath.log(softmax_c)
    return out


def o_cce(y, p, eps=0.0):  # type: ignore[no-untyped-def]
    if eps > 0:
        p = [min(max(q, mpf(eps)), mpf(1.0 - float(eps))) for q in p]
    return -mpmath.fsum(_xlogy(yc, pc) for yc, pc in zip(y, p, strict=True))


def o_kl_div(y, p):  # type: ignore[no-untyped-def]
    # y_c (log y_c - log p_c), 0 where y_c = 0; p_c = 0 under y_c > 0 gives +inf, as KL does.
    terms = (mpf(0) if yc == 0 else yc * (mpmath.log(yc) - mpmath.log(pc)) for yc, pc in zip(y, p, strict=True))
    return mpmath.fsum(terms)


ORACLES: dict[str, Callable[..., object]] = {
    "mse": o_mse,
    "rmse": o_mse,  # the per-sample term of rmse is the squared error; the cost is the root of the mean
    "mae": o_mae,
    "msle": o_msle,
    "huber": o_huber,
    "pseudo_huber": o_pseudo_huber,
    "log_cosh": o_log_cosh,
    "bce": o_bce,
    "bce_logits": o_bce_logits,
    "hinge": o_hinge,
    "squared_hinge": o_squared_hinge,
    "cce": o_cce,
    "softmax_ce": o_softmax_ce,
    "kl_div": o_kl_div,
}


# --- the hard inputs ------------------------------------------------------------------------------


def _short(v: object) -> str:
    if isinstance(v, tuple) and len(v) > 4:
        return f"<K={len(v)},sum={sum(v):.4g},max={max(v):.4g}>"
    return repr(v)


@dataclass(frozen=True)
class Case:
    loss: str
    y: float | int | tuple[float, ...]  # a label/target, a class id, or a label distribution
    p: float | tuple[float, ...]
    params: tuple[tuple[str, float], ...] = field(default=())

    @property
    def id(self) -> str:
        par = "".join(f"-{k}={v!r}" for k, v in self.params)
        return f"{self.loss}{par}-y={_short(self.y)}-p={_short(self.p)}".replace(" ", "")

    def exact(self):  # type: ignore[no-untyped-def]
        """The oracle's value, at the current mpmath precision."""
        oracle = ORACLES[self.loss]
        kw = {k: mpf(v) for k, v in self.params}
        if isinstance(self.p, tuple):
            k = len(self.p)
            y = self.y if isinstance(self.y, tuple) else tuple(1.0 if j == self.y else 0.0 for j in range(k))
            return oracle([mpf(v) for v in y], [mpf(v) for v in self.p], **kw)
        return oracle(mpf(self.y), mpf(self.p), **kw)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.p, tuple):
            yt = np.array([self.y]) if isinstance(self.y, int) else np.array([self.y], dtype=np.float64)
            return yt, np.array([self.p], dtype=np.float64)
        return np.array([self.y], dtype=np.float64), np.array([self.p], dtype=np.float64)


def _signed(values: Iterable[float]) -> list[float]:
    return [s * v for v in values for s in (1.0, -1.0) if not (v == 0.0 and s < 0)]


RESIDUALS = _signed([0.0, 1e-10, 1e-160, 1e-300, TINY, 0.75, 1.0, 1e3, 1e150, 1e300])
# Pairs whose difference overflows or where both values are huge.
HUGE_PAIRS = [(-1e308, 1e308), (1e154, 0.0), (1e200, 1e200), (-MAX, -MAX)]


def _regression_pairs(extra: Iterable[float] = ()) -> list[tuple[float, float]]:
    pairs: list[tuple[float, float]] = []
    for y in (0.0, -2.75):
        for r in [*RESIDUALS, *_signed(extra)]:
            pairs.append((y, y + r))
    pairs += HUGE_PAIRS
    return list(dict.fromkeys(pairs))


def _params(**kw: float) -> tuple[tuple[str, float], ...]:
    return tuple(kw.items())


def _regression_cases() -> list[Case]:
    cases = [Case(name, y, p) for name in ("mse", "rmse", "mae") for y, p in _regression_pairs()]
    for delta in (1.0, 0.1, 2.5):
        cases += [Case("huber", y, p, _params(delta=delta)) for y, p in _regression_pairs()]
    # The boundary |r| = delta, one ulp either side, from both sides of zero and off a non-zero target.
    for delta in (1.0, 0.1, 2.5, 3e-5, 1e-300, 1e300):
        for r in (math.nextafter(delta, 0.0), delta, math.nextafter(delta, INF)):
            cases += [Case("huber", 0.0, r, _params(delta=delta)), Case("huber", r, 0.0, _params(delta=delta))]
            cases.append(Case("huber", -delta, r - delta, _params(delta=delta)))
    for delta in (1.0, 1e-3, 1e3):
        cases += [Case("pseudo_huber", y, p, _params(delta=delta)) for y, p in _regression_pairs([1e-8, 0.999, 1.001])]
    # Extreme (valid) deltas: t = r / delta and delta^2 may overflow or underflow where the loss does not.
    for delta, r in ((1e-200, 1e200), (1e-200, 1e-100), (1e-10, 1e300), (1e160, 1.0), (1e160, 1e-160), (1e300, 1e-10)):
        cases.append(Case("pseudo_huber", 0.0, r, _params(delta=delta)))
    cases += [
        Case("log_cosh", y, p) for y, p in _regression_pairs([1e-8, 0.5, 0.999, 1.001, 19.5, 20.5, 30, 700, 711, 1e5])
    ]
    msle = [
        (0.0, -1 + 1e-12),
        (-1 + 1e-12, 0.0),
        (-1 + 1e-12, -1 + 2e-12),
        (math.nextafter(-1.0, 0.0), 0.0),
        (0.0, math.nextafter(-1.0, 0.0)),
        (-0.5, 0.5),
        (0.0, 0.0),
        (3.0, 3.0),
        (0.0, 1e-10),
        (0.0, 1e-160),
        (0.0, 1e-300),
        (0.0, math.e - 1.0),
        (1e150, 1e149),
        (1e150, 2e150),
        (0.0, 1e300),
        (1e300, 0.0),
        (MAX, 0.0),
        (MAX, -1 + 1e-12),
        # near-equal values: the two logarithms cancel, the loss is tiny but well defined
        (1e6, 1e6 + 1.0),
        (1.0, 1.0 + 2**-52),
        (1e300, 1.0000000000000002e300),
    ]
    cases += [Case("msle", y, p) for y, p in msle]
    return cases


def _binary_cases() -> list[Case]:
    cases = []
    one_minus = 1.0 - 1e-16  # rounds to 1 - 2^-53, the largest double below 1
    for y in (0.0, 1.0, 0.3, 1e-300, 1.0 - 1e-16):
        for p in (0.0, TINY, 1e-300, 1e-16, 1e-5, 0.5, 0.75, one_minus, 1.0):
            cases.append(Case("bce", y, p))
    for eps in (1e-7, 1e-15):
        for y in (0.0, 1.0, 0.3):
            for p in (0.0, eps / 2, 0.5, 1.0):
                cases.append(Case("bce", y, p, _params(eps=eps)))
    logits = _signed([0.0, 1e-10, 1.0, 20.0, 30.0, 40.0, 700.0, 710.0, 1e4, INF])
    cases += [Case("bce_logits", y, x) for y in (0.0, 1.0, 0.3, 1e-300) for x in logits]
    scores = _signed([0.0, 1e-10, 0.3, 1.0, math.nextafter(1.0, 0.0), math.nextafter(1.0, 2.0), 2.0, 1e150, 1e300])
    scores += [INF, -INF]
    for name in ("hinge", "squared_hinge"):
        cases += [Case(name, y, s) for y in (-1.0, 0.0, 1.0) for s in scores]
    return cases


def _multiclass_cases() -> list[Case]:
    rng = np.random.default_rng(20240611)
    cases = []

    def both(name: str, y: int | tuple[float, ...], p: list[float], **kw: float) -> None:
        """A case with a class id and the same case with a one-hot label row."""
        row = tuple(float(v) for v in p)
        cases.append(Case(name, y, row, _params(**kw)))
        if isinstance(y, int):
            cases.append(Case(name, tuple(1.0 if j == y else 0.0 for j in range(len(row))), row, _params(**kw)))

    # softmax_ce on logits
    logit_rows = [
        [1e4, 0.0, -1e4],
        [-INF, 0.0, 0.0],
        [0.0, -INF, -INF],
        [1e6, 1e6 + 1.0],  # near-equal large logits
        [1e3, 1e3, 1e3],
        [1e15, 1e15 + 2.0, 1e15 - 2.0],
        [0.0, 0.0],
        [1.0, -1.0],
        [20.0, 0.0],
        [40.0, 0.0],  # confident and right: the loss is log1p(e^-40) = 4.2e-18, not 0
        [700.0, -700.0],
        [-1e-10, 1e-10],
        rng.normal(0.0, 3.0, 50).tolist(),
        [30.0] + [0.0] * 49,
        [0.0] * 50,
    ]
    for row in logit_rows:
        k = len(row)
        for c in sorted({0, 1, k - 1}):
            both("softmax_ce", c, row)
    soft = {3: [(0.2, 0.3, 0.5), (0.0, 0.5, 0.5), (0.5, 0.5, 0.0)], 2: [(0.25, 0.75), (1e-300, 1.0)]}
    for row in logit_rows:
        for y in soft.get(len(row), []):
            both("softmax_ce", y, row)
    # cce and kl_div on probabilities with zeros and tiny values
    prob_rows = [
        [0.0, 0.5, 0.5],
        [1e-300, 0.5, 0.5],
        [TINY, 0.25, 0.75],
        [0.0, 1e-16, 1.0 - 1e-16],
        [1e-300, 1e-16, 1.0 - 1e-16],
        [0.2, 0.3, 0.5],
        [0.5, 0.5],
        [1.0, 0.0],
        (np.ones(50) / 50).tolist(),
    ]
    dists = {
        3: [(0.2, 0.3, 0.5), (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (1e-300, 0.5, 0.5), (TINY, 0.0, 1.0)],
        2: [(0.25, 0.75), (0.0, 1.0), (1.0, 0.0)],
    }
    for name in ("cce", "kl_div"):
        for row in prob_rows:
            k = len(row)
            for c in sorted({0, 1, k - 1}):
                both(name, c, row)
            for y in dists.get(k, []):
                both(name, y, row)
    for eps in (1e-7,):
        for row in ([0.0, 0.5, 0.5], [0.0, 0.0, 1.0]):
            for c in (0, 2):
                both("cce", c, row, eps=eps)
    return cases


CASES = _regression_cases() + _binary_cases() + _multiclass_cases()


def test_every_loss_has_an_oracle_and_hard_cases() -> None:
    names = set(registry().names())
    assert set(ORACLES) == names, "add an mpmath formula for each new loss (and remove ones that are gone)"
    covered = {c.loss for c in CASES}
    assert covered == names
    for lo in registry():
        if lo.task is Task.MULTICLASS:
            layouts = {isinstance(c.y, int) for c in CASES if c.loss == lo.name}
            assert layouts == {True, False}, f"{lo.name}: cover class ids and label rows"


# --- the comparison -------------------------------------------------------------------------------


def assert_matches(got: float, exact, what: str) -> None:  # type: ignore[no-untyped-def]
    if mpmath.isnan(exact):
        raise AssertionError(f"oracle is NaN for {what}: the case is not well posed")
    if exact == 0 or mpmath.isinf(exact):
        assert got == float(exact), f"{what}: got {got!r}, exactly {float(exact)!r}"
        return
    rounded = float(exact)  # correctly rounded; inf when the value overflows a double
    if math.isinf(rounded):
        assert got == rounded, f"{what}: got {got!r}, the exact {mpmath.nstr(exact, 8)} rounds to {rounded!r}"
        return
    err = abs(mpf(got) - exact) if math.isfinite(got) else mpf("inf")
    bound = RTOL * abs(exact) + SUBNORMAL_SLACK
    rel = float(err / abs(exact))
    assert err <= bound, f"{what}: got {got!r}, exact {mpmath.nstr(exact, 20)} (relative error {rel:.3g})"


def _lossctl_values(cases: list[Case], keep: bool) -> tuple[np.ndarray, float | None]:
    first = cases[0]
    ys, ps = zip(*(c.arrays() for c in cases), strict=True)
    yt, yp = np.concatenate(ys), np.concatenate(ps)
    params = dict(first.params)
    if keep:
        res = lossctl.evaluate(yt, yp, first.loss, keep_per_sample=True, **params)
        return res.per_sample, res.cost
    res = lossctl.evaluate(yt, yp, first.loss, reduction="none", **params)
    assert res.cost is None
    return res.per_sample, None


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
@pytest.mark.usefixtures("mp")
def test_per_sample_matches_oracle(case: Case) -> None:
    (got,), _ = _lossctl_values([case], keep=False)
    assert_matches(float(got), case.exact(), case.id)


def _groups() -> dict[str, list[Case]]:
    """The cases of each loss that can share one call: same parameters, layout and number of classes."""
    out: dict[str, list[Case]] = {}
    for c in CASES:
        k = len(c.p) if isinstance(c.p, tuple) else 0
        layout = "ids" if isinstance(c.y, int) else ("dist" if isinstance(c.y, tuple) else "value")
        out.setdefault(f"{c.loss}-{layout}-K={k}{''.join(f'-{a}={b!r}' for a, b in c.params)}", []).append(c)
    return out


GROUPS = _groups()


@pytest.mark.parametrize("key", list(GROUPS))
@pytest.mark.usefixtures("mp")
def test_batched_values_and_cost(key: str) -> None:
    """A loss's cases in one call on the mean path (keep_per_sample): the per-sample values are those
    of the one-row calls bit for bit, and the cost of the finite ones is their exact mean to 1e-13."""
    cases = GROUPS[key]
    got, _ = _lossctl_values(cases, keep=True)
    alone = np.concatenate([_lossctl_values([c], keep=False)[0] for c in cases])
    np.testing.assert_array_equal(got, alone)
    exact = [c.exact() for c in cases]
    finite = [i for i, e in enumerate(exact) if math.isfinite(float(e))]
    if not finite:
        return
    _, cost = _lossctl_values([cases[i] for i in finite], keep=True)
    mean = mpmath.fsum(exact[i] for i in finite) / len(finite)
    if cases[0].loss == "rmse":
        mean = mpmath.sqrt(mean)
    assert cost is not None
    assert_matches(cost, mean, f"cost of {key}")


@pytest.mark.usefixtures("mp")
def test_oracle_is_converged() -> None:
    """The oracle's answers do not move with 60 more digits: its guard digits are enough."""
    for case in CASES:
        with mpmath.workdps(DPS):
            a = case.exact()
        with mpmath.workdps(DPS + 60):
            b = case.exact()
        if mpmath.isinf(a) or a == 0:
            assert a == b, case.id
        else:
            assert abs(a - b) <= mpf("1e-40") * abs(b), case.id


# --- summation accuracy ---------------------------------------------------------------------------


CHUNK = 1 << 22


def _summation_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    return rng.standard_normal(n), rng.standard_normal(n), rng.uniform(0.0, 2.0, n)


def _check_summation(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> None:
    """lossctl's sum and cost against math.fsum of the reference's per-sample values.

    The reference is computed a chunk at a time (memory stays near the inputs' size): the sum is the
    fsum of the chunks' correctly rounded fsums, exact to about 1e-16. Unweighted, lossctl's
    per-sample values must also be the reference's, bit for bit.
    """
    n = y.shape[0]
    res = lossctl.evaluate(y, p, "mse", sample_weight=w, keep_per_sample=w is None)
    parts, wparts = [], []
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        ref = np.square(p[lo:hi] - y[lo:hi])  # the NumPy reference of mse
        if w is None:
            assert np.array_equal(res.per_sample[lo:hi], ref), "per-sample mse must be (p - y)**2, bit for bit"
            parts.append(math.fsum(memoryview(ref)))
        else:
            parts.append(math.fsum(memoryview(w[lo:hi] * ref)))
            wparts.append(math.fsum(memoryview(np.ascontiguousarray(w[lo:hi]))))
    total = math.fsum(parts)
    wsum = math.fsum(wparts) if w is not None else float(n)
    assert res.n == n
    assert res.weight_sum == pytest.approx(wsum, rel=1e-12, abs=0)
    assert res.total == pytest.approx(total, rel=1e-12, abs=0)
    assert res.cost == pytest.approx(total / wsum, rel=1e-12, abs=0)


@pytest.fixture(scope="module")
def data_1e7() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _summation_data(10**7)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_summation_is_accurate_1e7(data_1e7: tuple[np.ndarray, ...], weighted: bool) -> None:
    """10^7 non-negative losses: the cost is the exact (math.fsum) mean to 1e-12."""
    y, p, w = data_1e7
    _check_summation(y, p, w if weighted else None)


@pytest.mark.slow
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_summation_is_accurate_1e8(weighted: bool) -> None:
    """The same for 10^8 samples (about 2.4 GB: y, p and the weights or the per-sample values)."""
    rng = np.random.default_rng(10**8)
    y, p = rng.standard_normal(10**8), rng.standard_normal(10**8)
    _check_summation(y, p, rng.uniform(0.0, 2.0, 10**8) if weighted else None)
