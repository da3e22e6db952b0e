"""lossctl.advice: recommend() picks the loss the data calls for, with evidence; eval_warnings()
flags classic mistakes and stays silent on clean data."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lossctl
from lossctl.advice import Recommendation, eval_warnings, recommend
from lossctl.errors import InputError
from lossctl.registry import get_loss, registry

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_data"


def primary(rec: Recommendation) -> list[str]:
    return [a.loss for a in rec.advice if a.primary]


def alternatives(rec: Recommendation) -> list[str]:
    return [a.loss for a in rec.advice if not a.primary]


def advice_for(rec: Recommendation, loss: str) -> Any:
    found = [a for a in rec.advice if a.loss == loss]
    assert found, f"{loss} not advised: {[a.loss for a in rec.advice]}"
    return found[0]


def evidence(rec: Recommendation, name: str) -> Any:
    found = [e for e in rec.evidence if e.name == name]
    assert found, f"no {name} evidence: {[e.name for e in rec.evidence]}"
    return found[0]


def sig3(x: float) -> float:
    return float(f"{x:.3g}")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def skewness(a: np.ndarray) -> float:
    d = a - a.mean()
    return float(np.mean(d**3) / np.mean(d**2) ** 1.5)


# --- recommend: regression --------------------------------------------------------------------


def test_gaussian_residuals_give_mse() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10.0, 3.0, 2000)
    rec = recommend(y, y + rng.normal(0.0, 1.0, 2000))
    assert (rec.task, rec.label_kind, rec.prediction_kind) == ("regression", "continuous", "values")
    assert primary(rec) == ["mse"]
    assert "mae" in alternatives(rec)
    assert evidence(rec, "outliers").value["count"] == 0
    assert evidence(rec, "tail").value["share"] < 0.2


def test_outliers_give_huber_with_the_classic_delta() -> None:
    rng = np.random.default_rng(2)
    n = 1000
    y = rng.normal(0.0, 5.0, n)
    r = rng.normal(0.0, 2.0, n)
    r[:30] += rng.choice([-1.0, 1.0], 30) * rng.uniform(50.0, 100.0, 30)
    pred = y + r
    rec = recommend(y, pred)
    res = pred - y
    mad = np.median(np.abs(res - np.median(res)))
    delta = 1.345 * 1.4826 * mad
    expected_outliers = int((np.abs(res - np.median(res)) > 5 * 1.4826 * mad).sum())
    assert expected_outliers >= 30
    huber = advice_for(rec, "huber")
    assert huber.primary and primary(rec) == ["huber"]
    assert huber.params["delta"] == pytest.approx(delta, rel=1e-12)
    assert huber.command == f"--loss huber -p delta={delta:.4g}"
    assert "1.345" in huber.reason and "95%" in huber.reason
    pseudo = advice_for(rec, "pseudo_huber")
    assert not pseudo.primary and pseudo.params["delta"] == pytest.approx(delta, rel=1e-12)
    out = evidence(rec, "outliers")
    assert out.value["count"] == expected_outliers
    assert f"{expected_outliers} residuals" in out.text
    sq = np.sort(res**2)[::-1]
    assert evidence(rec, "tail").value["share"] == pytest.approx(sq[:10].sum() / sq.sum())


def test_heavy_tail_without_5_sigma_outliers_still_gives_huber() -> None:
    # The worst 1% carry far more than 20% of sum(r^2), even though the 5-sigma rule is not met.
    n = 1000
    r = np.zeros(n)
    r[:500] = np.linspace(-1.0, 1.0, 500)
    r[500:] = np.linspace(-1.0, 1.0, 500)
    r[:10] = 4.5 * 1.4826 * np.median(np.abs(r - np.median(r)))
    rec = recommend(np.zeros(n) + 0.5, 0.5 + r)
    assert evidence(rec, "outliers").value["count"] == 0
    assert evidence(rec, "tail").value["share"] >= 0.2
    assert primary(rec) == ["huber"]


def test_zero_mad_falls_back_to_std() -> None:
    y = np.arange(40, dtype=float) + 0.5
    pred = y.copy()
    pred[:3] += [1.0, -2.0, 3.0]
    rec = recommend(y, pred)
    scale = evidence(rec, "residual_scale")
    assert scale.value["method"] == "std"
    assert scale.value["sigma"] == pytest.approx(np.std(pred - y))
    assert any("MAD is 0" in n for n in rec.notes)


def test_integer_targets_with_large_values_are_continuous() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(25, 350, 500).astype(float)
    rec = recommend(y, y + rng.normal(0, 10, 500))
    assert rec.task == "regression"
    assert any("whole numbers" in n for n in rec.notes)


# --- recommend: counts and positive targets ---------------------------------------------------


def test_counts_with_rates_give_poisson() -> None:
    rng = np.random.default_rng(4)
    mu = rng.uniform(0.5, 4.0, 3000)
    y = rng.poisson(mu).astype(float)
    rec = recommend(y, mu)
    assert (rec.task, rec.label_kind) == ("counts", "counts")
    assert primary(rec) == ["poisson"]
    assert evidence(rec, "pearson_dispersion").value["value"] == pytest.approx(1.0, abs=0.15)
    assert "tweedie" not in [a.loss for a in rec.advice]


def test_counts_without_predictions_give_poisson_with_a_note() -> None:
    rng = np.random.default_rng(5)
    rec = recommend(rng.poisson(1.5, 500))
    assert rec.task == "counts" and rec.prediction_kind == "none"
    assert primary(rec) == ["poisson"]
    assert "poisson_log" in alternatives(rec)
    assert "predictions not given: advice from the labels alone" in rec.notes


def test_negative_log_rates_give_poisson_log() -> None:
    rng = np.random.default_rng(6)
    log_mu = rng.normal(-0.5, 0.7, 2000)
    y = rng.poisson(np.exp(log_mu)).astype(float)
    rec = recommend(y, log_mu)
    assert rec.task == "counts"
    assert primary(rec) == ["poisson_log"]
    assert "negative" in evidence(rec, "log_rates").text
    assert "poisson" not in [a.loss for a in rec.advice]


def test_positive_log_rates_are_recognised_by_their_means() -> None:
    rng = np.random.default_rng(7)
    log_mu = rng.uniform(1.0, 2.5, 2000)  # rates 2.7..12, log-rates all positive
    y = rng.poisson(np.exp(log_mu)).astype(float)
    assert primary(recommend(y, log_mu)) == ["poisson_log"]
    assert primary(recommend(y, np.exp(log_mu))) == ["poisson"]


def test_overdispersed_counts_mention_tweedie() -> None:
    rng = np.random.default_rng(8)
    mu = np.full(3000, 3.0)
    y = rng.negative_binomial(1, 1 / (1 + mu)).astype(float)  # mean 3, variance 12
    rec = recommend(y, mu)
    assert primary(rec) == ["poisson"]
    disp = evidence(rec, "pearson_dispersion").value["value"]
    assert disp > 1.5
    assert "over-dispersed" in advice_for(rec, "poisson").reason
    assert advice_for(rec, "tweedie").params == {"power": 1.5}
    assert evidence(rec, "dispersion").value["var_over_mean"] == pytest.approx(y.var() / y.mean())


def test_zero_inflated_positive_gives_tweedie() -> None:
    rng = np.random.default_rng(9)
    n = 2000
    y = np.where(rng.random(n) < 0.35, 0.0, rng.gamma(2.0, 5.0, n))
    rec = recommend(y, np.full(n, y.mean()))
    assert rec.task == "positive"
    tw = advice_for(rec, "tweedie")
    assert tw.primary and tw.params == {"power": 1.5}
    assert tw.command == "--loss tweedie -p power=1.5"
    share = float(np.mean(y == 0))
    assert evidence(rec, "zero_inflation").value["zero_share"] == pytest.approx(share)
    assert f"{100 * share:.1f}%" in evidence(rec, "zeros").text


def test_skewed_positive_gives_msle_and_gamma_deviance() -> None:
    rng = np.random.default_rng(10)
    y = rng.lognormal(3.0, 1.0, 2000)
    rec = recommend(y, y * rng.lognormal(0.0, 0.2, 2000))
    assert rec.task == "positive"
    assert primary(rec) == ["msle"]
    assert "gamma_deviance" in alternatives(rec)
    skew = evidence(rec, "skew")
    assert skew.value["skew"] == pytest.approx(skewness(y))
    assert skew.value["log_skew"] == pytest.approx(skewness(np.log(y)))
    assert f"{skewness(y):.4g}" in skew.text


def test_skewed_positive_with_inadmissible_predictions_falls_back() -> None:
    rng = np.random.default_rng(11)
    y = rng.lognormal(1.0, 1.0, 500)
    pred = y + rng.normal(0.0, 1.0, 500) - 3.0  # many values <= -1: msle and gamma_deviance cannot run
    rec = recommend(y, pred)
    assert rec.task == "regression"
    assert primary(rec)[0] in ("mse", "huber")
    assert any(n.startswith("msle would suit") for n in rec.notes)
    assert any(n.startswith("gamma_deviance would suit") for n in rec.notes)


# --- recommend: binary ------------------------------------------------------------------------


def binary_data(rng: np.random.Generator, n: int, pos_share: float) -> tuple[np.ndarray, np.ndarray]:
    y = (rng.random(n) < pos_share).astype(float)
    logit = (2 * y - 1) * 1.5 + rng.normal(0.0, 1.5, n)
    return y, logit


def test_balanced_binary_probabilities_and_logits() -> None:
    rng = np.random.default_rng(12)
    y, logit = binary_data(rng, 1000, 0.5)
    rec = recommend(y, 1 / (1 + np.exp(-logit)))
    assert (rec.task, rec.label_kind, rec.prediction_kind) == ("binary", "binary01", "probabilities")
    assert primary(rec) == ["bce"] and advice_for(rec, "bce").class_weight is None
    assert "focal" not in [a.loss for a in rec.advice]
    rec = recommend(y, logit)
    assert rec.prediction_kind == "logits"
    assert primary(rec) == ["bce_logits"]
    assert "hinge" in alternatives(rec)


def test_imbalanced_binary_gives_inverse_frequency_class_weights_and_focal() -> None:
    rng = np.random.default_rng(13)
    y, logit = binary_data(rng, 2000, 0.08)
    n1 = int(y.sum())
    n0 = y.size - n1
    weights = [sig3(y.size / (2 * n0)), sig3(y.size / (2 * n1))]
    rec = recommend(y, 1 / (1 + np.exp(-logit)))
    bce = advice_for(rec, "bce")
    assert bce.primary and bce.class_weight == weights
    assert bce.command == f"--loss bce --class-weight {weights[0]:g},{weights[1]:g}"
    focal = advice_for(rec, "focal")
    assert not focal.primary
    assert focal.params == {"gamma": 2.0, "alpha": sig3(n0 / y.size)}
    imb = evidence(rec, "imbalance")
    assert imb.value["ratio"] == pytest.approx(n0 / n1)
    assert f"{n0 / n1:.4g}" in imb.text
    assert f"{n1} ones, {n0} zeros" in evidence(rec, "label_values").text
    rec = recommend(y, logit)
    assert advice_for(rec, "bce_logits").class_weight == weights
    assert advice_for(rec, "focal_logits").params == {"gamma": 2.0, "alpha": sig3(n0 / y.size)}


def test_imbalance_threshold_is_three_to_one() -> None:
    y = np.array([1.0] * 25 + [0.0] * 75)  # exactly 3:1
    assert advice_for(recommend(y, np.full(100, 0.3)), "bce").class_weight == [sig3(100 / 150), 2.0]
    y = np.array([1.0] * 26 + [0.0] * 74)  # 2.85:1
    assert advice_for(recommend(y, np.full(100, 0.3)), "bce").class_weight is None


def test_pm1_labels_with_signed_scores() -> None:
    rng = np.random.default_rng(14)
    y01, logit = binary_data(rng, 500, 0.5)
    rec = recommend(2 * y01 - 1, logit)
    assert (rec.label_kind, rec.prediction_kind) == ("binary_pm1", "scores")
    assert primary(rec) == ["soft_margin"]
    assert "hinge" in alternatives(rec)
    assert "bce" not in [a.loss for a in rec.advice]


def test_pm1_labels_with_probabilities_say_how_to_map() -> None:
    rec = recommend([-1.0, 1.0, 1.0, -1.0], [0.2, 0.9, 0.6, 0.4])
    assert rec.advice == []
    assert any("map -1 to 0" in n for n in rec.notes)


# --- recommend: multiclass --------------------------------------------------------------------


def multiclass_data(rng: np.random.Generator, counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    k = len(counts)
    y = np.repeat(np.arange(k), counts)
    rng.shuffle(y)
    logits = rng.normal(0.0, 1.0, (y.size, k))
    logits[np.arange(y.size), y] += 2.0
    return y.astype(float), logits


def test_multiclass_logits_probabilities_and_log_probabilities() -> None:
    rng = np.random.default_rng(15)
    y, logits = multiclass_data(rng, [200, 210, 190, 205])
    rec = recommend(y, logits)
    assert (rec.task, rec.label_kind, rec.prediction_kind) == ("multiclass", "class_ids", "class_logits")
    assert primary(rec) == ["softmax_ce"]
    rec = recommend(y, softmax(logits))
    assert rec.prediction_kind == "class_probabilities"
    assert primary(rec) == ["cce"]
    rec = recommend(y, np.log(softmax(logits)))
    assert rec.prediction_kind == "class_log_probabilities"
    assert primary(rec) == ["nll"]


def test_imbalanced_multiclass_gives_per_class_weights() -> None:
    rng = np.random.default_rng(16)
    counts = [600, 300, 60, 40]
    y, logits = multiclass_data(rng, counts)
    n = sum(counts)
    weights = [sig3(n / (4 * c)) for c in counts]
    rec = recommend(y, softmax(logits))
    cce = advice_for(rec, "cce")
    assert cce.primary and cce.class_weight == weights
    assert cce.command.endswith("--class-weight " + ",".join(f"{w:g}" for w in weights))
    focal = advice_for(rec, "categorical_focal")
    assert focal.params == {"gamma": 2.0} and focal.class_weight == weights
    assert evidence(rec, "imbalance").value["ratio"] == pytest.approx(15.0)
    assert "600, 300, 60, 40" in evidence(rec, "label_values").text
    assert advice_for(recommend(y, logits), "softmax_ce").class_weight == weights


def test_one_hot_soft_and_multi_hot_labels() -> None:
    rng = np.random.default_rng(17)
    y, logits = multiclass_data(rng, [50, 50, 50])
    one_hot = np.eye(3)[y.astype(int)]
    rec = recommend(one_hot, softmax(logits))
    assert (rec.task, rec.label_kind) == ("multiclass", "one_hot")
    assert primary(rec) == ["cce"]
    assert primary(recommend(one_hot, logits)) == ["softmax_ce"]
    soft = 0.8 * one_hot + 0.2 / 3
    rec = recommend(soft, softmax(logits))
    assert rec.label_kind == "distribution"
    assert primary(rec) == ["cce"] and "kl_div" in alternatives(rec)
    multi = (rng.random((150, 3)) < 0.4).astype(float)
    multi[0] = [1.0, 1.0, 0.0]
    rec = recommend(multi, rng.random((150, 3)))
    assert rec.label_kind == "multi_hot"
    assert primary(rec) == ["dice"]
    rec = recommend(one_hot)
    assert rec.prediction_kind == "none" and primary(rec) == ["cce"]


# --- recommend: degenerate input ---------------------------------------------------------------


@pytest.mark.parametrize("y_true", [[], np.empty(0), np.empty((0, 3))])
def test_empty_input_raises_input_error(y_true: Any) -> None:
    with pytest.raises(InputError, match="empty"):
        recommend(y_true)


def test_misaligned_or_impossible_input_raises_input_error() -> None:
    with pytest.raises(InputError, match="3 rows but y_pred has 2"):
        recommend([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(InputError, match="class ids 0..2"):
        recommend([0.0, 1.0, 5.0], softmax(np.zeros((3, 3))))
    with pytest.raises(InputError, match="NaN or infinite"):
        recommend([math.nan, math.inf], [1.0, 2.0])


@pytest.mark.parametrize(
    "y_true, y_pred",
    [
        ([3.7], None),
        ([3.7], [2.0]),
        ([1.0], [0.9]),
        ([2.0], [[0.1, 0.2, 0.7]]),
        ([5.5] * 50, None),
        ([5.5] * 50, list(np.linspace(4, 7, 50))),
        ([0.0] * 30, [0.1] * 30),
        ([4.0] * 30, [4.0] * 30),
    ],
)
def test_single_row_and_constant_input_do_not_crash(y_true: Any, y_pred: Any) -> None:
    rec = recommend(y_true, y_pred)
    assert rec.advice and rec.advice[0].primary
    json.dumps(rec.to_dict())
    if len(y_true) > 1:
        assert evidence(rec, "constant").value == y_true[0]


def test_nan_and_inf_rows_are_reported_and_left_out() -> None:
    rng = np.random.default_rng(18)
    y = rng.normal(size=200)
    pred = y + rng.normal(0, 0.5, 200)
    y[[3, 7]] = np.nan
    pred[11] = np.inf
    rec = recommend(y, pred)
    bad = evidence(rec, "nonfinite")
    assert bad.value == {"rows": 3, "share": 3 / 200}
    assert "3 of 200 rows" in bad.text
    assert evidence(rec, "rows").value == 197
    assert any("197 finite rows" in n for n in rec.notes)
    assert primary(rec) == ["mse"]


def test_masked_class_logits_are_kept() -> None:
    logits = np.array([[2.0, -np.inf, 0.5], [0.1, 1.0, -1.0], [-np.inf, 0.0, 3.0]])
    rec = recommend([0.0, 1.0, 2.0], logits)
    assert evidence(rec, "rows").value == 3
    assert primary(rec) == ["softmax_ce"]


# --- recommend: every advice is a registered loss with declared params and runs on the rows ----


def random_case(rng: np.random.Generator) -> tuple[Any, Any]:
    n = int(rng.choice([1, 2, 5, 40, 300]))
    kind = rng.integers(0, 11)
    k = int(rng.integers(2, 6))
    if kind == 0:
        y = rng.normal(rng.normal(0, 50), rng.uniform(0.1, 20), n)
        return y, y + rng.standard_t(rng.uniform(1, 10), n)
    if kind == 1:
        return rng.poisson(rng.uniform(0.1, 8), n).astype(float), rng.uniform(0, 6, n)
    if kind == 2:
        return rng.poisson(rng.uniform(0.1, 8), n).astype(float), rng.normal(0, 1.5, n)
    if kind == 3:
        y = np.where(rng.random(n) < 0.3, 0.0, rng.gamma(1.5, 2.0, n))
        return y, rng.uniform(0.01, 5.0, n)
    if kind == 4:
        y = rng.lognormal(0, 1.5, n)
        return y, y * rng.lognormal(0, 0.3, n)
    if kind == 5:
        y = (rng.random(n) < rng.uniform(0.01, 0.99)).astype(float)
        return y, rng.random(n) if rng.random() < 0.5 else rng.normal(0, 3, n)
    if kind == 6:
        return np.sign(rng.normal(size=n)), rng.normal(size=n)
    if kind == 7:
        y = rng.integers(0, k, n).astype(float)
        logits = rng.normal(0, 2, (n, k))
        return y, [logits, softmax(logits), np.log(softmax(logits))][int(rng.integers(0, 3))]
    if kind == 8:
        t = rng.dirichlet(np.ones(k), n)
        return t, softmax(rng.normal(size=(n, k)))
    if kind == 9:
        y = rng.normal(size=n)
        y[rng.random(n) < 0.2] = np.nan
        return y, None
    y = rng.integers(0, 2, n).astype(float)
    return y, None


@pytest.mark.parametrize("seed", range(150))
def test_every_advice_is_a_registered_loss_that_runs_on_the_rows(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    y_true, y_pred = random_case(rng)
    try:
        rec = recommend(y_true, y_pred)
    except InputError:  # only when every row is NaN
        assert np.isnan(np.asarray(y_true)).all()
        return
    names = set(registry().names())
    assert rec.task in ("regression", "counts", "positive", "binary", "multiclass")
    json.dumps(rec.to_dict())
    assert [a.primary for a in rec.advice] == sorted((a.primary for a in rec.advice), reverse=True)
    for a in rec.advice:
        assert a.loss in names
        declared = get_loss(a.loss).param_names
        assert set(a.params) <= set(declared), (a.loss, a.params)
        assert a.command.startswith(f"--loss {a.loss}")
        if y_pred is not None:
            yt = np.asarray(y_true, dtype=float)
            yp = np.asarray(y_pred, dtype=float)
            result = lossctl.evaluate(yt, yp, a.loss, class_weight=a.class_weight, **a.params)
            assert result.n == len(yt)


# --- recommend: the sample files --------------------------------------------------------------


def test_sample_regression() -> None:
    d = pd.read_csv(SAMPLES / "regression.csv")
    rec = recommend(d["y_true"], d["y_pred"])
    assert rec.task == "regression"
    assert primary(rec) == ["mse"]
    assert evidence(rec, "rows").value == len(d)


def test_sample_binary() -> None:
    d = pd.read_csv(SAMPLES / "binary.csv")
    ones = int(d["y_true"].sum())
    rec = recommend(d["y_true"], d["y_pred"])
    assert (rec.task, rec.prediction_kind) == ("binary", "probabilities")
    assert primary(rec) == ["bce"]
    assert f"labels are 0/1 in {len(d)} rows ({ones} ones, {len(d) - ones} zeros" in evidence(rec, "label_values").text
    rec = recommend(d["y_true"], d["logit"])
    assert (rec.prediction_kind, primary(rec)) == ("logits", ["bce_logits"])


def test_sample_multiclass() -> None:
    d = pd.read_csv(SAMPLES / "multiclass.csv")
    probs = d[[f"p_{i}" for i in range(10)]]
    logits = d[[f"logit_{i}" for i in range(10)]]
    rec = recommend(d["label"], probs)
    assert (rec.task, rec.label_kind, rec.prediction_kind) == ("multiclass", "class_ids", "class_probabilities")
    assert primary(rec) == ["cce"]
    assert evidence(rec, "label_values").value["classes"] == 10
    rec = recommend(d["label"], logits)
    assert (rec.prediction_kind, primary(rec)) == ("class_logits", ["softmax_ce"])


# --- eval_warnings ----------------------------------------------------------------------------


def test_regression_loss_on_01_labels() -> None:
    y = np.tile([0.0, 1.0, 1.0, 0.0, 1.0], 4)
    p = np.tile([0.1, 0.8, 0.6, 0.3, 0.9], 4)
    assert eval_warnings(get_loss("mse"), y[:5], p[:5]) == []  # too few rows to say
    (w,) = eval_warnings(get_loss("mse"), y, p)
    assert "labels are all 0/1 (20 rows" in w and "Brier score" in w and "--loss bce" in w and "bce_logits" in w
    (w,) = eval_warnings(get_loss("mae"), y, p)
    assert "Brier" not in w and "binary classification" in w
    assert eval_warnings(get_loss("brier"), y, p) == []
    assert eval_warnings(get_loss("poisson"), y, p) == []
    assert eval_warnings(get_loss("mse"), np.zeros(5), p) == []  # one class only
    assert eval_warnings(get_loss("mse"), np.array([0.0, 1.0, 2.0]), p[:3]) == []
    assert eval_warnings(get_loss("mse"), np.array([1.0]), np.array([0.5])) == []


def test_logit_losses_given_probabilities() -> None:
    rng = np.random.default_rng(20)
    y = (rng.random(100) < 0.5).astype(float)
    probs = rng.random(100)
    (w,) = eval_warnings(get_loss("bce_logits"), y, probs)
    assert "look like probabilities, not logits" in w and "--loss bce" in w and "100 predictions" in w
    (w,) = eval_warnings(get_loss("focal_logits"), y, probs)
    assert "--loss focal" in w
    assert eval_warnings(get_loss("bce_logits"), y, rng.normal(0, 2, 100)) == []
    assert eval_warnings(get_loss("bce"), y, probs) == []
    logits = rng.normal(0, 2, (100, 4))
    (w,) = eval_warnings(get_loss("softmax_ce"), y, softmax(logits))
    assert "sum to 1" in w and "--loss cce" in w
    assert eval_warnings(get_loss("softmax_ce"), y, logits) == []
    # rows in [0, 1] that do not sum to 1 are not probabilities
    assert eval_warnings(get_loss("softmax_ce"), y, rng.random((100, 4))) == []


def test_hinge_on_probabilities_or_hard_predictions() -> None:
    rng = np.random.default_rng(21)
    y = np.sign(rng.normal(size=50))
    (w,) = eval_warnings(get_loss("hinge"), y, rng.random(50))
    assert "look like probabilities" in w and "signed scores" in w
    (w,) = eval_warnings(get_loss("squared_hinge"), y, (y > 0).astype(float))
    assert "hard 0/1 predictions" in w
    assert eval_warnings(get_loss("hinge"), y, rng.normal(0, 2, 50)) == []
    assert eval_warnings(get_loss("hinge"), y, y) == []  # -1/+1 decisions are signed
    labels = rng.integers(0, 3, 50).astype(float)
    (w,) = eval_warnings(get_loss("multiclass_hinge"), labels, softmax(rng.normal(size=(50, 3))))
    assert "prediction rows" in w and "--loss cce" in w
    assert eval_warnings(get_loss("multiclass_hinge"), labels, rng.normal(size=(50, 3))) == []


def test_squared_error_dominated_by_outliers() -> None:
    rng = np.random.default_rng(22)
    n = 1000
    y = rng.normal(size=n)
    p = y + rng.normal(0, 1, n)
    assert eval_warnings(get_loss("mse"), y, p) == []
    p[:5] += 300.0
    r = p - y
    delta = 1.345 * 1.4826 * np.median(np.abs(r - np.median(r)))
    contrib = np.sort(r**2)[::-1]
    share = contrib[:10].sum() / contrib.sum()
    (w,) = eval_warnings(get_loss("mse"), y, p)
    assert f"worst 10 of {n} rows" in w
    assert f"{100 * share:.1f}%" in w
    assert f"-p delta={delta:.4g}" in w and "--loss mae" in w
    assert len(eval_warnings(get_loss("rmse"), y, p)) == 1
    assert eval_warnings(get_loss("mae"), y, p) == []
    # weights that drop the outlier rows remove the warning
    wts = np.ones(n)
    wts[:5] = 0.0
    assert eval_warnings(get_loss("mse"), y, p, weights=wts) == []
    # per-sample losses given by the caller are what is measured
    flat = np.ones(n)
    assert eval_warnings(get_loss("mse"), y, p, per_sample=flat) == []
    # too few rows to judge
    assert eval_warnings(get_loss("mse"), y[:10], p[:10]) == []


def test_outliers_of_a_large_input_are_judged_on_an_evenly_spaced_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above OUTLIER_SAMPLE_ROWS rows the tail share and the MAD come from every k-th row (the full
    partition and medians cost ten times the loss at 10^7 rows); the message says so."""
    from lossctl import advice

    monkeypatch.setattr(advice, "OUTLIER_SAMPLE_ROWS", 1000)
    rng = np.random.default_rng(24)
    n = 4000
    y = rng.normal(size=n)
    p = y + rng.normal(0, 1, n)
    p[::400] += 300.0  # every 400th row: 10 of them, all in the every-4th-row sample
    r = (p - y)[::4]
    delta = 1.345 * 1.4826 * np.median(np.abs(r - np.median(r)))
    contrib = np.sort(r**2)[::-1]
    share = contrib[:10].sum() / contrib.sum()
    (w,) = eval_warnings(get_loss("mse"), y, p, weights=np.ones(n))
    assert "in an evenly spaced sample of 1000 of the 4000 rows" in w
    assert f"about {100 * share:.1f}%" in w and f"-p delta={delta:.4g}" in w
    p2 = y + rng.normal(0, 1, n)
    p2[1::400] += 300.0  # outliers the sample does not see: no claim about them
    assert eval_warnings(get_loss("mse"), y, p2) == []


def test_warnings_ignore_nan_rows() -> None:
    rng = np.random.default_rng(23)
    y = rng.normal(size=200)
    p = y + rng.normal(0, 1, 200)
    p[0] += 1e4
    y[5] = np.nan
    p[9] = np.inf
    per = (p - y) ** 2
    for name in ("mse", "rmse", "huber", "bce_logits", "hinge"):
        eval_warnings(get_loss(name), y, p, per_sample=per)
    (w,) = eval_warnings(get_loss("mse"), y, p, per_sample=per)
    assert "of 198 rows" in w
    yb = np.tile([0.0, 1.0, np.nan, 1.0], 6)
    (w,) = eval_warnings(get_loss("mse"), yb, np.tile([0.2, 0.7, 0.5, np.nan], 6))
    assert "(18 rows" in w


def test_no_warnings_on_clean_data() -> None:
    rng = np.random.default_rng(24)
    y = rng.normal(size=500)
    yb = (rng.random(500) < 0.5).astype(float)
    logits = rng.normal(0, 2, 500)
    for name in ("mse", "rmse", "mae", "huber", "log_cosh"):
        assert eval_warnings(get_loss(name), y, y + rng.normal(size=500)) == []
    assert eval_warnings(get_loss("bce"), yb, 1 / (1 + np.exp(-logits))) == []
    assert eval_warnings(get_loss("bce_logits"), yb, logits) == []
    assert eval_warnings(get_loss("hinge"), 2 * yb - 1, logits) == []
    labels = rng.integers(0, 5, 500).astype(float)
    z = rng.normal(size=(500, 5))
    assert eval_warnings(get_loss("cce"), labels, softmax(z)) == []
    assert eval_warnings(get_loss("softmax_ce"), labels, z) == []
