"""The command line: parse, make one library call, render.

Every command goes through :func:`_boundary`, the one place where library errors become one line
on stderr and an exit code (0 ok, 1 gate failed, 2 usage or input error, 3 internal error). Set
``LOSSCTL_DEBUG=1`` or pass ``--verbose`` for the full traceback. Heavy modules (NumPy, pandas,
numba) are imported inside the commands that need them, never at start-up.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer

from lossctl import __version__
from lossctl.errors import LossctlError, UsageError
from lossctl.registry import builtin_registry, registry

app = typer.Typer(
    name="lossctl",
    help="Deep-learning loss functions on prediction files: per-sample losses, the cost, and timings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class NanPolicy(StrEnum):
    error = "error"
    omit = "omit"
    propagate = "propagate"


class Unmatched(StrEnum):
    error = "error"
    drop = "drop"


class Reduction(StrEnum):
    mean = "mean"
    element_mean = "element_mean"
    sum = "sum"
    none = "none"


class Compat(StrEnum):
    torch = "torch"
    keras = "keras"
    sklearn = "sklearn"
    optax = "optax"
    all = "all"


class CiMethod(StrEnum):
    normal = "normal"
    bootstrap = "bootstrap"


def parse_class_weights(text: str) -> list[float] | dict[int, float]:
    """'0.2,0.8' (one weight per class) or '1=5,3=2' (class=weight; the others 1)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if parts and all("=" in p for p in parts):
            return {int(k): float(v) for k, v in (p.split("=", 1) for p in parts)}
        return [float(p) for p in parts]
    except ValueError:
        raise UsageError(
            f"--class-weight '{text}' is not a list of weights; give one per class (0.2,0.8) or class=weight (1=5)"
        ) from None


# The help text names lossctl's own losses: listing them must not import installed plugins.
_LOSS_NAMES = ", ".join(builtin_registry().names())

# Option aliases shared by every command that takes them.
LossOpt = Annotated[
    list[str],
    typer.Option("--loss", "-l", help=f"Loss name(s), repeated or comma-separated. One of: {_LOSS_NAMES}."),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Loss parameter key=value (e.g. delta=1.5); loss.key=value for one loss."),
]
FormatOpt = Annotated[
    Format | None,
    typer.Option("--format", "-f", help="Output format. Default: table on a terminal, json otherwise."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show the full traceback on errors.")]
LabelsOpt = Annotated[
    str | None, typer.Option("--labels", help="A separate file of labels, row-aligned or joined with --key.")
]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Column joining --labels to the predictions.")]
YTrueOpt = Annotated[
    str | None,
    typer.Option("--y-true", help="Label column (default: y_true, label, target, ...); a glob for one-hot."),
]
YPredOpt = Annotated[
    str | None,
    typer.Option(
        "--y-pred", help="Prediction column (default by loss: y_pred, logit, ...); a glob like 'p_*' for K classes."
    ),
]
WeightOpt = Annotated[str | None, typer.Option("--weight", help="Sample-weight column: cost = sum(w l) / sum(w).")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option("--where", help="Keep only rows where COL=VALUE (COL=V1,V2 or COL!=VALUE); repeat to combine."),
]
CiOpt = Annotated[
    float | None,
    typer.Option("--ci", help="Add a confidence interval at this level (e.g. 0.95) to every cost."),
]
CiMethodOpt = Annotated[
    CiMethod,
    typer.Option("--ci-method", help="normal (delta method with Student's t) or bootstrap (seeded percentile)."),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap (the same seed, the same answer).")]
ReplicatesOpt = Annotated[int, typer.Option("--replicates", min=100, max=1_000_000, help="Bootstrap resamples.")]

PluginOpt = Annotated[
    list[str] | None,
    typer.Option("--plugin", help="A Python file of loss declarations to load for this run (repeatable)."),
]
ExprOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--expr",
        help="A custom loss from an expression of y, p, r = p - y and parameters given with -p "
        "(e.g. 'abs(r)**1.5'); 'NAME: EXPR' names it (default expr). Repeatable.",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _load_plugins(paths: list[str] | None) -> None:
    from lossctl.registry import load_plugin

    for path in paths or []:
        load_plugin(path)


def _expression_losses(exprs: list[str], params: list[str], swept: str | None = None) -> list[Any]:
    """Register a loss per ``--expr`` ('NAME: EXPR' or 'EXPR', named expr, expr2, ...). Its
    parameters are the -p names it uses, with the first value given as the default, and the
    parameter ``--sweep`` varies (``swept``: NAME=GRID)."""
    import re

    if not exprs:
        return []
    from lossctl import expr as expressions
    from lossctl.registry import REGISTRY

    made = []
    for i, spec in enumerate(exprs):
        m = re.match(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*:(?!=)(.*)\Z", spec, re.S)
        name, text = (m.group(1), m.group(2)) if m else ("expr" if i == 0 else f"expr{i + 1}", spec)
        values: dict[str, float] = {}
        for item in params:
            key, sep, value = item.partition("=")
            scope, _, pname = key.strip().rpartition(".")
            if sep and scope in ("", name) and pname not in values:
                try:
                    values[pname] = float(value.split(",")[0])
                except ValueError:
                    raise UsageError(
                        f"parameter {key}='{value}' is not a number (for example -p {pname}=1.5)"
                    ) from None
        if swept is not None and "=" in swept:
            from lossctl.api import parse_grid

            sname, grid = parse_grid(swept)
            values.setdefault(sname, float(grid[0]))  # declared by the sweep; its values come from it
        candidates = [k for k in values if _usable_param_name(expressions, k)]
        try:
            used = expressions.parse(text, candidates).names
        except UsageError:
            for k in values:  # a -p name the expression uses but cannot take: say why
                if k not in candidates and re.search(rf"\b{re.escape(k)}\b", text):
                    expressions.check_param_names([k])
            raise
        lo = expressions.expression_loss(text, {k: values[k] for k in values if k in used}, name)
        REGISTRY.add(lo)
        made.append(lo)
    return made


def _usable_param_name(expressions: Any, name: str) -> bool:
    """Whether a -p name can be a parameter of an expression (others belong to other losses)."""
    try:
        expressions.check_param_names([name])
    except UsageError:
        return False
    return True


def _losses(
    specs: list[str] | None,
    params: list[str] | None,
    plugins: list[str] | None = None,
    exprs: list[str] | None = None,
    swept: str | None = None,
) -> tuple[list[Any], dict[str, list[dict[str, float]]]]:
    """The losses a command runs (named, from --plugin files and --expr expressions) and their
    parameter sets from -p."""
    from lossctl.registry import param_sets_for, parse_loss_list

    _load_plugins(plugins)
    made = _expression_losses(exprs or [], params or [], swept)
    losses = parse_loss_list(specs) if specs else []
    losses += [lo for lo in made if lo not in losses]
    if not losses:
        raise UsageError("no loss given; pass --loss NAME or --expr EXPR (run `lossctl list` to see them all)")
    return losses, param_sets_for(losses, params or [])


def _boundary(fn: F) -> F:
    """Turn library errors into one stderr line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("verbose")) or os.environ.get("LOSSCTL_DEBUG", "") not in ("", "0")
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except LossctlError as e:
            if debug:
                raise
            typer.echo(f"lossctl: error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("lossctl: interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(0) from None
        except OSError as e:  # writing stdout or a file failed: the environment, not a bug
            if debug:
                raise
            typer.echo(f"lossctl: error: cannot write output: {e.strerror or e}", err=True)
            raise typer.Exit(2) from None
        except Exception as e:
            if debug:
                raise
            typer.echo(
                f"lossctl: internal error: {type(e).__name__}: {e} "
                "(rerun with LOSSCTL_DEBUG=1 for the traceback, and please report it)",
                err=True,
            )
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    # After a closed pipe, point stdout at devnull so the interpreter's final flush is quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lossctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Deep-learning loss functions on prediction files."""


def _default_format(given: Format | None) -> str:
    if given is not None:
        return given.value
    return "table" if sys.stdout.isatty() else "json"


def _check_writable_target(path: str) -> None:
    """Fail before any work when an output file cannot be created."""
    path = os.path.realpath(path)  # a symlink is written through, not replaced
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"cannot write '{path}': it is not a regular file; give a file path")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write '{path}': directory '{directory}' does not exist")
    if os.path.isdir(path):
        raise UsageError(f"cannot write '{path}': it is a directory; give a file name")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write '{path}': directory '{directory}' is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    An interrupted or failed write leaves no partial file and any earlier ``path`` untouched.
    """
    _check_writable_target(path)
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".lossctl-", suffix=".tmp")
        os.close(fd)
    except OSError as e:
        raise UsageError(f"cannot write '{path}': {e.strerror or e}; choose a writable directory") from None
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"cannot write '{path}': {e.strerror or e}; nothing was written") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_frame(frame: Any, path: str) -> None:
    """Per-sample rows to ``path``: Parquet by extension, else CSV with round-trip precision."""
    if path.lower().endswith((".parquet", ".pq")):
        write_atomically(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        write_atomically(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.17g", lineterminator="\n"))


@app.command("eval")
@_boundary
def eval_cmd(
    file: Annotated[str, typer.Argument(help="Predictions file (CSV, TSV or Parquet); '-' reads CSV from stdin.")],
    loss: LossOpt = None,  # type: ignore[assignment]
    param: ParamOpt = None,
    expr: ExprOpt = None,
    plugin: PluginOpt = None,
    labels: LabelsOpt = None,
    key: KeyOpt = None,
    unmatched: Annotated[
        Unmatched,
        typer.Option("--unmatched", help="Keys found on one side only: error (default) or drop them (inner join)."),
    ] = Unmatched.error,
    y_true: YTrueOpt = None,
    y_pred: YPredOpt = None,
    weight: WeightOpt = None,
    reduction: Annotated[
        Reduction,
        typer.Option(
            "--reduction",
            help="mean (the cost), element_mean (also divided by the K classes), sum, "
            "or none (print per-sample losses).",
        ),
    ] = Reduction.mean,
    compat: Annotated[
        Compat | None,
        typer.Option(
            "--compat",
            help="Compute each loss exactly as this framework does (its epsilons, clipping, precision and "
            "divisor); 'all' shows every framework beside lossctl's own value.",
        ),
    ] = None,
    class_weight: Annotated[
        str | None,
        typer.Option("--class-weight", help="Class weights: one per class (0.2,0.8) or class=weight (1=5)."),
    ] = None,
    ignore_index: Annotated[
        int | None, typer.Option("--ignore-index", help="Leave out rows whose class id is this (e.g. -100).")
    ] = None,
    nan: Annotated[
        NanPolicy,
        typer.Option(
            "--nan",
            help="Rows with NaN or an inadmissible inf: error (default, names the row), omit them, "
            "or propagate (the cost becomes NaN).",
        ),
    ] = NanPolicy.error,
    per_sample: Annotated[
        str | None,
        typer.Option("--per-sample", help="Write per-sample losses to this CSV/Parquet file ('-' for stdout)."),
    ] = None,
    stats: Annotated[
        bool,
        typer.Option(
            "--stats/--no-stats",
            help="Report the spread of per-sample losses (std, quantiles); --no-stats computes the cost alone.",
        ),
    ] = True,
    where: WhereOpt = None,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            help="Cost, n, interval (and accuracy) per value of this column (repeatable; 'a,b' groups by both). "
            "A split column with train and validation/test rows also gets an overfitting verdict.",
        ),
    ] = None,
    ci: CiOpt = None,
    ci_method: CiMethodOpt = CiMethod.normal,
    seed: SeedOpt = 0,
    replicates: ReplicatesOpt = 1000,
    top: Annotated[
        int, typer.Option("--top", min=0, help="List the K worst rows (key, inputs, loss, share of the total).")
    ] = 0,
    hist: Annotated[bool, typer.Option("--hist", help="Draw a histogram of per-sample losses.")] = False,
    grad: Annotated[
        bool,
        typer.Option(
            "--grad",
            help="Add per-sample gradients (d loss / d prediction) to the per-sample output, and report "
            "the norm of the cost's gradient and the rows with the largest gradients.",
        ),
    ] = False,
    sweep: Annotated[
        str | None,
        typer.Option(
            "--sweep",
            help="Cost against one parameter of one loss, in one pass over the rows: NAME=START:STOP:COUNT "
            "(add :log for log spacing) or NAME=V1,V2,...; printed as a table and a chart.",
        ),
    ] = None,
    warnings: Annotated[
        bool, typer.Option("--warnings/--no-warnings", help="Warn (on stderr) about classic mistakes in the inputs.")
    ] = True,
    fmt: FormatOpt = None,
    fail_above: Annotated[
        float | None, typer.Option("--fail-above", help="Exit 1 when a cost exceeds this value (a CI gate).")
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory",
            help="Stream the file in record batches within this much memory (512M, 2G): costs and accuracy "
            "of files larger than memory. A file too large for the memory available is streamed anyway.",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate losses on a predictions file: the cost, its spread, accuracy and timings."""
    from lossctl import render
    from lossctl.pipeline import evaluate_files

    if reduction is Reduction.none:
        for flag, given in (
            ("--fail-above", fail_above is not None),
            ("--ci", ci is not None),
            ("--group-by", group_by),
            ("--top", top),
            ("--hist", hist),
            ("--grad", grad),
        ):
            if given:
                raise UsageError(f"{flag} needs the cost, which --reduction none does not compute; use mean or sum")
    losses, params = _losses(loss, param, plugin, expr, sweep)
    if per_sample and per_sample != "-":
        _refuse_overwriting_inputs(per_sample, [p for p in (file, labels) if p and p != "-"])
        _check_writable_target(per_sample)
    report = evaluate_files(
        file,
        losses,
        params,
        labels=labels,
        key=key,
        unmatched=unmatched.value,
        y_true=y_true,
        y_pred=y_pred,
        weight=weight,
        reduction=reduction.value,
        nan=nan.value,
        fail_above=fail_above,
        keep_per_sample=stats or per_sample is not None,
        compat=compat.value if compat is not None else None,
        class_weight=parse_class_weights(class_weight) if class_weight else None,
        ignore_index=ignore_index,
        where=where or [],
        group_by=group_by or [],
        ci=ci,
        ci_method=ci_method.value,
        seed=seed,
        replicates=replicates,
        top=top,
        histogram=hist,
        warn=warnings,
        grad=grad,
        sweep=sweep,
        max_memory=max_memory,
        per_sample_output=per_sample is not None,
        auto_stream=True,
    )
    for text in report.warnings:
        typer.echo(f"lossctl: warning: {text}", err=True)
    # The file first: if it cannot be written, stdout must not already hold a normal-looking report.
    if per_sample and per_sample != "-":
        write_frame(report.per_sample_frame(), per_sample)
    out_fmt = _default_format(fmt)
    rows_to_stdout = reduction is Reduction.none or per_sample == "-"
    if rows_to_stdout:
        # Per-sample rows are the data on stdout; the summary, if any, goes to stderr for the reader.
        sys.stdout.write(render.frame_to_text(report.per_sample_frame(), "csv" if out_fmt == "table" else out_fmt))
        if reduction is not Reduction.none:
            summary_fmt = fmt.value if fmt is not None else ("table" if sys.stderr.isatty() else "json")
            render.render(report.to_dict(with_stats=stats), summary_fmt, sys.stderr)
    else:
        render.render(report.to_dict(with_stats=stats), out_fmt, sys.stdout)
    sys.stdout.flush()
    if report.failed:
        worst = ", ".join(
            f"{r.label or r.loss}={r.cost:.6g}" for r in report.results if (r.label or r.loss) in report.failed
        )
        typer.echo(f"lossctl: gate failed: {worst} above --fail-above {fail_above:g}", err=True)
        raise typer.Exit(1)


def _refuse_overwriting_inputs(output: str, inputs: list[str]) -> None:
    for src in inputs:
        same = os.path.abspath(src) == os.path.abspath(output)
        if not same and os.path.exists(output) and os.path.exists(src):
            same = os.path.samefile(src, output)
        if same:
            raise UsageError(f"--per-sample '{output}' is one of the inputs; lossctl never overwrites its input")


@app.command("compare")
@_boundary
def compare_cmd(
    files: Annotated[
        list[str], typer.Argument(help="Prediction files: the baseline first, then one or more candidates.")
    ],
    loss: LossOpt = None,  # type: ignore[assignment]
    param: ParamOpt = None,
    expr: ExprOpt = None,
    plugin: PluginOpt = None,
    labels: LabelsOpt = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Match rows across files by this column (default: by position).")
    ] = None,
    y_true: YTrueOpt = None,
    y_pred: YPredOpt = None,
    weight: WeightOpt = None,
    nan: Annotated[
        NanPolicy, typer.Option("--nan", help="Rows with NaN: error (default), omit (in any model), propagate.")
    ] = NanPolicy.error,
    where: WhereOpt = None,
    ci: Annotated[float, typer.Option("--ci", help="Confidence level of the intervals and tests.")] = 0.95,
    ci_method: Annotated[
        CiMethod,
        typer.Option("--ci-method", help="normal (paired t-test, delta method) or bootstrap (paired bootstrap)."),
    ] = CiMethod.normal,
    seed: SeedOpt = 0,
    replicates: ReplicatesOpt = 1000,
    fail_if_worse: Annotated[
        bool,
        typer.Option("--fail-if-worse", help="Exit 1 when a candidate is significantly worse than the baseline."),
    ] = False,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Compare models on the same rows: each cost, the paired difference, a test, the rows won."""
    from lossctl import render
    from lossctl.comparison import compare_files

    losses, params = _losses(loss, param, plugin, expr)
    report = compare_files(
        files,
        losses,
        params,
        labels=labels,
        key=key,
        y_true=y_true,
        y_pred=y_pred,
        weight=weight,
        nan=nan.value,
        where=where or [],
        level=ci,
        method=ci_method.value,
        seed=seed,
        replicates=replicates,
        fail_if_worse=fail_if_worse,
    )
    render.COMPARE_RENDERERS[_default_format(fmt)](report.to_dict(), sys.stdout)
    sys.stdout.flush()
    if report.failed:
        typer.echo(f"lossctl: gate failed: significantly worse than the baseline: {'; '.join(report.failed)}", err=True)
        raise typer.Exit(1)


@app.command("recommend")
@_boundary
def recommend_cmd(
    file: Annotated[str, typer.Argument(help="A file of labels and (optionally) predictions; '-' reads stdin.")],
    labels: LabelsOpt = None,
    key: KeyOpt = None,
    y_true: YTrueOpt = None,
    y_pred: Annotated[
        str | None,
        typer.Option(
            "--y-pred", help="Prediction column(s) to inspect (default: the first of p_*, logit_*, y_pred, ...)."
        ),
    ] = None,
    where: WhereOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Which loss fits this data, and why: the task, the predictions, imbalance, outliers, skew."""
    from lossctl import render
    from lossctl.pipeline import recommend_file

    report = recommend_file(file, labels=labels, key=key, y_true=y_true, y_pred=y_pred, where=where or [])
    render.ADVICE_RENDERERS[_default_format(fmt)](report.to_dict(), sys.stdout)


@app.command("list")
@_boundary
def list_cmd(plugin: PluginOpt = None, fmt: FormatOpt = None, verbose: VerboseOpt = False) -> None:
    """List every loss, by task."""
    from lossctl import docs

    _load_plugins(plugin)

    out_fmt = _default_format(fmt)
    docs.render_list(out_fmt, sys.stdout)


@app.command("describe")
@_boundary
def describe_cmd(
    name: Annotated[str, typer.Argument(help="A loss name or alias (see `lossctl list`).")],
    plugin: PluginOpt = None,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Show a loss's formula, parameters, input domains, properties, examples and conventions."""
    from lossctl import docs

    losses, _ = _losses([name], None, plugin)
    docs.render_describe(losses[0], _default_format(fmt), sys.stdout)


class Axis(StrEnum):
    probability = "probability"
    logit = "logit"


@app.command("plot")
@_boundary
def plot_cmd(
    losses: Annotated[
        list[str] | None, typer.Argument(help="Losses to draw on one chart (names, or comma-separated).")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Parameter key=value; a list (delta=0.5,1,2) draws one curve per value."),
    ] = None,
    expr: ExprOpt = None,
    plugin: PluginOpt = None,
    x_range: Annotated[
        str | None,
        typer.Option(
            "--range",
            help="LOW:HIGH of the axis (default: residual -3:3, probability 0.01:0.99, logit -6:6).",
        ),
    ] = None,
    grad: Annotated[bool, typer.Option("--grad", help="Draw the derivatives d loss / d axis instead.")] = False,
    label: Annotated[
        float | None,
        typer.Option("--label", help="The fixed label: y_true of regression (default 0), binary label (default 1)."),
    ] = None,
    axis: Annotated[
        Axis | None,
        typer.Option(
            "--axis", help="Classification: draw against the probability or the logit (default: the first loss's)."
        ),
    ] = None,
    classes: Annotated[int, typer.Option("--classes", help="Multiclass: the number of classes K.")] = 3,
    points: Annotated[int, typer.Option("--points", help="Points per curve.")] = 401,
    width: Annotated[
        int | None, typer.Option("--width", help="Chart width in characters (default: the terminal's, at most 100).")
    ] = None,
    height: Annotated[int, typer.Option("--height", help="Chart height in lines.")] = 20,
    png: Annotated[
        str | None, typer.Option("--png", help="Also write the chart as a PNG (needs lossctl[plot]).")
    ] = None,
    svg: Annotated[
        str | None, typer.Option("--svg", help="Also write the chart as an SVG (needs lossctl[plot]).")
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="table (the terminal chart, the default), csv or json (the curves' values), markdown.",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Draw losses (or their derivatives) over residuals, probabilities or logits, in the terminal."""
    import shutil

    from lossctl import plot

    chosen, params = _losses(losses, param, plugin, expr)
    for path in (p for p in (png, svg) if p):
        _check_writable_target(path)
    curves = plot.curves(
        chosen,
        params,
        x_range=plot.parse_range(x_range) if x_range else None,
        points=points,
        grad=grad,
        label=label,
        axis=axis.value if axis else None,
        classes=classes,
    )
    title = ("derivatives of " if grad else "") + ", ".join(name for name, _ in curves.series)
    # The chart first: a bad --width/--height fails before any image is written.
    w = width or max(30, min(100, shutil.get_terminal_size((80, 24)).columns))
    lines = plot.chart_lines(curves, width=w, height=height, title=title)
    for path, kind in ((png, "png"), (svg, "svg")):
        if path:
            write_atomically(path, lambda tmp, kind=kind: plot.write_image(curves, tmp, title, kind))
    out_fmt = fmt.value if fmt is not None else "table"
    if out_fmt == "json":
        from lossctl import render

        render.to_json(curves.to_dict(), sys.stdout)
    elif out_fmt == "csv":
        plot.to_csv(curves, sys.stdout)
    else:
        lines += [f"note: {n}" for n in curves.notes]
        text = "\n".join(lines) + "\n"
        sys.stdout.write(f"```\n{text}```\n" if out_fmt == "markdown" else text)


def _parse_sizes(text: str, option: str = "--size") -> list[int]:
    sizes = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"{option} takes numbers, comma-separated (1e5,1e6 or 10,1000); got '{part}'") from None
        if not (value >= 1 and value == int(value)):
            raise UsageError(f"{option} {part} is not a whole number >= 1")
        sizes.append(int(value))
    return sizes


def _export(path: str | None, fmt_name: str, d: dict[str, Any]) -> None:
    import io

    from lossctl import render

    if not path:
        return
    if path == "-":
        render.BENCH_RENDERERS[fmt_name](d, sys.stdout)
        return
    buf = io.StringIO()
    render.BENCH_RENDERERS[fmt_name](d, buf)

    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(buf.getvalue())

    write_atomically(path, write)


@app.command("bench")
@_boundary
def bench_cmd(
    loss: Annotated[
        list[str] | None, typer.Option("--loss", "-l", help=f"Losses to time (default: all). One of: {_LOSS_NAMES}.")
    ] = None,
    param: ParamOpt = None,
    expr: ExprOpt = None,
    plugin: PluginOpt = None,
    size: Annotated[
        str | None,
        typer.Option("--size", help="Row counts, comma-separated (default 1e5,1e6; with --scaling 1e3..1e7)."),
    ] = None,
    scaling: Annotated[
        bool, typer.Option("--scaling", help="Also print the time per row across sizes (is the cost linear?).")
    ] = False,
    dtype: Annotated[str, typer.Option("--dtype", help="Input dtypes: float64, float32 or both.")] = "float64",
    classes: Annotated[
        str, typer.Option("--classes", help="Class counts K of the multiclass losses, comma-separated.")
    ] = "10",
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Threads for lossctl and PyTorch (default: all cores).")
    ] = None,
    frameworks: Annotated[
        bool, typer.Option("--frameworks/--no-frameworks", help="Also time PyTorch and scikit-learn when installed.")
    ] = True,
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.01, help="Time spent repeating each implementation of each case.")
    ] = 0.25,
    export_json: Annotated[
        str | None, typer.Option("--export-json", help="Write the results as JSON ('-': stdout).")
    ] = None,
    export_csv: Annotated[
        str | None, typer.Option("--export-csv", help="Write the results as CSV ('-': stdout).")
    ] = None,
    export_markdown: Annotated[
        str | None, typer.Option("--export-markdown", help="Write the results as Markdown ('-': stdout).")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="A JSON export to compare against: exit 1 on a regression.")
    ] = None,
    max_regression: Annotated[
        float, typer.Option("--max-regression", min=0, help="Percent slower than --baseline that fails.")
    ] = 10.0,
    fmt: FormatOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Time lossctl's kernels against NumPy, PyTorch and scikit-learn, and check that they agree."""
    import json

    from lossctl import bench, render

    if param and not expr:
        raise UsageError("bench times each loss at its default parameters; -p gives the parameters of --expr")
    _load_plugins(plugin)
    losses = _losses(loss, param, None, expr)[0] if (loss or expr) else list(registry())
    sizes = _parse_sizes(size or ("1e3,1e4,1e5,1e6,1e7" if scaling else "1e5,1e6"))
    ks = _parse_sizes(classes, "--classes")
    if any(k < 2 for k in ks):
        raise UsageError(f"--classes {classes}: a multiclass loss needs at least 2 classes")
    dtypes = [d.strip() for d in dtype.split(",") if d.strip()]
    for d in dtypes:
        if d not in ("float64", "float32"):
            raise UsageError(f"--dtype '{d}' is not float64 or float32")
    base = None
    if baseline:
        try:
            with open(baseline) as fh:
                base = json.load(fh)
        except OSError as e:
            raise UsageError(f"cannot read --baseline '{baseline}': {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise UsageError(f"--baseline '{baseline}' is not a JSON export of lossctl bench ({e.msg})") from None
    if threads:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
    with _progress() as step:
        report = bench.run_bench(
            losses, sizes, dtypes, frameworks=frameworks, target_seconds=seconds, progress=step, classes=ks
        )
    d = report.to_dict()
    if scaling:
        d["scaling"] = bench.scaling(d)
    exports = [p for p in (export_json, export_csv, export_markdown) if p == "-"]
    if not exports:
        render.BENCH_RENDERERS[_default_format(fmt)](d, sys.stdout)
    _export(export_json, "json", d)
    _export(export_csv, "csv", d)
    _export(export_markdown, "markdown", d)
    disagree = [f"{r.loss} n={r.n} {r.impl} (rel diff {r.rel_diff:.1e})" for r in report.rows if not r.agrees]
    if disagree:
        typer.echo(f"lossctl: warning: implementations disagree: {'; '.join(disagree)}", err=True)
    if base is not None:
        slower = bench.regressions(report, base, max_regression)
        if slower:
            typer.echo(f"lossctl: bench regression over {max_regression:g}%: {'; '.join(slower)}", err=True)
            raise typer.Exit(1)


class _progress:
    """A transient progress line on stderr (only on a terminal)."""

    def __enter__(self) -> Callable[[str], None]:
        self._live = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.status import Status

            self._live = Status("starting", console=Console(stderr=True))
            self._live.start()
            return lambda text: self._live.update(f"bench: {text}")  # type: ignore[union-attr]
        return lambda text: None

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.stop()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("lossctl: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
