"""Input domains as values.

A domain is an object, not prose: the same value validates input, writes help text, drives the
boundary tests and generates benchmark inputs. ``Interval`` is a range of reals (bounds may be
infinite, and a closed infinite bound admits that infinity); ``OneOf`` is a finite set of values,
such as binary labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lossctl._lazy import np

INF = math.inf


def _fmt(x: float) -> str:
    if x == INF:
        return "inf"
    if x == -INF:
        return "-inf"
    return f"{x:g}"


@dataclass(frozen=True)
class Interval:
    """The reals between ``low`` and ``high``; each end open or closed."""

    low: float = -INF
    high: float = INF
    low_closed: bool = False
    high_closed: bool = False

    def __str__(self) -> str:
        left = "[" if self.low_closed else "("
        right = "]" if self.high_closed else ")"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def contains(self, x: float) -> bool:
        if math.isnan(x):
            return False
        above = x >= self.low if self.low_closed else x > self.low
        below = x <= self.high if self.high_closed else x < self.high
        return bool(above and below)

    def mask(self, a: Any) -> Any:
        """Boolean array, True where ``a`` lies in the interval (NaN never does)."""
        above = a >= self.low if self.low_closed else a > self.low
        below = a <= self.high if self.high_closed else a < self.high
        return above & below

    def boundary_points(self) -> tuple[list[float], list[float]]:
        """Points just inside and just outside each finite end, and the infinite ends.

        Returns ``(inside, outside)``; used by the generic boundary tests.
        """
        inside: list[float] = []
        outside: list[float] = [math.nan]
        for end, closed, direction in ((self.low, self.low_closed, 1.0), (self.high, self.high_closed, -1.0)):
            if math.isinf(end):
                (inside if closed else outside).append(end)
                continue
            step = math.nextafter(end, direction * INF)
            back = math.nextafter(end, -direction * INF)
            inside.append(step)
            (inside if closed else outside).append(end)
            outside.append(back)
        return inside, outside

    def sample(self, rng: Any, n: int, dtype: Any = "float64") -> Any:
        """Typical values inside the interval, for tests and benchmarks."""
        lo = self.low if math.isfinite(self.low) else None
        hi = self.high if math.isfinite(self.high) else None
        if lo is not None and hi is not None:
            span = hi - lo
            x = lo + span * (0.001 + 0.998 * rng.random(n))
        elif lo is not None:
            x = lo + 1e-3 + rng.exponential(2.0, n)
        elif hi is not None:
            x = hi - 1e-3 - rng.exponential(2.0, n)
        else:
            x = rng.normal(0.0, 2.0, n)
        return x.astype(dtype)


@dataclass(frozen=True)
class OneOf:
    """A finite set of allowed values (for example binary labels)."""

    values: tuple[float, ...]

    def __str__(self) -> str:
        return "{" + ", ".join(_fmt(v) for v in self.values) + "}"

    def contains(self, x: float) -> bool:
        return x in self.values

    def mask(self, a: Any) -> Any:
        return np.isin(a, np.asarray(self.values, dtype=float))

    def boundary_points(self) -> tuple[list[float], list[float]]:
        lo, hi = min(self.values), max(self.values)
        outside = [math.nan, math.nextafter(lo, -INF), math.nextafter(hi, INF), 0.5 * (lo + hi) + 0.25]
        outside = [x for x in outside if not self.contains(x)]
        return list(self.values), outside

    def sample(self, rng: Any, n: int, dtype: Any = "float64") -> Any:
        return rng.choice(np.asarray(self.values, dtype=dtype), n)


Domain = Interval | OneOf

REALS = Interval(-INF, INF)
EXTENDED_REALS = Interval(-INF, INF, True, True)
PROBABILITY = Interval(0.0, 1.0, True, True)
POSITIVE = Interval(0.0, INF, False, False)
NON_NEGATIVE = Interval(0.0, INF, True, False)
ABOVE_MINUS_ONE = Interval(-1.0, INF, False, False)
