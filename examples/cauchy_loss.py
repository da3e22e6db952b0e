"""An example lossctl plugin: the Cauchy (Lorentzian) loss, declared once like a built-in.

Load it for one run with ``lossctl eval preds.csv --plugin examples/cauchy_loss.py --loss cauchy``,
or ship it in a package with an entry point in the group ``lossctl.losses``:

    [project.entry-points."lossctl.losses"]
    cauchy = "my_package.cauchy_loss"

It then gets ``lossctl list``, ``describe``, ``eval``, ``bench``, ``plot`` and ``--grad`` like a
built-in loss. The kernel and its derivative are plain Python over ``math`` that numba compiles;
the reference is vectorised NumPy, written independently, for the tests.
"""

import math

import numpy as np

from lossctl.domains import POSITIVE, REALS
from lossctl.registry import NONNEGATIVE, SYMMETRIC, ZERO_AT_PERFECT, Example, Param, Pred, Task, loss


def _reference(y, p, c=1.0):
    z = (np.asarray(p, dtype=float) - np.asarray(y, dtype=float)) / c
    return 0.5 * c * c * np.log1p(z * z)


def cauchy_grad(y: float, p: float, c: float) -> float:
    r = p - y
    z = r / c
    return r / (1.0 + z * z)


@loss(
    name="cauchy",
    aliases=("lorentzian",),
    task=Task.REGRESSION,
    summary="Cauchy (Lorentzian) loss: quadratic near 0, logarithmic for outliers",
    formula="c^2 / 2 * log(1 + ((y_pred - y_true) / c)^2)",
    reference=_reference,
    y_true=REALS,
    y_pred=REALS,
    prediction=Pred.VALUE,
    params=(Param("c", 1.0, POSITIVE, "c is the scale of residuals treated as inliers, > 0"),),
    properties=frozenset({NONNEGATIVE, ZERO_AT_PERFECT, SYMMETRIC}),
    examples=(
        Example(0.0, 1.0, 0.5 * math.log(2.0)),
        Example(3.0, 3.0, 0.0),
        Example(0.0, 2.0, 2.0 * math.log(2.0), {"c": 2.0}, why="c^2/2 log(1 + 1)"),
    ),
    grad=cauchy_grad,
)
def cauchy(y: float, p: float, c: float) -> float:
    z = (p - y) / c
    return 0.5 * c * c * math.log1p(z * z)
