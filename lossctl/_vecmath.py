"""log, exp and log1p in plain arithmetic, so that LLVM vectorises the loops that call them.

numba lowers ``math.log`` and friends to calls of the scalar C library, four calls per AVX2
vector: a loop over a transcendental loss stays scalar. The functions here compute the same
values with polynomials, selects and float <-> int64 bit reinterpretation only, so when numba
inlines one into a simple loop, the loop vectoriser turns it into packed ymm code.

- ``vlog``: x = 2^k m with m in [sqrt(1/2), sqrt(2)) from the exponent bits, f = m - 1,
  s = f / (2 + f), log(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(s^2)) with R a minimax
  polynomial, plus k ln 2 in two parts (ln2_hi has trailing zero bits, so k ln2_hi is exact);
  the large terms k ln2_hi + f - f^2/2 are summed exactly (Dekker, Fast2Sum), which keeps the
  error below 0.7 ulp where they nearly cancel.
- ``vexp``: k = round(x / ln 2) by the 1.5 * 2^52 shifter, r = x - k ln 2 in two parts (Cody and
  Waite), e^r = 1 + r + r^2 q(r) with q a minimax polynomial, and 2^k applied as 2^a 2^(k - a)
  so that subnormal and overflowing results need no branch.
- ``vlog1p``: u = 1 + x with its rounding error c (exact, by Fast2Sum); log(1 + x) =
  log(u) + c / u, reduced as in ``vlog`` with c / u added to the small terms.

Each is within 1 ulp of the exact value (tests/test_vecmath.py measures it against mpmath),
never raises, and returns what NumPy returns for the special cases (``vlog(0) = -inf``,
``vlog(-1) = nan``, ``vexp(1000) = inf``, ``vlog1p(-0.0) = -0.0``, ...). Special cases are
selected after computing the main path for every input, and no int <-> float conversion
instruction is used (AVX2 has none for packed int64): exponents move between the two domains by
adding or or-ing 2^52.

The polynomial coefficients were fitted with ``mpmath.chebyfit`` (Chebyshev interpolation, near
minimax): R(z) / z = (2 atanh(s) / s - 2) / z with z = s^2 on [0, 0.02944], degree 6, relative
error 2^-50.9 (2^-57 of the result); q(r) = (e^r - 1 - r) / r^2 on [-0.3467, 0.3467], degree 10,
relative error 2^-57.5.

The same functions run as plain Python (``struct`` reinterprets the bits) and compile inside
numba with bit-for-bit the same results: every step is a correctly rounded IEEE operation or an
operation on int64 values, and numba contracts nothing into FMAs. :func:`register_numba`, which
whoever compiles kernels calls first, teaches numba the helpers (bitcasts, ``select``,
``ieee_div``) and makes ``vlog``, ``vexp`` and ``vlog1p`` callable by name from any ``@njit``
function. Each is compiled once per argument type with numba's ``forceinline`` (LLVM's
``alwaysinline``), so it is always inlined into its caller: left to its cost model, LLVM may keep
a call, and a call in a loop keeps the loop scalar. (numba's own ``inline="always"`` would do as
well, at a second more of compilation per kernel.) The caller needs no particular error model:
the divisions go through ``ieee_div``. Importing this module imports neither numba nor NumPy.

The vectoriser sees a loop only as far as inlining went: a kernel whose helper calls ``vlog``
must be inlined into the loop too (``njit(..., forceinline=True)``) for the loop to vectorise.
"""

from __future__ import annotations

import math
import struct
from typing import Any

_F64 = struct.Struct("<d")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")


def float_bits(x: float) -> int:
    """The bits of the float64 ``x``, as a signed 64-bit integer (numba: an LLVM bitcast)."""
    return _I64.unpack(_F64.pack(x))[0]  # type: ignore[no-any-return]


def bits_float(i: int) -> float:
    """The float64 whose bits are the low 64 bits of ``i`` (numba: an LLVM bitcast of an int64)."""
    return _F64.unpack(_U64.pack(i & 0xFFFF_FFFF_FFFF_FFFF))[0]  # type: ignore[no-any-return]


def select(condition: bool, a: float, b: float) -> float:
    """``a if condition else b``, both evaluated; in numba an LLVM ``select`` of two float64s.

    Not a conditional expression, which numba compiles to a branch for LLVM to flatten if it
    will, and which numba 0.68 on Python 3.11 mishandles in a function inlined twice into one
    caller at numba's IR level (numba issue 9489: a NumbaIRAssumptionWarning)."""
    return a if condition else b


def ieee_div(a: float, b: float) -> float:
    """a / b with IEEE results for b = 0 (+-inf, or nan for 0 / 0), never raising; in numba a plain
    ``fdiv`` whatever the caller's error model (numba's default one tests every divisor for 0,
    and that branch keeps LLVM from vectorising the loop)."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def vlog(x: float) -> float:
    """The natural logarithm, like ``numpy.log``: -inf at 0, nan below 0 and at nan, inf at inf."""
    x = float(x)  # a Python float in Python (NumPy scalars would warn, or raise under np.seterr)
    # Subnormals are scaled into the normal range by 2^54 first; 54 is taken off k below.
    tiny = x < 2.2250738585072014e-308
    ix = float_bits(select(tiny, x * 18014398509481984.0, x))
    # Adding 2^0 - bits(sqrt(1/2)) makes the exponent field step at sqrt(1/2) rather than at 1:
    # it is then k + 1023, and the mantissa field with bits(sqrt(1/2)) added back is m.
    hx = ix + 0x00095F619980C433
    # k as a float: 2^52 + the exponent field, minus 2^52 + 1023 (+ 54 for a scaled subnormal).
    k = bits_float(0x4330000000000000 | ((hx >> 52) & 0x7FF)) - select(tiny, 4503599627371573.0, 4503599627371519.0)
    y = _log_core(hx, k, 0.0)
    y = select(x < math.inf, y, x)  # inf -> inf, nan -> nan
    return select(x > 0.0, y, select(x == 0.0, -math.inf, math.nan))


def _log_core(h, k, c):  # type: ignore[no-untyped-def]
    """log(2^k m) + c, for the bits h of a value whose exponent field steps at sqrt(1/2) (see
    ``vlog``), k its exponent as a float and c a small correction (log1p's c / u)."""
    m = bits_float((h & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E667F3BCD)
    f = m - 1.0  # exact: m is in [0.707, 1.415)
    s = ieee_div(f, 2.0 + f)
    z = s * s
    w = z * z
    r = z * (
        0.666666666666667
        + w * (0.2857142862600327 + w * (0.18182889455674947 + w * 0.14616585424888623))
        + z * (0.39999999999899444 + w * (0.22222211130259878 + w * 0.15331710618210773))
    )
    # log(x) = k ln 2 + f - f^2/2 + s (f^2/2 + r). Where k ln 2 and log(m) nearly cancel (k = +-1,
    # m near sqrt(2) or sqrt(1/2)) the result loses a bit, so the large terms are summed exactly:
    # f^2/2 = hh + hl with hh exact (f split in halves, Dekker), and k ln2_hi + f - hh by two
    # Fast2Sums whose rounding errors e1, e2 join the small terms.
    fh = bits_float(float_bits(f) & -0x8000000)
    fl = f - fh
    hh = 0.5 * fh * fh
    hl = 0.5 * fl * (f + fh)
    a = k * 0.6931471805598903
    head = a + f
    e1 = f - (head - a)
    h2 = head - hh
    e2 = (head - h2) - hh
    y = h2 + ((e1 + e2) + ((s * ((hh + hl) + r) + (k * 5.497923018708371e-14 + c)) - hl))
    return y


def vexp(x: float) -> float:
    """e^x, like ``math.exp`` but never raising: inf above 709.78, 0 below -745.14, nan at nan."""
    x = float(x)
    # Clamped so that k below stays in [-1076, 1024]; nan becomes -746 here and is put back last.
    xc = select(x > -746.0, x, -746.0)
    xc = select(xc < 710.0, xc, 710.0)
    t = xc * 1.4426950408889634 + 6755399441055744.0  # 1.5 * 2^52 + k, k = round(x / ln 2)
    k = t - 6755399441055744.0
    hi = xc - k * 0.6931471805598903  # exact: k ln2_hi is exact, and it is within a factor 2 of xc
    lo = k * 5.497923018708371e-14
    r = hi - lo  # x - k ln 2, |r| < 0.3466
    rr = r * r
    r4 = rr * rr
    q = (0.5 + rr * 0.04166666666666667) + r4 * (
        (0.0013888888888883737 + rr * 2.480158732558584e-05)
        + r4 * (2.7557273594799413e-07 + rr * 2.0914707069612355e-09)
    )
    q += r * (
        (0.1666666666666667 + rr * 0.00833333333332612)
        + r4 * ((0.00019841269874873975 + rr * 2.755725533255441e-06) + r4 * 2.510524515390137e-08)
    )
    # e^r = 1 + hi - lo + r^2 q: 1 + hi is summed with its rounding error (Fast2Sum, |hi| < 1).
    one = 1.0 + hi
    p = one + ((hi - (one - 1.0)) - (lo - rr * q))
    # 2^k = 2^a 2^(k - a), a = floor(k / 2): both factors are normal for every k in range.
    ki = float_bits(t) - 0x4338000000000000
    ka = ki >> 1
    y = p * bits_float((ka + 1023) << 52) * bits_float((ki - ka + 1023) << 52)
    return select(x == x, y, x)


def vlog1p(x: float) -> float:
    """log(1 + x), like ``numpy.log1p``: -inf at -1, nan below -1, x itself for tiny x (and -0)."""
    x = float(x)
    u = 1.0 + x
    # The rounding error of 1 + x, exactly (Fast2Sum, the larger operand first): 1 + x = u + c.
    c = select(x < 1.0, x - (u - 1.0), 1.0 - (u - x))
    # u >= 2^-53 unless x <= -1: no subnormal to scale. Reduction as in vlog.
    hu = float_bits(u) + 0x00095F619980C433
    k = bits_float(0x4330000000000000 | ((hu >> 52) & 0x7FF)) - 4503599627371519.0
    # log(u + c) = log(u) + c / u (the next term, (c / u)^2 / 2 < 2^-105, is below any ulp here).
    y = _log_core(hu, k, ieee_div(c, u))
    y = select(x < math.inf, y, x)  # inf -> inf, nan -> nan
    y = select(x > -1.0, y, select(x == -1.0, -math.inf, math.nan))
    return select(x == 0.0, x, y)  # keeps the sign of -0.0


_FUNCTIONS = (vlog, vexp, vlog1p)
_registered: list[bool] = []


def register_numba() -> None:
    """Teach numba ``float_bits``, ``bits_float``, ``select`` and ``ieee_div`` (one LLVM instruction
    each), and ``vlog``, ``vexp`` and ``vlog1p`` themselves, always inlined, so that any ``@njit``
    function may call them by name. Idempotent; call it before compiling anything that uses them."""
    if _registered:
        return
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic, overload

    @intrinsic
    def _f64_as_i64(typingctx: Any, x: Any) -> Any:
        if x != types.float64:
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.IntType(64))

        return types.int64(types.float64), codegen

    @intrinsic
    def _i64_as_f64(typingctx: Any, i: Any) -> Any:
        if i != types.int64:
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.DoubleType())

        return types.float64(types.int64), codegen

    @intrinsic
    def _fdiv(typingctx: Any, a: Any, b: Any) -> Any:
        if a != types.float64 or b != types.float64:
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.fdiv(args[0], args[1])

        return types.float64(types.float64, types.float64), codegen

    @intrinsic
    def _select(typingctx: Any, c: Any, a: Any, b: Any) -> Any:
        if c != types.boolean or a != types.float64 or b != types.float64:
            return None

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            return builder.select(args[0], args[1], args[2])

        return types.float64(types.boolean, types.float64, types.float64), codegen

    real = (types.Float, types.Integer, types.Boolean)
    options = {"error_model": "numpy", "forceinline": True}

    # numba wants a typer's signature identical to its implementation's, annotations included:
    # these typers have none, as their lambdas.
    @overload(float_bits, jit_options=options)
    def _float_bits(x):  # type: ignore[no-untyped-def]
        return (lambda x: _f64_as_i64(float(x))) if isinstance(x, real) else None

    @overload(bits_float, jit_options=options)
    def _bits_float(i):  # type: ignore[no-untyped-def]
        return (lambda i: _i64_as_f64(types.int64(i))) if isinstance(i, (types.Integer, types.Boolean)) else None

    @overload(select, jit_options=options)
    def _select_impl(condition, a, b):  # type: ignore[no-untyped-def]
        if isinstance(condition, types.Boolean) and isinstance(a, real) and isinstance(b, real):
            return lambda condition, a, b: _select(condition, float(a), float(b))
        return None

    @overload(ieee_div, jit_options=options)
    def _ieee_div(a, b):  # type: ignore[no-untyped-def]
        return (lambda a, b: _fdiv(float(a), float(b))) if isinstance(a, real) and isinstance(b, real) else None

    def implementation(fn: Any) -> Any:
        # The Python function is its own numba implementation, so x is annotated as it is there
        # (it is a numba type here).
        def typer(x: float) -> Any:
            return fn if isinstance(x, real) else None

        return typer

    for fn in _FUNCTIONS:
        overload(fn, jit_options=options)(implementation(fn))

    @overload(_log_core, jit_options=options)
    def _log_core_typer(h, k, c):  # type: ignore[no-untyped-def]
        return _log_core

    _registered.append(True)
