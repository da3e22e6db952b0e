"""Compensated summation for the generated kernels (imported by them only: it imports numba)."""

import numpy as np
from numba import njit


@njit(cache=True)
def total(parts):  # type: ignore[no-untyped-def]
    """Neumaier-compensated sum of block sums; the plain sum decides inf and NaN."""
    s = 0.0
    c = 0.0
    plain = 0.0
    for x in parts:
        plain += x
        t = s + x
        if abs(s) >= abs(x):
            c += (s - t) + x
        else:
            c += (x - t) + s
        s = t
    if not np.isfinite(plain):
        return plain
    return s + c
