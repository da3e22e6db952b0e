"""Curves of losses and of their derivatives: ``lossctl plot`` and :func:`curves`.

A curve is a loss (with one parameter set) evaluated along one axis, every other input held
fixed:

- regression: the residual r = y_pred - y_true, with the label fixed (``label``, default 0, or 1
  when a loss does not admit 0); losses with several prediction columns vary the first (the mean
  of gaussian_nll, x1 of margin_ranking) and hold the others at 1 (a positive column) or 0;
- binary: the prediction, with the label fixed (default 1), on a probability axis or a logit
  axis; a loss of the other kind is drawn through the link, p = sigmoid(x), so bce and
  bce_logits give one curve and hinge sits beside the logistic loss;
- multiclass: the prediction for the true class (class 0 of ``classes``): on a probability axis
  the other classes share 1 - t evenly; on a logit axis their logits are 0. Logit and score
  losses on a probability axis take x = log p (a row whose softmax is p); log-probability losses
  (nll) take log p (or log_softmax of the logits).

Values come from the compiled kernels, derivatives from each loss's declared gradient: the
derivative drawn is d loss / d t along the axis t, the declared gradient times d(inputs)/dt
(the chain rule through the link and the parametrisation), so it is the slope of the loss curve
drawn beside it. Points where the inputs leave a loss's domain are left out (a gap).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lossctl.errors import UsageError
from lossctl.registry import Loss, Pred, Task

AXES = ("residual", "probability", "logit")
DEFAULT_RANGE = {"residual": (-3.0, 3.0), "probability": (0.01, 0.99), "logit": (-6.0, 6.0)}


@dataclass
class Curves:
    """One chart: x values and one y series per (loss, parameter set)."""

    axis: str  # residual, probability or logit
    x: Any
    series: list[tuple[str, Any]]
    grad: bool
    label: float
    task: str
    classes: int = 0  # multiclass: K
    notes: list[str] = field(default_factory=list)

    @property
    def x_label(self) -> str:
        if self.axis == "residual":
            return f"residual r = y_pred - y_true (y_true = {self.label:g})"
        what = "probability" if self.axis == "probability" else "logit"
        if self.task == "multiclass":
            return f"{what} of the true class (class 0 of {self.classes})"
        return f"predicted {what} (label {self.label:g})"

    @property
    def y_label(self) -> str:
        t = {"residual": "dr", "probability": "dp", "logit": "dx"}[self.axis]
        return f"d loss / {t}" if self.grad else "loss"

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "grad": self.grad,
            "label": self.label,
            "task": self.task,
            **({"classes": self.classes} if self.task == "multiclass" else {}),
            "x": [float(v) for v in self.x],
            "series": [{"name": name, "y": [_jsonable(v) for v in ys]} for name, ys in self.series],
            "notes": list(self.notes),
        }


def _jsonable(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def parse_range(text: str) -> tuple[float, float]:
    """'-3:3' -> (-3.0, 3.0)."""
    a, sep, b = text.partition(":")
    try:
        lo, hi = float(a), float(b)
    except ValueError:
        lo = hi = math.nan
    if not sep or not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi or not math.isfinite(hi - lo):
        raise UsageError(f"--range '{text}' is not LOW:HIGH with LOW < HIGH (for example --range -3:3)")
    return lo, hi


def _kind(lo: Loss) -> str:
    """The natural axis of a classification loss: probability or logit (scores and log-probabilities
    live on the real line too)."""
    return "probability" if lo.prediction in (Pred.PROBABILITY, Pred.VALUE) else "logit"


def _default_label(losses: Sequence[Loss]) -> float:
    task = losses[0].task
    if task is Task.BINARY:
        return 1.0
    if task is Task.MULTICLASS:
        return 0.0
    return 0.0 if all(lo.y_true.contains(0.0) for lo in losses) else 1.0


def curves(
    losses: Sequence[Loss | str],
    params: Mapping[str, Sequence[Mapping[str, float]]] | None = None,
    *,
    x_range: tuple[float, float] | None = None,
    points: int = 401,
    grad: bool = False,
    label: float | None = None,
    axis: str | None = None,
    classes: int = 3,
) -> Curves:
    """Each loss (once per parameter set in ``params[name]``, a list of dicts) along one axis.

    ``axis``: "residual" for regression; "probability" or "logit" for classification (default:
    the kind of the first loss). ``label``: the fixed label (regression y_true, binary label,
    multiclass: ignored, the true class is 0 of ``classes``). ``grad`` draws d loss / d axis.
    """
    import numpy as np

    from lossctl.registry import get_loss

    los = [get_loss(x) if isinstance(x, str) else x for x in losses]
    if not los:
        raise UsageError("plot needs at least one loss (for example: lossctl plot huber mse mae)")
    tasks = {lo.task for lo in los}
    if len(tasks) > 1:
        names = ", ".join(f"{lo.name} ({lo.task})" for lo in los)
        raise UsageError(f"one chart shows losses of one task; got {names}. Plot them separately")
    task = los[0].task
    if task is Task.REGRESSION:
        if axis not in (None, "residual"):
            raise UsageError(f"regression losses are drawn against the residual, not --axis {axis}")
        axis = "residual"
    else:
        axis = axis or _kind(los[0])
        if axis not in ("probability", "logit"):
            raise UsageError(f"--axis {axis}: classification losses are drawn against probability or logit")
    if not 2 <= points <= 100_000:
        raise UsageError(f"--points {points}: give 2 to 100000 points")
    if task is Task.MULTICLASS and not 2 <= classes <= 1000:
        raise UsageError(f"--classes {classes}: give 2 to 1000 classes")
    lo_x, hi_x = x_range if x_range is not None else DEFAULT_RANGE[axis]
    if axis == "probability" and not (0.0 <= lo_x < hi_x <= 1.0):
        raise UsageError(f"--range {lo_x:g}:{hi_x:g}: a probability axis lies within 0:1")
    x = np.linspace(lo_x, hi_x, points)
    y_label = _default_label(los) if label is None else float(label)
    if task is Task.BINARY and not 0.0 <= y_label <= 1.0 and y_label != -1.0:
        raise UsageError(f"--label {y_label:g}: a binary label is 0 or 1 (or a soft label in [0, 1]; -1 for hinge)")
    series: list[tuple[str, Any]] = []
    notes: list[str] = []
    sets = params or {}
    for lo in los:
        if grad and lo.grad is None:
            raise UsageError(f"{lo.name} declares no derivative, so --grad cannot draw it")
        if task is Task.REGRESSION and not lo.y_true.contains(y_label):
            raise UsageError(f"--label {y_label:g} is outside {lo.y_true} for {lo.name}; give --label 1")
        given_sets = list(sets.get(lo.name, [])) or [{}]
        varying = {k for k in given_sets[0] if len({str(s.get(k)) for s in given_sets}) > 1}
        for given in given_sets:
            pvals = lo.resolve_params(given)
            shown = {k: pvals[k] for k in (varying or given)}
            name = lo.name + (f"[{', '.join(f'{k}={v:g}' for k, v in shown.items())}]" if shown else "")
            ys = _curve(lo, tuple(pvals.values()), x, axis, y_label, classes, grad)
            series.append((name, ys))
        if task is not Task.REGRESSION and _kind(lo) != axis:
            link = "sigmoid" if task is Task.BINARY else "softmax"
            inverse = "log(p / (1 - p))" if task is Task.BINARY else "log p"
            how = f"through p = {link}(x)" if axis == "logit" else f"at x = {inverse}"
            kinds = {"probability": "probabilities", "logit": "logits", "score": "scores", "value": "values"}
            takes = "log-probabilities" if lo.pred_rows == "log_probabilities" else kinds[lo.prediction.value]
            notes.append(f"{lo.name} takes {takes}: drawn {how}")
    if label is None and task is Task.REGRESSION and y_label == 0.0 and _empty(series):
        # A loss undefined at y_true = 0 everywhere (mape divides by |y_true|): draw at 1 instead.
        if all(lo.y_true.contains(1.0) for lo in los):
            return curves(los, params, x_range=x_range, points=points, grad=grad, label=1.0, axis=axis)
    return Curves(axis, x, series, grad, y_label, task.value, classes if task is Task.MULTICLASS else 0, notes)


def _empty(series: list[tuple[str, Any]]) -> bool:
    """Whether some curve has no finite point, or only one (a degenerate default label)."""
    import numpy as np

    return any(int(np.isfinite(ys).sum()) <= 1 for _, ys in series)


def _curve(lo: Loss, params: tuple[float, ...], t: Any, axis: str, label: float, k: int, grad: bool) -> Any:
    """The loss (or d loss / dt) of ``lo`` at each axis value ``t``."""
    import numpy as np

    from lossctl import engine

    n = t.shape[0]
    if lo.task is Task.MULTICLASS:
        yt, yp, dinputs = _multiclass_inputs(lo, t, axis, k)
    elif lo.pred_columns:
        if axis not in ("residual", _kind(lo)):
            raise UsageError(f"{lo.name} takes {lo.prediction.value}s; draw it with --axis {_kind(lo)}")
        yt = np.full(n, label)
        # A non-negative column (a variance) is held at 1, a real one (a second score) at 0.
        others = [1.0 if not d.contains(-1.0) else 0.0 for d in lo.y_pred[1:]]  # type: ignore[index]
        first = t + label if axis == "residual" else t
        yp = np.column_stack([first, *[np.full(n, v) for v in others]])
        dinputs = np.zeros_like(yp)
        dinputs[:, 0] = 1.0
    else:
        yt = np.full(n, label)
        yp, dinputs = _scalar_inputs(lo, t, axis, label)
    layout = engine.layout_for(lo, yt.ndim)
    if layout == "ids" and lo.kernel_ids is None:  # the loss has only the label-row form
        onehot = np.zeros(yp.shape)
        onehot[np.arange(n), yt.astype(np.int64)] = 1.0
        yt, layout = onehot, "dist"
    elif layout == "ids":
        yt = yt.astype(np.int64)
    yp = np.ascontiguousarray(yp, dtype=np.float64)
    with np.errstate(all="ignore"):
        if grad:
            g = engine.run_grad(lo, layout, yt, yp, params)
            out = np.sum(g * dinputs, axis=1) if g.ndim == 2 else g * dinputs
        else:
            out = np.empty(n)
            engine.run_kernel(lo, layout, yt, yp, None, out, params)
    valid = _in_domain(lo, yp)
    return np.where(valid & np.isfinite(out), out, np.nan)


def _scalar_inputs(lo: Loss, t: Any, axis: str, label: float) -> tuple[Any, Any]:
    """The prediction at each axis value, and d(prediction)/dt, for a one-column loss."""
    import numpy as np

    if axis == "residual":
        return t + label, np.ones_like(t)
    if _kind(lo) == axis:
        return t.copy(), np.ones_like(t)
    if axis == "logit":  # a probability loss on a logit axis: p = sigmoid(t)
        p = np.where(t >= 0, 1.0 / (1.0 + np.exp(-np.abs(t))), np.exp(-np.abs(t)) / (1.0 + np.exp(-np.abs(t))))
        return p, p * (1.0 - p)
    with np.errstate(divide="ignore"):  # a logit loss on a probability axis: x = log(t / (1 - t))
        return np.log(t) - np.log1p(-t), 1.0 / (t * (1.0 - t))


def _multiclass_inputs(lo: Loss, t: Any, axis: str, k: int) -> tuple[Any, Any, Any]:
    """Class-0 labels, prediction rows along the axis, and d(row)/dt, for a multiclass loss."""
    import numpy as np

    n = t.shape[0]
    yt = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        if axis == "probability":
            p = np.empty((n, k))
            p[:, 0] = t
            p[:, 1:] = ((1.0 - t) / (k - 1))[:, None]
            dp = np.empty((n, k))
            dp[:, 0] = 1.0
            dp[:, 1:] = -1.0 / (k - 1)
            if _kind(lo) == "probability":
                return yt, p, dp
            # logits, scores and log-probabilities: x = log p (its softmax is p); dx/dt = dp / p
            return yt, np.log(p), dp / p
        x = np.zeros((n, k))
        x[:, 0] = t
        dx = np.zeros((n, k))
        dx[:, 0] = 1.0
        shifted = x - np.max(x, axis=1, keepdims=True)
        e = np.exp(shifted)
        p = e / e.sum(axis=1, keepdims=True)
        if lo.pred_rows == "log_probabilities":  # log_softmax(x); d/dt = e_0 - p_0
            return yt, shifted - np.log(e.sum(axis=1, keepdims=True)), dx - p[:, :1]
        if _kind(lo) == "logit":
            return yt, x, dx
        # probabilities: p = softmax(x); dp_j/dt = p_j (delta_j0 - p_0)
        return yt, p, p * (dx - p[:, :1])


def _in_domain(lo: Loss, yp: Any) -> Any:
    import numpy as np

    if isinstance(lo.y_pred, tuple):
        ok = np.ones(yp.shape[0], dtype=bool)
        for j, d in enumerate(lo.y_pred):
            ok &= d.mask(yp[:, j])
        return ok
    m = lo.y_pred.mask(yp)
    return m.all(axis=1) if m.ndim == 2 else m


# --- renderers ---------------------------------------------------------------------------------


def chart_lines(c: Curves, width: int = 72, height: int = 20, title: str = "") -> list[str]:
    from lossctl import chart

    return chart.render(
        list(c.x),
        [(name, list(ys)) for name, ys in c.series],
        width=width,
        height=height,
        x_label=c.x_label,
        y_label=c.y_label,
        title=title,
    )


def to_csv(c: Curves, out: Any) -> None:
    import csv

    w = csv.writer(out, lineterminator="\n")
    w.writerow([c.axis, *[name for name, _ in c.series]])
    for i, xv in enumerate(c.x):
        w.writerow([repr(float(xv)), *[repr(float(ys[i])) if math.isfinite(ys[i]) else "" for _, ys in c.series]])


def write_image(c: Curves, path: str, title: str = "", kind: str = "") -> None:
    """The chart as an image, ``kind`` "png" or "svg" (default: by the extension of ``path``),
    through matplotlib (``pip install 'lossctl[plot]'``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError(
            "writing an image needs matplotlib: pip install 'lossctl[plot]' (the terminal chart needs nothing)"
        ) from None
    styles = ["-", "--", "-.", ":"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    try:
        for i, (name, ys) in enumerate(c.series):
            # Line styles and markers as well as colours, so the image reads in greyscale too.
            ax.plot(c.x, ys, styles[i % len(styles)], label=name, lw=1.8)
        ax.axhline(0.0, color="0.8", lw=0.8, zorder=0)
        ax.set_xlabel(c.x_label)
        ax.set_ylabel(c.y_label)
        if title:
            ax.set_title(title)
        ax.grid(True, color="0.92")
        ax.legend()
        fig.tight_layout()
        fmt = kind or ("svg" if path.lower().endswith(".svg") else "png")
        fig.savefig(path, format=fmt)
    finally:
        plt.close(fig)
