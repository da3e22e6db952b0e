"""Every loss, parametrised over the registry: worked examples, the independent reference across
dtypes, sizes, weights and parameters, domain boundaries, hard values and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lossctl
from lossctl.errors import InputError, UsageError
from lossctl.registry import CONVEX, NONNEGATIVE, SYMMETRIC, ZERO_AT_PERFECT, Pred, Task, registry
from lossctl.samples import K, default_params, draw, param_grid, perfect

LOSSES = list(registry())
ELEMENTWISE = [lo for lo in LOSSES if lo.task is not Task.MULTICLASS and not lo.pred_columns]
NAMED_COLUMNS = [lo for lo in LOSSES if lo.pred_columns]  # gaussian_nll (mean, var), margin_ranking (x1, x2)
MULTICLASS = [lo for lo in LOSSES if lo.task is Task.MULTICLASS]
RTOL = 1e-12


def ids(losses):  # type: ignore[no-untyped-def]
    return [lo.name for lo in losses]


def assert_close(actual, expected, rtol=RTOL):  # type: ignore[no-untyped-def]
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    same_inf = np.isinf(expected) & (actual == expected)
    np.testing.assert_allclose(
        np.where(same_inf, 0.0, actual), np.where(same_inf, 0.0, expected), rtol=rtol, atol=1e-300
    )


# --- worked examples -------------------------------------------------------------------------


EXAMPLES = [(lo, i, ex) for lo in LOSSES for i, ex in enumerate(lo.examples)]


@pytest.mark.parametrize("lo, i, ex", EXAMPLES, ids=[f"{lo.name}-{i}" for lo, i, _ in EXAMPLES])
def test_worked_example(lo, i, ex):  # type: ignore[no-untyped-def]
    params = {**default_params(lo), **ex.params}
    y = [ex.y_true]
    p = [ex.y_pred]
    got = lossctl.evaluate(y, p, lo, reduction="none", **params).per_sample
    assert_close(got, [ex.expected])
    ref = lo.reference(np.asarray(y), np.asarray(p, dtype=float), **params)
    assert_close(ref, [ex.expected])


# --- kernel against the independent reference ------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 1024, 5000])
@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_matches_reference(lo, n):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(n)
    yt, yp = draw(lo, rng, n)
    for params in param_grid(lo):
        ref = lo.reference(yt, yp, **params)
        r = lossctl.evaluate(yt, yp, lo, keep_per_sample=True, **params)
        assert_close(r.per_sample, ref)
        assert r.n == n
        assert r.cost == pytest.approx(lo_cost(lo, ref), rel=RTOL)
        # The cost-only pass (no per-sample output) gives the same cost.
        assert lossctl.evaluate(yt, yp, lo, **params).cost == pytest.approx(r.cost, rel=RTOL)


def lo_cost(lo, ref, w=None):  # type: ignore[no-untyped-def]
    w = np.ones_like(ref) if w is None else w
    mean = math.fsum(w * ref) / math.fsum(w)
    return math.sqrt(mean) if lo.cost == "sqrt_mean" else mean


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_weights(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    n = 3000
    yt, yp = draw(lo, rng, n)
    w = rng.random(n) * 3.0
    w[::7] = 0.0
    ref = lo.reference(yt, yp, **default_params(lo))
    for keep in (False, True):
        r = lossctl.evaluate(yt, yp, lo, sample_weight=w, keep_per_sample=keep)
        assert r.cost == pytest.approx(lo_cost(lo, ref, w), rel=RTOL)
        assert r.weight_sum == pytest.approx(math.fsum(w), rel=RTOL)
    # Integer weights are a repeat count: weight 2 is the row twice.
    w2 = rng.integers(0, 3, n)
    assume_rows = np.repeat(np.arange(n), w2)
    r = lossctl.evaluate(yt, yp, lo, sample_weight=w2)
    rep = lossctl.evaluate(yt[assume_rows], yp[assume_rows], lo)
    assert r.cost == pytest.approx(rep.cost, rel=1e-11)


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_float32_inputs_accumulate_in_float64(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    yt, yp = draw(lo, rng, 2000)
    yp32 = yp.astype(np.float32)
    if lo.pred_rows_sum_to_one:
        yp32 = yp32 / yp32.sum(axis=1, keepdims=True, dtype=np.float32)
    yt32 = yt.astype(np.float32) if yt.dtype.kind == "f" else yt
    r = lossctl.evaluate(yt32, yp32, lo, keep_per_sample=True)
    # The exact answer for the float32 values as given, computed in float64.
    y64 = yt32.astype(np.float64) if yt32.dtype.kind == "f" else yt32
    ref = lo.reference(y64, yp32.astype(np.float64), **default_params(lo))
    assert_close(r.per_sample, ref)
    assert r.per_sample.dtype == np.float64


@pytest.mark.parametrize("lo", MULTICLASS, ids=ids(MULTICLASS))
def test_label_distributions(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    yt, yp = draw(lo, rng, 1500, dist_labels=True)
    assert_close(lossctl.evaluate(yt, yp, lo, reduction="none").per_sample, lo.reference(yt, yp))
    # One-hot rows give the same losses as class ids.
    ids_ = rng.integers(0, K, 1500)
    one_hot = np.eye(K)[ids_]
    a = lossctl.evaluate(ids_, yp, lo, reduction="none").per_sample
    b = lossctl.evaluate(one_hot, yp, lo, reduction="none").per_sample
    assert_close(a, b)


# --- reductions and empty input ---------------------------------------------------------------


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_reductions(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    yt, yp = draw(lo, rng, 100)
    ref = lo.reference(yt, yp, **default_params(lo))
    none = lossctl.evaluate(yt, yp, lo, reduction="none")
    assert none.cost is None
    assert_close(none.per_sample, ref)
    if lo.cost == "sqrt_mean":
        with pytest.raises(UsageError, match="root of a mean"):
            lossctl.evaluate(yt, yp, lo, reduction="sum")
    else:
        assert lossctl.evaluate(yt, yp, lo, reduction="sum").cost == pytest.approx(math.fsum(ref), rel=RTOL)


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_empty_input(lo):  # type: ignore[no-untyped-def]
    yt, yp = draw(lo, np.random.default_rng(0), 0)
    with pytest.raises(InputError, match="no rows"):
        lossctl.evaluate(yt, yp, lo)
    assert lossctl.evaluate(yt, yp, lo, reduction="none").per_sample.shape == (0,)
    if lo.cost != "sqrt_mean":
        assert lossctl.evaluate(yt, yp, lo, reduction="sum").cost == 0.0


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_all_zero_weights_refused(lo):  # type: ignore[no-untyped-def]
    yt, yp = draw(lo, np.random.default_rng(0), 10)
    with pytest.raises(InputError, match="weights sum to 0"):
        lossctl.evaluate(yt, yp, lo, sample_weight=np.zeros(10))


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_weights_refused(bad):  # type: ignore[no-untyped-def]
    w = np.ones(5)
    w[3] = bad
    with pytest.raises(InputError, match="row 3"):
        lossctl.evaluate(np.zeros(5), np.ones(5), "mse", sample_weight=w)


# --- domains: values either side of every boundary --------------------------------------------


def _boundary_cases():  # type: ignore[no-untyped-def]
    cases = []
    for lo in ELEMENTWISE:
        for which in ("y_true", "y_pred"):
            inside, outside = getattr(lo, which).boundary_points()
            cases += [(lo, which, v, True) for v in inside]
            cases += [(lo, which, v, False) for v in outside]
    return cases


BOUNDARY = _boundary_cases()


@pytest.mark.parametrize(
    "lo, which, value, ok", BOUNDARY, ids=[f"{lo.name}-{w}-{v!r}-{'in' if ok else 'out'}" for lo, w, v, ok in BOUNDARY]
)
def test_domain_boundaries(lo, which, value, ok):  # type: ignore[no-untyped-def]
    yt, yp = draw(lo, np.random.default_rng(5), 3)
    arr = yt if which == "y_true" else yp
    arr[1] = value
    if ok:
        r = lossctl.evaluate(yt, yp, lo, reduction="none")
        assert not np.isnan(r.per_sample).any()
        assert (r.per_sample >= 0).all() or NONNEGATIVE not in lo.properties
    else:
        with pytest.raises(InputError, match=f"{which} at row 1") as e:
            lossctl.evaluate(yt, yp, lo)
        assert ("NaN" in str(e.value)) == math.isnan(value)


def _column_boundary_cases():  # type: ignore[no-untyped-def]
    cases = []
    for lo in NAMED_COLUMNS:
        for j, domain in enumerate(lo.y_pred):
            inside, outside = domain.boundary_points()
            cases += [(lo, j, v, True) for v in inside] + [(lo, j, v, False) for v in outside]
    return cases


COLUMN_BOUNDARY = _column_boundary_cases()


@pytest.mark.parametrize(
    "lo, j, value, ok",
    COLUMN_BOUNDARY,
    ids=[f"{lo.name}-{j}-{v!r}-{'in' if ok else 'out'}" for lo, j, v, ok in COLUMN_BOUNDARY],
)
def test_named_column_boundaries(lo, j, value, ok):  # type: ignore[no-untyped-def]
    yt, yp = draw(lo, np.random.default_rng(5), 3)
    yp[1, j] = value
    params = {"eps": 1e-6} if "eps" in lo.param_names else {}  # a zero variance needs a floor
    if ok:
        r = lossctl.evaluate(yt, yp, lo, reduction="none", **params)
        assert not np.isnan(r.per_sample).any()
    else:
        role = lo.pred_columns[j][0]
        with pytest.raises(InputError, match=rf"y_pred \({role}\) at row 1"):
            lossctl.evaluate(yt, yp, lo, **params)


@pytest.mark.parametrize("lo", MULTICLASS, ids=ids(MULTICLASS))
def test_multiclass_domains(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(6)
    yt, yp = draw(lo, rng, 4)
    for bad_id in (-1, K, 1.5, math.nan):
        y = yt.astype(float)
        y[2] = bad_id
        with pytest.raises(InputError, match="row 2"):
            lossctl.evaluate(y, yp, lo)
    for edge in (0, K - 1):  # class ids at both ends of the range
        y = yt.copy()
        y[0] = edge
        assert lossctl.evaluate(y, yp, lo, reduction="none").per_sample[0] == pytest.approx(
            lo.reference(y[:1], yp[:1])[0], rel=RTOL
        )
    with pytest.raises(InputError, match="K >= 2"):
        lossctl.evaluate(yt, yp[:, 0], lo)
    bad = yp.copy()
    bad[3, 1] = math.nan
    with pytest.raises(InputError, match="row 3, class 1 is NaN"):
        lossctl.evaluate(yt, bad, lo)
    if lo.pred_rows_sum_to_one:
        bad = yp.copy()
        bad[1] *= 0.9
        with pytest.raises(InputError, match="row 1 sums to"):
            lossctl.evaluate(yt, bad, lo)
        bad = yp.copy()
        bad[0, 0] = -0.1
        with pytest.raises(InputError, match="outside"):
            lossctl.evaluate(yt, bad, lo)
    soft = np.full((4, K), 1.0 / K)
    soft[2] = 0.5
    if lo.label_rows_are_distributions:
        with pytest.raises(InputError, match="y_true at row 2 sums to"):
            lossctl.evaluate(soft, yp, lo)
    if lo.hard_labels:
        with pytest.raises(InputError, match="not a one-hot row"):
            lossctl.evaluate(np.full((4, K), 1.0 / K), yp, lo)


def test_length_mismatch():  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="3 rows but y_pred has 2"):
        lossctl.evaluate([1.0, 2.0, 3.0], [1.0, 2.0], "mse")


def test_non_numeric_refused():  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="non-numeric"):
        lossctl.evaluate(["a", "b"], [1.0, 2.0], "mse")


# --- hard values ------------------------------------------------------------------------------


HUGE = [1e4, -1e4, 1e300, -1e300, 5e-324, -5e-324, 0.0, 1.0]


@pytest.mark.parametrize("lo", ELEMENTWISE, ids=ids(ELEMENTWISE))
def test_hard_values_match_reference(lo):  # type: ignore[no-untyped-def]
    inside_t, _ = lo.y_true.boundary_points()
    inside_p, _ = lo.y_pred.boundary_points()
    ys = [v for v in {*inside_t, *HUGE, 0.5} if lo.y_true.contains(v)]
    ps = [v for v in {*inside_p, *HUGE, 0.5, 1 - 1e-16, 1e-300} if lo.y_pred.contains(v)]
    yt = np.repeat(np.asarray(ys, dtype=float), len(ps))
    yp = np.tile(np.asarray(ps, dtype=float), len(ys))
    with np.errstate(all="ignore"):
        ref = lo.reference(yt, yp, **default_params(lo))
    got = lossctl.evaluate(yt, yp, lo, reduction="none").per_sample
    # Overflowing residuals (1e300 - -1e300) are inf in both; NaN appears in neither.
    assert not np.isnan(got).any()
    assert_close(got, ref)


def test_softmax_ce_huge_and_masked_logits():  # type: ignore[no-untyped-def]
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0], [-math.inf, 0.0, 0.0], [-1e4, -1e4, -1e4]])
    got = lossctl.evaluate([0, 0, 1, 2], x, "softmax_ce", reduction="none").per_sample
    assert_close(got, [0.0, math.log(2.0), math.log(2.0), math.log(3.0)])
    with pytest.raises(InputError, match="outside"):
        lossctl.evaluate([0], [[math.inf, 0.0]], "softmax_ce")
    with pytest.raises(InputError, match="undefined"):
        lossctl.evaluate([0], [[-math.inf, -math.inf]], "softmax_ce")


def test_bce_does_not_clip_unless_asked():  # type: ignore[no-untyped-def]
    assert lossctl.evaluate([1.0], [0.0], "bce").cost == math.inf
    assert lossctl.evaluate([0.0], [0.0], "bce").cost == 0.0
    clipped = lossctl.evaluate([1.0, 0.0], [0.0, 1.0], "bce", eps=1e-7).cost
    # Both rows clipped like Keras: p = 0 -> 1e-7 and p = 1 -> 1 - 1e-7.
    assert clipped == pytest.approx(-0.5 * (math.log(1e-7) + math.log1p(-(1 - 1e-7))), rel=1e-12)


# --- properties -------------------------------------------------------------------------------


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def _valid(lo, which, v):  # type: ignore[no-untyped-def]
    return getattr(lo, which).contains(v)


def _one(lo, y, p):  # type: ignore[no-untyped-def]
    return float(lossctl.evaluate([y], [p], lo, reduction="none").per_sample[0])


@pytest.mark.parametrize("lo", ELEMENTWISE, ids=ids(ELEMENTWISE))
@settings(max_examples=60, deadline=None)
@given(y=finite, p=finite, q=finite)
def test_properties(lo, y, p, q):  # type: ignore[no-untyped-def]
    if lo.task is Task.BINARY:
        y = 1.0 if y > 0 else (0.0 if lo.prediction is not Pred.SCORE or y > -1e5 else -1.0)
    if lo.prediction is Pred.PROBABILITY:
        p, q = abs(p) / (1 + abs(p)), abs(q) / (1 + abs(q))
    # Fold draws into half-line domains instead of filtering them out.
    if getattr(lo.y_true, "low", None) == 0.0 and lo.task is Task.REGRESSION:
        y = abs(y) or (0.0 if lo.y_true.low_closed else 1.0)
    if getattr(lo.y_pred, "low", None) == 0.0 and lo.prediction is Pred.VALUE:
        p, q = (abs(v) or (0.0 if lo.y_pred.low_closed else 1.0) for v in (p, q))
    assume(_valid(lo, "y_true", y) and _valid(lo, "y_pred", p) and _valid(lo, "y_pred", q))
    lp = _one(lo, y, p)
    if NONNEGATIVE in lo.properties:
        assert lp >= 0.0
    if ZERO_AT_PERFECT in lo.properties and _valid(lo, "y_pred", perfect(lo, y)):
        assert _one(lo, y, perfect(lo, y)) == 0.0
    if SYMMETRIC in lo.properties:
        mirror = y - (p - y)
        if math.isfinite(mirror) and abs(mirror) < 1e6:
            assert _one(lo, y, mirror) == pytest.approx(lp, rel=1e-9, abs=1e-12)
    if CONVEX in lo.properties and math.isfinite(lp):
        mid = 0.5 * (p + q)
        lq = _one(lo, y, q)
        chord = 0.5 * (lp + lq)
        assert _one(lo, y, mid) <= chord + 1e-9 * abs(chord) + 1e-12


@pytest.mark.parametrize("lo", MULTICLASS, ids=ids(MULTICLASS))
def test_multiclass_properties(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    yt, yp = draw(lo, rng, 500)
    ls = lossctl.evaluate(yt, yp, lo, reduction="none").per_sample
    if NONNEGATIVE in lo.properties:
        assert (ls >= 0).all()
    if ZERO_AT_PERFECT in lo.properties:
        assert (lossctl.evaluate(yt, np.eye(K)[yt], lo, reduction="none").per_sample == 0).all()
    # Relabelling the classes (permuting columns and ids together) changes nothing.
    perm = rng.permutation(K)
    inverse = np.argsort(perm)
    permuted = lossctl.evaluate(inverse[yt], yp[:, perm], lo, reduction="none").per_sample
    assert_close(permuted, ls)


@pytest.mark.parametrize("lo", LOSSES, ids=ids(LOSSES))
def test_row_order_does_not_change_cost(lo):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(8)
    yt, yp = draw(lo, rng, 4000)
    order = rng.permutation(4000)
    a = lossctl.evaluate(yt, yp, lo).cost
    b = lossctl.evaluate(yt[order], yp[order], lo).cost
    assert a == pytest.approx(b, rel=1e-13)


# --- accuracy beside classification losses ----------------------------------------------------


def test_accuracy():  # type: ignore[no-untyped-def]
    y = np.array([1, 0, 1, 0])
    assert lossctl.evaluate(y, [0.9, 0.2, 0.4, 0.6], "bce").accuracy == 0.5
    assert lossctl.evaluate(y, [2.0, -1.0, 3.0, -0.5], "bce_logits").accuracy == 1.0
    assert lossctl.evaluate(y, [2.0, -1.0, -3.0, -0.5], "hinge", sample_weight=[1, 1, 2, 0]).accuracy == 0.5
    assert lossctl.evaluate([0.0], [1.0], "mse").accuracy is None
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
    assert lossctl.evaluate([0, 1], p, "cce").accuracy == 0.5
    assert lossctl.evaluate([[1, 0, 0], [0, 0, 1]], p, "cce").accuracy == 1.0
