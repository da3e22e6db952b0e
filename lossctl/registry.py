"""The loss registry: every loss is declared once, here-shaped, and everything else is derived.

A declaration (``Loss``) holds the name and aliases, the task, a one-line summary, the formula,
parameters with defaults and valid ranges, input domains, the kernel (a tiny scalar or row
function that numba compiles), an independent NumPy reference, properties and worked examples.
The CLI's choices, ``lossctl list`` and ``describe``, parameter validation, error messages, the
kernels the engine generates and the test parametrisation all read this table.

Losses are declared with the :func:`loss` decorator on their kernel, in ``lossctl/losses/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from lossctl.domains import Domain, Interval
from lossctl.errors import UsageError, did_you_mean


class Task(StrEnum):
    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"


class Pred(StrEnum):
    """What a loss expects in its prediction column(s); also how accuracy reads a prediction."""

    VALUE = "value"  # a real-valued regression prediction
    PROBABILITY = "probability"  # probability of the positive class, or K class probabilities
    LOGIT = "logit"  # log-odds, or K unnormalised log-probabilities
    SCORE = "score"  # a raw margin score whose sign is the decision (hinge losses)


# Properties a loss may declare; the generic tests check each one that is declared.
NONNEGATIVE = "nonnegative"  # l >= 0 everywhere
ZERO_AT_PERFECT = "zero_at_perfect"  # l = 0 when the prediction equals the target
SYMMETRIC = "symmetric"  # regression: l depends on |y_pred - y_true| only
CONVEX = "convex"  # convex in the prediction (for fixed target and parameters)
PROPERTIES = (NONNEGATIVE, ZERO_AT_PERFECT, SYMMETRIC, CONVEX)


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    domain: Interval
    help: str

    def check(self, value: float, loss_name: str) -> float:
        if not self.domain.contains(value):
            raise UsageError(
                f"parameter {self.name}={value:g} is outside {self.domain} for {loss_name}; "
                f"{self.help} (default {self.default:g})"
            )
        return float(value)


@dataclass(frozen=True)
class Example:
    """A worked example: the per-sample loss of one row, computed by hand."""

    y_true: Any
    y_pred: Any
    expected: float
    params: Mapping[str, float] = field(default_factory=dict)
    why: str = ""


FRAMEWORKS = ("torch", "keras", "sklearn", "optax")
# What each framework computes in when the user has not asked otherwise, and what its weighted
# mean divides by: "count" (the number of samples, as a batch mean of w * l does) or "weights".
FRAMEWORK_DTYPE = {"torch": "float32", "keras": "float32", "sklearn": "float64", "optax": "float32"}
FRAMEWORK_DIVISOR = {"torch": "count", "keras": "count", "sklearn": "weights", "optax": "count"}
# The same for class weights: PyTorch's class-weighted cross-entropy divides by the weights of
# the targets; Keras turns class_weight into sample weights and divides by the batch size.
FRAMEWORK_CLASS_DIVISOR = {"torch": "weights", "keras": "count", "sklearn": "weights", "optax": "count"}


@dataclass(frozen=True)
class Convention:
    """How one framework computes a loss, as data that lossctl applies around its own kernel.

    ``lossctl eval --compat NAME`` casts the inputs to ``dtype``, applies the input transforms in
    that precision (sigmoid, row normalisation, clipping), evaluates ``via`` (default: the loss
    itself) with ``params``, and reduces with the framework's divisor. ``call`` is the framework
    itself, where it can be installed here: tests and ``lossctl bench`` compare against it.
    """

    api: str  # the framework's function, as a user calls it
    # lossctl parameter values that reproduce the framework's behaviour (its defaults and fixed
    # choices, such as Keras's epsilon); the user may change only those named in ``kwargs``.
    params: Mapping[str, float] = field(default_factory=dict)
    # lossctl parameter -> the framework's keyword for it: the parameters the framework exposes.
    kwargs: Mapping[str, str] = field(default_factory=dict)
    dtype: str = ""  # "" = the framework's default (FRAMEWORK_DTYPE)
    pred_transform: str = ""  # "sigmoid": logits turned into probabilities first, in dtype
    normalize_pred: bool = False  # probability rows divided by their sum
    clip_pred: tuple[float, float] | None = None  # predictions clipped to [lo, hi], in dtype
    clip_true: tuple[float, float] | None = None  # labels clipped to [lo, hi], in dtype
    via: str = ""  # evaluate this lossctl loss instead (after the transforms)
    divisor: str = ""  # "" = the framework's default (FRAMEWORK_DIVISOR)
    per_element: bool = False  # the mean also divides by the K class columns
    scale: float = 1.0  # the framework's value is scale times the loss computed
    # Binary labels: "" (lossctl's reading: > 0 is +1, else -1), "as_given" (the label is the target
    # t itself, so a 0 label makes t s = 0), "keras" (0/1 labels become -1/+1 only when every label
    # is 0 or 1; otherwise as given).
    labels: str = ""
    class_weights: bool = False  # PyTorch only: whether the function takes class weights
    class_divisor: str = ""  # "" = the framework's default for class weights (FRAMEWORK_CLASS_DIVISOR)
    # Inputs the framework's arithmetic turns into NaN (lossctl then reports the row as undefined):
    # "inf_pred" (an infinite prediction: 0 * inf), "zero_pair" (a label 0 where the prediction is 0).
    nan_if: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    call: Callable[..., float] | None = None  # (y_true, y_pred, **params) -> the framework's mean


@dataclass(frozen=True, eq=False)  # identity: one object per declared loss
class Loss:
    name: str
    task: Task
    summary: str
    formula: str
    kernel: Callable[..., float]
    reference: Callable[..., Any]
    y_true: Domain
    y_pred: Domain
    prediction: Pred
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    properties: frozenset[str] = frozenset()
    examples: tuple[Example, ...] = ()
    # "mean": the cost is the (weighted) mean of the per-sample losses; "sqrt_mean": its root.
    cost: str = "mean"
    # Multiclass only: kernel for integer class ids (the main kernel takes a label distribution).
    kernel_ids: Callable[..., float] | None = None
    # What to tell a user whose predictions fall outside ``y_pred``.
    pred_hint: str = ""
    # Conventions and choices, shown by ``describe``.
    notes: tuple[str, ...] = ()
    # How each framework that has the loss computes it (see Convention): drives --compat,
    # `describe`, the framework reference tests and the framework columns of `lossctl bench`.
    compat: Mapping[str, Convention] = field(default_factory=dict)
    # Multiclass only: labels must be hard (one-hot rows or class ids), not soft distributions.
    hard_labels: bool = False
    # Multiclass only: label rows are distributions (checked to sum to 1); False for vectors.
    label_rows_are_distributions: bool = True
    # Multiclass only: what the prediction rows must satisfy: "" (nothing), "probabilities"
    # (each row sums to 1) or "log_probabilities" (each row's exp sums to 1).
    pred_rows: str = ""
    # Losses with several named prediction columns (a mean and a variance; two scores):
    # (role, names looked for in a file), in the order the kernel reads them.
    pred_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    # The derivative of the per-sample loss with respect to the prediction (the logits for the
    # logits forms), a plain function numba compiles like the kernel:
    # - one prediction column: ``grad(y, p, *params) -> dl/dp``;
    # - a row of predictions (multiclass, or named prediction columns): ``grad(y, x, out, *params)``
    #   writes dl/dx_j into ``out[j]`` (``y`` is the label row for multiclass; class ids are given
    #   to it as one-hot rows).
    # Where the loss has a kink, it returns the subgradient of least magnitude (0 for |r| at 0
    # and for the hinge at its margin, as sign(0) = 0 and relu'(0) = 0 in the frameworks).
    grad: Callable[..., Any] | None = None

    # Where the declaration comes from: "built-in", "plugin <file or entry point>", "expression".
    origin: str = "built-in"

    # Where a framework lacks the loss, the expression its users write instead (for `lossctl
    # bench` only: it is not that framework's loss, so --compat does not offer it).
    composed: Mapping[str, Callable[..., float]] = field(default_factory=dict)

    @property
    def pred_rows_sum_to_one(self) -> bool:
        return self.pred_rows == "probabilities"

    @property
    def frameworks(self) -> dict[str, Callable[..., float]]:
        """Framework name -> its mean (its own loss, or what its users compose), where callable here."""
        own = {fw: c.call for fw, c in self.compat.items() if c.call is not None}
        return {**self.composed, **own}

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def resolve_params(self, given: Mapping[str, float]) -> dict[str, float]:
        """Validated parameter values in declared order, defaults filled in."""
        unknown = [k for k in given if k not in self.param_names]
        if unknown:
            takes = ", ".join(self.param_names) if self.params else "no parameters"
            hint = did_you_mean(unknown[0], self.param_names)
            raise UsageError(f"{self.name} has no parameter '{unknown[0]}'; it takes {takes}.{hint}")
        return {p.name: p.check(float(given.get(p.name, p.default)), self.name) for p in self.params}


# Names a parameter may not take: lossctl.evaluate's own keyword arguments.
RESERVED_PARAM_NAMES = frozenset(
    {"y_true", "y_pred", "loss", "sample_weight", "reduction", "nan", "keep_per_sample", "names",
     "class_weight", "ignore_index", "compat", "compat_dtype"}
)  # fmt: skip


class Registry:
    """Name -> loss, with aliases; ordered by declaration."""

    def __init__(self) -> None:
        self._losses: dict[str, Loss] = {}
        self._names: dict[str, str] = {}

    def add(self, loss: Loss) -> Loss:
        clash = [p.name for p in loss.params if p.name in RESERVED_PARAM_NAMES]
        if clash:
            raise UsageError(f"loss '{loss.name}' names a parameter '{clash[0]}', which lossctl reserves; rename it")
        for key in (loss.name, *loss.aliases):
            if key in self._names:
                held = self._losses[self._names[key]]
                if held.origin == "expression" and loss.origin == "expression" and held.name == loss.name:
                    self.remove(held.name)  # an expression loss may be redefined under its name
                    continue
                where = f" ({held.origin})" if held.origin != "built-in" else " (a built-in loss)"
                raise UsageError(f"loss name '{key}' is declared twice: already taken by {held.name}{where}")
        self._losses[loss.name] = loss
        for key in (loss.name, *loss.aliases):
            self._names[key] = loss.name
        return loss

    def remove(self, name: str) -> None:
        lo = self._losses.pop(name)
        for key in (lo.name, *lo.aliases):
            self._names.pop(key, None)

    def __iter__(self):  # type: ignore[no-untyped-def]
        order = list(Task)
        return iter(sorted(self._losses.values(), key=lambda lo: order.index(lo.task)))

    def __len__(self) -> int:
        return len(self._losses)

    def names(self, builtin: bool = False) -> list[str]:
        """Every loss's name (``builtin``: only lossctl's own, without plugins and expressions)."""
        return [lo.name for lo in self if lo.origin == "built-in" or not builtin]

    def all_names(self) -> list[str]:
        """Names and aliases."""
        return list(self._names)

    def get(self, name: str) -> Loss:
        key = name.strip().lower().replace("-", "_")
        if key in self._names:
            return self._losses[self._names[key]]
        hint = did_you_mean(key, self._names)
        raise UsageError(f"'{name}' is not a loss.{hint} Run `lossctl list` to see them all.")

    def by_task(self) -> dict[Task, list[Loss]]:
        out: dict[Task, list[Loss]] = {t: [] for t in Task}
        for loss in self:
            out[loss.task].append(loss)
        return out


REGISTRY = Registry()

F = TypeVar("F", bound=Callable[..., float])


def loss(**declaration: Any) -> Callable[[F], F]:
    """Declare a loss on its kernel: ``@loss(name=..., task=..., ...)`` above ``def kernel(...)``.

    The kernel stays a plain module-level function (numba compiles it by reference), and the
    declaration goes into :data:`REGISTRY`.
    """

    def register(kernel: F) -> F:
        params = tuple(declaration.pop("params", ()))
        examples = tuple(declaration.pop("examples", ()))
        if _loading_plugin and "origin" not in declaration:
            declaration["origin"] = f"plugin {_loading_plugin[-1]}"
        REGISTRY.add(Loss(kernel=kernel, params=params, examples=examples, **declaration))
        return kernel

    return register


# Small scalar helpers that kernels call (softplus, ...). They stay plain Python until the engine
# compiles a kernel; it then swaps each for its numba-compiled version in its module, because
# numba can only call compiled functions from compiled code.
JIT_HELPERS: list[Callable[..., Any]] = []


def jit_helper(fn: F) -> F:
    """Mark a module-level scalar function as callable from kernels."""
    JIT_HELPERS.append(fn)
    return fn


def builtin_registry() -> Registry:
    """The registry with the built-in losses declared, without importing installed plugins."""
    import lossctl.losses  # noqa: F401  (declares the built-in losses)

    return REGISTRY


def registry() -> Registry:
    """The registry with every built-in loss declared, and the losses of installed plugins."""
    import lossctl.losses  # noqa: F401  (declares the built-in losses)

    if not _plugins_loaded:
        _plugins_loaded.append(True)
        load_entry_points()
    return REGISTRY


# --- plugins ---------------------------------------------------------------------------------

PLUGIN_GROUP = "lossctl.losses"
_plugins_loaded: list[bool] = []
_loading_plugin: list[str] = []  # the plugin whose declarations are being read (for Loss.origin)
_plugin_files: dict[str, list[str]] = {}  # resolved path -> the losses it declared, in this process


def load_entry_points() -> list[str]:
    """Load every plugin installed under the entry-point group ``lossctl.losses``.

    An entry point names a module (importing it declares losses with ``@loss``) or a callable
    (called with no arguments; it declares losses or returns ``Loss`` objects to add). A plugin
    that fails to load is reported on stderr and skipped: one broken package must not take the
    built-in losses down with it. Returns the names loaded.
    """
    import sys
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=PLUGIN_GROUP):
        _loading_plugin.append(f"{ep.name} ({ep.value})")
        try:
            _run_plugin(ep.load())
            loaded.append(ep.name)
        except (Exception, SystemExit) as e:  # a third party's code: report and carry on
            sys.stderr.write(f"lossctl: warning: plugin {ep.name} ({ep.value}) failed to load: {_why(e)}\n")
        finally:
            _loading_plugin.pop()
    return loaded


def _why(e: BaseException) -> str:
    return str(e) if isinstance(e, UsageError) else f"{type(e).__name__}: {e}"


def _run_plugin(obj: Any) -> None:
    import types

    if isinstance(obj, types.ModuleType):
        return
    if not callable(obj):
        raise UsageError(f"the entry point is a {type(obj).__name__}, not a module or a callable")
    result = obj()
    for lo in [result] if isinstance(result, Loss) else list(result or ()):
        if not isinstance(lo, Loss):
            raise UsageError(f"it returned a {type(lo).__name__}, not a lossctl Loss")
        if lo.origin == "built-in":  # made by a plugin, whatever its declaration says
            import dataclasses

            lo = dataclasses.replace(lo, origin=f"plugin {_loading_plugin[-1]}")
        REGISTRY.add(lo)


def load_plugin(path: str) -> list[str]:
    """Load a Python file of loss declarations for this run (``--plugin FILE``); returns the names
    of the losses it declared. The same file is loaded once per process."""
    import hashlib
    import importlib.util
    import os
    import sys

    registry()
    if not os.path.isfile(path):
        raise UsageError(f"--plugin '{path}' is not a file; give a Python file of loss declarations")
    if not path.endswith(".py"):
        raise UsageError(f"--plugin '{path}' is not a .py file of loss declarations")
    real = os.path.realpath(path)
    if real in _plugin_files:
        return list(_plugin_files[real])
    with open(real, "rb") as fh:
        digest = hashlib.sha256(real.encode() + b"\0" + fh.read()).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() else "_" for ch in os.path.basename(real)[:-3])
    # A stable module name per file and content, so numba's disk cache serves the next run too.
    modname = f"lossctl_plugin_{stem}_{digest}"
    before = set(REGISTRY.names())
    spec = importlib.util.spec_from_file_location(modname, real)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    _loading_plugin.append(path)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the plugin's own error, in one line; nothing it declared stays
        sys.modules.pop(modname, None)
        for name in [n for n in REGISTRY.names() if n not in before]:
            REGISTRY.remove(name)
        why = str(e) if isinstance(e, UsageError) else f"failed to load: {type(e).__name__}: {e}"
        raise UsageError(f"--plugin '{path}': {why}") from None
    finally:
        _loading_plugin.pop()
    added = [name for name in REGISTRY.names() if name not in before]
    if not added:
        sys.modules.pop(modname, None)
        raise UsageError(f"--plugin '{path}' declares no loss; decorate a kernel with @lossctl.registry.loss(...)")
    _plugin_files[real] = added
    return added


def get_loss(name: str) -> Loss:
    return registry().get(name)


def parse_loss_list(specs: Sequence[str]) -> list[Loss]:
    """``["mse,mae", "huber"]`` -> the three losses, in order, without repeats."""
    out: list[Loss] = []
    for spec in specs:
        for part in spec.split(","):
            if part.strip():
                found = get_loss(part)
                if found not in out:
                    out.append(found)
    if not out:
        raise UsageError("no loss given; pass --loss NAME (run `lossctl list` to see them all)")
    return out


def parse_param_assignments(items: Sequence[str]) -> dict[str, dict[str, float]]:
    """``["delta=2", "huber.delta=1.5"]`` -> ``{"": {"delta": 2.0}, "huber": {"delta": 1.5}}``.

    A key with a ``loss.`` prefix applies to that loss only.
    """
    out: dict[str, dict[str, float]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"-p/--param takes key=value, got '{item}' (for example -p delta=1.5)")
        scope, dot, pname = key.rpartition(".")
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"parameter {key}='{value}' is not a number (for example -p {key}=1.5)") from None
        if math.isnan(number):
            raise UsageError(f"parameter {key} is NaN; give a number")
        scope_name = get_loss(scope).name if dot else ""
        out.setdefault(scope_name, {})[pname] = number
    return out


def param_sets_for(losses: Sequence[Loss], items: Sequence[str]) -> dict[str, list[dict[str, float]]]:
    """``-p`` items, where a value may be a comma-separated list (``quantile=0.1,0.5,0.9``), as the
    parameter sets to evaluate per loss: one per combination of listed values, each holding only
    the parameters given (validated; defaults are filled in at evaluation)."""
    import itertools

    choices = []
    for item in items:
        key, sep, value = item.partition("=")
        parts = [v.strip() for v in value.split(",")] if sep else [value]
        if sep and any(not v for v in parts):
            raise UsageError(f"-p {item}: an empty value in the list; give numbers separated by commas")
        choices.append([f"{key}={v}" for v in parts] if sep else [item])
    out: dict[str, list[dict[str, float]]] = {lo.name: [] for lo in losses}
    for combo in itertools.product(*choices):
        given = params_for(losses, parse_param_assignments(list(combo)), resolve=False)
        for name, mine in given.items():
            if mine not in out[name]:
                out[name].append(mine)
    return out


def params_for(
    losses: Sequence[Loss], assignments: Mapping[str, Mapping[str, float]], *, resolve: bool = True
) -> dict[str, dict[str, float]]:
    """Split parsed ``-p`` assignments among the chosen losses, refusing any that no loss takes.
    With ``resolve`` the result holds every parameter (defaults filled in); without, only those
    given (still checked against their ranges)."""
    shared = dict(assignments.get("", {}))
    for pname in shared:
        if not any(pname in loss.param_names for loss in losses):
            takers = [lo.name for lo in registry() if pname in lo.param_names]
            chosen = ", ".join(lo.name for lo in losses)
            accepted = sorted({p for lo in losses for p in lo.param_names})
            also = f" ({', '.join(takers)} take it)" if takers else ""
            takes = f"; they take {', '.join(accepted)}" if accepted else "; they take no parameters"
            hint = did_you_mean(pname, accepted)
            raise UsageError(f"parameter '{pname}' is not taken by {chosen}{also}{takes}.{hint}".replace("..", "."))
    for scope in assignments:
        if scope and scope not in [lo.name for lo in losses]:
            raise UsageError(f"-p {scope}.… names a loss that is not selected; add --loss {scope}")
    out: dict[str, dict[str, float]] = {}
    for lo in losses:
        mine = {k: v for k, v in shared.items() if k in lo.param_names}
        mine.update(assignments.get(lo.name, {}))
        resolved = lo.resolve_params(mine)
        out[lo.name] = resolved if resolve else {k: resolved[k] for k in mine}
    return out
