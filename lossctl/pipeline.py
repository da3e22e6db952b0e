"""From files to results: read the columns the chosen losses need, join labels, evaluate.

``evaluate_files`` is the one library call behind ``lossctl eval``; it returns an
:class:`EvalReport`, the record that every renderer reads.
"""

from __future__ import annotations

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
            "results": [r.to_dict(with_stats=with_stats) for r in self.results],
            "timings": dict(self.timings),
        }
        if any(self.unmatched_dropped):
            d["input"]["unmatched_dropped"] = {
                "predictions": self.unmatched_dropped[0],
                "labels": self.unmatched_dropped[1],
            }
        if self.compat is not None:
            d["compat"] = self.compat
        if self.skipped:
            d["skipped"] = dict(self.skipped)
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
            if r.kept is None:
                data[name] = r.per_sample
            else:  # rows left out (--nan omit/propagate, --ignore-index) stay in the file, with NaN
                full = np.full(self.rows, np.nan)
                full[r.kept] = r.per_sample
                data[name] = full
        return pd.DataFrame(data)


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
) -> EvalReport:
    """Read ``predictions`` (and ``labels``), evaluate each loss and return the report.

    ``params`` maps a loss name to its parameters as given (a dict, or a list of dicts for one
    result each). ``keep_per_sample`` computes per-sample losses in the same pass as the cost
    (the summary's quantiles and ``--per-sample`` need them); without it the pass computes the
    cost alone. ``compat`` is a framework name (every loss computed as it does), "all" (lossctl's
    own value and one result per framework that has the loss, with the difference), or None.
    ``class_weight`` and ``ignore_index`` are passed to :func:`lossctl.evaluate`.
    """
    runs, skipped = plan_runs(losses, params, compat)
    t0 = time.perf_counter()
    dropped_p = dropped_l = 0
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
    kcol = key
    need_p = [c for _, _, pc in plan for c in pc] + ([wcol] if wcol else [])
    need_l = [c for _, tc, _ in plan for c in tc]
    if labels:
        # Without --key, a shared id column is read too (in the same pass) to check the row order.
        shared = None if key else _shared_id(ptab, ltab)
        kp = [io.find_column(ptab, key, "key")] if key else ([shared[0]] if shared else [])
        kl = [io.find_column(ltab, key, "key")] if key else ([shared[1]] if shared else [])
        io.read_columns(ptab, kp + need_p, numeric=need_p)
        io.read_columns(ltab, kl + need_l, numeric=need_l)
        if key:
            frame, dropped_p, dropped_l = _join_on_key(ptab, ltab, key, unmatched)
            kcol = kp[0]
        else:
            if ptab.rows != ltab.rows:
                raise InputError(
                    f"'{predictions}' has {ptab.rows} rows but '{labels}' has {ltab.rows}; "
                    "they must be aligned row by row, or joined with --key COL"
                )
            if shared:
                _check_ids_agree(ptab, ltab, *shared)
            import pandas as pd

            right = ltab.frame.rename(columns=lambda c: c + "__labels" if c in ptab.frame.columns else c)
            frame = pd.concat([ptab.frame.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
        table = io.Table(predictions, ptab.format, list(frame.columns), frame)
    else:
        table = io.read_columns(ptab, need_l + need_p, numeric=need_l + need_p)
    t1 = time.perf_counter()

    def label_col(c: str) -> str:
        return c + "__labels" if labels and c in ptab.columns and c + "__labels" in table.columns else c

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
        key = (lo.name, repr(sorted(given.items())))
        if fw is None:
            own[key] = r.cost
        elif compat == "all" and own.get(key) is not None and r.cost is not None:
            r.vs_lossctl = r.cost - own[key]  # type: ignore[operator]
        results.append(r)
    t2 = time.perf_counter()

    timings = {
        "read": t1 - t0,
        "validate": sum(r.timings["validate"] for r in results),
        "jit": sum(r.timings["jit"] for r in results),
        "compute": sum(r.timings["compute"] for r in results),
    }
    timings["total"] = t2 - t0
    n = table.rows
    timings["rows_per_s"] = n / timings["total"] if timings["total"] > 0 else float("nan")
    failed = []
    if fail_above is not None:
        failed = [r.label or r.loss for r in results if r.cost is not None and not r.cost <= fail_above]
    row_ids = table.frame[kcol].to_numpy() if kcol else None
    return EvalReport(
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
    )
