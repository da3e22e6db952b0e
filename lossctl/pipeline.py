"""From files to results: read the columns the chosen losses need, join labels, evaluate.

``evaluate_files`` is the one library call behind ``lossctl eval``; it returns an
:class:`EvalReport`, the record that every renderer reads.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lossctl import io
from lossctl.api import EvalResult, evaluate
from lossctl.errors import InputError, UsageError
from lossctl.registry import Loss


@dataclass
class EvalReport:
    predictions: str
    labels: str | None
    format: str
    rows: int
    results: list[EvalResult]
    timings: dict[str, float]
    row_id_name: str = "row"
    row_ids: Any = None  # key values for per-sample output; None means 0..n-1
    fail_above: float | None = None
    failed: list[str] = field(default_factory=list)
    unmatched_dropped: tuple[int, int] = (0, 0)  # prediction and label rows without a partner key
    compat: str | None = None  # --compat: a framework, "all", or None
    skipped: dict[str, str] = field(default_factory=dict)  # "loss/framework" -> why it was not computed
    where: list[str] = field(default_factory=list)  # --where filters applied, and the rows they kept
    overfitting: list[dict[str, Any]] = field(default_factory=list)  # train vs held-out gaps
    warnings: list[str] = field(default_factory=list)  # classic mistakes spotted in the inputs
    gradient_columns: dict[str, list[str]] = field(default_factory=dict)  # label -> prediction columns (--grad)
    streamed: dict[str, Any] | None = None  # how a file larger than memory was read (lossctl.stream)

    def to_dict(self, with_stats: bool = True) -> dict[str, Any]:
        from lossctl import __version__

        d: dict[str, Any] = {
            "lossctl": __version__,
            "input": {
                "predictions": self.predictions,
                "labels": self.labels,
                "format": self.format,
                "rows": self.rows,
            },
            "results": [r.to_dict(with_stats=with_stats and self.streamed is None) for r in self.results],
            "timings": dict(self.timings),
        }
        if any(self.unmatched_dropped):
            d["input"]["unmatched_dropped"] = {
                "predictions": self.unmatched_dropped[0],
                "labels": self.unmatched_dropped[1],
            }
        if self.where:
            d["input"]["where"] = list(self.where)
        if self.streamed is not None:
            d["input"]["streamed"] = dict(self.streamed)
        if self.compat is not None:
            d["compat"] = self.compat
        if self.skipped:
            d["skipped"] = dict(self.skipped)
        if self.overfitting:
            d["overfitting"] = list(self.overfitting)
        if self.warnings:
            d["warnings"] = list(self.warnings)
        if self.fail_above is not None:
            d["gate"] = {"fail_above": self.fail_above, "failed": list(self.failed), "passed": not self.failed}
        return d

    def per_sample_frame(self) -> Any:
        """A DataFrame: the row id (or key) and one column of per-sample losses per loss."""
        import numpy as np
        import pandas as pd

        ids = self.row_ids if self.row_ids is not None else np.arange(self.rows)
        data = {self.row_id_name: ids}
        for r in self.results:
            name = r.label or r.loss
            data[name] = self._full(r, r.per_sample)
            pcols = self.gradient_columns.get(name)
            if pcols is not None:
                g = r.gradient()
                if g.ndim == 1:
                    data[f"grad_{name}"] = self._full(r, g)
                else:
                    for j, c in enumerate(pcols):
                        data[f"grad_{name}[{c}]"] = self._full(r, g[:, j])
        return pd.DataFrame(data)

    def _full(self, r: EvalResult, values: Any) -> Any:
        """Values of the rows ``r`` kept, placed in all the input rows (NaN for rows left out by
        --nan omit/propagate or --ignore-index: they stay in the file)."""
        import numpy as np

        if r.kept is None:
            return values
        full = np.full(self.rows, np.nan)
        full[r.kept] = values
        return full


def _key_text(series: Any) -> Any:
    """Keys as canonical text: 7, 7.0 and "7" are the same key; blanks become missing."""
    import pandas as pd

    text = series.astype(str).str.strip()
    if series.dtype.kind in "iuf":
        numeric = pd.to_numeric(series, errors="coerce")
    else:
        # Text that is a plain number ("7", "7.0") matches the number; "007" stays text.
        plain = text.str.fullmatch(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
        numeric = pd.to_numeric(text.where(plain), errors="coerce")
    integral = numeric.notna() & (numeric == numeric.round()) & (numeric.abs() < 2**53)
    fractional = numeric.notna() & ~integral
    canon = text.where(~integral, numeric.where(integral, 0).astype("int64").astype(str))
    canon = canon.where(~fractional, numeric.map(repr))
    return canon.where(series.notna() & (text != ""))


def _show_key(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join_on_key(preds: io.Table, labels: io.Table, key: str, unmatched: str) -> tuple[Any, int, int]:
    """Labels joined to predictions on ``key``. Duplicate keys are errors; unmatched keys are
    errors unless ``unmatched == "drop"``. Returns (frame, dropped predictions, dropped labels)."""
    pk = io.find_column(preds, key, "key")
    lk = io.find_column(labels, key, "key")
    pf, lf = preds.frame, labels.frame
    keys = []
    for frame, src, col in ((pf, preds.source, pk), (lf, labels.source, lk)):
        key_values = _key_text(frame[col])
        if key_values.isna().any():
            i = int(key_values.isna().to_numpy().argmax())
            raise InputError(f"key '{col}' is empty at row {i} of '{src}'; every row needs a key")
        dup = key_values.duplicated()
        if dup.any():
            i = int(dup.to_numpy().argmax())
            raise InputError(
                f"key '{col}' repeats in '{src}': {_show_key(frame[col].iloc[i])} at row {i} is a duplicate "
                f"({int(dup.sum())} duplicate rows); keys must be unique"
            )
        keys.append(key_values)
    left = pf.assign(__key=keys[0].to_numpy())
    right = lf.drop(columns=[lk]).assign(__key=keys[1].to_numpy())
    merged = left.merge(right, on="__key", how="inner", suffixes=("", "__labels"), sort=False)
    only_p, only_l = len(pf) - len(merged), len(lf) - len(merged)
    if (only_p or only_l) and unmatched != "drop":
        raise InputError(
            f"keys do not match on '{key}': {only_p} prediction rows have no label and {only_l} label rows "
            "have no prediction; pass --unmatched drop to evaluate the matched rows only"
        )
    return merged.drop(columns=["__key"]), only_p, only_l


ID_NAMES = ("id", "key", "row_id", "sample_id", "index", "uid", "uuid")


def _shared_id(preds: io.Table, labels: io.Table) -> tuple[str, str] | None:
    """The id-like column both files carry, if any: (its name in predictions, in labels)."""
    for name in ID_NAMES:
        pc, lc = io._lookup(preds.columns, name), io._lookup(labels.columns, name)
        if pc is not None and lc is not None:
            return pc, lc
    return None


def _check_ids_agree(preds: io.Table, labels: io.Table, pc: str, lc: str) -> None:
    """Row-aligned files that both carry an id column must list the ids in the same order."""
    a, b = _key_text(preds.frame[pc]), _key_text(labels.frame[lc])
    differ = (a.to_numpy() != b.to_numpy()).nonzero()[0]
    if differ.size:
        i = int(differ[0])
        raise InputError(
            f"both files have an '{pc}' column but their rows are in a different order "
            f"(row {i}: {a.iloc[i]} vs {b.iloc[i]}); join them with --key {pc}"
        )


def _load(
    ptab: io.Table,
    ltab: io.Table | None,
    key: str | None,
    unmatched: str,
    text_p: list[str],
    text_l: list[str],
    need_p: list[str],
    need_l: list[str],
) -> tuple[io.Table, str | None, int, int]:
    """Read the columns in use (``need_*`` as numbers, ``text_*`` as text) and put the labels
    beside the predictions: joined on ``key``, or row by row. Returns (table, key column,
    prediction rows dropped, label rows dropped)."""
    if ltab is None:
        return io.read_columns(ptab, text_p + need_l + need_p, numeric=need_l + need_p), None, 0, 0
    # Without --key, a shared id column is read too (in the same pass) to check the row order.
    shared = None if key else _shared_id(ptab, ltab)
    kp = [io.find_column(ptab, key, "key")] if key else ([shared[0]] if shared else [])
    kl = [io.find_column(ltab, key, "key")] if key else ([shared[1]] if shared else [])
    io.read_columns(ptab, kp + text_p + need_p, numeric=need_p)
    io.read_columns(ltab, kl + text_l + need_l, numeric=need_l)
    if key:
        frame, dropped_p, dropped_l = _join_on_key(ptab, ltab, key, unmatched)
        return io.Table(ptab.source, ptab.format, list(frame.columns), frame), kp[0], dropped_p, dropped_l
    if ptab.rows != ltab.rows:
        raise InputError(
            f"'{ptab.source}' has {ptab.rows} rows but '{ltab.source}' has {ltab.rows}; "
            "they must be aligned row by row, or joined with --key COL"
        )
    if shared:
        _check_ids_agree(ptab, ltab, *shared)
    import pandas as pd

    right = ltab.frame.rename(columns=lambda c: c + "__labels" if c in ptab.frame.columns else c)
    frame = pd.concat([ptab.frame.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
    return io.Table(ptab.source, ptab.format, list(frame.columns), frame), None, 0, 0


def _label_column(c: str, ptab: io.Table, table: io.Table) -> str:
    """Where a label file's column ``c`` is in the joined table: renamed ``c__labels`` when the
    predictions file has a column of the same name."""
    return c + "__labels" if c in ptab.columns and c + "__labels" in table.columns else c


def plan_runs(
    losses: Sequence[Loss],
    params: Mapping[str, Any],
    compat: str | None = None,
) -> tuple[list[tuple[Loss, dict[str, float], str | None, str]], dict[str, str]]:
    """What to evaluate: (loss, parameters as given, framework or None, label) per result, and the
    frameworks skipped under ``compat="all"`` with the reason ("bce/optax": "optax has no bce loss").

    ``params[name]`` is one dict of parameters or a list of them (``-p quantile=0.1,0.5,0.9``
    gives one result per value).
    """
    from lossctl.api import compat_params
    from lossctl.registry import FRAMEWORKS

    runs: list[tuple[Loss, dict[str, float], str | None, str]] = []
    skipped: dict[str, str] = {}
    for lo in losses:
        sets = params.get(lo.name, {})
        sets = [dict(sets)] if isinstance(sets, Mapping) else [dict(x) for x in sets]
        varying = {k for k in (sets[0] if sets else {}) if len({str(x.get(k)) for x in sets}) > 1}
        for given in sets or [{}]:
            tag = ", ".join(f"{k}={given[k]:g}" for k in sorted(varying))
            base = lo.name + (f"[{tag}]" if tag else "")
            frameworks: list[str | None]
            if compat == "all":
                frameworks = [None, *[fw for fw in FRAMEWORKS if fw in lo.compat]]
                for fw in FRAMEWORKS:
                    if fw not in lo.compat:
                        skipped[f"{lo.name}/{fw}"] = f"{fw} has no {lo.name} loss"
            else:
                frameworks = [compat]
                if compat is not None:
                    compat_params(lo, compat, given)  # refuse before any file is read
            for fw in frameworks:
                if fw is not None and compat == "all":
                    try:
                        compat_params(lo, fw, given)
                    except UsageError as e:
                        skipped[f"{lo.name}/{fw}"] = str(e)
                        continue
                runs.append((lo, given, fw, base + (f" ({fw})" if fw else "")))
    return runs, skipped


def evaluate_files(
    predictions: str,
    losses: Sequence[Loss],
    params: Mapping[str, Any],
    *,
    labels: str | None = None,
    key: str | None = None,
    unmatched: str = "error",
    y_true: str | None = None,
    y_pred: str | None = None,
    weight: str | None = None,
    reduction: str = "mean",
    nan: str = "error",
    fail_above: float | None = None,
    keep_per_sample: bool = True,
    compat: str | None = None,
    class_weight: Any = None,
    ignore_index: int | None = None,
    where: Sequence[str] = (),
    group_by: Sequence[str] = (),
    ci: float | None = None,
    ci_method: str = "normal",
    seed: int = 0,
    replicates: int | None = None,
    top: int = 0,
    histogram: bool = False,
    warn: bool = True,
    row_key: str | None = None,
    grad: bool = False,
    sweep: str | None = None,
    max_memory: str | None = None,
    per_sample_output: bool = False,
    auto_stream: bool = False,
) -> EvalReport:
    """Read ``predictions`` (and ``labels``), evaluate each loss and return the report.

    ``params`` maps a loss name to its parameters as given (a dict, or a list of dicts for one
    result each). ``keep_per_sample`` computes per-sample losses in the same pass as the cost
    (the summary's quantiles and ``--per-sample`` need them); without it the pass computes the
    cost alone. ``compat`` is a framework name (every loss computed as it does), "all" (lossctl's
    own value and one result per framework that has the loss, with the difference), or None.
    ``class_weight`` and ``ignore_index`` are passed to :func:`lossctl.evaluate`.

    Analyses (they need per-sample losses, so they turn ``keep_per_sample`` on): ``where``
    ("col=value[,value...]" or "col!=value") keeps the matching rows; ``group_by`` (column names;
    "a,b" groups by both) adds the cost, n, interval and accuracy per group, and a train versus
    held-out verdict where a column holds both; ``ci`` adds a confidence interval to every cost
    (``ci_method`` "normal" or "bootstrap", with ``seed`` and ``replicates``); ``top`` lists the
    worst rows; ``histogram`` adds the per-sample histogram; ``warn`` checks for classic mistakes.
    ``row_key`` names a column of a single file to carry as the row id (``lossctl compare --key``).
    ``grad`` adds per-sample gradients (to ``per_sample_frame``) and, per loss, the norm of the
    cost's gradient and the rows with the largest gradients (``top`` of them, else 5).
    ``sweep`` ("delta=0.1:5:20", see :func:`lossctl.api.parse_grid`) adds the cost of the one loss
    at every value of one parameter, computed in one pass over the rows.

    ``max_memory`` ("512M") streams the file in record batches within that much memory (see
    :mod:`lossctl.stream`); with ``auto_stream`` (``lossctl eval``) a file too large for the
    memory available is streamed without it. Streaming computes costs and accuracy, not the
    spread of per-sample losses nor the warnings, and refuses what needs every row
    (``per_sample_output``, the analyses, ``--labels``).
    """
    from lossctl import stats

    runs, skipped = plan_runs(losses, params, compat)
    grid = _sweep_grid(sweep, runs, compat) if sweep is not None else None
    if ci is not None:
        stats.check_level(ci)
        stats.check_method(ci_method)
    if top < 0:
        raise UsageError(f"--top {top} must be a number of rows >= 0")
    filters = [_parse_where(w) for w in where]
    groupings = [[c.strip() for c in g.split(",") if c.strip()] for g in group_by]
    if any(not g for g in groupings):
        raise UsageError("--group-by needs a column name")
    if filters or groupings or ci is not None or top or histogram or grad:
        keep_per_sample = True
    t0 = time.perf_counter()
    if labels is not None and labels == predictions and labels != "-":
        labels = None
    if predictions == "-" and labels == "-":
        raise UsageError("only one input can come from stdin")
    ptab = io.open_table(predictions)
    ltab = io.open_table(labels) if labels else ptab
    if key and not labels:
        raise UsageError("--key joins a --labels file to the predictions; give --labels FILE too")

    plan = []
    for lo in dict.fromkeys(lo for lo, _, _, _ in runs):
        pcols = io.find_pred_columns(lo, ptab, y_pred)
        tcols = io.find_label_columns(lo, ltab, y_true)
        plan.append((lo, tcols, pcols))
    wcol = io.find_column(ptab, weight, "weight") if weight else None
    need_p = [c for _, _, pc in plan for c in pc] + ([wcol] if wcol else [])
    need_l = [c for _, tc, _ in plan for c in tc]
    if max_memory is not None and (labels or predictions == "-"):
        what = "a --labels file joined to the predictions" if labels else "stdin"
        raise UsageError(f"--max-memory streams one predictions file from disk, not {what}; drop --max-memory")
    budget = None
    if not labels and predictions != "-":
        from lossctl import stream

        budget = stream.memory_budget(ptab, need_p + need_l, max_memory, auto_stream)
    if budget is not None:
        stream.refuse(
            {
                "--per-sample": per_sample_output,
                "--reduction none": reduction == "none",
                "--compat all": compat == "all",
                "--where": bool(filters),
                "--group-by": bool(groupings),
                "--ci": ci is not None,
                "--top": bool(top),
                "--hist": histogram,
                "--grad": grad,
                "--sweep": grid is not None,
                "--key": row_key is not None,
            },
            budget[1],
        )
        results, n, info = stream.evaluate_stream(
            ptab,
            plan,
            runs,
            weight=wcol,
            reduction=reduction,
            nan=nan,
            compat=compat,
            class_weight=class_weight,
            ignore_index=ignore_index,
            budget=budget,
        )
        elapsed = time.perf_counter() - t0
        # The first small batch compiles or loads the kernels; reading is what the passes left.
        timings = _timings(results, 0.0, elapsed, n, jit=info["warm_up_s"])
        timings["read"] = max(elapsed - sum(timings[k] for k in ("validate", "jit", "compute")), 0.0)
        return EvalReport(
            predictions=predictions,
            labels=None,
            format=ptab.format,
            rows=n,
            results=results,
            timings=timings,
            fail_above=fail_above,
            failed=_failed(results, fail_above),
            compat=compat,
            skipped=skipped,
            streamed=info,
        )
    # Columns of --where and --group-by, read as text from whichever file has them.
    extra: dict[str, str] = {}
    for name in [c for c, _, _ in filters] + [c for g in groupings for c in g]:
        extra[name] = _find_extra(name, ptab, ltab if labels else None)
    text_p = [c for c in extra.values() if c in ptab.columns]
    text_l = [c for c in extra.values() if c not in ptab.columns]
    if row_key and not labels:
        text_p.insert(0, io.find_column(ptab, row_key, "key"))
    table, kcol, dropped_p, dropped_l = _load(
        ptab, ltab if labels else None, key, unmatched, text_p, text_l, need_p, need_l
    )
    kcol = kcol or (text_p[0] if row_key and not labels else None)
    row_numbers = None
    applied: list[str] = []
    if filters:
        table, row_numbers, applied = _apply_where(table, filters, extra)
    t1 = time.perf_counter()

    def label_col(c: str) -> str:
        return _label_column(c, ptab, table) if labels else c

    results: list[EvalResult] = []
    columns = {lo.name: (tcols, pcols) for lo, tcols, pcols in plan}
    own: dict[tuple[str, str], float | None] = {}
    w = io.numeric_column(table, wcol) if wcol else None
    for lo, given, fw, label in runs:
        tcols, pcols = columns[lo.name]
        yt = io.numeric_matrix(table, [label_col(c) for c in tcols])
        yp = io.numeric_matrix(table, pcols)
        names = {"y_true": io.describe_columns(tcols), "y_pred": io.describe_columns(pcols)}
        if wcol:
            names["weight"] = wcol
        r = evaluate(
            yt,
            yp,
            lo,
            w,
            reduction=reduction,
            nan=nan,
            keep_per_sample=keep_per_sample,
            names=names,
            class_weight=class_weight,
            ignore_index=ignore_index,
            compat=fw,
            **given,
        )
        r.label = label
        if grid is not None:
            r.extras["sweep"] = r.sweep(*grid).to_dict()
        key = (lo.name, repr(sorted(given.items())))
        if fw is None:
            own[key] = r.cost
        elif compat == "all" and own.get(key) is not None and r.cost is not None:
            r.vs_lossctl = r.cost - own[key]  # type: ignore[operator]
        results.append(r)
    t2 = time.perf_counter()

    n = table.rows
    sweep_timings = {}
    if grid is not None:
        sweep_timings["sweep"] = sum(r.timings.get("sweep", 0.0) for r in results)
    sweep_jit = sum(r.timings.get("sweep_jit", 0.0) for r in results)
    timings = _timings(results, t1 - t0, t2 - t0, n, jit=sweep_jit, **sweep_timings)
    failed = _failed(results, fail_above)
    row_ids = table.frame[kcol].to_numpy() if kcol else row_numbers
    overfitting = _analyse(
        results,
        table,
        row_ids,
        {"+".join(g): [extra[c] for c in g] for g in groupings},
        ci=ci,
        ci_method=ci_method,
        seed=seed,
        replicates=replicates,
        top=top,
        histogram=histogram,
        grad=grad,
    )
    warnings = _warnings(runs, results) if warn else []
    report = EvalReport(
        predictions=predictions,
        labels=labels,
        format=ptab.format,
        rows=n,
        results=results,
        timings=timings,
        row_id_name=kcol or "row",
        row_ids=row_ids,
        fail_above=fail_above,
        failed=failed,
        unmatched_dropped=(dropped_p, dropped_l),
        compat=compat,
        skipped=skipped,
        where=applied,
        overfitting=overfitting,
        warnings=warnings,
        gradient_columns={r.label or r.loss: columns[r.loss][1] for r in results} if grad else {},
    )
    return report


def _timings(
    results: Sequence[EvalResult], read: float, total: float, rows: int, jit: float = 0.0, **extra: float
) -> dict[str, float]:
    """A report's timings: reading, the results' validate/jit/compute summed (plus ``jit``
    spent elsewhere), ``extra`` phases, the total and rows per second."""
    timings = {"read": read}
    for k in ("validate", "jit", "compute"):
        timings[k] = sum(r.timings.get(k, 0.0) for r in results)
    timings["jit"] += jit
    timings.update(extra)
    timings["total"] = total
    timings["rows_per_s"] = rows / total if total > 0 else float("nan")
    return timings


def _failed(results: Sequence[EvalResult], fail_above: float | None) -> list[str]:
    """The results whose cost is above the gate (a NaN cost fails it too)."""
    if fail_above is None:
        return []
    return [r.label or r.loss for r in results if r.cost is not None and not r.cost <= fail_above]


def _sweep_grid(text: str, runs: Sequence[tuple[Loss, Any, str | None, str]], compat: str | None) -> tuple[str, Any]:
    """The parameter and values of ``--sweep``, checked against the one loss it applies to."""
    from lossctl.api import parse_grid

    if compat is not None:
        raise UsageError("--sweep evaluates lossctl's own loss; drop --compat")
    name, values = parse_grid(text)
    if len(runs) != 1:
        if len({lo.name for lo, _, _, _ in runs}) == 1:
            raise UsageError(f"--sweep {name}=... with a -p list: give one value per other parameter")
        raise UsageError("--sweep varies a parameter of one loss; give one --loss and one value per other parameter")
    lo, given, _, _ = runs[0]
    if name in given:
        raise UsageError(f"--sweep {name}=... and -p {name}=... both set {name}; drop one")
    for v in values:
        lo.resolve_params({**given, name: float(v)})  # every value in the parameter's range
    return name, values


# --- rows kept, groups and analyses -----------------------------------------------------------


def _parse_where(text: str) -> tuple[str, bool, list[str]]:
    """'split=validation' or 'split=validation,test' or 'split!=train' -> (column, keep, values)."""
    negate = "!=" in text
    col, sep, values = text.partition("!=" if negate else "=")
    col = col.strip()
    vals = [v.strip() for v in values.split(",")]
    if not sep or not col or not any(vals):
        raise UsageError(
            f"--where '{text}' is not COL=VALUE (or COL=V1,V2, or COL!=VALUE); e.g. --where split=validation"
        )
    return col, not negate, vals


def _find_extra(name: str, ptab: io.Table, ltab: io.Table | None) -> str:
    found = io._lookup(ptab.columns, name)
    if found is None and ltab is not None:
        found = io._lookup(ltab.columns, name)
    if found is None:
        columns = list(ptab.columns) + ([c for c in ltab.columns if c not in ptab.columns] if ltab else [])
        raise io._missing("grouping/filter", name, ptab.source, columns)
    return found


def _group_text(series: Any) -> Any:
    """Group values as text: 3, 3.0 and "3" are one group; missing values are '(missing)'."""
    return _key_text(series).fillna("(missing)")


def _apply_where(table: io.Table, filters: list[tuple[str, bool, list[str]]], extra: Mapping[str, str]) -> Any:
    import numpy as np
    import pandas as pd

    frame = table.frame
    mask = np.ones(len(frame), dtype=bool)
    applied = []
    for col, keep, values in filters:
        have = _group_text(frame[extra[col]])
        wanted = set(_group_text(pd.Series(values, dtype=object)))
        hit = have.isin(wanted).to_numpy()
        absent = sorted(wanted - set(have))
        if absent:  # a typo must not silently keep (or drop) every row
            seen = ", ".join(sorted(set(have))[:12]) + (", ..." if len(set(have)) > 12 else "")
            raise InputError(f"--where: '{col}' has no value {', '.join(absent)}; its values: {seen}")
        mask &= hit if keep else ~hit
        applied.append(f"{col}{'=' if keep else '!='}{','.join(values)}")
    if not mask.any():
        raise InputError(f"no row passes every --where filter ({'; '.join(applied)})")
    rows = np.flatnonzero(mask)
    kept = io.Table(table.source, table.format, table.columns, frame.iloc[rows].reset_index(drop=True))
    applied.append(f"kept {len(rows)} of {len(frame)} rows")
    return kept, rows, applied


def _row_positions(r: EvalResult) -> Any:
    """For each per-sample loss of ``r``, its row in the evaluated table."""
    import numpy as np

    return r.kept if r.kept is not None else np.arange(r.n)


def _show_value(yt: Any, yp: Any) -> tuple[str, str]:
    import numpy as np

    if np.ndim(yp) == 0:
        return f"{float(yt):.6g}" if np.ndim(yt) == 0 else _vector(yt), f"{float(yp):.6g}"
    yp = np.asarray(yp, dtype=np.float64)
    if np.ndim(yt) == 0:
        t = int(yt) if float(yt).is_integer() and 0 <= yt < yp.shape[0] else None
        true_text = f"{float(yt):.6g}"
    else:
        t = int(np.argmax(yt))
        true_text = _vector(yt)
    a = int(np.argmax(yp))
    pred = f"argmax {a} ({yp[a]:.4g})"
    if t is not None and t != a:
        pred += f"; class {t}: {yp[t]:.4g}"
    return true_text, pred


def _row_record(r: EvalResult, positions: Any, row_ids: Any, j: int) -> dict[str, Any]:
    """How a report shows the ``j``-th evaluated row of ``r``: its id (or key) and its inputs."""
    i = int(positions[j])
    yt_text, yp_text = _show_value(r._y_true[j], r._y_pred[j])
    rid = row_ids[i] if row_ids is not None else i
    return {"row": rid.item() if hasattr(rid, "item") else rid, "y_true": yt_text, "y_pred": yp_text}


def _grad_text(g: Any) -> str:
    import numpy as np

    return f"{float(g):.6g}" if np.ndim(g) == 0 else _vector(g)


def _vector(x: Any) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in list(x)[:6]) + (", ..." if len(x) > 6 else "") + "]"


def _analyse(
    results: list[EvalResult],
    table: io.Table,
    row_ids: Any,
    groupings: Mapping[str, list[str]],
    *,
    ci: float | None,
    ci_method: str,
    seed: int,
    replicates: int | None,
    top: int,
    histogram: bool,
    grad: bool = False,
) -> list[dict[str, Any]]:
    """Attach intervals, tail shares, worst rows, histograms, gradients and group breakdowns to
    each result (in ``r.extras``); return the train versus held-out verdicts."""
    import numpy as np

    from lossctl import stats

    level = ci if ci is not None else 0.95
    reps = stats.DEFAULT_REPLICATES if replicates is None else replicates
    group_codes = {}
    for name, cols in groupings.items():
        text = _group_text(table.frame[cols[0]])
        for c in cols[1:]:
            text = text + " | " + _group_text(table.frame[c])
        group_codes[name] = text.to_numpy()
    verdicts: list[dict[str, Any]] = []
    for r in results:
        if r.reduction == "none" or r._per_sample is None:
            continue  # no cost, or a cost-only pass (--no-stats without analyses): nothing to add
        propagated = r.nan_policy == "propagate" and bool(r.omitted)
        if ci is not None:
            r.extras["ci"] = r.interval(ci, ci_method, replicates=reps, seed=seed).to_dict()
        if not propagated:
            r.extras["worst_share"] = r.tail_shares()
        if histogram:
            r.extras["histogram"] = r.histogram()
        positions = _row_positions(r)
        row_of = functools.partial(_row_record, r, positions, row_ids)

        if top:
            ls = r.per_sample
            v = r.parts().v
            total = float(np.sum(v))
            # Weighted: rank by each row's contribution w * l, the same measure as the tail shares.
            r.extras["top"] = [
                {
                    **row_of(j),
                    "loss": float(ls[j]),
                    "share": float(v[j]) / total if total > 0 and np.isfinite(total) and v[j] >= 0 else None,
                }
                for j in stats.worst_rows(v if r.weighted else ls, top)
            ]
        if grad and propagated:
            r.extras["gradient"] = {k: None for k in ("cost_grad_norm", "mean_abs", "max_abs")}
            r.extras["gradient"]["note"] = "not computed: NaN rows propagate (--nan propagate)"
        if grad and not propagated:
            g = r.gradient()
            largest = stats.worst_rows(r.gradient_magnitude(), top or 5)
            r.extras["gradient"] = {
                **r.gradient_summary(),
                "largest": [{**row_of(j), "loss": float(r.per_sample[j]), "grad": _grad_text(g[j])} for j in largest],
            }
        if not group_codes:
            continue
        groups_out: dict[str, list[dict[str, Any]]] = {}
        for name, codes in group_codes.items():
            labels = codes[positions]
            # Under --nan propagate a group is NaN only if one of its own rows held a NaN.
            nan_groups = set(codes[r._missing]) if propagated and r._missing is not None else set()
            # One sort of the rows by group, then a slice per group: O(n log n) for any number of groups.
            names, inverse = np.unique(labels.astype(str), return_inverse=True)
            by_group = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[by_group], np.arange(len(names) + 1))
            rows_of = {str(g): by_group[bounds[i] : bounds[i + 1]] for i, g in enumerate(names)}
            order = sorted(set(rows_of) | nan_groups, key=_natural_order)
            index = {str(g): i for i, g in enumerate(names)}
            whole = r.parts()
            if ci_method == "normal":  # every group in one vectorised pass
                costs, normal = stats.group_intervals(whole, inverse, len(names), level, r.floor())
            hit_rate = None
            if r._hits is not None:
                w = np.ones(r.n) if r._weights is None else r._weights
                hits_w = np.bincount(inverse, weights=w * r._hits, minlength=len(names))
                w_sum = np.bincount(inverse, weights=w, minlength=len(names))
                with np.errstate(invalid="ignore", divide="ignore"):
                    hit_rate = np.where(w_sum > 0, hits_w / w_sum, np.nan)
            draws: dict[str, Any] = {}
            rows_out = []
            for g in order:
                sel = rows_of.get(g, np.empty(0, dtype=np.int64))
                undefined = g in nan_groups
                row: dict[str, Any] = {"group": g, "n": int(sel.shape[0])}
                iv = None
                # Every group gets an interval (at --ci, else 95%): a group's n alone hides how
                # uncertain its cost is. Bootstrap draws are kept for the train/held-out gap.
                if undefined:
                    row["cost"] = math.nan
                elif ci_method == "normal":
                    row["cost"], iv = float(costs[index[g]]), normal[index[g]]
                else:
                    p = whole.subset(sel)
                    row["cost"] = p.cost()
                    wp = p.weighted_rows()
                    if wp.n >= 2 and np.isfinite(wp.v).all():
                        draws[g] = stats.bootstrap_costs([wp], reps, stats.group_seed(seed, g))[:, 0]
                    iv = stats.interval(
                        p, level, ci_method, replicates=reps, seed=seed, floor=r.floor(), draws=draws.get(g)
                    )
                row["ci"] = iv.to_dict() if iv is not None else None
                if hit_rate is not None:
                    acc = hit_rate[index[g]] if g in index else math.nan
                    row["accuracy"] = None if math.isnan(acc) else float(acc)
                rows_out.append(row)
            groups_out[name] = rows_out
            pair = stats.split_pair(order) if len(groupings[name]) == 1 else None
            if pair is not None and not (set(pair) & nan_groups):
                train, held = pair
                both = (draws[train], draws[held]) if train in draws and held in draws else None
                pt, ph = whole.subset(rows_of[train]), whole.subset(rows_of[held])
                gap = stats.group_gap(pt, ph, level, ci_method, replicates=reps, seed=seed, draws=both)
                tc, hc = pt.cost(), ph.cost()
                verdicts.append(
                    {
                        "loss": r.label or r.loss,
                        "column": name,
                        "train": train,
                        "held_out": held,
                        "train_cost": tc,
                        "held_out_cost": hc,
                        **gap.to_dict(),
                        "verdict": stats.overfitting_verdict(train, held, gap, tc, hc),
                    }
                )
        r.extras["groups"] = groups_out
    return verdicts


def _natural_order(text: str) -> tuple[Any, ...]:
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _warnings(runs: Sequence[tuple[Loss, Any, str | None, str]], results: list[EvalResult]) -> list[str]:
    """Classic mistakes, once per loss (from lossctl's own result, not framework variants)."""
    from lossctl import advice

    out: list[str] = []
    seen: set[str] = set()
    for (lo, _, _, _), r in zip(runs, results, strict=True):
        if lo.name in seen or r._y_true is None:  # the first run of each loss, whatever its framework
            continue
        seen.add(lo.name)
        ps = r._per_sample
        for text in advice.eval_warnings(lo, r._y_true, r._y_pred, ps, r._weights):
            if text not in out:
                out.append(text)
    return out


# --- recommend ---------------------------------------------------------------------------------


@dataclass
class AdviceReport:
    """``lossctl recommend``: the input, the columns inspected, and the recommendation."""

    predictions: str
    labels: str | None
    rows: int
    columns: dict[str, str]
    recommendation: Any  # advice.Recommendation
    other_predictions: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from lossctl import __version__

        d: dict[str, Any] = {
            "lossctl": __version__,
            "input": {
                "predictions": self.predictions,
                "labels": self.labels,
                "rows": self.rows,
                "columns": dict(self.columns),
            },
        }
        if self.where:
            d["input"]["where"] = list(self.where)
        if self.other_predictions:
            d["input"]["other_predictions"] = list(self.other_predictions)
        d.update(self.recommendation.to_dict())
        return d


def _prediction_candidates(table: io.Table) -> list[list[str]]:
    """Every set of prediction columns a file offers, in the order they are tried: class
    columns (p_*, logit_*, ...), then single columns by name."""
    cols = table.columns
    found: list[list[str]] = []
    for globs in io.CLASS_GLOBS.values():
        for pattern in globs:
            group = io._glob(cols, pattern)
            if len(group) >= 2 and group not in found:
                found.append(group)
    names = list(io.GENERIC_PRED_NAMES) + [n for tiers in io.PRED_NAME_TIERS.values() for t in tiers for n in t]
    for name in names:
        one = io._lookup(cols, name)
        if one is not None and [one] not in found:
            found.append([one])
    return found


def _as_option(columns: list[str]) -> str:
    """How --y-pred names these columns: the column, or a glob for a run of class columns."""
    if len(columns) == 1:
        return columns[0]
    stem = columns[0].rstrip("0123456789")
    return stem + "*" if all(c.startswith(stem) for c in columns) else ",".join(columns)


def _column_options(loss_name: str, ptab: io.Table, ltab: io.Table, tcols: list[str], pcols: list[str]) -> str:
    """The --y-true/--y-pred options that make ``lossctl eval --loss NAME`` read the columns that
    were inspected, where its own column search would pick others (or none)."""
    import shlex

    from lossctl.errors import LossctlError
    from lossctl.registry import get_loss

    lo = get_loss(loss_name)
    out = ""
    for option, cols, find, table in (
        ("--y-true", tcols, io.find_label_columns, ltab),
        ("--y-pred", pcols, io.find_pred_columns, ptab),
    ):
        if not cols:
            continue
        try:
            default = find(lo, table, None)
        except LossctlError:
            default = None
        if default != cols:
            out += f" {option} {shlex.quote(_as_option(cols))}"
    return out


def recommend_file(
    predictions: str,
    *,
    labels: str | None = None,
    key: str | None = None,
    unmatched: str = "error",
    y_true: str | None = None,
    y_pred: str | None = None,
    where: Sequence[str] = (),
) -> AdviceReport:
    """Read the label column(s) and one set of prediction columns (``y_pred``, or the first of
    p_*, logit_*, ..., y_pred, prob, logit, score found) and ask :func:`lossctl.advice.recommend`.
    Without any prediction column the advice comes from the labels alone."""
    from lossctl import advice

    if labels is not None and labels == predictions and labels != "-":
        labels = None
    ptab = io.open_table(predictions)
    ltab = io.open_table(labels) if labels else ptab
    if key and not labels:
        raise UsageError("--key joins a --labels file to the predictions; give --labels FILE too")
    if y_true:
        tcols = io._given_columns(ltab, y_true, "--y-true", "label")
    else:
        tcols = io.default_label_columns(ltab, vectors=True)
    candidates = [io._given_columns(ptab, y_pred, "--y-pred", "prediction")] if y_pred else _prediction_candidates(ptab)
    candidates = [c for c in candidates if not (set(c) & set(tcols))]
    pcols = candidates[0] if candidates else []
    filters = [_parse_where(w) for w in where]
    extra = {c: _find_extra(c, ptab, ltab if labels else None) for c, _, _ in filters}
    text_p = [c for c in extra.values() if c in ptab.columns]
    text_l = [c for c in extra.values() if c not in ptab.columns]
    table, _, _, _ = _load(ptab, ltab if labels else None, key, unmatched, text_p, text_l, pcols, tcols)
    applied: list[str] = []
    if filters:
        table, _, applied = _apply_where(table, filters, extra)

    yt = io.numeric_matrix(table, [_label_column(c, ptab, table) if labels else c for c in tcols])
    yp = io.numeric_matrix(table, pcols) if pcols else None
    rec = advice.recommend(yt, yp)
    for a in rec.advice:
        a.command += _column_options(a.loss, ptab, ltab, tcols, pcols)
    columns = {"y_true": io.describe_columns(tcols)}
    if pcols:
        columns["y_pred"] = io.describe_columns(pcols)
    return AdviceReport(
        predictions=predictions,
        labels=labels,
        rows=table.rows,
        columns=columns,
        recommendation=rec,
        other_predictions=[_as_option(c) for c in candidates[1:]],
        where=applied,
    )
