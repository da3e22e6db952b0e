"""Custom losses from an expression: ``lossctl eval preds.csv --expr 'abs(r)**1.5'``.

The expression is a per-sample loss over ``y`` (the label), ``p`` (the prediction), ``r`` (= p - y)
and declared parameters. It is parsed by :func:`ast.parse` and then checked against an allow-list
into a small immutable tree of our own (:class:`Expr`); nothing the user typed is ever passed to
``eval`` or ``exec``. The tree writes the Python source of a scalar kernel over ``math`` (which the
engine compiles with numba into the same fused loops as the built-in losses), the source of an
independent vectorised NumPy reference, and its own symbolic derivative with respect to ``p``.

Generated code is produced only from the validated tree: numbers are printed with
``repr(float(...))``, names come from the allow-list or are declared parameter names that were
checked to be plain identifiers, so no text from the user reaches Python verbatim.

This module imports neither NumPy nor numba: the CLI parses ``--expr`` on its fast start-up path.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import keyword
import math
import numbers
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lossctl.errors import UsageError, did_you_mean
from lossctl.registry import RESERVED_PARAM_NAMES

if TYPE_CHECKING:
    from lossctl.registry import Loss

MAX_LENGTH = 1000
MAX_DEPTH = 64

DATA_NAMES = ("y", "p", "r")
CONSTANTS = {"pi": math.pi, "e": math.e, "inf": math.inf}
# Function name -> how it is called (its arity is the number of arguments shown).
FUNCTIONS = {
    "abs": "abs(x)",
    "sqrt": "sqrt(x)",
    "exp": "exp(x)",
    "expm1": "expm1(x)",
    "log": "log(x)",
    "log1p": "log1p(x)",
    "log2": "log2(x)",
    "log10": "log10(x)",
    "sin": "sin(x)",
    "cos": "cos(x)",
    "tan": "tan(x)",
    "tanh": "tanh(x)",
    "sinh": "sinh(x)",
    "cosh": "cosh(x)",
    "atan": "atan(x)",
    "asinh": "asinh(x)",
    "erf": "erf(x)",
    "sign": "sign(x)",
    "sigmoid": "sigmoid(x)",
    "softplus": "softplus(x)",
    "min": "min(a, b)",
    "max": "max(a, b)",
    "clip": "clip(x, lo, hi)",
    "where": "where(cond, a, b)",
    "pow": "pow(a, b)",
}
ARITY = {name: call.count(",") + 1 for name, call in FUNCTIONS.items()}
# Names the generated modules use themselves, so a parameter may not take them.
# The generated modules' own names, and lossctl.evaluate's keyword arguments.
RESERVED = frozenset({"math", "np"}) | RESERVED_PARAM_NAMES

_FUNC_LIST = ", ".join(FUNCTIONS)
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
_LOSS_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _fail(message: str) -> UsageError:
    return UsageError(f"expression: {message}")


# ---------------------------------------------------------------------------------------------
# The tree. Value nodes compute a number; condition nodes (Compare, BoolOp, Not) a truth value,
# and appear only as the condition of ``where`` or ``a if cond else b``.


class Expr:
    """An immutable, validated expression tree (the root of one, or any of its nodes)."""

    __slots__ = ()

    def children(self) -> tuple[Expr, ...]:
        return ()

    def walk(self) -> Iterator[Expr]:
        """Every distinct node once. A derivative shares subtrees (f(u)' refers to u and u' more
        than once), so it is a graph whose unfolded size can be exponential: every traversal
        here visits a shared node once."""
        seen: set[int] = set()
        stack: list[Expr] = [self]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            stack.extend(reversed(node.children()))

    def size(self) -> int:
        """The number of nodes of the expression written out as text (shared subtrees counted
        each time they occur)."""
        sizes: dict[int, int] = {}
        stack: list[Expr] = [self]
        while stack:  # post-order: a node is sized once all its children are
            node = stack[-1]
            todo = [c for c in node.children() if id(c) not in sizes]
            if todo:
                stack.extend(todo)
            else:
                stack.pop()
                sizes[id(node)] = 1 + sum(sizes[id(c)] for c in node.children())
        return sizes[id(self)]

    @property
    def names(self) -> frozenset[str]:
        """The parameter names the expression uses."""
        return frozenset(n.id for n in self.walk() if isinstance(n, Name) and n.id not in DATA_NAMES)

    @property
    def data_names(self) -> frozenset[str]:
        """Which of y, p and r the expression uses."""
        return frozenset(n.id for n in self.walk() if isinstance(n, Name) and n.id in DATA_NAMES)

    def depends_on_p(self) -> bool:
        return any(isinstance(n, Name) and n.id in ("p", "r") for n in self.walk())

    def __str__(self) -> str:
        """The normalised text (Python syntax, which :func:`parse` reads back to the same tree).
        A derivative written out can be far longer than its code: see :meth:`size`."""
        return _fmt(self, 0)

    def source(self) -> str:
        """Python source over ``math`` for the body of a numba-compilable scalar function of
        ``(y, p, <parameters>)``: statements ending in ``return``, one per distinct operation
        (a repeated subexpression is computed once). Python's ``abs`` is the only builtin it
        calls; sign, sigmoid, softplus, min, max, clip and where are written out as conditional
        expressions. Both branches of a ``where`` are computed, which numba turns into branch-free
        selects; that is safe because nothing here raises (numba's math gives NaN or inf)."""
        return _Writer("math").body(self)

    def numpy_source(self) -> str:
        """Vectorised NumPy source for the body of a function of arrays ``y``, ``p`` and parameter
        values (``np`` being NumPy; ``_erf`` a NumPy erf), statements ending in ``return``. It is
        written independently of :meth:`source` (np.where, np.logaddexp, np.minimum, ...)."""
        return _Writer("numpy").body(self)

    def derivative(self) -> Expr:
        """The derivative with respect to ``p`` (dr/dp = 1, dy/dp = 0), folding only 0 and 1."""
        return _Derivative().d(self)


@dataclass(frozen=True, slots=True)
class Num(Expr):
    value: float


@dataclass(frozen=True, slots=True)
class Const(Expr):
    id: str  # pi, e or inf

    @property
    def value(self) -> float:
        return CONSTANTS[self.id]


@dataclass(frozen=True, slots=True)
class Name(Expr):
    id: str  # y, p, r or a declared parameter


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True, slots=True)
class BinOp(Expr):
    op: str  # + - * / **
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: str  # a FUNCTIONS name other than where and pow
    args: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class IfExp(Expr):
    """``where(test, body, orelse)``, or ``body if test else orelse`` when not ``call_form``."""

    test: Expr
    body: Expr
    orelse: Expr
    call_form: bool = True

    def children(self) -> tuple[Expr, ...]:
        return (self.test, self.body, self.orelse)


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    ops: tuple[str, ...]  # < <= > >= == !=
    operands: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.operands


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # and, or
    values: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.values


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


def _is_condition(node: Expr) -> bool:
    return isinstance(node, Compare | BoolOp | Not)


# ---------------------------------------------------------------------------------------------
# Parsing: Python's parser, then an allow-list walk into the tree above.

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_BINOPS = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_REFUSED_CMPOPS = {ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}
_USE_NAMES = "use y, p, r, the constants pi, e, inf"


def check_param_names(params: Collection[str]) -> tuple[str, ...]:
    """The declared parameter names, in order, each checked to be usable."""
    out: list[str] = []
    for name in params:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise _fail(
                f"parameter name {name!r} is not allowed; a parameter name starts with a letter and "
                "holds only letters, digits and _ (for example -p delta=1.0)"
            )
        if name in DATA_NAMES:
            raise _fail(f"parameter name '{name}' is taken: y, p and r are the label, the prediction and p - y")
        if name in FUNCTIONS or name in CONSTANTS:
            kind = "function" if name in FUNCTIONS else "constant"
            raise _fail(f"parameter name '{name}' is the name of a {kind}; pick another name")
        if keyword.iskeyword(name) or name in RESERVED:
            raise _fail(f"parameter name '{name}' is reserved; pick another name")
        if name in out:
            raise _fail(f"parameter '{name}' is declared twice")
        out.append(name)
    return tuple(out)


def parse(text: str, params: Collection[str] = ()) -> Expr:
    """Parse and validate ``text``; ``params`` are the declared parameter names.

    Raises :class:`~lossctl.errors.UsageError` with one line naming the offending piece.
    """
    declared = check_param_names(params)
    if not isinstance(text, str) or not text.strip():
        raise _fail("it is empty; write a per-sample loss over y, p and r = p - y, such as abs(r)**1.5")
    if len(text) > MAX_LENGTH:
        raise _fail(f"it is {len(text)} characters long; the limit is {MAX_LENGTH}")
    _check_bracket_depth(text)
    stripped = text.strip()
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        if exc.lineno and exc.lineno > 1:
            where = f"line {exc.lineno}, column {exc.offset}"
        else:  # a column of the text as typed, leading blanks included
            where = f"column {(exc.offset or len(stripped)) + len(text) - len(text.lstrip())}"
        raise _fail(f"invalid syntax at {where}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise _fail(f"it is nested too deeply; the limit is {MAX_DEPTH} levels") from None
    except ValueError as exc:  # such as a null byte
        raise _fail(f"invalid text: {exc}") from None
    expr = _Converter(stripped, declared).value(tree.body, 1)
    if not expr.data_names:
        raise _fail(
            f"'{_short(str(expr))}' does not use y, p or r, so it is a constant, and a constant is "
            "not a loss; write it in terms of the label y, the prediction p or r = p - y"
        )
    return expr


def _check_bracket_depth(text: str) -> None:
    depth = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(f"it is nested more than {MAX_DEPTH} brackets deep")
        elif ch in ")]}":
            depth -= 1


def _short(piece: str, limit: int = 60) -> str:
    piece = " ".join(piece.split())
    return piece if len(piece) <= limit else piece[: limit - 1] + "…"


class _Converter:
    def __init__(self, text: str, params: tuple[str, ...]) -> None:
        self.text = text
        self.params = params

    def piece(self, node: ast.AST) -> str:
        segment = ast.get_source_segment(self.text, node)
        return _short(segment if segment is not None else type(node).__name__)

    def _enter(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _fail(f"it is nested more than {MAX_DEPTH} levels deep; simplify it")

    def value(self, node: ast.AST, depth: int) -> Expr:
        """A node that must compute a number."""
        self._enter(depth)
        d = depth + 1
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return Neg(self.value(node.operand, d))
            if isinstance(node.op, ast.UAdd):
                return self.value(node.operand, d)
            if isinstance(node.op, ast.Not):
                raise _fail(
                    f"'not' gives true or false, not a number ({self.piece(node)}); use it only in a "
                    "condition, as in where(not r > 0, a, b)"
                )
            raise _fail(f"operator '~' is not allowed ({self.piece(node)}); use + - * / **")
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                sym = _REFUSED_BINOPS.get(type(node.op), type(node.op).__name__)
                raise _fail(f"operator '{sym}' is not allowed ({self.piece(node)}); use + - * / **")
            return BinOp(op, self.value(node.left, d), self.value(node.right, d))
        if isinstance(node, ast.IfExp):
            return IfExp(self.condition(node.test, d, "the condition of 'a if cond else b'"),
                         self.value(node.body, d), self.value(node.orelse, d), call_form=False)  # fmt: skip
        if isinstance(node, ast.Call):
            return self.call(node, d)
        if isinstance(node, ast.Compare | ast.BoolOp):
            self.condition(node, depth, "a condition")  # refuses a bad operator or operand first
            piece = self.piece(node)
            raise _fail(
                f"a comparison gives true or false, not a number ({piece}); use it as a condition, "
                f"as in where({piece}, 1, 0)"
            )
        raise self.refuse(node)

    def condition(self, node: ast.AST, depth: int, role: str) -> Expr:
        """A node that must give a truth value: comparisons joined by and, or, not."""
        self._enter(depth)
        d = depth + 1
        if isinstance(node, ast.Compare):
            ops = []
            for op in node.ops:
                sym = _CMPOPS.get(type(op))
                if sym is None:
                    bad = _REFUSED_CMPOPS.get(type(op), type(op).__name__)
                    raise _fail(f"comparison '{bad}' is not allowed ({self.piece(node)}); use < <= > >= == !=")
                ops.append(sym)
            operands = (self.value(node.left, d), *(self.value(c, d) for c in node.comparators))
            return Compare(tuple(ops), operands)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            return BoolOp(op, tuple(self.condition(v, d, f"an operand of '{op}'") for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Not(self.condition(node.operand, d, "the operand of 'not'"))
        if isinstance(node, ast.Constant | ast.Name | ast.UnaryOp | ast.BinOp | ast.Call | ast.IfExp):
            # Check it is a valid value first, so the message names the real problem.
            self.value(node, depth)
            raise _fail(
                f"{role} must be a comparison such as r > 0, not {self.piece(node)} "
                "(a number is not taken as true or false)"
            )
        raise self.refuse(node)

    def constant(self, node: ast.Constant) -> Expr:
        v = node.value
        if isinstance(v, bool):
            raise _fail(f"{v} is not a number it takes; write 1 or 0, or use a comparison in where(...)")
        if isinstance(v, int):
            try:
                return Num(float(v))
            except OverflowError:
                raise _fail(f"the number {self.piece(node)} is too large; use inf") from None
        if isinstance(v, float):
            return Const("inf") if math.isinf(v) else Num(v)
        if isinstance(v, complex):
            raise _fail(f"complex numbers ({self.piece(node)}) are not allowed; use real numbers")
        if isinstance(v, str | bytes):
            raise _fail(f"text ({self.piece(node)}) is not allowed; use numbers, y, p, r and parameters")
        if v is None:
            raise _fail("None is not allowed; use numbers, y, p, r and parameters")
        if v is Ellipsis:
            raise _fail("'...' is not allowed; use numbers, y, p, r and parameters")
        raise _fail(f"{self.piece(node)} is not allowed; use numbers, y, p, r and parameters")

    def name(self, node: ast.Name) -> Expr:
        ident = node.id
        if ident.startswith("_"):
            raise _fail(f"names starting with '_' ({_short(ident)}) are not allowed; {_USE_NAMES} or a parameter")
        if ident in DATA_NAMES or ident in self.params:
            return Name(ident)
        if ident in CONSTANTS:
            return Const(ident)
        if ident in FUNCTIONS:
            raise _fail(f"'{ident}' is a function; call it, as in {FUNCTIONS[ident]}")
        declared = f" (declared: {', '.join(self.params)})" if self.params else ""
        hint = did_you_mean(ident, (*DATA_NAMES, *CONSTANTS, *self.params, *FUNCTIONS))
        raise _fail(
            f"'{_short(ident)}' is not a name it can use; {_USE_NAMES}, or a parameter declared with "
            f"-p {_short(ident)}=VALUE{declared}.{hint}"
        )

    def call(self, node: ast.Call, depth: int) -> Expr:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr in FUNCTIONS:
                raise _fail(
                    f"attribute access ({self.piece(func)}) is not allowed; call {func.attr}(...) by its bare name"
                )
            raise self.refuse(func)
        if not isinstance(func, ast.Name):
            if isinstance(func, ast.Call):
                raise _fail(
                    f"calling the result of a call ({self.piece(node)}) is not allowed; "
                    f"call one of the functions {_FUNC_LIST} by name"
                )
            raise self.refuse(func)
        ident = func.id
        if ident not in FUNCTIONS:
            if ident.startswith("_"):
                raise _fail(f"names starting with '_' ({_short(ident)}) are not allowed; use one of {_FUNC_LIST}")
            hint = did_you_mean(ident, FUNCTIONS)
            raise _fail(f"'{_short(ident)}' is not a function it can use; use one of {_FUNC_LIST}.{hint}")
        if node.keywords:
            raise _fail(
                f"keyword arguments ({self.piece(node)}) are not allowed; pass positional arguments, "
                f"as in {FUNCTIONS[ident]}"
            )
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise _fail(
                f"starred arguments ({self.piece(node)}) are not allowed; pass positional arguments, "
                f"as in {FUNCTIONS[ident]}"
            )
        if len(node.args) != ARITY[ident]:
            n = ARITY[ident]
            raise _fail(
                f"{ident} takes {n} argument{'s' if n > 1 else ''}, {FUNCTIONS[ident]}, "
                f"but {self.piece(node)} gives {len(node.args)}"
            )
        if ident == "where":
            test = self.condition(node.args[0], depth, "the first argument of where")
            return IfExp(test, self.value(node.args[1], depth), self.value(node.args[2], depth))
        args = tuple(self.value(a, depth) for a in node.args)
        if ident == "pow":
            return BinOp("**", *args)
        return Call(ident, args)

    def refuse(self, node: ast.AST) -> UsageError:
        piece = self.piece(node)
        if isinstance(node, ast.Attribute):
            return _fail(f"attribute access ({piece}) is not allowed; use functions such as exp(r)")
        if isinstance(node, ast.Subscript):
            return _fail(f"indexing ({piece}) is not allowed; y, p and r are single values")
        if isinstance(node, ast.Lambda):
            return _fail(f"lambda ({piece}) is not allowed; write the loss as one expression")
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            return _fail(f"comprehensions ({piece}) are not allowed; write the loss as one expression")
        if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
            return _fail(f"lists, tuples, sets and dicts ({piece}) are not allowed; write a single number")
        if isinstance(node, ast.JoinedStr | ast.FormattedValue):
            return _fail(f"f-strings ({piece}) are not allowed; use numbers, y, p, r and parameters")
        if isinstance(node, ast.NamedExpr):
            return _fail(f"assignment ({piece}) is not allowed; write the loss as one expression")
        if isinstance(node, ast.Starred):
            return _fail(f"starred expressions ({piece}) are not allowed")
        if isinstance(node, ast.Await | ast.Yield | ast.YieldFrom):
            return _fail(f"'{piece}' is not allowed; write the loss as one expression")
        return _fail(f"{type(node).__name__} ({piece}) is not allowed; use numbers, y, p, r, parameters, "
                     f"+ - * / **, comparisons and the functions {_FUNC_LIST}")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The normalised text: Python precedence, only the brackets needed; it parses back to the tree.

_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7, "**": 8, "atom": 9}


def _num_text(v: float) -> str:
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _prec(node: Expr) -> int:
    if isinstance(node, Num):
        return _PREC["neg"] if math.copysign(1.0, node.value) < 0 else _PREC["atom"]
    if isinstance(node, Neg):
        return _PREC["neg"]
    if isinstance(node, BinOp):
        return _PREC[node.op]
    if isinstance(node, Compare):
        return _PREC["cmp"]
    if isinstance(node, BoolOp):
        return _PREC[node.op]
    if isinstance(node, Not):
        return _PREC["not"]
    if isinstance(node, IfExp) and not node.call_form:
        return 0
    return _PREC["atom"]


def _fmt(node: Expr, need: int) -> str:
    text = _fmt_bare(node)
    return f"({text})" if _prec(node) < need else text


def _fmt_bare(node: Expr) -> str:
    if isinstance(node, Num):
        return _num_text(node.value)
    if isinstance(node, Const | Name):
        return node.id
    if isinstance(node, Neg):
        return "-" + _fmt(node.operand, _PREC["neg"])
    if isinstance(node, BinOp):
        p = _PREC[node.op]
        if node.op == "**":  # right-associative; its right operand may be a unary minus
            return f"{_fmt(node.left, p + 1)} ** {_fmt(node.right, _PREC['neg'])}"
        return f"{_fmt(node.left, p)} {node.op} {_fmt(node.right, p + 1)}"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(_fmt(a, 0) for a in node.args)})"
    if isinstance(node, IfExp):
        if node.call_form:
            return f"where({_fmt(node.test, 0)}, {_fmt(node.body, 0)}, {_fmt(node.orelse, 0)})"
        return f"{_fmt(node.body, 1)} if {_fmt(node.test, 1)} else {_fmt(node.orelse, 0)}"
    if isinstance(node, Compare):
        parts = [_fmt(node.operands[0], _PREC["cmp"] + 1)]
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            parts += [op, _fmt(operand, _PREC["cmp"] + 1)]
        return " ".join(parts)
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(_fmt(v, _PREC[node.op] + 1) for v in node.values)
    if isinstance(node, Not):
        return "not " + _fmt(node.operand, _PREC["not"])
    raise TypeError(f"not an expression node: {node!r}")


# ---------------------------------------------------------------------------------------------
# The derivative with respect to p. Helpers fold 0 and 1 only; nothing is evaluated that could
# overflow or raise (powers, logs and divisions of constants are left to run time).

ZERO = Num(0.0)
ONE = Num(1.0)


def _zero(e: Expr) -> bool:
    return isinstance(e, Num) and e.value == 0.0


def _one(e: Expr) -> bool:
    return isinstance(e, Num) and e.value == 1.0


def _add(a: Expr, b: Expr) -> Expr:
    return b if _zero(a) else a if _zero(b) else BinOp("+", a, b)


def _sub(a: Expr, b: Expr) -> Expr:
    return a if _zero(b) else _neg(b) if _zero(a) else BinOp("-", a, b)


def _mul(a: Expr, b: Expr) -> Expr:
    if _zero(a) or _zero(b):
        return ZERO
    return b if _one(a) else a if _one(b) else BinOp("*", a, b)


def _div(a: Expr, b: Expr) -> Expr:
    return ZERO if _zero(a) else a if _one(b) else BinOp("/", a, b)


def _neg(a: Expr) -> Expr:
    if _zero(a):
        return ZERO
    return a.operand if isinstance(a, Neg) else Neg(a)


def _pow(a: Expr, b: Expr) -> Expr:
    if _one(b):
        return a  # x ** 1 == x for every float x
    if _zero(b):
        return ONE  # x ** 0 == 1 for every float x, NaN included
    return BinOp("**", a, b)


def _same(a: Expr, b: Expr, seen: set[tuple[int, int]] | None = None) -> bool:
    """Structural equality that visits each pair of shared nodes once (``==`` would unfold them)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return True
    seen.add((id(a), id(b)))
    ca, cb = a.children(), b.children()
    if len(ca) != len(cb):
        return False
    if not ca:
        return a == b  # leaves
    for field in ("op", "ops", "func", "call_form"):
        if getattr(a, field, None) != getattr(b, field, None):
            return False
    return all(_same(x, z, seen) for x, z in zip(ca, cb, strict=True))


def _where(test: Expr, a: Expr, b: Expr, call_form: bool = True) -> Expr:
    return a if _same(a, b) else IfExp(test, a, b, call_form)


def _f(func: str, *args: Expr) -> Expr:
    return Call(func, args)


def _literal(e: Expr) -> float | None:
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Neg) and isinstance(e.operand, Num):
        return -e.operand.value
    return None


def _least(da: Expr, db: Expr) -> Expr:
    """The element of least magnitude between da and db: 0 if their signs differ, else the
    smaller in magnitude. At a tie of min or max this is the subgradient of least magnitude."""
    if _zero(da) or _zero(db):
        return ZERO
    if _same(da, db):
        return da
    a, b = _literal(da), _literal(db)
    if a is not None and b is not None:  # two numbers: decided here by comparisons alone
        if (a > 0.0) != (b > 0.0):
            return ZERO
        return da if abs(a) <= abs(b) else db
    smaller = IfExp(Compare(("<=",), (_f("abs", da), _f("abs", db))), da, db)
    return IfExp(Compare(("==",), (_f("sign", da), _f("sign", db))), smaller, ZERO)


class _Derivative:
    """d/dp of one expression. Results are memoised per node, so a shared subtree (as in the
    derivative of a derivative) is differentiated once."""

    def __init__(self) -> None:
        self.memo: dict[int, tuple[Expr, Expr]] = {}  # id(node) -> (node, its derivative)

    def d(self, node: Expr) -> Expr:
        known = self.memo.get(id(node))
        if known is None:
            known = (node, self._d(node))  # keeps node alive, so its id is not reused
            self.memo[id(node)] = known
        return known[1]

    def minmax(self, func: str, a: Expr, b: Expr) -> Expr:
        """min or max: the derivative of the branch chosen; at a tie, the one of least magnitude."""
        da, db = self.d(a), self.d(b)
        if _same(da, db):
            return da
        op = "<" if func == "min" else ">"
        return _where(Compare((op,), (a, b)), da, _where(Compare((op,), (b, a)), db, _least(da, db)))

    def _d(self, node: Expr) -> Expr:
        if _is_condition(node):
            raise TypeError("a condition has no derivative")
        if not node.depends_on_p():
            return ZERO
        if isinstance(node, Name):
            return ONE  # p or r (y and the parameters do not depend on p)
        if isinstance(node, Neg):
            return _neg(self.d(node.operand))
        if isinstance(node, IfExp):
            return _where(node.test, self.d(node.body), self.d(node.orelse), node.call_form)
        if isinstance(node, BinOp):
            u, v = node.left, node.right
            du, dv = self.d(u), self.d(v)
            if node.op == "+":
                return _add(du, dv)
            if node.op == "-":
                return _sub(du, dv)
            if node.op == "*":
                return _add(_mul(du, v), _mul(u, dv))
            if node.op == "/":  # u'/v - (u/v) v'/v
                return _sub(_div(du, v), _div(_mul(_div(u, v), dv), v))
            # u ** v
            if _zero(dv):
                # c u**(c-1) u'. c - 1 of a literal is computed here: the same float as at run time.
                lower = Num(v.value - 1.0) if isinstance(v, Num) else BinOp("-", v, ONE)
                return _mul(_mul(v, _pow(u, lower)), du)
            if _zero(du):
                return _mul(_mul(node, _f("log", u)), dv)
            return _mul(node, _add(_mul(dv, _f("log", u)), _div(_mul(v, du), u)))
        if isinstance(node, Call):
            if node.func in ("min", "max"):
                return self.minmax(node.func, *node.args)
            if node.func == "clip":  # clip(x, lo, hi) = min(max(x, lo), hi), as NumPy defines it
                x, lo, hi = node.args
                return self.minmax("min", _f("max", x, lo), hi)
            (u,) = node.args
            return _mul(_chain(node.func, u, node), self.d(u))
        raise TypeError(f"not an expression node: {node!r}")


def _chain(func: str, u: Expr, fu: Expr) -> Expr:
    """f'(u) for a one-argument function f (``fu`` is f(u) itself)."""
    if func == "abs":
        return _f("sign", u)  # 0 at u = 0: the subgradient of least magnitude
    if func == "sqrt":
        return _div(ONE, _mul(Num(2.0), fu))
    if func in ("exp", "expm1"):
        return _f("exp", u)
    if func == "log":
        return _div(ONE, u)
    if func == "log1p":
        return _div(ONE, BinOp("+", ONE, u))
    if func == "log2":
        return _div(ONE, _mul(u, Num(_LN2)))
    if func == "log10":
        return _div(ONE, _mul(u, Num(_LN10)))
    if func == "sin":
        return _f("cos", u)
    if func == "cos":
        return _neg(_f("sin", u))
    if func == "tan":
        return BinOp("+", ONE, _mul(fu, fu))
    if func == "tanh":
        return BinOp("-", ONE, _mul(fu, fu))
    if func == "sinh":
        return _f("cosh", u)
    if func == "cosh":
        return _f("sinh", u)
    if func == "atan":
        return _div(ONE, BinOp("+", ONE, _mul(u, u)))
    if func == "asinh":
        return _div(ONE, _f("sqrt", BinOp("+", _mul(u, u), ONE)))
    if func == "erf":
        return _mul(Num(_TWO_OVER_SQRT_PI), _f("exp", _neg(_mul(u, u))))
    if func == "sign":
        return ZERO
    if func == "sigmoid":  # s(u) (1 - s(u)) written as s(u) s(-u): no cancellation for large u
        return _mul(fu, _f("sigmoid", _neg(u)))
    if func == "softplus":
        return _f("sigmoid", u)
    raise TypeError(f"no derivative rule for {func}")


# ---------------------------------------------------------------------------------------------
# Code generation. Every compound node gets its own temporary (``_t0``, ``_t1``, ...; parameter
# names cannot start with "_"), so each operator sees only names and literals, a repeated
# subexpression is computed once, and CPython never folds a constant expression such as
# (-8.0) ** 0.5 into a complex number before numba sees it.

_MATH_FUNCS = {
    "sqrt": "math.sqrt",
    "exp": "math.exp",
    "expm1": "math.expm1",
    "log": "math.log",
    "log1p": "math.log1p",
    "log2": "math.log2",
    "log10": "math.log10",
    "sin": "math.sin",
    "cos": "math.cos",
    "tan": "math.tan",
    "tanh": "math.tanh",
    "sinh": "math.sinh",
    "cosh": "math.cosh",
    "atan": "math.atan",
    "asinh": "math.asinh",
    "erf": "math.erf",
    "abs": "abs",
}
_NUMPY_FUNCS = {
    "abs": "np.abs",
    "sqrt": "np.sqrt",
    "exp": "np.exp",
    "expm1": "np.expm1",
    "log": "np.log",
    "log1p": "np.log1p",
    "log2": "np.log2",
    "log10": "np.log10",
    "sin": "np.sin",
    "cos": "np.cos",
    "tan": "np.tan",
    "tanh": "np.tanh",
    "sinh": "np.sinh",
    "cosh": "np.cosh",
    "atan": "np.arctan",
    "asinh": "np.arcsinh",
    "erf": "_erf",
    "sign": "np.sign",
    "min": "np.minimum",
    "max": "np.maximum",
}


class _Writer:
    """Straight-line code, one statement per distinct operation (value numbering): a node seen
    before (the same object, or the same operation on the same temporaries) reuses its temporary,
    so the code grows with the number of distinct subexpressions, never with the written-out size
    of a derivative."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.lines: list[str] = []
        self.by_node: dict[int, tuple[Expr, str]] = {}  # id(node) -> (node, atom)
        self.by_text: dict[str, str] = {}  # right-hand side -> the temporary holding it

    def body(self, expr: Expr) -> str:
        self.lines.append("r = p - y")
        self.lines.append(f"return {self.atom(expr)}")
        return "\n".join(self.lines) + "\n"

    def literal(self, v: float) -> str:
        text = repr(float(v))
        return f"({text})" if text.startswith("-") else text

    def atom(self, node: Expr) -> str:
        """A name or literal holding the node's value, emitting the statements that compute it."""
        if isinstance(node, Num):
            return self.literal(node.value)
        if isinstance(node, Const):
            return f"{'math' if self.dialect == 'math' else 'np'}.{node.id}"
        if isinstance(node, Name):
            return node.id
        known = self.by_node.get(id(node))
        if known is not None:
            return known[1]
        text = self.expression(node)
        name = self.by_text.get(text)
        if name is None:
            name = f"_t{len(self.by_text)}"
            self.by_text[text] = name
            self.lines.append(f"{name} = {text}")
        self.by_node[id(node)] = (node, name)  # the node is kept, so its id is not reused
        return name

    def expression(self, node: Expr) -> str:
        numpy = self.dialect == "numpy"
        if isinstance(node, Neg):
            return f"-{self.atom(node.operand)}"
        if isinstance(node, BinOp):
            a, b = self.atom(node.left), self.atom(node.right)
            if numpy and node.op in ("/", "**"):  # Python floats would raise or turn complex
                return f"np.{'divide' if node.op == '/' else 'power'}({a}, {b})"
            return f"{a} {node.op} {b}"
        if isinstance(node, Compare):
            atoms = [self.atom(o) for o in node.operands]
            parts = [f"{a} {op} {b}" for a, op, b in zip(atoms, node.ops, atoms[1:], strict=False)]
            return self.join("and", parts)
        if isinstance(node, BoolOp):
            return self.join(node.op, [self.atom(v) for v in node.values])
        if isinstance(node, Not):
            operand = self.atom(node.operand)
            return f"np.logical_not({operand})" if numpy else f"not {operand}"
        if isinstance(node, IfExp):
            test, body, orelse = self.atom(node.test), self.atom(node.body), self.atom(node.orelse)
            return f"np.where({test}, {body}, {orelse})" if numpy else f"{body} if {test} else {orelse}"
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"not an expression node: {node!r}")

    def join(self, op: str, parts: list[str]) -> str:
        if len(parts) == 1:
            return parts[0]
        if self.dialect == "math":
            return f" {op} ".join(f"({p})" for p in parts)
        out = f"({parts[0]})"
        for part in parts[1:]:
            out = f"np.logical_{op}({out}, ({part}))"
        return out

    def call(self, node: Call) -> str:
        func = node.func
        if func == "clip":  # clip(x, lo, hi) = min(max(x, lo), hi), as NumPy defines it
            x, lo, hi = node.args
            return self.call(Call("min", (Call("max", (x, lo)), hi)))
        args = [self.atom(a) for a in node.args]
        if self.dialect == "numpy":
            if func == "sigmoid":
                return f"np.exp(-np.logaddexp(0.0, -{args[0]}))"
            if func == "softplus":
                return f"np.logaddexp(0.0, {args[0]})"
            return f"{_NUMPY_FUNCS[func]}({', '.join(args)})"
        if func in _MATH_FUNCS:
            return f"{_MATH_FUNCS[func]}({args[0]})"
        if func == "sign":
            (a,) = args
            return f"1.0 if {a} > 0.0 else (-1.0 if {a} < 0.0 else (0.0 if {a} == 0.0 else {a}))"
        if func == "sigmoid":  # never exp of a large positive number
            (a,) = args
            return f"1.0 / (1.0 + math.exp(-{a})) if {a} >= 0.0 else math.exp({a}) / (1.0 + math.exp({a}))"
        if func == "softplus":  # max(x, 0) + log1p(exp(-|x|)): no overflow, exact for large |x|
            (a,) = args
            return f"({a} if {a} > 0.0 else 0.0) + math.log1p(math.exp(-abs({a})))"
        if func in ("min", "max"):  # NaN propagates, as in np.minimum and np.maximum
            a, b = args
            le, lt = ("<=", "<") if func == "min" else (">=", ">")
            return f"{a} if {a} {le} {b} else ({b} if {b} {lt} {a} else {a} + {b})"
        raise TypeError(f"no code for function {func}")


# ---------------------------------------------------------------------------------------------
# Losses: a generated module per expression, in the cache directory.

_MODULE = '''\
# Generated by lossctl.expr; do not edit. Everything here was written from the validated tree.
# Expression: {formula}
# Derivative: {derivative}
# Parameters: {params}
import math


def kernel({args}):
{kernel}

def grad({args}):
{grad}

# NumPy is imported only when a reference is called.
def _erf(x):
    import numpy as np

    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _numpy_call(body, y, p, params):
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        out = body(np, y, p, *(np.float64(v) for v in params))
    return np.array(np.broadcast_to(out, np.broadcast(y, p).shape), dtype=np.float64)


def _reference_body(np, {args}):
{reference}

def _grad_reference_body(np, {args}):
{grad_reference}

def reference({args}):
    """The expression in vectorised NumPy, written independently of the kernel."""
    return _numpy_call(_reference_body, y, p, ({params_tuple}))


def grad_reference({args}):
    """The derivative in vectorised NumPy."""
    return _numpy_call(_grad_reference_body, y, p, ({params_tuple}))
'''

_lock = threading.Lock()
_losses: dict[tuple[Any, ...], Loss] = {}  # one Loss per expression, name and defaults


def _indent(body: str) -> str:
    return "".join("    " + line + "\n" for line in body.splitlines())


def render_module(expr: Expr, params: tuple[str, ...]) -> str:
    """The source of the generated module for ``expr`` with parameters ``params`` (in order)."""
    deriv = expr.derivative()
    return _MODULE.format(
        formula=str(expr),
        derivative=str(deriv) if deriv.size() <= 400 else f"({deriv.size()} nodes written out: see grad)",
        params=", ".join(params) or "(none)",
        args=", ".join(("y", "p", *params)),
        kernel=_indent(expr.source()),
        grad=_indent(deriv.source()),
        reference=_indent(expr.numpy_source()),
        grad_reference=_indent(deriv.numpy_source()),
        params_tuple="".join(f"{name}, " for name in params),
    )


def module_dir() -> Path:
    from lossctl import engine

    return engine.cache_dir() / "expr"


def _load_module(text: str) -> Any:
    modname = "lossctl_expr_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    module = sys.modules.get(modname)
    if module is not None:
        return module
    path = module_dir() / f"{modname}.py"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    spec = importlib.util.spec_from_file_location(modname, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # the engine's kernel modules import from it by this name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[modname]
        raise
    return module


def _reference_with_defaults(fn: Callable[..., Any], defaults: Mapping[str, float]) -> Callable[..., Any]:
    def reference(y: Any, p: Any, **params: float) -> Any:
        return fn(y, p, **{**defaults, **params})

    return reference


def expression_loss(text: str, params: Mapping[str, float] | None = None, name: str = "expr") -> Loss:
    """A :class:`~lossctl.registry.Loss` computing the expression ``text`` per sample.

    ``params`` maps each parameter name the expression may use to its default value (the CLI
    passes the ``-p NAME=VALUE`` values). The kernel, its derivative and a NumPy reference are
    written to a module in the cache directory, named by a hash of its source, and imported; the
    same expression reuses the same module, and numba's disk cache, across processes.
    """
    from lossctl.domains import REALS
    from lossctl.registry import Loss, Param, Pred, Task

    if not isinstance(name, str) or not _LOSS_NAME_RE.fullmatch(name):
        raise UsageError(f"loss name {name!r} is not allowed; use letters, digits and _ (at most 64)")
    name = name.lower()  # as the registry looks names up
    given = dict(params or {})
    names = check_param_names(tuple(given))
    expr = parse(text, names)
    declared: list[Param] = []
    for pname in names:
        value = given[pname]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise UsageError(f"parameter {pname}={value!r} is not a number (for example -p {pname}=1.5)")
        param = Param(pname, float(value), REALS, f"{pname} is a parameter of the expression; any finite number")
        param.check(param.default, name)
        declared.append(param)
    source = render_module(expr, names)
    key = (source, name, tuple((p.name, p.default) for p in declared), " ".join(text.split()))
    with _lock:
        found = _losses.get(key)
        if found is not None:
            return found
        module = _load_module(source)
        defaults = {p.name: p.default for p in declared}
        lo = Loss(
            name=name,
            task=Task.REGRESSION,
            summary=f"Custom loss {' '.join(text.split())}",
            formula=str(expr),
            kernel=module.kernel,
            grad=module.grad,
            reference=_reference_with_defaults(module.reference, defaults),
            y_true=REALS,
            y_pred=REALS,
            prediction=Pred.VALUE,
            params=tuple(declared),
            origin="expression",
        )
        _losses[key] = lo
        return lo
