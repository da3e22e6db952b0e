"""lossctl._vecmath: vlog, vexp and vlog1p against mpmath (in ulps), their special values in Python
and compiled, the compiled functions equal to the Python ones bit for bit, and the loop
vectoriser's output (packed AVX2 code, no call to the C library)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numba import config, njit

from lossctl import _vecmath
from lossctl._vecmath import bits_float, float_bits, ieee_div, select, vexp, vlog, vlog1p

mp = pytest.importorskip("mpmath")

_vecmath.register_numba()


PY = {"log": vlog, "exp": vexp, "log1p": vlog1p}


def map_loop(fn: Callable[[float], float], **options: str) -> Any:
    """A compiled ``out[i] = fn(x[i])`` loop, neither parallel nor fused with anything else."""

    @njit(**options)
    def loop(x, out):  # type: ignore[no-untyped-def]
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    return loop


# The loops the accuracy and bit-equality checks run, compiled as the engine compiles kernels.
COMPILED = {name: map_loop(fn, error_model="numpy") for name, fn in PY.items()}
EXACT = {"log": mp.log, "exp": mp.exp, "log1p": mp.log1p}


def compiled(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    COMPILED[name](x, out)
    return out


# --- accuracy ------------------------------------------------------------------------------------


def _loguniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """Log-uniform between lo and hi (> 0), through log2 so that subnormals and 1e308 are reached."""
    return np.exp2(rng.uniform(math.log2(lo), math.log2(hi), n))


def _signed(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    return np.where(rng.random(x.shape[0]) < 0.5, -x, x)


def _two(a: tuple[float, float], b: tuple[float, float]) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Uniform on two intervals, half the sample on each."""
    return lambda r, n: np.concatenate([r.uniform(*a, n // 2), r.uniform(*b, n - n // 2)])


# function, range name, sampler(rng, n): the ranges the functions are specified on.
RANGES: list[tuple[str, str, Callable[[np.random.Generator, int], np.ndarray]]] = [
    ("log", "(0, inf) log-uniform", lambda r, n: _loguniform(r, 5e-324, 1.7976931348623157e308, n)),
    ("log", "subnormal", lambda r, n: _loguniform(r, 5e-324, 2.2250738585072014e-308, n)),
    ("log", "[0.5, 2]", lambda r, n: r.uniform(0.5, 2.0, n)),
    ("log", "1 +- 1e-6", lambda r, n: 1.0 + r.uniform(-1e-6, 1e-6, n)),
    ("log", "near sqrt(1/2), sqrt(2)", _two((0.69, 0.72), (1.40, 1.44))),
    ("exp", "[-745.2, 709.8]", lambda r, n: r.uniform(-745.2, 709.8, n)),
    ("exp", "[-1, 1]", lambda r, n: r.uniform(-1.0, 1.0, n)),
    ("exp", "subnormal results", lambda r, n: r.uniform(-745.2, -708.4, n)),
    ("exp", "|x| in 1e-20 .. 1", lambda r, n: _signed(r, _loguniform(r, 1e-20, 1.0, n))),
    ("log1p", "tiny |x| 1e-300 .. 1e-5", lambda r, n: _signed(r, _loguniform(r, 1e-300, 1e-5, n))),
    ("log1p", "[-1, 1]", lambda r, n: r.uniform(-1.0, 1.0, n)),
    ("log1p", "-1 + (1e-16 .. 0.5)", lambda r, n: -1.0 + _loguniform(r, 1e-16, 0.5, n)),
    ("log1p", "[1e-5, 1e308] log-uniform", lambda r, n: _loguniform(r, 1e-5, 1e308, n)),
    ("log1p", "near sqrt(1/2) - 1, sqrt(2) - 1", _two((-0.31, -0.28), (0.40, 0.44))),
]  # fmt: skip

_TWO_1024 = mp.mpf(2) ** 1024


def ulp_error(y: float, exact: object) -> float:
    """|y - exact| in units of the last place of the double nearest to exact (2^-1074 below
    2^-1022); 0 for an inf where the exact value rounds to inf."""
    v = mp.mpf(exact)
    if abs(v) >= _TWO_1024 * (1 - mp.mpf(2) ** -54):
        return 0.0 if y == math.copysign(math.inf, v) else math.inf
    if not math.isfinite(y):
        return math.inf
    if v == 0:
        return 0.0 if y == 0.0 else math.inf
    e = max(int(mp.frexp(v)[1]) - 1, -1022)
    return float(abs(mp.mpf(y) - v) / mp.ldexp(1, e - 52))


def max_ulp_error(name: str, x: np.ndarray) -> tuple[float, float]:
    """The largest error in ulps of the compiled function over x, and where it is."""
    y = compiled(name, x)
    exact = EXACT[name]
    worst, where = 0.0, math.nan
    with mp.workprec(128):
        for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
            err = ulp_error(yi, exact(mp.mpf(xi)))
            if err > worst:
                worst, where = err, xi
    return worst, where


@pytest.mark.parametrize(("name", "what", "sample"), RANGES, ids=[f"{n}: {w}" for n, w, _ in RANGES])
def test_within_one_ulp(name: str, what: str, sample: Callable[[np.random.Generator, int], np.ndarray]) -> None:
    x = sample(np.random.default_rng(20240611), 4000)
    worst, where = max_ulp_error(name, x)
    assert worst < 1.0, f"v{name} is {worst:.3f} ulp off at {where!r}"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "what", "sample"), RANGES, ids=[f"{n}: {w}" for n, w, _ in RANGES])
def test_within_one_ulp_long(name: str, what: str, sample: Callable[[np.random.Generator, int], np.ndarray]) -> None:
    x = sample(np.random.default_rng(7), 300_000)
    worst, where = max_ulp_error(name, x)
    print(f"v{name} on {what}: max {worst:.4f} ulp at {where!r}")
    assert worst < 1.0, f"v{name} is {worst:.3f} ulp off at {where!r}"


def test_log1p_is_x_for_tiny_x() -> None:
    x = _signed(np.random.default_rng(3), _loguniform(np.random.default_rng(4), 5e-324, 1e-17, 2000))
    assert np.array_equal(compiled("log1p", x), x)
    assert all(vlog1p(v) == v for v in x.tolist()[:200])


# --- special values ------------------------------------------------------------------------------

INF, NAN = math.inf, math.nan
MAX, TINY = 1.7976931348623157e308, 5e-324
SPECIAL: dict[str, list[tuple[float, float]]] = {
    "log": [(0.0, -INF), (-0.0, -INF), (-TINY, NAN), (-1.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN),
            (1.0, 0.0), (TINY, -744.4400719213812), (MAX, 709.782712893384), (2.0, math.log(2.0))],
    "exp": [(-INF, 0.0), (INF, INF), (NAN, NAN), (0.0, 1.0), (-0.0, 1.0), (710.0, INF), (1e300, INF),
            (MAX, INF), (-746.0, 0.0), (-1e300, 0.0), (-MAX, 0.0), (1.0, math.e),
            (-745.1332191019411, TINY), (-745.1332191019412, 0.0),  # the last one rounded up, and down
            (709.782712893384, 1.7976931348622732e308), (-708.3964185322641, 2.2250738585072626e-308)],
    "log1p": [(-1.0, -INF), (-1.0000000000000002, NAN), (-2.0, NAN), (-INF, NAN), (INF, INF), (NAN, NAN),
              (0.0, 0.0), (-0.0, -0.0), (TINY, TINY), (-TINY, -TINY), (1e-300, 1e-300), (MAX, 709.782712893384),
              (1.0, math.log(2.0)), (-0.5, math.log(0.5))],
}  # fmt: skip


def same(a: float, b: float) -> bool:
    """Equal, with nan equal to nan and -0.0 told from 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_values_python_and_compiled(name: str) -> None:
    xs = np.array([x for x, _ in SPECIAL[name]])
    out = compiled(name, xs)
    for (x, want), got in zip(SPECIAL[name], out.tolist(), strict=True):
        assert same(PY[name](x), want), f"v{name}({x!r}) = {PY[name](x)!r} in Python, want {want!r}"
        assert same(got, want), f"v{name}({x!r}) = {got!r} compiled, want {want!r}"


def test_agrees_with_numpy_on_special_values() -> None:
    """NumPy's log, exp and log1p define the special values (math.log raises on 0 and below)."""
    xs = np.array([0.0, -0.0, -TINY, -1.0, -1.0000000000000002, -INF, INF, NAN, 1e300, -1e300, 710.0, -746.0])
    ref = {"log": np.log, "exp": np.exp, "log1p": np.log1p}
    with np.errstate(all="ignore"):
        for name, fn in ref.items():
            want = fn(xs)
            for x, w, got in zip(xs.tolist(), want.tolist(), compiled(name, xs).tolist(), strict=True):
                assert same(got, w), f"v{name}({x!r}) = {got!r}, numpy says {w!r}"
                assert same(PY[name](x), w), f"v{name}({x!r}) = {PY[name](x)!r} in Python, numpy says {w!r}"


def test_python_never_raises_nor_warns_on_numpy_scalars() -> None:
    xs = [0.0, -0.0, -1.0, -2.0, 1e-300, 5e-324, 1000.0, -1000.0, INF, -INF, NAN, MAX, -MAX]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        for fn in PY.values():
            for x in xs:
                got = fn(np.float64(x))
                assert type(got) is float and same(got, fn(x))


# --- Python == compiled --------------------------------------------------------------------------


def _mixed_sample(name: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    parts = [sample(rng, 600) for fn, _, sample in RANGES if fn == name]
    parts.append(np.array([x for x, _ in SPECIAL[name]]))
    parts.append(rng.uniform(-800.0, 800.0, 600))
    return np.concatenate(parts)


@pytest.mark.parametrize("name", sorted(PY))
def test_compiled_equals_python_bit_for_bit(name: str) -> None:
    x = _mixed_sample(name)
    got = compiled(name, x).view(np.int64)
    want = np.array([PY[name](v) for v in x.tolist()]).view(np.int64)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"v{name} differs at {x[bad[:5]].tolist()}"


def test_bit_helpers() -> None:
    assert float_bits(1.0) == 0x3FF0000000000000
    assert float_bits(-2.0) == -0x4000000000000000
    assert bits_float(0x7FF0000000000000) == INF
    assert bits_float(-0x4000000000000000) == -2.0
    assert bits_float(2**64 - 1) != bits_float(2**64 - 1)  # the low 64 bits: a nan
    assert ieee_div(1.0, 0.0) == INF and ieee_div(-1.0, 0.0) == -INF and ieee_div(1.0, -0.0) == -INF
    assert math.isnan(ieee_div(0.0, 0.0)) and ieee_div(3.0, 2.0) == 1.5
    assert select(True, 1.0, 2.0) == 1.0 and select(False, 1.0, 2.0) == 2.0

    @njit
    def helpers(x):  # type: ignore[no-untyped-def]
        return float_bits(x), bits_float(float_bits(x) + 1), ieee_div(x, 0.0), select(x > 0.0, 1.0, 2)

    assert helpers(1.0) == (0x3FF0000000000000, 1.0000000000000002, INF, 1.0)
    assert helpers(-1.0)[2:] == (-INF, 2.0)


def test_default_error_model_compiles_too() -> None:
    """A caller compiled with numba's default error model gets the same values, and no exception."""

    @njit
    def f(x):  # type: ignore[no-untyped-def]
        return vlog(x), vexp(x), vlog1p(x)

    for x in (0.0, -1.0, 0.5, 1e-300, 800.0, NAN):
        assert all(same(a, b) for a, b in zip(f(x), (vlog(x), vexp(x), vlog1p(x)), strict=True))


def test_inlined_twice_without_warnings() -> None:
    """Two calls in one function (binary cross-entropy has two logs) compile cleanly: no
    NumbaIRAssumptionWarning (see _vecmath.select)."""

    @njit(error_model="numpy")
    def bce(y, p):  # type: ignore[no-untyped-def]
        return -(y * vlog(p) + (1.0 - y) * vlog(1.0 - p)) + vlog1p(vexp(-p)) - vlog1p(vexp(p))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = bce(1.0, 0.25)
    assert got == -(vlog(0.25) + 0.0 * vlog(0.75)) + vlog1p(vexp(-0.25)) - vlog1p(vexp(0.25))


def test_import_is_light() -> None:
    code = "import sys, lossctl._vecmath; print(sorted(m for m in ('numba', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_register_numba_is_idempotent() -> None:
    _vecmath.register_numba()
    _vecmath.register_numba()
    assert np.array_equal(compiled("log", np.array([1.0, 2.0])), [0.0, math.log(2.0)])


# --- the vectoriser -------------------------------------------------------------------------------

# A reference to the C library's scalar functions, as numba's assembly spells a call.
LIBM_CALL = re.compile(r"^\s*(?:call\w*|jmp\w*|movabsq)\s+\$?(?:log|log1p|exp)(?:@PLT)?\b", re.M)
PACKED_YMM = re.compile(r"^\s*v\w+pd\s[^\n]*%ymm", re.M)


def _host_has_avx2() -> bool:
    from llvmlite import binding as llvm

    if config.CPU_NAME not in (None, "host"):  # compiling for another CPU than this one
        return False
    return bool(llvm.get_host_cpu_features().get("avx2", False))


def _asm(dispatcher: object, x: np.ndarray) -> str:
    dispatcher(x, np.empty_like(x))  # type: ignore[operator]
    return dispatcher.inspect_asm(dispatcher.signatures[0])  # type: ignore[attr-defined,no-any-return]


@pytest.mark.skipif(not _host_has_avx2(), reason="the CPU lacks AVX2")
@pytest.mark.parametrize("error_model", ["numpy", "python"])
@pytest.mark.parametrize("name", sorted(PY))
def test_loop_is_vectorised_with_avx2(name: str, error_model: str) -> None:
    """A plain @njit loop calling the function becomes packed ymm code, with no call of the C
    library, under either error model."""
    x = np.linspace(0.1, 2.0, 64)
    asm = _asm(map_loop(PY[name], error_model=error_model), x)
    assert len(PACKED_YMM.findall(asm)) >= 20, f"no packed ymm arithmetic in the v{name} loop"
    assert not LIBM_CALL.search(asm), f"the v{name} loop calls the C library"
    # The pattern does see numba's call of the C library, where there is one.
    libm = {"log": math.log, "exp": math.exp, "log1p": math.log1p}[name]
    assert LIBM_CALL.search(_asm(map_loop(libm, error_model=error_model), x))
