"""Advice on choosing a loss, and warnings about classic mistakes when evaluating one.

:func:`recommend` inspects labels (and predictions, when given) and says which lossctl loss fits
them, with the measurements behind it: the task (continuous targets, counts, positive skewed
targets, binary or multiclass labels), the kind of predictions (values, probabilities, logits,
scores), class imbalance, outliers and heavy tails in the residuals, skew, zeros and
over-dispersion. Every loss it advises is a registered loss whose declared domains admit the
given (finite) rows, so its ``command`` runs on them.

:func:`eval_warnings` looks at the inputs of one evaluation and returns one-line warnings about
mistakes that do not make the loss fail but make its number mean something else: a regression
loss on 0/1 labels, probabilities given to a loss that takes logits, probabilities or hard 0/1
predictions given to a hinge loss, and a squared error dominated by a few outliers.

The thresholds are module constants, each with its reason beside it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lossctl.errors import InputError
from lossctl.registry import Loss, Pred, Task, get_loss

# --- thresholds -------------------------------------------------------------------------------

# Majority/minority class count from which class weights and focal losses are advised. Below 3:1 a
# plain cross-entropy is well behaved; at 3:1 and beyond the minority class is a small share of the
# gradient (<= 25%) and accuracy-like summaries start to hide it.
IMBALANCE_RATIO = 3.0
# Huber's tuning constant: delta = 1.345 sigma keeps 95% efficiency at Gaussian residuals while
# bounding the influence of outliers.
HUBER_K = 1.345
# 1 / Phi^-1(3/4): turns the median absolute deviation into a standard deviation for normal data.
MAD_TO_SIGMA = 1.4826
# A residual this many robust sigmas from the median is an outlier (Gaussian: 5.7e-7 per row).
OUTLIER_SIGMAS = 5.0
# "The worst 1% of rows" (at least one row).
TAIL_FRACTION = 0.01
# recommend: the worst 1% carrying this share of sum(r^2) is a heavy tail. For Gaussian residuals
# the worst 1% carry about 8.5%; 20% is well beyond that. Only from TAIL_MIN_ROWS rows, where the
# worst 1% is not a single noisy row.
TAIL_SHARE = 0.20
TAIL_MIN_ROWS = 100
# eval_warnings: the worst 1% carrying half of the summed loss. With 20 rows that is one row holding
# as much as the other 19 (a Gaussian residual beyond 4.4 sigma: 2.6e-4 chance in 20 rows).
WARN_TAIL_SHARE = 0.50
WARN_MIN_ROWS = 20
# Sample skewness from which positive targets count as right-skewed (|g1| > 1: "highly skewed").
SKEW_LIMIT = 1.0
# Share of exact zeros that makes non-negative continuous targets zero-inflated (tweedie).
ZERO_SHARE = 0.10
# Variance/mean (or the Pearson dispersion, given rates) above which counts are over-dispersed.
# Poisson has 1; 1.5 leaves room for sampling noise.
OVERDISPERSION = 1.5
# Whole-number labels with no zeros are read as counts only when their median is at most this;
# larger whole numbers (scores, prices, ages) are treated as continuous.
COUNT_MEDIAN_MAX = 10.0
# Probability rows must sum to 1 within this (as lossctl's own check).
ROW_SUM_TOL = 1e-3
# Tweedie power advised for zero-inflated positive targets: the middle of the compound
# Poisson-gamma range 1 < power < 2 (lossctl's default).
TWEEDIE_POWER = 1.5
FOCAL_GAMMA = 2.0  # the focal-loss paper's choice

# Regression losses for which 0/1 labels are legitimate counts (no "binary" warning).
COUNT_LOSSES = frozenset({"poisson", "poisson_log", "poisson_deviance", "tweedie"})
SQUARED_LOSSES = frozenset({"mse", "rmse"})


# --- results ----------------------------------------------------------------------------------


@dataclass
class Evidence:
    """One observation used for the advice."""

    name: str  # short id: "task", "label_values", "pred_range", "imbalance", "outliers", ...
    value: Any  # the measured number(s), JSON-able
    text: str  # one sentence with the numbers


@dataclass
class Advice:
    """One recommendation."""

    loss: str  # a registered loss name
    params: dict[str, float]
    reason: str
    command: str  # lossctl eval options, e.g. "--loss huber -p delta=23.4"
    primary: bool
    class_weight: list[float] | None = None  # one per class, as --class-weight takes them


@dataclass
class Recommendation:
    task: str  # "regression", "counts", "positive", "binary", "multiclass"
    # "continuous", "counts", "binary01", "binary_pm1", "class_ids", "one_hot", "distribution",
    # and for (n, K) label rows that are not distributions: "multi_hot" (0/1) or "vectors"
    label_kind: str
    # "values", "probabilities", "logits", "scores", "class_probabilities", "class_logits",
    # "class_log_probabilities", "none"
    prediction_kind: str
    evidence: list[Evidence] = field(default_factory=list)
    advice: list[Advice] = field(default_factory=list)  # primary first
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able dict (floats may be inf or nan)."""
        out: dict[str, Any] = _plain(dataclasses.asdict(self))
        return out


# --- small helpers ----------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """NumPy scalars and arrays, tuples and nested containers as plain Python values."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def _g(x: float) -> str:
    """A number in 4 significant digits."""
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _sig3(x: float) -> float:
    """Rounded to 3 significant digits."""
    return float(f"{x:.3g}")


def _skew(a: np.ndarray) -> float:
    """Sample skewness m3 / m2^1.5 (NaN for fewer than 3 rows or constant values)."""
    if a.size < 3:
        return math.nan
    d = a - a.mean()
    m2 = float(np.mean(d * d))
    if not m2 > 0:
        return math.nan
    return float(np.mean(d * d * d) / m2**1.5)


# Above this many rows the outlier check looks at an evenly spaced sample of about this size: a
# full partition and two medians of 10^7 rows took ten times the loss itself.
OUTLIER_SAMPLE_ROWS = 1 << 20


def _tail_share(contrib: np.ndarray) -> tuple[float, int]:
    """Share of sum(contrib) carried by the worst TAIL_FRACTION of rows, and how many rows that is."""
    n = contrib.size
    k = max(1, math.ceil(TAIL_FRACTION * n))
    total = float(contrib.sum())
    if n == 0 or not total > 0:
        return 0.0, k
    top = float(np.partition(contrib, n - k)[n - k :].sum())
    return top / total, k


def _robust_sigma(r: np.ndarray) -> tuple[float, float, str]:
    """(sigma, MAD, method): 1.4826 MAD, else the standard deviation when the MAD is 0, else 0."""
    mad = float(np.median(np.abs(r - np.median(r))))
    if mad > 0:
        return MAD_TO_SIGMA * mad, mad, "mad"
    sd = float(r.std())
    return (sd, mad, "std") if sd > 0 else (0.0, mad, "none")


def inverse_frequency_weights(counts: Any) -> list[float]:
    """n / (K n_c) per class, rounded to 3 significant digits; 1 for a class with no rows."""
    c = np.asarray(counts, dtype=np.float64)
    n, k = float(c.sum()), c.size
    return [_sig3(n / (k * x)) if x > 0 else 1.0 for x in c]


def _command(loss: str, params: dict[str, float], class_weight: list[float] | None) -> str:
    parts = [f"--loss {loss}"]
    parts += [f"-p {k}={_g(v)}" for k, v in params.items()]
    if class_weight:
        parts.append("--class-weight " + ",".join(f"{w:g}" for w in class_weight))
    return " ".join(parts)


def _as_array(x: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} is not numeric; give numbers") from None
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim > 2:
        raise InputError(f"{what} has {a.ndim} dimensions; give one value or one row per sample")
    return a


# --- recommend --------------------------------------------------------------------------------


def recommend(y_true: Any, y_pred: Any = None) -> Recommendation:
    """Which loss fits these labels (and predictions), with the evidence and the lossctl options.

    ``y_true`` is (n,) labels or (n, K) one-hot rows / label distributions; ``y_pred`` is None,
    (n,) or (n, K). Rows holding NaN or infinite values are reported and left out (an -inf class
    score is kept: a masked class or log 0). Raises :class:`lossctl.errors.InputError` for empty
    input, rows that are not aligned, or class ids that do not fit the K prediction columns.
    """
    yt = _as_array(y_true, "y_true")
    yp = None if y_pred is None else _as_array(y_pred, "y_pred")
    n_in = yt.shape[0]
    if n_in == 0 or (yt.ndim == 2 and yt.shape[1] == 0):
        raise InputError("y_true is empty: there are no rows to advise on")
    if yp is not None:
        if yp.shape[0] != n_in:
            raise InputError(f"y_true has {n_in} rows but y_pred has {yp.shape[0]}; give one prediction per row")
        if yp.ndim == 2 and yp.shape[1] == 0:
            raise InputError("y_pred has no columns; give one prediction (or K class columns) per row")
        if yt.ndim == 2 and (yp.ndim != 2 or yp.shape[1] != yt.shape[1]):
            got = yp.shape[1] if yp.ndim == 2 else 1
            raise InputError(
                f"y_true has {yt.shape[1]} label columns but y_pred has {got}; give one prediction column per class"
            )
    ok = np.isfinite(yt) if yt.ndim == 1 else np.isfinite(yt).all(axis=1)
    if yp is not None:
        ok &= np.isfinite(yp) if yp.ndim == 1 else (~np.isnan(yp) & (yp != np.inf)).all(axis=1)
    adv = _Advisor()
    bad = n_in - int(ok.sum())
    if bad:
        adv.see(
            "nonfinite",
            {"rows": bad, "share": bad / n_in},
            f"{bad} of {n_in} rows ({_pct(bad / n_in)}) hold NaN or infinite values",
        )
        if bad == n_in:
            raise InputError(f"all {n_in} rows hold NaN or infinite values; there is nothing finite to advise from")
        adv.notes.append(
            f"{bad} rows with NaN or infinite values were left out; the advice uses the {n_in - bad} finite rows "
            "(evaluate with --nan omit, or fix those rows)"
        )
        yt = yt[ok]
        yp = None if yp is None else yp[ok]
    with np.errstate(all="ignore"):  # huge values overflow moments; the checks handle inf
        adv.run(yt, yp)
    return adv.result()


class _Advisor:
    """Collects evidence, advice and notes while one input is inspected."""

    def __init__(self) -> None:
        self.evidence: list[Evidence] = []
        self.advice: list[Advice] = []
        self.notes: list[str] = []
        self.task = "regression"
        self.label_kind = "continuous"
        self.prediction_kind = "none"
        self.yt: np.ndarray = np.empty(0)
        self.yp: np.ndarray | None = None

    # recording

    def see(self, name: str, value: Any, text: str) -> None:
        self.evidence.append(Evidence(name, _plain(value), text))

    def advise(
        self,
        loss: str,
        reason: str,
        *,
        params: dict[str, float] | None = None,
        primary: bool = False,
        class_weight: list[float] | None = None,
    ) -> bool:
        """Add one advice if the loss admits these rows; otherwise say why not in a note."""
        lo = get_loss(loss)
        given = {k: float(v) for k, v in (params or {}).items()}
        lo.resolve_params(given)  # a declared parameter in its range, or a bug here
        why_not = self._inadmissible(lo)
        if why_not:
            self.notes.append(f"{lo.name} would suit these labels, but {why_not}")
            return False
        cw = list(class_weight) if class_weight else None
        self.advice.append(Advice(lo.name, given, reason, _command(lo.name, given, cw), primary, cw))
        return True

    def _inadmissible(self, lo: Loss) -> str:
        yp = self.yp
        if yp is not None and not isinstance(lo.y_pred, tuple):
            out = int((~lo.y_pred.mask(yp)).sum())
            if out:
                return f"it needs predictions in {lo.y_pred} and {out} values are outside"
        if lo.task is not Task.MULTICLASS or self.yt.ndim == 2:
            out = int((~lo.y_true.mask(self.yt)).sum())
            if out:
                return f"it needs labels in {lo.y_true} and {out} labels are outside"
        return ""

    def result(self) -> Recommendation:
        if self.advice and not any(a.primary for a in self.advice):
            self.advice[0].primary = True
        self.advice.sort(key=lambda a: not a.primary)  # stable: primary first, order kept
        if not self.advice:
            self.notes.append("no registered loss admits these labels and predictions as they are")
        task_text = {
            "regression": "a regression task: continuous targets",
            "counts": "a count task: non-negative whole-number targets",
            "positive": "a positive-target task: non-negative, right-skewed continuous targets",
            "binary": "a binary classification task",
            "multiclass": "a multiclass task",
        }[self.task]
        kinds = f"labels: {self.label_kind}, predictions: {self.prediction_kind}"
        self.evidence.insert(0, Evidence("task", self.task, f"{task_text} ({kinds})"))
        return Recommendation(self.task, self.label_kind, self.prediction_kind, self.evidence, self.advice, self.notes)

    # dispatch

    def run(self, yt: np.ndarray, yp: np.ndarray | None) -> None:
        self.yt, self.yp = yt, yp
        n = yt.shape[0]
        self.see("rows", n, f"{n} rows with finite values")
        if yp is None:
            self.notes.append("predictions not given: advice from the labels alone")
        if yt.ndim == 2:
            self._label_rows()
            return
        if yp is not None and yp.ndim == 2:
            self._class_ids()
            return
        values = np.unique(yt)
        if values.size == 1:
            self.see(
                "constant", float(values[0]), f"labels are constant: every one of the {n} rows holds {_g(values[0])}"
            )
            self.notes.append(
                f"labels are constant ({_g(values[0])}): any loss only measures how far predictions are from it"
            )
        if np.isin(values, (0.0, 1.0)).all():
            self._binary(pm1=False)
        elif np.isin(values, (-1.0, 1.0)).all():
            self._binary(pm1=True)
        elif self._looks_like_counts(values):
            self._counts()
        else:
            self._continuous(values)

    def _looks_like_counts(self, values: np.ndarray) -> bool:
        whole = bool(np.all(values == np.round(values)))
        if not whole or values[0] < 0:
            return False
        median = float(np.median(self.yt))
        if values[0] == 0 or median <= COUNT_MEDIAN_MAX:
            return True
        self.notes.append(
            f"labels are whole numbers but none is 0 and their median is {_g(median)}: read as continuous "
            "(if they are counts, poisson also fits)"
        )
        return False

    # predictions (1-D)

    def _pred_range(self) -> tuple[float, float]:
        yp = self.yp
        assert yp is not None
        lo, hi = float(yp.min()), float(yp.max())
        if any(e.name == "pred_range" for e in self.evidence):
            return lo, hi
        neg = float(np.mean(yp < 0))
        self.see(
            "pred_range",
            {"min": lo, "max": hi, "negative_share": neg},
            f"predictions range from {_g(lo)} to {_g(hi)} ({_pct(neg)} negative)",
        )
        return lo, hi

    # regression ------------------------------------------------------------------------------

    def _continuous(self, values: np.ndarray) -> None:
        yt, yp = self.yt, self.yp
        n = yt.size
        lo, hi = float(values[0]), float(values[-1])
        skew = _skew(yt)
        self.see(
            "label_values",
            {"min": lo, "max": hi, "mean": float(yt.mean()), "std": float(yt.std())},
            f"labels are continuous in {n} rows (min {_g(lo)}, max {_g(hi)}, mean {_g(yt.mean())}, std {_g(yt.std())})",
        )
        if yp is not None:
            self.prediction_kind = "values"
        zero_share = float(np.mean(yt == 0))
        if lo >= 0 and zero_share > 0 and zero_share < 1:
            self.see(
                "zeros",
                {"share": zero_share, "count": int((yt == 0).sum())},
                f"{int((yt == 0).sum())} labels ({_pct(zero_share)}) are exactly 0; the others are positive",
            )
        if lo >= 0 and zero_share >= ZERO_SHARE and zero_share < 1:
            self._zero_inflated(zero_share)
            return
        if lo >= 0 and skew >= SKEW_LIMIT:
            pos = yt[yt > 0]
            log_skew = _skew(np.log(pos))
            self.see(
                "skew",
                {"skew": skew, "log_skew": log_skew},
                f"labels are right-skewed: skewness {_g(skew)} (log labels: {_g(log_skew)}); "
                f"max/median = {_g(hi / float(np.median(yt))) if np.median(yt) > 0 else 'inf'}",
            )
            if self._skewed_positive(skew, log_skew, strictly=lo > 0):
                return
        elif n >= 3 and not math.isnan(skew):
            self.see("skew", {"skew": skew}, f"label skewness is {_g(skew)}")
        self._regression()

    def _regression(self) -> None:
        self.task, self.label_kind = "regression", "continuous"
        yt, yp = self.yt, self.yp
        if yp is None:
            self.advise(
                "mse",
                "continuous targets: mse (the Gaussian likelihood) is the default; give predictions to check "
                "the residuals for outliers",
                primary=True,
            )
            self.advise("mae", "mae (the median's loss) if the errors may be heavy-tailed")
            sigma, _, _ = _robust_sigma(yt)
            if sigma > 0:
                far = int((np.abs(yt - np.median(yt)) > OUTLIER_SIGMAS * sigma).sum())
                self.see(
                    "label_outliers",
                    {"count": far, "share": far / yt.size},
                    f"{far} labels lie beyond {OUTLIER_SIGMAS:g} robust sigmas of their median",
                )
                if far:
                    self.advise(
                        "huber",
                        f"{far} labels lie beyond {OUTLIER_SIGMAS:g} robust sigmas: with predictions, set delta to "
                        f"{HUBER_K} x 1.4826 x MAD of the residuals",
                    )
            return
        self.prediction_kind = "values"
        self._pred_range()
        r = yp - yt
        n = r.size
        sigma, mad, method = _robust_sigma(r)
        dev = np.abs(r - np.median(r))
        outliers = int((dev > OUTLIER_SIGMAS * sigma).sum()) if sigma > 0 else 0
        tail, k = _tail_share(r * r)
        scale_text = {
            "mad": f"robust sigma 1.4826 x MAD = 1.4826 x {_g(mad)} = {_g(sigma)}",
            "std": f"MAD is 0 (most residuals are equal), so sigma is their standard deviation {_g(sigma)}",
            "none": "all residuals are equal (sigma 0)",
        }[method]
        self.see(
            "residual_scale",
            {"sigma": sigma, "mad": mad, "method": method, "median": float(np.median(r))},
            f"residuals y_pred - y_true: median {_g(np.median(r))}, {scale_text}",
        )
        if method == "std":
            self.notes.append("the residuals' MAD is 0: the robust scale falls back to their standard deviation")
        self.see(
            "outliers",
            {"count": outliers, "share": outliers / n, "sigmas": OUTLIER_SIGMAS},
            f"{outliers} residuals ({_pct(outliers / n)}) lie beyond {OUTLIER_SIGMAS:g} robust sigmas of the median",
        )
        self.see(
            "tail",
            {"share": tail, "rows": k},
            f"the worst {k} rows ({_pct(k / n)}) carry {_pct(tail)} of the sum of squared residuals",
        )
        heavy = sigma > 0 and (outliers > 0 or (n >= TAIL_MIN_ROWS and tail >= TAIL_SHARE))
        if heavy:
            delta = HUBER_K * sigma
            why = (
                f"{outliers} residuals ({_pct(outliers / n)}) lie beyond {OUTLIER_SIGMAS:g} robust sigmas and the "
                f"worst {k} rows carry {_pct(tail)} of the squared error, which would dominate mse"
            )
            tuning = (
                f"delta = {HUBER_K} x sigma = {_g(delta)}: {HUBER_K} is the classic tuning constant that keeps 95% "
                "efficiency at Gaussian residuals while bounding the outliers' influence"
            )
            self.advise(
                "huber",
                f"{why}; huber is quadratic within delta and linear beyond it. {tuning}",
                params={"delta": delta},
                primary=True,
            )
            self.advise(
                "pseudo_huber", f"a smooth version of huber with the same delta = {_g(delta)}", params={"delta": delta}
            )
            self.advise("mae", "mae ignores the size of outliers entirely (the median's loss)")
        else:
            self.advise(
                "mse",
                f"residuals are light-tailed: {outliers} beyond {OUTLIER_SIGMAS:g} robust sigmas and the worst "
                f"{k} rows carry {_pct(tail)} of the squared error; mse is the efficient choice for such errors",
                primary=True,
            )
            self.advise("mae", "mae if the median error matters more than the mean")

    # positive targets ------------------------------------------------------------------------

    def _zero_inflated(self, zero_share: float) -> None:
        self.task, self.label_kind = "positive", "continuous"
        pos = self.yt[self.yt > 0]
        self.see(
            "zero_inflation",
            {"zero_share": zero_share, "positive_mean": float(pos.mean())},
            f"{_pct(zero_share)} of labels are exactly 0 and the other {pos.size} are continuous positive values "
            f"(mean {_g(pos.mean())})",
        )
        if self.yp is not None:
            self._pred_range()
        ok = self.advise(
            "tweedie",
            f"{_pct(zero_share)} exact zeros plus continuous positive values is the shape of a compound "
            f"Poisson-gamma (tweedie with 1 < power < 2); power {TWEEDIE_POWER} is the middle of that range "
            "(closer to 1 for more zeros, to 2 for a more gamma-like positive part); predictions are positive means",
            params={"power": TWEEDIE_POWER},
            primary=True,
        )
        ok |= self.advise(
            "msle", "msle (mse of log1p) admits the zeros and counts errors on the positive values relatively"
        )
        if not ok:
            self._regression()

    def _skewed_positive(self, skew: float, log_skew: float, strictly: bool) -> bool:
        """Advice for right-skewed non-negative targets; False when no such loss admits the rows."""
        self.task, self.label_kind = "positive", "continuous"
        if self.yp is not None:
            self._pred_range()
        why = f"labels are right-skewed (skewness {_g(skew)}, {_g(log_skew)} on the log scale)"
        ok = self.advise(
            "msle",
            f"{why}: msle is mse of log1p, so errors count relative to the target and the few large labels do not "
            "dominate",
            primary=True,
        )
        if strictly:
            ok |= self.advise(
                "gamma_deviance",
                f"{why}: gamma deviance suits variance growing as the mean squared and is scale-invariant; "
                "it needs positive predictions",
            )
        else:
            ok |= self.advise(
                "tweedie",
                f"{why} with a few exact zeros: tweedie (power {TWEEDIE_POWER}) admits them",
                params={"power": TWEEDIE_POWER},
            )
        if not ok:
            self.advice.clear()
        return ok

    # counts ----------------------------------------------------------------------------------

    def _counts(self) -> None:
        self.task, self.label_kind = "counts", "counts"
        yt, yp = self.yt, self.yp
        n = yt.size
        mean, var = float(yt.mean()), float(yt.var())
        zeros = float(np.mean(yt == 0))
        self.see(
            "label_values",
            {"min": float(yt.min()), "max": float(yt.max()), "mean": mean, "zero_share": zeros},
            f"labels are non-negative whole numbers in {n} rows (min {_g(yt.min())}, max {_g(yt.max())}, "
            f"mean {_g(mean)}, {_pct(zeros)} zeros)",
        )
        expected_zeros = math.exp(-mean)
        self.see(
            "zeros",
            {"share": zeros, "poisson_share": expected_zeros},
            f"{_pct(zeros)} of labels are 0 (a Poisson with the same mean has {_pct(expected_zeros)})",
        )
        ratio = var / mean if mean > 0 else math.nan
        self.see(
            "dispersion",
            {"var_over_mean": ratio},
            f"label variance/mean = {_g(ratio)} (Poisson: 1; this includes variation the model may explain)",
        )
        dispersion = ratio
        log_rates = False
        why_log = ""
        if yp is not None:
            self.prediction_kind = "values"
            lo, _ = self._pred_range()
            log_rates = lo < 0 or self._means_say_log_rates()
            if log_rates:
                why_log = (
                    f"predictions include negative values (min {_g(lo)}), so they read as log-rates"
                    if lo < 0
                    else f"the mean of exp(prediction) ({_g(np.mean(np.exp(np.minimum(yp, 700.0))))}) matches the "
                    f"label mean ({_g(mean)}) better than the mean prediction ({_g(yp.mean())}): they read as log-rates"
                )
                self.see("log_rates", {"min": lo, "mean": float(yp.mean())}, why_log)
            mu = np.exp(np.minimum(yp, 700.0)) if log_rates else yp
            pos = mu > 0
            if pos.any():
                pearson = float(np.mean((yt[pos] - mu[pos]) ** 2 / mu[pos]))
                dispersion = pearson
                self.see(
                    "pearson_dispersion",
                    {"value": pearson},
                    f"Pearson dispersion mean((y - mu)^2 / mu) = {_g(pearson)} given the predicted rates (Poisson: 1)",
                )
        over = dispersion > OVERDISPERSION
        over_text = (
            f"; the counts are over-dispersed ({_g(dispersion)} > {OVERDISPERSION:g}), so tweedie with "
            f"1 < power < 2 lets the variance grow faster than the mean"
            if over
            else ""
        )
        if log_rates:
            self.advise(
                "poisson_log",
                f"counts with log-rate predictions ({why_log}): poisson_log is the Poisson loss on log-rates, "
                "exp(x) - y x",
                primary=True,
            )
            if over:
                self.notes.append(
                    f"the counts are over-dispersed ({_g(dispersion)}); tweedie needs rates: exponentiate the "
                    "predictions to use it"
                )
            return
        what = "predicted rates" if yp is not None else "non-negative rates as predictions"
        self.advise(
            "poisson",
            f"non-negative whole-number targets with {what}: the Poisson loss mu - y log mu{over_text}",
            primary=True,
        )
        if yp is None:
            self.advise("poisson_log", "poisson_log if the model outputs log-rates (any sign)")
        self.advise("poisson_deviance", "the Poisson deviance: 0 for a perfect prediction; needs positive rates")
        if over:
            self.advise(
                "tweedie",
                f"over-dispersed counts ({_g(dispersion)} > {OVERDISPERSION:g}): tweedie with power "
                f"{TWEEDIE_POWER} between Poisson (1) and gamma (2)",
                params={"power": TWEEDIE_POWER},
            )

    def _means_say_log_rates(self) -> bool:
        """Non-negative count predictions whose exp matches the label mean better than they do."""
        yp = self.yp
        assert yp is not None
        my, mp = float(self.yt.mean()), float(yp.mean())
        if not (my > 0 and mp > 0):
            return False
        me = float(np.mean(np.exp(np.minimum(yp, 700.0))))
        return abs(math.log(me / my)) < abs(math.log(mp / my))

    # binary ----------------------------------------------------------------------------------

    def _binary(self, pm1: bool) -> None:
        self.task = "binary"
        self.label_kind = "binary_pm1" if pm1 else "binary01"
        yt, yp = self.yt, self.yp
        n = yt.size
        ones = int((yt > 0).sum())
        others = n - ones
        low = "-1" if pm1 else "0"
        neg_word = "minus ones" if pm1 else "zeros"
        counts = [others, ones]
        major, minor = max(counts), min(counts)
        ratio = major / minor if minor else math.inf
        self.see(
            "label_values",
            {"ones": ones, neg_word.replace(" ", "_"): others, "ratio": ratio},
            f"labels are {low}/1 in {n} rows ({ones} ones, {others} {neg_word}: ratio {_g(ratio)})",
        )
        weights = inverse_frequency_weights(counts) if minor else None
        imbalanced = minor > 0 and ratio >= IMBALANCE_RATIO
        if minor == 0:
            self.notes.append(f"only one class is present (all labels are {'1' if ones else low})")
        self.see(
            "imbalance",
            {"ratio": ratio, "minority_share": minor / n, "threshold": IMBALANCE_RATIO, "weights": weights},
            f"majority/minority = {_g(ratio)} ({'imbalanced' if imbalanced else 'balanced enough'}: "
            f"the threshold is {IMBALANCE_RATIO:g})"
            if minor
            else "only one class is present, so there is no imbalance to correct",
        )
        kind = "none"
        if yp is not None:
            lo, hi = self._pred_range()
            if lo >= 0 and hi <= 1:
                kind = "probabilities"
                if np.isin(yp, (0.0, 1.0)).all():
                    self.notes.append(
                        "predictions are hard 0/1 values: cross-entropy is infinite for every wrong one; "
                        "give probabilities (or use brier / zero_one)"
                    )
            elif lo < 0 < hi:
                kind = "scores" if pm1 else "logits"
            else:
                kind = "scores"
                self.notes.append(
                    "predictions have one sign and exceed [0, 1]: neither probabilities nor typical logits; "
                    "they are read as logits/scores"
                )
        self.prediction_kind = kind
        cw = weights if imbalanced else None
        cw_text = (
            f" with inverse-frequency class weights {','.join(f'{w:g}' for w in weights)} (n / (2 n_class): "
            f"the {ratio:.3g}:1 imbalance)"
            if cw and weights
            else ""
        )
        pos_share = ones / n
        alpha = _sig3(1.0 - pos_share)
        focal_text = (
            f"focal loss (gamma {FOCAL_GAMMA:g}) down-weights easy, confident rows so the {_pct(minor / n)} minority "
            f"is not drowned; alpha = {alpha:g}, the share of negatives, weighs positives and negatives inversely "
            "to their counts"
        )
        if pm1:
            if kind == "probabilities":
                self.notes.append(
                    "labels are -1/+1 but predictions look like probabilities: bce takes 0/1 labels "
                    "(map -1 to 0), and the hinge losses take signed scores (2p - 1)"
                )
                return
            self.advise(
                "soft_margin",
                f"-1/+1 labels{' and signed scores' if kind == 'scores' else ''}: soft_margin is the logistic loss "
                f"log(1 + exp(-y s)) (bce_logits on -1/+1 labels){cw_text}",
                primary=True,
                class_weight=cw,
            )
            self.advise("hinge", f"-1/+1 labels: hinge, the SVM margin loss{cw_text}", class_weight=cw)
            self.advise("squared_hinge", "squared_hinge: a smooth hinge that punishes margin violations more")
            return
        if kind in ("probabilities", "none"):
            self.advise(
                "bce",
                "0/1 labels with probabilities: binary cross-entropy (log loss)" + cw_text,
                primary=True,
                class_weight=cw,
            )
            if kind == "none":
                self.advise("bce_logits", "bce_logits if the model outputs logits" + cw_text, class_weight=cw)
            if imbalanced:
                self.advise("focal", focal_text, params={"gamma": FOCAL_GAMMA, "alpha": alpha})
            return
        self.advise(
            "bce_logits",
            f"0/1 labels with {'signed logits' if kind == 'logits' else 'unbounded scores'}: bce_logits applies the "
            "sigmoid inside, stably" + cw_text,
            primary=True,
            class_weight=cw,
        )
        if imbalanced:
            self.advise("focal_logits", focal_text, params={"gamma": FOCAL_GAMMA, "alpha": alpha})
        if kind == "logits":
            self.advise(
                "hinge",
                "signed scores: hinge (0/1 labels read as -1/+1) if a margin matters more than calibration" + cw_text,
                class_weight=cw,
            )

    # multiclass ------------------------------------------------------------------------------

    def _class_pred_kind(self) -> str:
        yp = self.yp
        if yp is None:
            return "none"
        sums = yp.sum(axis=1)
        err = float(np.max(np.abs(sums - 1.0)))
        in01 = bool(((yp >= 0) & (yp <= 1)).all())
        if in01 and err <= ROW_SUM_TOL:
            kind = "class_probabilities"
        elif bool((yp <= 0).all()) and float(np.max(np.abs(np.exp(yp).sum(axis=1) - 1.0))) <= ROW_SUM_TOL:
            kind = "class_log_probabilities"
        elif in01:
            kind = "scores"
            self.notes.append(
                f"prediction rows lie in [0, 1] but do not sum to 1 (off by up to {_g(err)}): not a distribution; "
                "normalise them for cce, or they are read as scores"
            )
        else:
            kind = "class_logits"
        finite = yp[np.isfinite(yp)]
        self.see(
            "pred_range",
            {
                "min": float(finite.min()) if finite.size else math.nan,
                "max": float(finite.max()) if finite.size else math.nan,
                "max_row_sum_error": err,
            },
            f"{yp.shape[1]} prediction columns, values from {_g(finite.min() if finite.size else math.nan)} to "
            f"{_g(finite.max() if finite.size else math.nan)}; the largest |row sum - 1| is {_g(err)}",
        )
        return kind

    def _class_ids(self) -> None:
        yt, yp = self.yt, self.yp
        assert yp is not None
        k = yp.shape[1]
        bad = ~((yt == np.round(yt)) & (yt >= 0) & (yt < k))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"y_pred has {k} class columns, so y_true must hold class ids 0..{k - 1}; it holds {_g(yt[i])}"
            )
        counts = np.bincount(yt.astype(np.int64), minlength=k)
        self.label_kind = "class_ids"
        self._multiclass(counts, hard=True)

    def _label_rows(self) -> None:
        yt = self.yt
        k = yt.shape[1]
        sums = yt.sum(axis=1)
        in01 = bool(((yt >= 0) & (yt <= 1)).all())
        binary = bool(np.isin(yt, (0.0, 1.0)).all())
        sum_ok = float(np.max(np.abs(sums - 1.0))) <= ROW_SUM_TOL
        if binary and sum_ok:
            self.label_kind = "one_hot"
            self._multiclass(yt.sum(axis=0), hard=True)
        elif in01 and sum_ok:
            self.label_kind = "distribution"
            self._multiclass(yt.sum(axis=0), hard=False)
        else:
            self.task = "multiclass"
            self._multi_label(k, binary)

    def _multiclass(self, counts: np.ndarray, hard: bool) -> None:
        self.task = "multiclass"
        n = self.yt.shape[0]
        k = counts.size
        present = counts > 0
        shown = ", ".join(_g(c) for c in counts[:20]) + (", ..." if k > 20 else "")
        what = {"class_ids": "class ids", "one_hot": "one-hot rows", "distribution": "soft label rows"}[self.label_kind]
        self.see(
            "label_values",
            {"classes": k, "counts": counts.tolist()},
            f"labels are {what} over {k} classes in {n} rows (per class: {shown})",
        )
        if not present.all():
            missing = np.flatnonzero(~present).tolist()
            self.notes.append(f"classes {missing} have no rows")
        ratio = float(counts.max() / counts[present].min())
        imbalanced = ratio >= IMBALANCE_RATIO
        weights = inverse_frequency_weights(counts)
        self.see(
            "imbalance",
            {
                "ratio": ratio,
                "threshold": IMBALANCE_RATIO,
                "weights": weights,
                "shares": (counts / counts.sum()).tolist(),
            },
            f"largest/smallest class = {_g(ratio)} ({'imbalanced' if imbalanced else 'balanced enough'}: "
            f"the threshold is {IMBALANCE_RATIO:g})",
        )
        cw = weights if (imbalanced and hard) else None
        if imbalanced and not hard:
            self.notes.append("class weights need hard labels; with soft labels, reweight rows with --weight instead")
        cw_text = f" with inverse-frequency class weights n / (K n_class) (largest/smallest {ratio:.3g})" if cw else ""
        kind = self._class_pred_kind()
        self.prediction_kind = kind
        focal = (
            f"categorical_focal (gamma {FOCAL_GAMMA:g}) down-weights easy, confident rows so rare classes count; "
            "its alpha is one scale for all classes, so the class weights do the balancing"
        )
        soft = self.label_kind == "distribution"
        if kind in ("class_probabilities", "none"):
            self.advise(
                "cce",
                f"{'soft labels' if soft else 'class labels'} with class probabilities: categorical cross-entropy"
                + cw_text,
                primary=True,
                class_weight=cw,
            )
            if kind == "none":
                self.advise("softmax_ce", "softmax_ce if the model outputs logits" + cw_text, class_weight=cw)
            if imbalanced and hard:
                self.advise(
                    "categorical_focal",
                    focal,
                    params={"gamma": FOCAL_GAMMA},
                    class_weight=cw,
                )
            if soft:
                self.advise("kl_div", "kl_div: cross-entropy minus the labels' entropy, 0 at a perfect prediction")
            return
        if kind == "class_log_probabilities":
            self.advise(
                "nll",
                "prediction rows are log-probabilities (all <= 0, exp sums to 1): nll, the cross-entropy on "
                "log-probabilities" + cw_text,
                primary=True,
                class_weight=cw,
            )
            self.advise("softmax_ce", "softmax_ce gives the same value on log-probabilities" + cw_text, class_weight=cw)
            return
        self.advise(
            "softmax_ce",
            ("unnormalised class logits" if kind == "class_logits" else "class scores")
            + ": softmax cross-entropy applies the softmax inside, stably"
            + cw_text,
            primary=True,
            class_weight=cw,
        )
        if hard:
            self.advise(
                "multiclass_hinge",
                "multiclass_hinge (Crammer-Singer margin) on the class scores" + cw_text,
                class_weight=cw,
            )

    def _multi_label(self, k: int, binary: bool) -> None:
        yt, yp = self.yt, self.yp
        n = yt.shape[0]
        if yp is not None:
            in01 = bool(((yp >= 0) & (yp <= 1)).all())
            self.prediction_kind = "probabilities" if in01 else "scores"
            self.see(
                "pred_range",
                {"min": float(yp.min()), "max": float(yp.max())},
                f"{k} prediction columns, values from {_g(yp.min())} to {_g(yp.max())}",
            )
        if binary:
            self.label_kind = "multi_hot"
            per_row = yt.sum(axis=1)
            self.see(
                "label_values",
                {"classes": k, "mean_positives": float(per_row.mean()), "positives": yt.sum(axis=0).tolist()},
                f"labels are 0/1 rows over {k} columns that are not one-hot ({_g(per_row.mean())} ones per row on "
                f"average, in {n} rows)",
            )
            self.advise(
                "dice",
                "multi-label 0/1 rows with per-column probabilities: soft Dice measures the overlap per row; "
                "smooth 1 keeps rows with no positives defined",
                params={"smooth": 1.0},
                primary=True,
            )
            self.advise("tversky", "tversky: Dice with separate weights for false positives (alpha) and negatives")
            return
        self.label_kind = "vectors"
        self.see(
            "label_values",
            {"columns": k, "min": float(yt.min()), "max": float(yt.max())},
            f"label rows are real vectors over {k} columns (values from {_g(yt.min())} to {_g(yt.max())}, "
            "not distributions)",
        )
        if yp is not None:
            self.prediction_kind = "values"
        self.advise("cosine", "label rows are vectors: cosine distance compares their directions", primary=True)


# --- eval_warnings ----------------------------------------------------------------------------


def eval_warnings(loss: Loss, y_true: Any, y_pred: Any, per_sample: Any = None, weights: Any = None) -> list[str]:
    """One-line warnings about classic mistakes in evaluating ``loss`` on these inputs ([] if none).

    The arrays are those the loss received (rows validated); non-finite values are ignored.
    """
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    out: list[str] = []
    name = loss.name
    if yp.shape[0] < WARN_MIN_ROWS:
        return out  # a handful of rows says nothing about how the data was made
    if loss.task is Task.REGRESSION and name not in COUNT_LOSSES:
        out += _binary_labels_warning(name, yt)
    if loss.prediction is Pred.LOGIT and not loss.pred_rows:
        if loss.task is Task.BINARY and yp.ndim == 1:
            out += _probabilities_as_logits(name, yp)
        elif loss.task is Task.MULTICLASS and yp.ndim == 2:
            out += _probability_rows_as_logits(name, yp)
    if loss.prediction is Pred.SCORE and not loss.pred_columns:
        out += _hinge_scores_warning(name, yp)
    if name in SQUARED_LOSSES and yp.ndim == 1 and yp.shape == yt.shape:
        out += _outlier_warning(name, yt, yp, per_sample, weights)
    return out


def _binary_labels_warning(name: str, yt: np.ndarray) -> list[str]:
    if yt.ndim != 1:
        return []
    head = yt[:: max(1, yt.shape[0] // 4096)]  # most labels of a regression are not 0/1: a cheap no
    if not np.all((head == 0) | (head == 1) | ~np.isfinite(head)):
        return []
    y = yt[np.isfinite(yt)]
    n = y.size
    if n < 2:
        return []
    ones = int((y == 1).sum())
    zeros = int((y == 0).sum())
    if ones + zeros != n or not ones or not zeros:
        return []
    brier = f"; {name} on 0/1 labels is the Brier score" if name == "mse" else ""
    if name == "rmse":
        brier = "; rmse on 0/1 labels is the root of the Brier score"
    return [
        f"labels are all 0/1 ({n} rows: {ones} ones, {zeros} zeros): this looks like binary classification{brier}; "
        "for a classification loss use --loss bce (probabilities) or bce_logits (logits)"
    ]


def _probabilities_as_logits(name: str, yp: np.ndarray) -> list[str]:
    p = yp[np.isfinite(yp)]
    if p.size < 2:
        return []
    lo, hi = float(p.min()), float(p.max())
    if lo < 0 or hi > 1 or lo == hi:
        return []
    fix = "focal" if name == "focal_logits" else "bce"
    return [
        f"{name}: all {p.size} predictions lie in [{_g(lo)}, {_g(hi)}]: they look like probabilities, not logits: "
        f"the sigmoid would be applied twice; use --loss {fix}"
    ]


def _probability_rows_as_logits(name: str, yp: np.ndarray) -> list[str]:
    rows = yp[np.isfinite(yp).all(axis=1)]
    if rows.shape[0] < 2 or rows.shape[1] < 2:
        return []
    if not ((rows >= 0) & (rows <= 1)).all():
        return []
    err = float(np.max(np.abs(rows.sum(axis=1) - 1.0)))
    if err > ROW_SUM_TOL:
        return []
    return [
        f"{name}: all {rows.shape[0]} prediction rows lie in [0, 1] and sum to 1 (within {_g(err)}): they look like "
        "probabilities, not logits: the softmax would be applied twice; use --loss cce"
    ]


def _hinge_scores_warning(name: str, yp: np.ndarray) -> list[str]:
    s = yp[np.isfinite(yp)]
    if s.size < 2 or float(s.min()) < 0 or float(s.max()) > 1:
        return []
    rows = yp.shape[0]
    if np.isin(s, (0.0, 1.0)).all():
        what = "exactly 0 or 1: hard 0/1 predictions"
    else:
        what = f"in [{_g(s.min())}, {_g(s.max())}]: they look like probabilities"
    if yp.ndim == 2:
        return [
            f"{name}: all {rows} prediction rows are {what}; {name} expects class scores (a decision function), "
            "and scores in [0, 1] can hardly reach a margin of 1 between classes; give the logits, or use "
            "--loss cce for probabilities"
        ]
    return [
        f"{name}: all {rows} scores are {what}; {name} expects signed scores (a decision function whose sign is "
        "the class), so every negative row costs at least 1 whatever the model says; give the logit or 2p - 1, "
        "or use --loss bce for probabilities"
    ]


def _outlier_warning(name: str, yt: np.ndarray, yp: np.ndarray, per_sample: Any, weights: Any) -> list[str]:
    rows = yt.shape[0]
    stride = -(-rows // OUTLIER_SAMPLE_ROWS)
    if stride > 1:  # a large input: the tail share and the MAD of an evenly spaced sample
        yt, yp = yt[::stride], yp[::stride]
        per_sample = None if per_sample is None else np.asarray(per_sample)[::stride]
        weights = None if weights is None else np.asarray(weights)[::stride]
    r = yp - yt
    contrib = r * r if per_sample is None else np.asarray(per_sample, dtype=np.float64)
    if contrib.shape != r.shape:
        return []
    keep = np.isfinite(contrib) & np.isfinite(r)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != r.shape:
            return []
        keep &= np.isfinite(w) & (w != 0)
        contrib = contrib * np.where(keep, w, 0.0)
    contrib, r = contrib[keep], r[keep]
    n = r.size
    if n < WARN_MIN_ROWS:
        return []
    share, k = _tail_share(contrib)
    if share < WARN_TAIL_SHARE:
        return []
    sigma, mad, method = _robust_sigma(r)
    if method == "mad":
        robust = (
            f"use --loss huber -p delta={_g(HUBER_K * sigma)} (1.345 x 1.4826 x MAD of the residuals, "
            f"MAD = {_g(mad)}) or --loss mae"
        )
    else:
        robust = "use --loss mae (the residuals' MAD is 0, so huber's delta cannot be set from it)"
    if stride > 1:
        return [
            f"{name}: the worst {_pct(k / n)} of rows carry about {_pct(share)} of the summed loss (in an evenly "
            f"spaced sample of {n} of the {rows} rows): a few outliers dominate it; for a robust loss {robust}"
        ]
    return [
        f"{name}: the worst {k} of {n} rows ({_pct(k / n)}) carry {_pct(share)} of the summed loss: a few outliers "
        f"dominate it; for a robust loss {robust}"
    ]
