"""Which model is better: several models' losses on the same rows, paired.

``compare_results`` is the core: evaluated results of one loss for several models on the same
rows; the first model is the baseline. ``compare`` does it for arrays and ``compare_files`` for
prediction files (rows matched by position or by a key column, labels checked to be the same).
The record, :class:`Comparison`, is what every renderer reads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lossctl.errors import InputError, UsageError
from lossctl.render import p_text


@dataclass
class Comparison:
    """One loss, several models, the same rows."""

    loss: str
    n: int
    level: float
    method: str
    models: list[dict[str, Any]]  # name, source, cost, ci, accuracy, rank
    diffs: list[dict[str, Any]]  # one per candidate: vs the baseline (the first model)
    verdicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "n": self.n,
            "level": self.level,
            "method": self.method,
            "models": self.models,
            "diffs": self.diffs,
            "verdicts": self.verdicts,
        }


@dataclass
class CompareReport:
    sources: list[str]
    labels: str | None
    key: str | None
    rows: int  # rows compared (present in every file)
    comparisons: list[Comparison]
    unmatched: dict[str, dict[str, Any]] = field(default_factory=dict)  # file -> rows only it has
    where: list[str] = field(default_factory=list)
    fail_if_worse: bool = False
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from lossctl import __version__

        d: dict[str, Any] = {
            "lossctl": __version__,
            "input": {"predictions": list(self.sources), "labels": self.labels, "key": self.key, "rows": self.rows},
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
        if self.where:
            d["input"]["where"] = list(self.where)
        if self.unmatched:
            d["input"]["unmatched"] = dict(self.unmatched)
        if self.fail_if_worse:
            d["gate"] = {"fail_if_worse": True, "failed": list(self.failed), "passed": not self.failed}
        return d


def compare_results(
    names: Sequence[str],
    results: Sequence[Any],
    rows: Sequence[Any] | None = None,
    *,
    level: float = 0.95,
    method: str = "normal",
    seed: int = 0,
    replicates: int | None = None,
    sources: Sequence[str] | None = None,
) -> Comparison:
    """Compare evaluated results of one loss (``EvalResult``) for several models; the first is the
    baseline. ``rows[i]`` are the positions in ``results[i].per_sample`` of the compared rows, in
    the same order for every model (None: all rows, already aligned)."""
    import numpy as np

    from lossctl import stats
    from lossctl.api import accuracy_of

    if len(results) < 2:
        raise UsageError("a comparison needs at least two models")
    level, method = stats.check_level(level), stats.check_method(method)
    reps = stats.DEFAULT_REPLICATES if replicates is None else replicates
    sel = list(rows) if rows is not None else [None] * len(results)
    parts = [r.parts(s) for r, s in zip(results, sel, strict=True)]
    losses = [r.per_sample if s is None else r.per_sample[s] for r, s in zip(results, sel, strict=True)]
    n = parts[0].n
    if n == 0:
        raise InputError("no rows to compare: the models share no row")
    for name, p in zip(names[1:], parts[1:], strict=True):
        if p.n != n or not np.array_equal(p.d, parts[0].d):
            raise InputError(
                f"'{name}' is not weighted like '{names[0]}' on the same rows; compare needs the same weights"
            )
    costs = [p.cost() for p in parts]
    models: list[dict[str, Any]] = []
    for i, (name, r, p, s) in enumerate(zip(names, results, parts, sel, strict=True)):
        iv = stats.interval(p, level, method, replicates=reps, seed=seed, floor=r.floor())
        hits = r._hits if s is None or r._hits is None else r._hits[s]
        w = r._weights if s is None or r._weights is None else r._weights[s]
        models.append(
            {
                "name": name,
                "source": sources[i] if sources else name,
                "cost": costs[i],
                "ci": iv.to_dict(),
                "accuracy": accuracy_of(hits, w),
                "baseline": i == 0,
            }
        )
    order = sorted(range(len(costs)), key=lambda i: (math.isnan(costs[i]), costs[i]))
    for rank, i in enumerate(order, 1):
        models[i]["rank"] = rank
    diffs: list[dict[str, Any]] = []
    for i in range(1, len(parts)):
        pd_ = stats.paired(parts[0], parts[i], (losses[0], losses[i]), level, method, replicates=reps, seed=seed)
        diffs.append({"candidate": names[i], "baseline": names[0], **pd_.to_dict()})
    adjusted = stats.holm([d["p_value"] for d in diffs]) if len(diffs) > 1 else [d["p_value"] for d in diffs]
    alpha = 1.0 - level
    verdicts = []
    for d, p_adj in zip(diffs, adjusted, strict=True):
        d["p_holm"] = p_adj if len(diffs) > 1 else None
        d["significant"] = bool(p_adj < alpha)
        d["verdict"] = _verdict(d, p_adj, alpha)
        verdicts.append(d["verdict"])
    return Comparison(results[0].label or results[0].loss, n, level, method, models, diffs, verdicts)


def _verdict(d: dict[str, Any], p: float, alpha: float) -> str:
    ci = d["ci"]
    span = f"{ci['level']:.0%} CI [{ci['low']:.4g}, {ci['high']:.4g}]"
    share = (
        f"it is better on {d['rows_better'] / d['n']:.0%} of rows, worse on {d['rows_worse'] / d['n']:.0%}"
        if d["n"]
        else ""
    )
    if math.isnan(p):
        return f"{d['candidate']} vs {d['baseline']}: {d['diff']:+.4g}; no test ({ci.get('note', 'undefined')})"
    adj = " (Holm-adjusted)" if d.get("p_holm") is not None else ""
    if p < alpha:
        word = "worse" if d["diff"] > 0 else "better"
        return (
            f"{d['candidate']} is significantly {word} than {d['baseline']}: cost {d['diff']:+.4g} "
            f"({span}, p={p_text(p)}{adj}, {d['test']}); {share}"
        )
    return (
        f"no significant difference between {d['candidate']} and {d['baseline']}: {d['diff']:+.4g} "
        f"({span}, p={p_text(p)}{adj}, {d['test']}); {share}"
    )


def compare(
    y_true: Any,
    predictions: Mapping[str, Any],
    loss: Any,
    sample_weight: Any = None,
    *,
    level: float = 0.95,
    method: str = "normal",
    seed: int = 0,
    replicates: int | None = None,
    **params: float,
) -> Comparison:
    """Compare models' predictions (``{"name": y_pred, ...}``, the first is the baseline) on the
    same ``y_true`` with one loss: each cost with its interval, and each candidate's paired
    difference from the baseline with its interval, p-value and the share of rows it wins."""
    from lossctl.api import evaluate

    names = list(predictions)
    results = [evaluate(y_true, predictions[k], loss, sample_weight, keep_per_sample=True, **params) for k in names]
    return compare_results(names, results, level=level, method=method, seed=seed, replicates=replicates)


def _model_names(files: Sequence[str]) -> list[str]:
    """Short names: the file stems, or the paths where stems repeat."""
    stems = [os.path.splitext(os.path.basename(f))[0] or f for f in files]
    return stems if len(set(stems)) == len(stems) else list(files)


def compare_files(
    files: Sequence[str],
    losses: Sequence[Any],
    params: Mapping[str, Any],
    *,
    labels: str | None = None,
    key: str | None = None,
    y_true: str | None = None,
    y_pred: str | None = None,
    weight: str | None = None,
    nan: str = "error",
    where: Sequence[str] = (),
    level: float = 0.95,
    method: str = "normal",
    seed: int = 0,
    replicates: int | None = None,
    fail_if_worse: bool = False,
) -> CompareReport:
    """Evaluate every file (each with its own label column, or the shared ``labels`` file) and
    compare them row by row: by position, or by ``key``. Rows only some files have are counted
    in ``unmatched`` and left out; the labels (and weights) of the compared rows must agree."""
    import numpy as np

    from lossctl.pipeline import _key_text, evaluate_files

    if len(files) < 2:
        raise UsageError("compare needs at least two prediction files (the first is the baseline)")
    if nan == "propagate":
        raise UsageError(
            "compare tests row-by-row differences, which a NaN cost has none of; use --nan omit "
            "(rows any model lacks are left out) or --nan error"
        )
    if len(set(map(os.path.abspath, files))) < len(files):
        raise UsageError("the same file is given twice; compare different models")
    reports = [
        evaluate_files(
            f,
            losses,
            params,
            labels=labels,
            key=key if labels else None,
            row_key=key if not labels else None,
            unmatched="drop" if (labels and key) else "error",
            y_true=y_true,
            y_pred=y_pred,
            weight=weight,
            nan=nan,
            where=where,
            keep_per_sample=True,
            warn=False,
        )
        for f in files
    ]
    names = _model_names(files)
    import pandas as pd

    unmatched: dict[str, dict[str, Any]] = {}
    if key:
        keys = [_key_text(pd.Series(rep.row_ids, dtype=object)).to_numpy() for rep in reports]
        for f, ks in zip(files, keys, strict=True):
            missing = pd.isna(ks)
            if missing.any():
                raise InputError(f"key '{key}' is empty at row {int(missing.argmax())} of '{f}'; every row needs a key")
            dup = pd.Series(ks).duplicated().to_numpy()
            if dup.any():
                i = int(dup.argmax())
                raise InputError(
                    f"key '{key}' repeats in '{f}': {ks[i]} at row {i} is a duplicate "
                    f"({int(dup.sum())} duplicate rows); keys must be unique to match rows across models"
                )
        common = set(keys[0])
        for k in keys[1:]:
            common &= set(k)
        order = [k for k in keys[0] if k in common]
        if not order:
            raise InputError(f"the files share no {key} value; nothing to compare")
        index_of = [{k: i for i, k in enumerate(ks)} for ks in keys]
        aligned = [np.array([ix[k] for k in order], dtype=np.int64) for ix in index_of]
        for f, ks in zip(files, keys, strict=True):
            only = [k for k in ks if k not in common]
            if only:
                unmatched[f] = {"rows": len(only), "examples": only[:5]}
        if labels:
            for f, rep in zip(files, reports, strict=True):
                p_only, _ = rep.unmatched_dropped
                if p_only:
                    unmatched.setdefault(f, {"rows": 0, "examples": []})
                    unmatched[f]["without_label"] = p_only
    else:
        n0 = reports[0].rows
        for f, rep in zip(files[1:], reports[1:], strict=True):
            if rep.rows != n0:
                raise InputError(
                    f"'{f}' has {rep.rows} rows but '{files[0]}' has {n0}; rows are compared by position, "
                    "so give files with the same rows, or match them with --key COL"
                )
        aligned = [np.arange(n0, dtype=np.int64) for _ in files]
    row_names = reports[0].row_ids
    comparisons = []
    for j in range(len(reports[0].results)):
        results = [rep.results[j] for rep in reports]
        sel = _paired_rows(results, aligned)
        _check_same(files, results, sel, row_names, "label", lambda r: r._y_true)
        _check_same(files, results, sel, row_names, "weight", lambda r: r._weights)
        comparisons.append(
            compare_results(
                names, results, sel, level=level, method=method, seed=seed, replicates=replicates, sources=files
            )
        )
    failed = []
    if fail_if_worse:
        for c in comparisons:
            # An infinitely (or undefinedly) worse candidate has no test, and must fail all the same.
            failed += [f"{c.loss}: {d['candidate']}" for d in c.diffs if _worse(d, c)]
    return CompareReport(
        sources=list(files),
        labels=labels,
        key=key,
        rows=comparisons[0].n if comparisons else 0,
        comparisons=comparisons,
        unmatched=unmatched,
        where=reports[0].where,
        fail_if_worse=fail_if_worse,
        failed=failed,
    )


def _worse(d: dict[str, Any], c: Comparison) -> bool:
    base = c.models[0]["cost"]
    cand = next(m["cost"] for m in c.models if m["name"] == d["candidate"])
    if not math.isfinite(cand) and math.isfinite(base):
        return True
    return bool(d["significant"] and d["diff"] > 0)


def _paired_rows(results: Sequence[Any], aligned: Sequence[Any]) -> list[Any]:
    """Positions in each result's per-sample losses of the rows every model kept, in one order."""
    import numpy as np

    n_rows = len(aligned[0])
    ok = np.ones(n_rows, dtype=bool)
    position = []
    for r, rows in zip(results, aligned, strict=True):
        if r.kept is None:
            pos = rows.copy()
        else:  # rows left out (--nan omit): table row -> per-sample position, -1 when left out
            size = max(int(rows.max(initial=-1)), int(r.kept.max(initial=-1))) + 1
            lookup = np.full(size, -1, dtype=np.int64)
            lookup[r.kept] = np.arange(r.kept.shape[0])
            pos = lookup[rows]
        ok &= pos >= 0
        position.append(pos)
    return [p[ok] for p in position]


def _check_same(
    files: Sequence[str], results: Sequence[Any], sel: Sequence[Any], row_names: Any, what: str, get: Any
) -> None:
    """The compared rows must have the same ``what`` (labels, weights) in every file."""
    import numpy as np

    base = get(results[0])
    if base is None and all(get(r) is None for r in results):
        return
    a = None if base is None else np.asarray(base)[sel[0]]
    for f, r, s in zip(files[1:], results[1:], sel[1:], strict=True):
        other = get(r)
        b = None if other is None else np.asarray(other)[s]
        if a is None or b is None or a.shape != b.shape:
            raise InputError(
                f"'{f}' and '{files[0]}' do not have the same {what} columns; compare needs the same {what}s"
            )
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
        if same.ndim > 1:
            same = same.all(axis=1)
        if not same.all():
            i = int(np.argmin(same))
            row = int(sel[0][i]) if results[0].kept is None else int(results[0].kept[sel[0][i]])
            row = row if row_names is None else row_names[row]
            row = row.item() if hasattr(row, "item") else row
            show = (lambda x: f"{float(x):g}") if a.ndim == 1 else (lambda x: str(np.round(x, 6).tolist()))
            raise InputError(
                f"'{f}' and '{files[0]}' disagree on the {what} of row {row}: {show(b[i])} vs {show(a[i])}; "
                f"models are compared on the same {what}s (give one --labels file, or match rows with --key)"
            )
