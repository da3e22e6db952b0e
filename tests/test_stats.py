"""Intervals, bootstrap, paired comparisons, group gaps and the analyses of ``evaluate_files``.

Expected values come from independent references: SciPy (Student's t, the incomplete beta
function, ``ttest_rel``, ``ttest_ind``), textbook formulas written out in NumPy (the delta
method for a weighted mean, Holm's adjustment, tail shares by a full sort), pandas (group
means, filters) and simulation (coverage). No expected value is produced by the code under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lossctl
from lossctl import stats
from lossctl.comparison import compare, compare_files
from lossctl.errors import InputError, UsageError
from lossctl.pipeline import evaluate_files
from lossctl.registry import get_loss

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
MSE = [get_loss("mse")]


@pytest.fixture(scope="module")
def sp():  # type: ignore[no-untyped-def]
    """scipy.stats, or a skip."""
    return pytest.importorskip("scipy.stats")


def approx(expected, rel: float = 1e-12, abs: float = 0.0):  # type: ignore[no-untyped-def]
    """pytest.approx without its default absolute slack of 1e-12 (p-values and tails are smaller)."""
    return pytest.approx(expected, rel=rel, abs=abs)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _delta_interval(x: np.ndarray, w: np.ndarray, level: float, sp) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """The weighted mean sum(w x) / sum(w) with its delta-method interval, written out:
    se^2 = n / (n - 1) * sum(w^2 (x - R)^2) / (sum w)^2, and R +- t(n-1) se."""
    n = x.shape[0]
    r = float(np.sum(w * x) / np.sum(w))
    se = math.sqrt(n / (n - 1) * float(np.sum((w * (x - r)) ** 2))) / float(np.sum(w))
    half = sp.t.ppf(0.5 + level / 2, n - 1) * se
    return r, r - half, r + half


# --- Student's t and the incomplete beta function -------------------------------------------------

DFS = [1, 2, 5, 30, 1000, 1e5, 1e6]
# (SciPy's t.sf is itself off by 3e-9 at df=1 for |t| < 1e-4, checked against mpmath: not used here.)
TS = [0.0, 0.05, 0.5, 1.0, 1.96, 3.0, 8.0, 30.0, -0.3, -2.5, -12.0]
QS = [1e-6, 0.001, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999, 1 - 1e-6]


@pytest.mark.parametrize("df", DFS)
def test_t_sf_matches_scipy(sp, df: float) -> None:
    for t in TS:
        assert stats.t_sf(t, df) == approx(sp.t.sf(t, df), rel=1e-9, abs=1e-300), (t, df)


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy(sp, df: float) -> None:
    for q in QS:
        want = sp.t.ppf(q, df)
        assert stats.t_ppf(q, df) == approx(want, rel=1e-9, abs=1e-12), (q, df)


def test_betainc_matches_scipy() -> None:
    special = pytest.importorskip("scipy.special")
    for a in (0.5, 1.0, 2.5, 10.0, 500.0, 5e5):
        for b in (0.5, 1.0, 3.0, 50.0, 2e4):
            for x in (1e-6, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-9):
                want = special.betainc(a, b, x)
                if want < 1e-280:
                    continue
                assert stats.betainc(a, b, x) == approx(want, rel=1e-9), (a, b, x)
    # The complement given exactly (x near 1): I_x(a, b) = 1 - I_y(b, a).
    y = 1e-12
    assert stats.betainc(3.0, 0.5, 1 - y, y) == approx(1 - special.betainc(0.5, 3.0, y), rel=1e-12)
    assert stats.betainc(2.0, 3.0, 0.0) == 0.0 and stats.betainc(2.0, 3.0, 1.0) == 1.0


@pytest.mark.parametrize("df", DFS)
def test_t_symmetry_monotonicity_and_round_trip(df: float) -> None:
    grid = np.linspace(-6, 6, 49)
    sf = [stats.t_sf(t, df) for t in grid]
    assert all(a > b for a, b in zip(sf, sf[1:], strict=False)), "t_sf must decrease in t"
    for t in (0.3, 1.0, 2.0, 5.0):
        assert stats.t_sf(-t, df) == approx(1 - stats.t_sf(t, df), rel=1e-13)
    qs = np.linspace(0.01, 0.99, 41)
    ppf = [stats.t_ppf(q, df) for q in qs]
    assert all(a < b for a, b in zip(ppf, ppf[1:], strict=False)), "t_ppf must increase in q"
    for q in (0.6, 0.9, 0.975, 0.999):
        assert stats.t_ppf(1 - q, df) == approx(-stats.t_ppf(q, df), rel=1e-12)
    for t in (0.4, 1.5, 3.0, 5.0):
        assert stats.t_ppf(1 - stats.t_sf(t, df), df) == approx(t, rel=1e-9)
        assert stats.t_ppf(stats.t_sf(t, df), df) == approx(-t, rel=1e-9)
    assert stats.t_sf(math.inf, df) == 0.0 and stats.t_sf(-math.inf, df) == 1.0 and stats.t_sf(0.0, df) == 0.5


@pytest.mark.parametrize("df", [5, 30, 1000])
def test_t_ppf_small_lower_quantiles_keep_precision(sp, df: float) -> None:
    for q in (1e-10, 1e-12):
        assert stats.t_ppf(q, df) == approx(sp.t.ppf(q, df), rel=1e-9), q


def test_t_sf_tail_beyond_normal_switch(sp) -> None:
    # At df = 2e7 the t and normal tails differ by < 3e-4 relative up to t = 12, so a correctly
    # computed normal tail would pass at rtol 1e-3; NormalDist gives 1.8% off at t=8 and 0 at t=12.
    for t in (4.0, 8.0, 12.0):
        assert stats.t_sf(t, 2e7) == approx(sp.t.sf(t, 2e7), rel=1e-3), t


# --- normal (delta-method) intervals ----------------------------------------------------------------


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_unweighted_mean_interval_is_the_t_interval(sp, level: float) -> None:
    g = _rng(1)
    y = g.normal(size=57)
    p = y + g.normal(scale=0.7, size=57)
    r = lossctl.evaluate(y, p, "mse")
    se = (y - p) ** 2
    lo, hi = sp.t.interval(level, se.shape[0] - 1, loc=se.mean(), scale=sp.sem(se))
    iv = r.interval(level)
    assert (iv.method, iv.level) == ("normal", level)
    assert iv.low == approx(lo, rel=1e-10) and iv.high == approx(hi, rel=1e-10)
    assert iv.se == approx(sp.sem(se), rel=1e-10)


def test_weighted_mean_interval_is_the_delta_method(sp) -> None:
    g = _rng(2)
    y = g.normal(size=80)
    p = y + g.standard_t(3, size=80)
    w = g.uniform(0.2, 3.0, size=80)
    r = lossctl.evaluate(y, p, "mae", sample_weight=w)
    mid, lo, hi = _delta_interval(np.abs(p - y), w, 0.9, sp)
    iv = r.interval(0.9)
    assert r.cost == approx(mid, rel=1e-12)
    assert iv.low == approx(lo, rel=1e-10) and iv.high == approx(hi, rel=1e-10)


def test_weighted_interval_covers_the_true_mean() -> None:
    # Skewed values (gamma, mean 4.5), weights independent of them: the ratio estimates 4.5.
    covered = 0
    for s in range(400):
        g = _rng(2000 + s)
        x = g.gamma(3.0, 1.5, size=200)
        w = g.uniform(0.5, 2.0, size=200)
        iv = stats.interval(stats.Parts(w * x, w), 0.95)
        covered += iv.low <= 4.5 <= iv.high
    assert 0.92 <= covered / 400 <= 0.98


def test_rmse_interval_is_the_root_of_the_mse_interval(sp) -> None:
    g = _rng(3)
    y = g.normal(size=40)
    p = y + g.normal(size=40)
    se = (y - p) ** 2
    lo, hi = sp.t.interval(0.95, 39, loc=se.mean(), scale=sp.sem(se))
    iv = lossctl.evaluate(y, p, "rmse").interval(0.95)
    assert iv.low == approx(math.sqrt(max(lo, 0.0)), rel=1e-10)
    assert iv.high == approx(math.sqrt(hi), rel=1e-10)
    # A wide mse interval reaching below 0 is cut at 0 under the root, never NaN.
    tiny = lossctl.evaluate([0.0, 0.0, 0.0], [0.0, 0.0, 3.0], "rmse").interval(0.95)
    assert tiny.low == 0.0 and tiny.high > 3.0 / math.sqrt(3)


def test_normal_interval_stops_at_the_loss_floor(sp) -> None:
    # Losses 0, 0, 0, 0, 9: mean 1.8, and mean - t * sem < 0; a squared error cannot be negative.
    se = np.array([0.0, 0.0, 0.0, 0.0, 9.0])
    r = lossctl.evaluate(np.zeros(5), np.sqrt(se), "mse")
    lo, hi = sp.t.interval(0.95, 4, loc=se.mean(), scale=sp.sem(se))
    assert lo < 0
    iv = r.interval()
    assert iv.low == 0.0 and iv.high == approx(hi, rel=1e-10)
    # Without a floor (stats.interval on its own, or a loss that can be negative) it may go below 0.
    raw = stats.interval(stats.Parts(se, np.ones(5)), 0.95)
    assert raw.low == approx(lo, rel=1e-10)
    assert stats.interval(stats.Parts(se, np.ones(5)), 0.95, floor=0.0).low == 0.0
    assert lossctl.evaluate(np.zeros(5), np.sqrt(se), "mse").floor() == 0.0
    assert lossctl.evaluate(np.ones((3, 2)), np.ones((3, 2)), "cosine_similarity").floor() is None


def test_sum_interval_is_n_times_the_mean_interval(sp) -> None:
    g = _rng(4)
    y = g.normal(size=30)
    p = y + g.normal(size=30)
    ae = np.abs(y - p)
    r = lossctl.evaluate(y, p, "mae", reduction="sum")
    lo, hi = sp.t.interval(0.95, 29, loc=ae.mean(), scale=sp.sem(ae))
    iv = r.interval()
    assert r.cost == approx(ae.sum(), rel=1e-12)
    assert iv.low == approx(30 * lo, rel=1e-10) and iv.high == approx(30 * hi, rel=1e-10)


def test_element_mean_and_class_weight_divisors(sp) -> None:
    g = _rng(5)
    n, k = 60, 4
    y = g.integers(0, k, size=n)
    p = g.dirichlet(np.ones(k), size=n)
    ce = -np.log(p[np.arange(n), y])
    r = lossctl.evaluate(y, p, "cce", reduction="element_mean")
    iv = r.interval()
    lo, hi = sp.t.interval(0.95, n - 1, loc=ce.mean(), scale=sp.sem(ce))
    assert iv.low <= r.cost <= iv.high
    assert r.cost == approx(ce.mean() / k, rel=1e-12)
    assert iv.low == approx(lo / k, rel=1e-10) and iv.high == approx(hi / k, rel=1e-10)
    # Class weights: a weighted mean whose weights are the class weights.
    cw = np.array([1.0, 2.0, 0.5, 3.0])
    rc = lossctl.evaluate(y, p, "cce", class_weight=cw)
    mid, lo, hi = _delta_interval(ce, cw[y], 0.95, sp)
    ivc = rc.interval()
    assert rc.cost == approx(mid, rel=1e-12)
    assert ivc.low == approx(lo, rel=1e-10) and ivc.high == approx(hi, rel=1e-10)
    # Keras divides a class-weighted sum by the row count: the mean of w * loss, unweighted.
    rk = lossctl.evaluate(y, p, "cce", class_weight=cw, compat="keras", keep_per_sample=True)
    wl = cw[y] * rk.per_sample
    lo, hi = sp.t.interval(0.95, n - 1, loc=wl.mean(), scale=sp.sem(wl))
    ivk = rk.interval()
    assert rk.cost == approx(wl.mean(), rel=1e-6)
    assert ivk.low == approx(lo, rel=1e-6) and ivk.high == approx(hi, rel=1e-6)


# --- bootstrap ------------------------------------------------------------------------------------


def _gamma_parts(n: int, seed: int, weighted: bool = False) -> stats.Parts:
    g = _rng(seed)
    x = g.gamma(2.0, size=n)
    w = g.uniform(0.5, 2.0, size=n) if weighted else np.ones(n)
    return stats.Parts(w * x, w)


def test_bootstrap_is_seeded() -> None:
    p = _gamma_parts(300, 6, weighted=True)
    a = stats.bootstrap_costs([p], 200, 11)
    b = stats.bootstrap_costs([p], 200, 11)
    c = stats.bootstrap_costs([p], 200, 12)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    ia = stats.interval(p, 0.95, "bootstrap", replicates=200, seed=11)
    ib = stats.interval(p, 0.95, "bootstrap", replicates=200, seed=11)
    assert (ia.low, ia.high, ia.se) == (ib.low, ib.high, ib.se)
    assert (ia.replicates, ia.seed) == (200, 11)


@pytest.mark.parametrize("n", [3000, (1 << 17) + 5])
def test_bootstrap_does_not_depend_on_threads(n: int) -> None:
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread")
    p = _gamma_parts(n, 7, weighted=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = stats.bootstrap_costs([p, stats.Parts(p.v * 1.5, p.d)], 200, 5)
        numba.set_num_threads(2)
        two = stats.bootstrap_costs([p, stats.Parts(p.v * 1.5, p.d)], 200, 5)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("n", [400, (1 << 17) + 1])
def test_both_bootstrap_schemes_agree_with_the_normal_interval(n: int) -> None:
    from lossctl import _bootstrap

    p = _gamma_parts(n, 8)
    reps = 200
    costs = stats.bootstrap_costs([p], reps, 3)[:, 0]
    cost = p.cost()
    sd = float(np.std(costs, ddof=1))
    assert abs(costs.mean() - cost) < 4 * sd / math.sqrt(reps)
    normal = stats.interval(p, 0.95)
    boot = stats.interval(p, 0.95, "bootstrap", replicates=reps, seed=3)
    assert boot.high - boot.low == approx(normal.high - normal.low, rel=0.15)
    assert abs((boot.low + boot.high) / 2 - cost) < 0.15 * (normal.high - normal.low)
    assert boot.se == approx(normal.se, rel=0.15)
    # The scheme itself: with d = 1, the multinomial resample has exactly n rows; the Poisson one
    # n on average, with variance n.
    sums_v = np.empty((reps, 1))
    sums_d = np.empty(reps)
    scheme = _bootstrap.resampled_sums(np.ascontiguousarray(p.v[None, :]), np.ones(n), np.uint64(3), sums_v, sums_d)
    if n <= _bootstrap.MULTINOMIAL_MAX_ROWS:
        assert scheme == "multinomial"
        assert np.all(sums_d == n)
    else:
        assert scheme == "poisson"
        assert abs(sums_d.mean() - n) < 4 * math.sqrt(n / reps)
        assert float(np.std(sums_d, ddof=1)) == approx(math.sqrt(n), rel=0.2)


@pytest.mark.parametrize("n", [500, (1 << 17) + 3])
def test_bootstrap_row_counts_are_poisson_one(n: int) -> None:
    """How often one row enters a replicate: Binomial(n, 1/n) or Poisson(1), both ~ Poisson(1)."""
    from lossctl import _bootstrap

    rows = 20
    v = np.zeros((rows, n))
    v[np.arange(rows), np.arange(rows) * (n // rows)] = 1.0  # one indicator per "model"
    reps = 200
    sums_v = np.empty((reps, rows))
    sums_d = np.empty(reps)
    _bootstrap.resampled_sums(v, np.ones(n), np.uint64(9), sums_v, sums_d)
    counts = sums_v.ravel()
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    for k in range(4):
        want = math.exp(-1) / math.factorial(k)
        got = float(np.mean(counts == k))
        assert abs(got - want) < 4 * math.sqrt(want * (1 - want) / counts.size), k
    assert counts.mean() == approx(1.0, abs=4 / math.sqrt(counts.size))


@pytest.mark.parametrize("replicates", [50, 0, 99, 10**7, 1.5, "200"])
def test_bad_replicates_are_usage_errors(replicates) -> None:  # type: ignore[no-untyped-def]
    p = _gamma_parts(50, 1)
    with pytest.raises(UsageError, match="replicates"):
        stats.interval(p, 0.95, "bootstrap", replicates=replicates, seed=0)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5])
def test_bad_seeds_are_usage_errors(seed) -> None:  # type: ignore[no-untyped-def]
    p = _gamma_parts(50, 1)
    with pytest.raises(UsageError, match="seed"):
        stats.interval(p, 0.95, "bootstrap", replicates=100, seed=seed)


def _entry_with_replicates(where: str, replicates: int, tmp_path: Path):  # type: ignore[no-untyped-def]
    y = np.arange(30.0)
    p = y + np.sin(y)
    if where == "EvalResult.interval":
        return lossctl.evaluate(y, p, "mse").interval(method="bootstrap", replicates=replicates)
    if where == "compare":
        return compare(y, {"a": p, "b": p + 0.1}, "mse", method="bootstrap", replicates=replicates)
    path = tmp_path / "p.csv"
    pd.DataFrame({"y_true": y, "y_pred": p}).to_csv(path, index=False)
    return evaluate_files(str(path), MSE, {}, ci=0.95, ci_method="bootstrap", replicates=replicates)


@pytest.mark.parametrize("where", ["EvalResult.interval", "compare", "evaluate_files"])
def test_replicates_zero_is_refused_everywhere(where: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="replicates"):
        _entry_with_replicates(where, 0, tmp_path)


@pytest.mark.parametrize("where", ["EvalResult.interval", "compare", "evaluate_files"])
def test_replicates_50_is_refused_everywhere(where: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="replicates"):
        _entry_with_replicates(where, 50, tmp_path)


# --- degenerate inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["normal", "bootstrap"])
def test_degenerate_intervals(method: str) -> None:
    one = lossctl.evaluate([1.0], [2.0], "mse").interval(0.95, method, replicates=100)
    assert math.isnan(one.low) and math.isnan(one.high) and "at least 2 rows" in one.note

    inf = lossctl.evaluate([1.0, 0.0, 1.0], [0.0, 0.2, 0.9], "bce").interval(0.95, method, replicates=100)
    assert "not finite" in inf.note and math.isinf(inf.low) and math.isinf(inf.high)

    same = lossctl.evaluate([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], "mae").interval(0.95, method, replicates=100)
    assert same.low == same.high == 1.0 and same.se == 0.0


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, 95, "0.95"])
def test_levels_outside_zero_one_are_usage_errors(level) -> None:  # type: ignore[no-untyped-def]
    r = lossctl.evaluate([0.0, 1.0, 2.0], [0.5, 1.0, 2.5], "mse")
    with pytest.raises(UsageError, match="confidence level"):
        r.interval(level)
    with pytest.raises(UsageError):
        compare([0.0, 1.0, 2.0], {"a": [0.5, 1.0, 2.5], "b": [0.0, 1.0, 2.0]}, "mse", level=level)


def test_unknown_method_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="interval method"):
        lossctl.evaluate([0.0, 1.0], [0.5, 1.0], "mse").interval(0.95, "jackknife")


# --- paired comparisons, Holm ------------------------------------------------------------------------


def test_paired_normal_is_the_paired_t_test(sp) -> None:
    g = _rng(10)
    n = 90
    y = g.normal(size=n)
    pa = y + g.normal(scale=1.0, size=n)
    pb = y + g.normal(scale=1.2, size=n)
    c = compare(y, {"a": pa, "b": pb}, "mse", level=0.9)
    la, lb = (pa - y) ** 2, (pb - y) ** 2
    ref = sp.ttest_rel(lb, la)
    d = c.diffs[0]
    dd = lb - la
    half = sp.t.ppf(0.95, n - 1) * dd.std(ddof=1) / math.sqrt(n)
    assert d["test"] == "paired t-test" and d["candidate"] == "b" and d["baseline"] == "a"
    assert d["diff"] == approx(dd.mean(), rel=1e-12)
    assert d["p_value"] == approx(ref.pvalue, rel=1e-9)
    assert d["ci"]["low"] == approx(dd.mean() - half, rel=1e-10)
    assert d["ci"]["high"] == approx(dd.mean() + half, rel=1e-10)
    assert (d["rows_better"], d["rows_worse"], d["rows_tied"]) == (
        int(np.sum(lb < la)),
        int(np.sum(lb > la)),
        int(np.sum(lb == la)),
    )


def test_win_and_tie_counts_by_hand() -> None:
    y = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    a = [1.0, 2.0, 3.0, 1.0, 0.0, -2.0, 5.0]
    b = [2.0, 2.0, 1.0, -1.0, 0.5, 1.0, 4.0]  # |b| vs |a|: worse, tie, better, tie, worse, better, better
    d = compare(y, {"a": a, "b": b}, "mae").diffs[0]
    assert (d["rows_better"], d["rows_worse"], d["rows_tied"], d["n"]) == (3, 2, 2, 7)
    assert d["win_share"] == approx(3 / 7)


def test_paired_bootstrap_p_values() -> None:
    g = _rng(11)
    n = 300
    y = g.normal(size=n)
    pa = y + g.normal(scale=0.5, size=n)
    worse = compare(y, {"a": pa, "b": y + g.normal(scale=1.5, size=n)}, "mse", method="bootstrap", replicates=200)
    d = worse.diffs[0]
    assert d["test"] == "paired bootstrap" and d["diff"] > 0
    assert d["p_value"] < 0.02 and d["ci"]["low"] > 0 and d["significant"]
    # The same losses, swapped within pairs of rows: no difference at all, so p is large.
    la = g.gamma(2.0, size=n)
    lb = la.reshape(-1, 2)[:, ::-1].ravel()
    same = compare(np.zeros(n), {"a": la, "b": lb}, "mae", method="bootstrap", replicates=200)
    ds = same.diffs[0]
    assert ds["p_value"] > 0.5 and ds["ci"]["low"] < 0 < ds["ci"]["high"] and not ds["significant"]


def _holm_by_definition(p: list[float]) -> list[float]:
    """adj(i) = max over j with p_j <= p_i (sorted rank r_j) of min(1, (m - r_j) p_j)."""
    m = len(p)
    ranked = sorted(p)
    out = []
    for x in p:
        adj = max(min(1.0, (m - r) * ranked[r]) for r in range(m) if ranked[r] <= x)
        out.append(adj)
    return out


def test_holm_by_hand() -> None:
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.4]) == approx([0.8, 0.8])
    assert stats.holm([0.2]) == approx([0.2])
    assert stats.holm([]) == []
    g = _rng(12)
    for _ in range(50):
        p = list(g.uniform(0, 0.3, size=int(g.integers(2, 8))))
        assert stats.holm(p) == approx(_holm_by_definition(p), rel=1e-15)


def test_holm_keeps_nan_in_place() -> None:
    out = stats.holm([0.02, math.nan, 0.03, math.nan])
    assert math.isnan(out[1]) and math.isnan(out[3])
    assert out[0] >= 0.02 and out[2] >= 0.03 and out[0] <= out[2]


def test_holm_adjusts_over_the_tests_that_ran() -> None:
    out = stats.holm([0.02, math.nan, 0.03])
    assert out[0] == approx(0.04) and out[2] == approx(0.04) and math.isnan(out[1])


# --- group gaps and the overfitting verdict --------------------------------------------------------


def test_group_gap_is_welch(sp) -> None:
    g = _rng(13)
    a = g.gamma(2.0, size=70)
    b = g.gamma(2.0, 1.3, size=45)
    gap = stats.group_gap(stats.Parts(a, np.ones(70)), stats.Parts(b, np.ones(45)), 0.95)
    ref = sp.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert gap.gap == approx(b.mean() - a.mean(), rel=1e-12)
    assert gap.ratio == approx(b.mean() / a.mean(), rel=1e-12)
    assert gap.p_value == approx(ref.pvalue, rel=1e-9)
    assert gap.interval.low == approx(ci.low, rel=1e-9)
    assert gap.interval.high == approx(ci.high, rel=1e-9)


def _verdict(train: np.ndarray, held: np.ndarray) -> str:
    ta, hb = stats.Parts(train, np.ones(train.size)), stats.Parts(held, np.ones(held.size))
    gap = stats.group_gap(ta, hb)
    return stats.overfitting_verdict("train", "validation", gap, ta.cost(), hb.cost())


def test_overfitting_verdicts() -> None:
    g = _rng(14)
    train = g.gamma(2.0, 1.0, size=200)
    assert _verdict(train, g.gamma(2.0, 3.0, size=100)).startswith("strong overfitting")
    mild = _verdict(g.gamma(2.0, 1.0, size=3000), g.gamma(2.0, 1.25, size=2000))
    assert mild.startswith("mild overfitting") and "1.2" in mild
    assert _verdict(train, g.gamma(2.0, 1.0, size=100)).startswith("no significant gap")
    low = _verdict(train, g.gamma(2.0, 0.3, size=100))
    assert "leakage" in low and "overfitting:" not in low
    undefined = _verdict(train, np.array([1.0]))
    assert "no interval" in undefined


def test_group_gap_bootstrap_is_seeded_and_sensible() -> None:
    g = _rng(15)
    a = stats.Parts(g.gamma(2.0, size=150), np.ones(150))
    b = stats.Parts(g.gamma(2.0, 2.0, size=120), np.ones(120))
    one = stats.group_gap(a, b, 0.95, "bootstrap", replicates=200, seed=4)
    two = stats.group_gap(a, b, 0.95, "bootstrap", replicates=200, seed=4)
    normal = stats.group_gap(a, b, 0.95)
    assert (one.interval.low, one.interval.high, one.p_value) == (two.interval.low, two.interval.high, two.p_value)
    assert one.interval.low > 0 and one.p_value < 0.02
    width = normal.interval.high - normal.interval.low
    assert one.interval.high - one.interval.low == approx(width, rel=0.2)


def test_group_gap_bootstrap_accepts_the_largest_seed() -> None:
    a = stats.Parts(np.arange(10.0), np.ones(10))
    b = stats.Parts(np.arange(10.0) + 5, np.ones(10))
    assert stats.interval(a, 0.95, "bootstrap", replicates=100, seed=2**63 - 1).replicates == 100
    gap = stats.group_gap(a, b, 0.95, "bootstrap", replicates=100, seed=2**63 - 1)
    assert gap.interval.low <= gap.gap <= gap.interval.high


def test_split_pair() -> None:
    assert stats.split_pair(["Train", "Validation", "other"]) == ("Train", "Validation")
    assert stats.split_pair([" trn ", "test"]) == (" trn ", "test")
    assert stats.split_pair(["train", "val", "test"]) == ("train", "val")
    assert stats.split_pair(["train", "other"]) is None
    assert stats.split_pair(["a", "b"]) is None


# --- tail shares, worst rows, histograms ------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 37, 100, 1001])
def test_tail_shares_by_full_sort(n: int) -> None:
    v = _rng(n).pareto(1.5, size=n)
    out = stats.tail_shares(v)
    desc = np.sort(v)[::-1]
    for key, f in (("1%", 0.01), ("10%", 0.10)):
        m = max(1, -(-n * round(f * 100) // 100))  # ceil(f n) in integers
        assert out[key] == approx(desc[:m].sum() / v.sum(), rel=1e-12), key
    assert stats.tail_shares(v, (0.5,))["50%"] == approx(desc[: -(-n // 2)].sum() / v.sum(), rel=1e-12)


def test_tail_shares_without_meaning() -> None:
    assert stats.tail_shares(np.array([1.0, -0.5, 2.0])) == {"1%": None, "10%": None}
    assert stats.tail_shares(np.zeros(5)) == {"1%": None, "10%": None}
    assert stats.tail_shares(np.array([1.0, np.inf])) == {"1%": None, "10%": None}
    assert stats.tail_shares(np.array([1.0, np.nan])) == {"1%": None, "10%": None}
    assert stats.tail_shares(np.empty(0)) == {"1%": None, "10%": None}


def test_result_tail_shares_use_the_weighted_contributions() -> None:
    g = _rng(16)
    y = g.normal(size=200)
    p = y + g.standard_t(2, size=200)
    w = g.uniform(0.1, 5.0, size=200)
    r = lossctl.evaluate(y, p, "mse", sample_weight=w)
    v = w * (p - y) ** 2
    desc = np.sort(v)[::-1]
    shares = r.tail_shares()
    assert shares["1%"] == approx(desc[:2].sum() / v.sum(), rel=1e-10)
    assert shares["10%"] == approx(desc[:20].sum() / v.sum(), rel=1e-10)


def test_worst_rows_order_ties_and_nan() -> None:
    losses = np.array([1.0, 3.0, np.nan, 3.0, 0.0, 5.0, np.nan, 3.0, np.inf])
    assert stats.worst_rows(losses, 9).tolist() == [8, 5, 1, 3, 7, 0, 4, 2, 6]
    assert stats.worst_rows(losses, 3).tolist() == [8, 5, 1]
    assert stats.worst_rows(losses, 100).tolist() == [8, 5, 1, 3, 7, 0, 4, 2, 6]
    assert stats.worst_rows(losses, 0).size == 0
    r = lossctl.evaluate([0.0, 0.0, 0.0, 0.0], [1.0, -3.0, 3.0, 2.0], "mae")
    assert r.worst(2).tolist() == [1, 2]


def test_histogram_linear_log_zeros_and_constant() -> None:
    g = _rng(17)
    lin = g.normal(5.0, 1.0, size=500)
    h = stats.histogram(lin, bins=10)
    assert h["scale"] == "linear" and len(h["counts"]) == 10 and len(h["edges"]) == 11
    assert sum(h["counts"]) == 500 and h["n"] == 500 and h["nonfinite"] == 0
    assert h["edges"][0] == lin.min() and h["edges"][-1] == lin.max()
    assert h["counts"] == np.histogram(lin, bins=10)[0].tolist()

    heavy = np.concatenate([g.lognormal(0.0, 3.0, size=400), np.zeros(17), [np.inf, np.nan]])
    h = stats.histogram(heavy)
    assert h["scale"] == "log" and h["zeros"] == 17 and h["nonfinite"] == 2 and h["n"] == 419
    assert sum(h["counts"]) + h["zeros"] == 417
    edges = np.array(h["edges"])
    assert np.allclose(np.diff(np.log(edges)), np.log(edges[1] / edges[0]))  # equal ratios
    positive = heavy[np.isfinite(heavy) & (heavy > 0)]
    assert h["counts"] == np.histogram(positive, bins=edges)[0].tolist()

    # Negative values never use a log scale, whatever their spread.
    assert stats.histogram(np.array([-1.0, 1e-6, 1e4]))["scale"] == "linear"

    const = stats.histogram(np.full(9, 2.5))
    assert const["counts"] == [9] and const["edges"] == [2.5, 2.5]

    none = stats.histogram(np.array([np.nan, np.inf]))
    assert none["counts"] == [] and none["nonfinite"] == 2

    r = lossctl.evaluate(np.zeros(50), np.linspace(-1, 1, 50), "mae")
    hr = r.histogram(bins=5)
    assert sum(hr["counts"]) + hr["zeros"] == 50


# --- compare (arrays) --------------------------------------------------------------------------------


def test_compare_three_models(sp) -> None:
    g = _rng(18)
    n = 150
    y = g.normal(size=n)
    preds = {
        "base": y + g.normal(scale=1.0, size=n),
        "good": y + g.normal(scale=0.5, size=n),
        "bad": y + g.normal(scale=2.0, size=n),
    }
    c = compare(y, preds, "mse")
    assert c.loss == "mse" and c.n == n and c.method == "normal"
    names = [m["name"] for m in c.models]
    assert names == ["base", "good", "bad"]
    assert [m["baseline"] for m in c.models] == [True, False, False]
    costs = {k: float(np.mean((v - y) ** 2)) for k, v in preds.items()}
    for m in c.models:
        assert m["cost"] == approx(costs[m["name"]], rel=1e-12)
        assert m["ci"]["low"] < m["cost"] < m["ci"]["high"]
    by_cost = sorted(costs, key=costs.get)
    assert {m["name"]: m["rank"] for m in c.models} == {k: i + 1 for i, k in enumerate(by_cost)}
    assert [d["candidate"] for d in c.diffs] == ["good", "bad"]
    raw = [sp.ttest_rel((preds[k] - y) ** 2, (preds["base"] - y) ** 2).pvalue for k in ("good", "bad")]
    want = _holm_by_definition(raw)
    for d, p_raw, p_adj in zip(c.diffs, raw, want, strict=True):
        assert d["p_value"] == approx(p_raw, rel=1e-9)
        assert d["p_holm"] == approx(p_adj, rel=1e-9)
        assert d["significant"] == (p_adj < 0.05)
        if d["significant"]:  # a Holm-significant difference has an unadjusted CI without 0
            assert d["ci"]["low"] > 0 or d["ci"]["high"] < 0
    assert "better" in c.diffs[0]["verdict"] and "worse" in c.diffs[1]["verdict"]
    assert "Holm" in c.diffs[0]["verdict"]
    assert len(c.verdicts) == 2


def test_compare_two_models_significance_matches_the_interval() -> None:
    outcomes = set()
    for s in range(40):
        g = _rng(100 + s)
        y = g.normal(size=60)
        a = y + g.normal(scale=1.0, size=60)
        b = y + g.normal(scale=1.15, size=60)
        c = compare(y, {"a": a, "b": b}, "mse")
        d = c.diffs[0]
        assert d["p_holm"] is None
        excludes = d["ci"]["low"] > 0 or d["ci"]["high"] < 0
        assert d["significant"] == excludes == (d["p_value"] < 0.05)
        outcomes.add(d["significant"])
    assert outcomes == {True, False}


def test_compare_needs_two_models_and_same_weights() -> None:
    with pytest.raises(UsageError):
        compare([0.0, 1.0], {"a": [0.0, 1.0]}, "mse")
    from lossctl.comparison import compare_results

    y = np.arange(5.0)
    ra = lossctl.evaluate(y, y + 1, "mse", np.ones(5), keep_per_sample=True)
    rb = lossctl.evaluate(y, y + 2, "mse", np.arange(1.0, 6.0), keep_per_sample=True)
    with pytest.raises(InputError, match="weighted"):
        compare_results(["a", "b"], [ra, rb])


# --- compare_files --------------------------------------------------------------------------------


def _write(path: Path, **cols) -> str:  # type: ignore[no-untyped-def]
    pd.DataFrame(cols).to_csv(path, index=False)
    return str(path)


def _model_data(n: int = 80, seed: int = 19) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = _rng(seed)
    y = np.round(g.normal(10, 3, size=n), 3)
    return y, np.round(y + g.normal(scale=1.0, size=n), 6), np.round(y + g.normal(scale=1.6, size=n), 6)


def _same(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    for k in ("diff", "p_value", "rows_better", "rows_worse", "rows_tied", "n", "significant"):
        assert a[k] == approx(b[k], rel=1e-12), k
    assert a["ci"]["low"] == approx(b["ci"]["low"], rel=1e-12)
    assert a["ci"]["high"] == approx(b["ci"]["high"], rel=1e-12)


def test_compare_files_by_position(tmp_path: Path) -> None:
    y, a, b = _model_data()
    fa = _write(tmp_path / "base.csv", y_true=y, y_pred=a)
    fb = _write(tmp_path / "cand.csv", y_true=y, y_pred=b)
    rep = compare_files([fa, fb], MSE, {})
    direct = compare(y, {"base": a, "cand": b}, "mse")
    assert rep.rows == 80 and rep.unmatched == {} and rep.key is None
    c = rep.comparisons[0]
    assert [m["name"] for m in c.models] == ["base", "cand"] and c.models[0]["source"] == fa
    _same(c.diffs[0], direct.diffs[0])
    assert c.models[1]["cost"] == approx(float(np.mean((b - y) ** 2)), rel=1e-12)


def test_compare_files_by_key_with_shuffled_and_missing_rows(tmp_path: Path) -> None:
    y, a, b = _model_data()
    ids = np.arange(1000, 1080)
    fa = _write(tmp_path / "base.csv", id=ids[3:], y_true=y[3:], y_pred=a[3:])  # lacks 1000..1002
    perm = _rng(20).permutation(80)
    keep = perm[perm != 50][:-1]  # b lacks row 50 and one more
    lacks = sorted(set(range(80)) - set(keep.tolist()))
    fb = _write(tmp_path / "cand.csv", id=ids[keep], y_true=y[keep], y_pred=b[keep])
    rep = compare_files([fa, fb], MSE, {}, key="id")
    both = [i for i in range(3, 80) if i not in lacks]  # in the first file's order
    assert rep.rows == len(both) and rep.key == "id"
    assert rep.unmatched[fb]["rows"] == 3
    assert rep.unmatched[fa]["rows"] == len([i for i in lacks if i >= 3])
    assert sorted(rep.unmatched[fb]["examples"]) == ["1000", "1001", "1002"]
    direct = compare(y[both], {"base": a[both], "cand": b[both]}, "mse")
    _same(rep.comparisons[0].diffs[0], direct.diffs[0])
    assert rep.to_dict()["input"]["unmatched"][fb]["rows"] == 3


def test_compare_files_refuses_duplicate_keys(tmp_path: Path) -> None:
    fa = _write(tmp_path / "a.csv", id=[1, 2, 3, 3, 4], y_true=[1.0, 2, 3, 3, 4], y_pred=[1.1, 2.2, 2.9, 9.5, 4.4])
    fb = _write(tmp_path / "b.csv", id=[1, 2, 3, 4], y_true=[1.0, 2, 3, 4], y_pred=[1.0, 2.0, 3.5, 4.0])
    with pytest.raises(InputError, match="repeat|duplicate"):
        compare_files([fa, fb], MSE, {}, key="id")


def test_compare_files_label_disagreement_names_the_row(tmp_path: Path) -> None:
    y, a, b = _model_data(20)
    y2 = y.copy()
    y2[13] += 1.0
    fa = _write(tmp_path / "a.csv", y_true=y, y_pred=a)
    fb = _write(tmp_path / "b.csv", y_true=y2, y_pred=b)
    with pytest.raises(InputError, match=r"disagree on the label of row 13\b"):
        compare_files([fa, fb], MSE, {})
    ka = _write(tmp_path / "ka.csv", id=np.arange(500, 520), y_true=y, y_pred=a)
    kb = _write(tmp_path / "kb.csv", id=np.arange(500, 520)[::-1], y_true=y2[::-1], y_pred=b[::-1])
    with pytest.raises(InputError, match=r"disagree on the label of row 513\b"):
        compare_files([ka, kb], MSE, {}, key="id")


def test_compare_files_row_count_mismatch_and_usage(tmp_path: Path) -> None:
    y, a, b = _model_data(20)
    fa = _write(tmp_path / "a.csv", y_true=y, y_pred=a)
    fb = _write(tmp_path / "b.csv", y_true=y[:-1], y_pred=b[:-1])
    with pytest.raises(InputError, match="19 rows"):
        compare_files([fa, fb], MSE, {})
    with pytest.raises(UsageError):
        compare_files([fa], MSE, {})
    with pytest.raises(UsageError):
        compare_files([fa, fa], MSE, {})


def test_compare_files_nan_omit_uses_rows_kept_by_both(tmp_path: Path) -> None:
    y, a, b = _model_data(60)
    a_nan, b_nan = a.copy(), b.copy()
    a_nan[[4, 30]] = np.nan
    b_nan[[30, 41]] = np.nan
    fa = _write(tmp_path / "a.csv", y_true=y, y_pred=a_nan)
    fb = _write(tmp_path / "b.csv", y_true=y, y_pred=b_nan)
    with pytest.raises(InputError, match="NaN"):
        compare_files([fa, fb], MSE, {})
    rep = compare_files([fa, fb], MSE, {}, nan="omit")
    keep = np.setdiff1d(np.arange(60), [4, 30, 41])
    assert rep.rows == keep.size
    direct = compare(y[keep], {"a": a[keep], "b": b[keep]}, "mse")
    _same(rep.comparisons[0].diffs[0], direct.diffs[0])
    assert rep.comparisons[0].models[0]["cost"] == approx(float(np.mean((a[keep] - y[keep]) ** 2)))


def test_compare_files_fail_if_worse(tmp_path: Path) -> None:
    y, a, b = _model_data(200)
    fa = _write(tmp_path / "good.csv", y_true=y, y_pred=a)
    fb = _write(tmp_path / "bad.csv", y_true=y, y_pred=b)
    worse = compare_files([fa, fb], MSE, {}, fail_if_worse=True)
    assert worse.comparisons[0].diffs[0]["significant"] and worse.failed == ["mse: bad"]
    assert worse.to_dict()["gate"] == {"fail_if_worse": True, "failed": ["mse: bad"], "passed": False}
    better = compare_files([fb, fa], MSE, {}, fail_if_worse=True)
    assert better.comparisons[0].diffs[0]["significant"] and better.comparisons[0].diffs[0]["diff"] < 0
    assert better.failed == [] and better.to_dict()["gate"]["passed"] is True
    no_gate = compare_files([fa, fb], MSE, {})
    assert no_gate.failed == [] and "gate" not in no_gate.to_dict()


def test_compare_files_on_the_sample_models(sp) -> None:
    base, gbm = SAMPLES / "regression.csv", SAMPLES / "regression_gbm.csv"
    rep = compare_files([str(base), str(gbm)], MSE, {}, where=["split=validation"])
    da, db = pd.read_csv(base), pd.read_csv(gbm)
    keep = (da["split"] == "validation").to_numpy()
    assert np.array_equal(da["y_true"], db["y_true"])
    la = ((da["y_pred"] - da["y_true"]) ** 2).to_numpy()[keep]
    lb = ((db["y_pred"] - db["y_true"]) ** 2).to_numpy()[keep]
    c = rep.comparisons[0]
    d = c.diffs[0]
    assert rep.rows == c.n == int(keep.sum()) and rep.where[0] == "split=validation"
    assert c.models[0]["cost"] == approx(la.mean(), rel=1e-12)
    assert c.models[1]["cost"] == approx(lb.mean(), rel=1e-12)
    assert d["candidate"] == "regression_gbm" and d["diff"] == approx(lb.mean() - la.mean(), rel=1e-12)
    assert d["p_value"] == approx(sp.ttest_rel(lb, la).pvalue, rel=1e-9)
    assert d["significant"] and d["diff"] > 0 and "significantly worse" in d["verdict"]
    assert (d["rows_better"], d["rows_worse"]) == (int(np.sum(lb < la)), int(np.sum(lb > la)))
    assert [m["rank"] for m in c.models] == [1, 2]


# --- evaluate_files analyses -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gbm_frame() -> pd.DataFrame:
    df = pd.read_csv(SAMPLES / "regression_gbm.csv")
    return df.assign(se=(df["y_pred"] - df["y_true"]) ** 2)


def test_evaluate_files_groups_verdict_and_top(gbm_frame: pd.DataFrame, sp) -> None:
    rep = evaluate_files(str(SAMPLES / "regression_gbm.csv"), MSE, {}, group_by=["split"], top=5, ci=0.9)
    r = rep.results[0]
    means = gbm_frame.groupby("split")["se"].agg(["mean", "size", "sem"])
    groups = {g["group"]: g for g in r.extras["groups"]["split"]}
    assert set(groups) == set(means.index)
    for name, row in means.iterrows():
        assert groups[name]["cost"] == approx(row["mean"], rel=1e-12)
        assert groups[name]["n"] == row["size"]
        lo, hi = sp.t.interval(0.9, row["size"] - 1, loc=row["mean"], scale=row["sem"])
        assert groups[name]["ci"]["low"] == approx(lo, rel=1e-9)
        assert groups[name]["ci"]["high"] == approx(hi, rel=1e-9)
    (v,) = rep.overfitting
    assert (v["train"], v["held_out"], v["column"]) == ("train", "validation", "split")
    assert v["verdict"].startswith("strong overfitting") and v["gap"] > 0 and v["ci"]["low"] > 0
    tr = gbm_frame.loc[gbm_frame["split"] == "train", "se"]
    va = gbm_frame.loc[gbm_frame["split"] == "validation", "se"]
    assert v["p_value"] == approx(sp.ttest_ind(va, tr, equal_var=False).pvalue, rel=1e-9)
    se = gbm_frame["se"]
    lo, hi = sp.t.interval(0.9, len(se) - 1, loc=se.mean(), scale=sp.sem(se))
    assert r.extras["ci"]["low"] == approx(lo, rel=1e-9)
    top = r.extras["top"]
    want = se.sort_values(ascending=False, kind="stable").head(5)
    assert [t["row"] for t in top] == want.index.tolist()
    assert [t["loss"] for t in top] == approx(want.tolist(), rel=1e-12)
    assert [t["share"] for t in top] == approx((want / se.sum()).tolist(), rel=1e-12)
    assert top[0]["y_true"] == f"{gbm_frame['y_true'][want.index[0]]:.6g}"
    desc = np.sort(se.to_numpy())[::-1]
    n = len(se)
    assert r.extras["worst_share"]["10%"] == approx(desc[: -(-n // 10)].sum() / se.sum(), rel=1e-12)


def test_evaluate_files_where_keeps_original_row_numbers(gbm_frame: pd.DataFrame) -> None:
    path = str(SAMPLES / "regression_gbm.csv")
    rep = evaluate_files(path, MSE, {}, where=["split=validation"], top=3, histogram=True)
    sub = gbm_frame[gbm_frame["split"] == "validation"]
    r = rep.results[0]
    assert rep.rows == len(sub) and r.cost == approx(sub["se"].mean(), rel=1e-12)
    assert rep.where == ["split=validation", f"kept {len(sub)} of {len(gbm_frame)} rows"]
    assert [t["row"] for t in r.extras["top"]] == sub["se"].nlargest(3).index.tolist()
    h = r.extras["histogram"]
    assert sum(h["counts"]) + h["zeros"] == len(sub)
    neg = evaluate_files(path, MSE, {}, where=["split!=validation"])
    assert neg.results[0].cost == approx(gbm_frame.loc[gbm_frame["split"] != "validation", "se"].mean())


def test_evaluate_files_bootstrap_ci_is_seeded() -> None:
    path = str(SAMPLES / "regression_gbm.csv")
    kw = dict(ci=0.95, ci_method="bootstrap", replicates=200, group_by=["split"])
    a = evaluate_files(path, MSE, {}, seed=3, **kw)
    b = evaluate_files(path, MSE, {}, seed=3, **kw)
    c = evaluate_files(path, MSE, {}, seed=4, **kw)
    ca, cb, cc = (x.results[0].extras["ci"] for x in (a, b, c))
    assert ca == cb and ca != cc and ca["method"] == "bootstrap" and ca["replicates"] == 200
    assert ca["low"] < a.results[0].cost < ca["high"]
    assert a.overfitting[0]["verdict"].startswith("strong overfitting")


def test_evaluate_files_other_verdicts(tmp_path: Path) -> None:
    rep = evaluate_files(str(SAMPLES / "regression.csv"), MSE, {}, group_by=["split"])
    assert rep.overfitting[0]["verdict"].startswith("no significant gap")
    g = _rng(21)
    n = 300
    split = np.where(np.arange(n) % 3 == 0, "validation", "train")
    y = g.normal(size=n)
    p = y + np.where(split == "train", g.normal(scale=2.0, size=n), g.normal(scale=0.5, size=n))
    path = _write(tmp_path / "leak.csv", split=split, y_true=y, y_pred=p)
    leak = evaluate_files(path, MSE, {}, group_by=["split"])
    assert "leakage" in leak.overfitting[0]["verdict"] and leak.overfitting[0]["gap"] < 0


def test_evaluate_files_bad_where_and_group_by() -> None:
    path = str(SAMPLES / "regression_gbm.csv")
    with pytest.raises(InputError, match="has no value nope") as e:
        evaluate_files(path, MSE, {}, where=["split=nope"])
    assert "train" in str(e.value) and "validation" in str(e.value)
    # A typo among several values, or after !=, is refused too: it would keep every row silently.
    for bad in ("split=train,trian", "split!=trian"):
        with pytest.raises(InputError, match="has no value trian"):
            evaluate_files(path, MSE, {}, where=[bad])
    with pytest.raises(InputError, match="no_such_column"):
        evaluate_files(path, MSE, {}, group_by=["no_such_column"])
    with pytest.raises(InputError, match="no_such_column"):
        evaluate_files(path, MSE, {}, where=["no_such_column=1"])
    with pytest.raises(UsageError):
        evaluate_files(path, MSE, {}, where=["split"])
    with pytest.raises(UsageError):
        evaluate_files(path, MSE, {}, ci=1.5)
    with pytest.raises(UsageError):
        evaluate_files(path, MSE, {}, ci=0.9, ci_method="jackknife")


def test_group_intervals_equal_one_interval_per_group() -> None:
    rng = np.random.default_rng(11)
    n, k = 3000, 40
    group = rng.integers(0, k, n)
    v = rng.exponential(size=n)
    w = rng.choice([0.0, 0.5, 2.0], size=n)
    for root in (False, True):
        parts = stats.Parts(w * v, w, root)
        costs, ivs = stats.group_intervals(parts, group, k, 0.9, floor=0.0)
        for g in range(k):
            one = stats.interval(parts.subset(group == g), 0.9, floor=0.0)
            assert costs[g] == pytest.approx(parts.subset(group == g).cost(), rel=1e-12)
            assert ivs[g].low == pytest.approx(one.low, rel=1e-9, abs=0)
            assert ivs[g].high == pytest.approx(one.high, rel=1e-9, abs=0)
            assert ivs[g].se == pytest.approx(one.se, rel=1e-9, abs=0)


def test_zero_weight_rows_do_not_count_as_rows() -> None:
    v = np.array([1.0, 2.0, 0.0, 0.0, 0.0])
    d = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    iv = stats.interval(stats.Parts(v, d), 0.95)
    ref = stats.interval(stats.Parts(v[:2], d[:2]), 0.95)
    assert (iv.low, iv.high, iv.se) == (ref.low, ref.high, ref.se)
    one = stats.interval(stats.Parts(np.array([3.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0])))
    assert math.isnan(one.low) and "2 rows with weight" in one.note
    boot = stats.interval(stats.Parts(v, d), 0.95, "bootstrap", replicates=200)
    assert math.isfinite(boot.low) and math.isfinite(boot.high)


def test_overfitting_verdict_has_no_ratio_for_negative_costs() -> None:
    rng = np.random.default_rng(2)
    a = stats.Parts(rng.normal(-3.0, 0.1, 200), np.ones(200))
    b = stats.Parts(rng.normal(-2.0, 0.1, 200), np.ones(200))
    gap = stats.group_gap(a, b)
    assert math.isnan(gap.ratio)
    text = stats.overfitting_verdict("train", "validation", gap, a.cost(), b.cost())
    assert text.startswith("overfitting:") and "x the" not in text
