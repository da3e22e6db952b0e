"""Renderers: the same report as a rich table, JSON, CSV or Markdown.

Every renderer reads ``report.to_dict()`` (or its per-sample frame), so the formats cannot drift
apart. Data goes to stdout; the caller sends diagnostics to stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from typing import Any, TextIO

FORMATS = ("table", "json", "csv", "markdown")
STAT_ORDER = ("std", "min", "median", "p90", "p99", "max")
TIMING_ORDER = ("read", "validate", "jit", "compute", "sweep", "total")


def jsonable(x: Any) -> Any:
    """Non-finite floats become the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # NumPy scalars
        return jsonable(x.item())
    return x


def fmt(x: Any, digits: int = 6) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def params_text(params: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in params.items())


def summary_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per loss: the shared shape of the CSV and Markdown renderers."""
    rows = []
    grouped = any(r.get("groups") for r in d["results"])
    for r in d["results"]:
        row = {
            "loss": r.get("label", r["loss"]),
            "compat": r.get("compat") or "",
            "params": params_text(r["params"]),
            "n": r["n"],
            "reduction": r["reduction"],
            "cost": r["cost"],
            "sum": r["sum"],
            "divisor": r["divisor"],
            "vs_lossctl": r.get("vs_lossctl"),
            "accuracy": r.get("accuracy"),
        }
        if any("ci" in x for x in d["results"]):
            row.update({"ci_low": (r.get("ci") or {}).get("low"), "ci_high": (r.get("ci") or {}).get("high")})
        if any("worst_share" in x for x in d["results"]):
            share = r.get("worst_share") or {}
            row.update({"worst_1pct_share": share.get("1%"), "worst_10pct_share": share.get("10%")})
        if any("gradient" in x for x in d["results"]):
            g = r.get("gradient") or {}
            row.update({f"grad_{k}": g.get(k) for k in GRADIENT_ORDER})
        row.update({k: r.get("stats", {}).get(k) for k in STAT_ORDER})
        row.update({f"{k}_s": r.get("timings", {}).get(k) for k in ("validate", "jit", "compute")})
        if grouped:
            row = {"group": "", **row}
        rows.append(row)
        for column, groups in (r.get("groups") or {}).items():
            for g in groups:
                sub = dict.fromkeys(row)
                iv = g.get("ci") or {}
                sub.update(
                    group=f"{column}={g['group']}",
                    loss=row["loss"],
                    compat=row["compat"],
                    params=row["params"],
                    n=g["n"],
                    reduction=row["reduction"],
                    cost=g["cost"],
                    accuracy=g.get("accuracy"),
                )
                if "ci_low" in sub:
                    sub.update(ci_low=iv.get("low"), ci_high=iv.get("high"))
                rows.append(sub)
    return rows


# The gradient summary of `eval --grad`, as a renderer names each entry.
GRADIENT_ORDER = ("cost_grad_norm", "mean_abs", "max_abs")
GRADIENT_LABELS = {
    "cost_grad_norm": "‖d cost / d pred‖",
    "mean_abs": "mean |grad|",
    "max_abs": "max |grad|",
}
GRADIENT_HEADER = ["row", "y_true", "y_pred", "loss", "gradient"]


def gradient_cells(x: dict[str, Any]) -> list[str]:
    return [str(x["row"]), x["y_true"], x["y_pred"], fmt(x["loss"]), x["grad"]]


def _signed(x: Any) -> str:
    return "-" if x is None else (f"{x:+.6g}" if x else "0")


def to_json(d: dict[str, Any], out: TextIO) -> None:
    json.dump(jsonable(d), out, indent=2)
    out.write("\n")


def write_csv_rows(rows: list[dict[str, Any]], out: TextIO, fields: list[str] | None = None) -> None:
    """Flat rows as CSV: the header from ``fields`` (or the first row), None as an empty cell."""
    fieldnames = fields or (list(rows[0]) if rows else ["loss"])
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def console_for(out: TextIO, width: int = 10_000) -> Any:
    """A rich console for ``out``: no markup (data is printed as given, even '[red]'), and off a
    terminal never narrower than ``width``, so no value is cut to fit 80 columns."""
    from rich.console import Console

    return Console(file=out, highlight=False, markup=False, soft_wrap=False, width=None if out.isatty() else width)


def to_csv(d: dict[str, Any], out: TextIO) -> None:
    sweeps = [r["sweep"] for r in d["results"] if r.get("sweep")]
    if sweeps:  # the sweep is the data asked for: one row per parameter value
        rows = [
            {
                "loss": sw["loss"],
                "param": sw["param"],
                "value": v,
                "cost": c,
                "least": bool(sw.get("least")) and v == sw["least"]["value"],
            }
            for sw in sweeps
            for v, c in zip(sw["values"], sw["costs"], strict=True)
        ]
        write_csv_rows(rows, out)
        return
    _summary_csv(d, out)


def _summary_csv(d: dict[str, Any], out: TextIO) -> None:
    write_csv_rows(summary_rows(d), out)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def to_markdown(d: dict[str, Any], out: TextIO) -> None:
    rows = summary_rows(d)
    if rows:
        header = [k for k in rows[0] if not k.endswith("_s")]
        out.write(_md_table(header, [[fmt(r[k], 10 if k == "cost" else 6) for k in header] for r in rows]))
    for r in d["results"]:
        name = r.get("label", r["loss"])
        for column, groups in (r.get("groups") or {}).items():
            out.write(f"\n**{name} by {column}**\n\n")
            body = [
                [str(g["group"]), str(g["n"]), fmt(g["cost"]), ci_text(g.get("ci")), fmt(g.get("accuracy"))]
                for g in groups
            ]
            out.write(_md_table([column, "n", "cost", "CI", "accuracy"], body))
        if r.get("top"):
            out.write(f"\n**{name}: worst {len(r['top'])} rows**\n\n")
            body = [[str(x["row"]), x["y_true"], x["y_pred"], fmt(x["loss"]), pct(x.get("share"))] for x in r["top"]]
            out.write(_md_table(["row", "y_true", "y_pred", "loss", "share of total"], body))
        if r.get("gradient", {}).get("largest"):
            out.write(f"\n**{name}: largest gradients**\n\n")
            out.write(_md_table(GRADIENT_HEADER, [gradient_cells(x) for x in r["gradient"]["largest"]]))
        if r.get("sweep"):
            out.write("\n```\n" + "\n".join(sweep_lines(r["sweep"])) + "\n```\n")
        if r.get("histogram"):
            out.write(
                f"\n**{name}: per-sample losses**\n\n```\n" + "\n".join(histogram_lines(r["histogram"])) + "\n```\n"
            )
    for v in d.get("overfitting", []):
        out.write(f"\n- {v['loss']} {v['column']}: {v['verdict']}\n")
    t = d.get("timings", {})
    out.write("\n")
    out.write(_md_table(["phase", "seconds"], [[k, fmt(t.get(k), 4)] for k in TIMING_ORDER if k in t]))
    if "rows_per_s" in t:
        out.write(f"\n{fmt(t['rows_per_s'], 4)} rows/s end to end\n")


def streamed_line(info: dict[str, Any]) -> str:
    return (
        f"streamed in {info['batches']:,} batches of up to {info['batch_rows']:,} rows ({info['why']}); "
        f"peak memory {info['peak_memory'] / 2**20:,.0f} MiB"
    )


def to_table(d: dict[str, Any], out: TextIO) -> None:
    """Rich tables: a summary with one column per loss, then the timing table."""
    from rich.table import Table
    from rich.text import Text

    console = console_for(out)
    inp = d["input"]
    src = inp["predictions"] + (f" + {inp['labels']}" if inp.get("labels") else "")
    console.print(Text.assemble((src, "bold"), f" · {inp['rows']} rows"))
    if inp.get("where"):
        console.print(f"--where {'; '.join(inp['where'])}", style="dim")
    if inp.get("streamed"):
        console.print(streamed_line(inp["streamed"]), style="dim")
    lines: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("columns", lambda r: f"{r['columns'].get('y_true', '')} vs {r['columns'].get('y_pred', '')}"),
        ("n", lambda r: str(r["n"])),
        ("cost" if d["results"][0]["reduction"] != "sum" else "cost (sum)", lambda r: fmt(r["cost"], 10)),
        ("sum", lambda r: fmt(r["sum"], 10)),
        ("divisor", lambda r: fmt(r["divisor"], 10)),
    ]
    if any(r.get("api") for r in d["results"]):
        lines.insert(0, ("computed as", lambda r: r.get("api") or "lossctl"))
    if any(r.get("vs_lossctl") is not None for r in d["results"]):
        lines.append(("vs lossctl", lambda r: _signed(r.get("vs_lossctl"))))
    if any(r.get("ignored") for r in d["results"]):
        lines.append(("ignored (--ignore-index)", lambda r: str(r.get("ignored", 0))))
    if any(r.get("omitted") for r in d["results"]):
        lines.append(("omitted (--nan)", lambda r: str(r.get("omitted", 0))))
    if any(r.get("ci") for r in d["results"]):
        level = next(r["ci"]["level"] for r in d["results"] if r.get("ci"))
        lines.append((f"{level:.0%} CI ({_ci_method(d)})", lambda r: ci_text(r.get("ci"))))
    if any(r.get("accuracy") is not None for r in d["results"]):
        lines.append(("accuracy", lambda r: fmt(r.get("accuracy"), 6)))
    if any(r.get("worst_share") for r in d["results"]):
        lines.append(("worst 1% carry", lambda r: pct((r.get("worst_share") or {}).get("1%"))))
        lines.append(("worst 10% carry", lambda r: pct((r.get("worst_share") or {}).get("10%"))))
    if any(r.get("gradient") for r in d["results"]):
        lines += [(GRADIENT_LABELS[k], lambda r, k=k: fmt((r.get("gradient") or {}).get(k))) for k in GRADIENT_ORDER]
    if any(r.get("stats") for r in d["results"]):
        lines += [(k, lambda r, k=k: fmt(r.get("stats", {}).get(k))) for k in STAT_ORDER]
    # As many losses per table as fit the width, so no number is ever wrapped or cut.
    per_table = max(1, (console.width - 18) // 20)
    results = d["results"]
    for start in range(0, len(results), per_table):
        chunk = results[start : start + per_table]
        summary = Table(show_edge=False)
        summary.add_column("", style="bold", no_wrap=True)
        for r in chunk:
            head = r.get("label", r["loss"]) + (f"\n{params_text(r['params'])}" if r["params"] else "")
            summary.add_column(head, justify="right", no_wrap=True)
        for label, get in lines:
            summary.add_row(label, *[get(r) for r in chunk])
        console.print(summary)
    for what, why in d.get("skipped", {}).items():
        console.print(f"{what}: not computed: {why}", style="dim")
    _print_analyses(console, d)
    if "gate" in d:
        g = d["gate"]
        verdict = ("passed", "green") if g["passed"] else (f"failed ({', '.join(g['failed'])})", "red")
        console.print(Text.assemble(f"gate --fail-above {fmt(g['fail_above'])}: ", verdict))
    t = d.get("timings", {})
    timing = Table(show_edge=False)
    timing.add_column("phase", style="bold")
    timing.add_column("seconds", justify="right")
    timing.add_column("share", justify="right")
    total = t.get("total") or float("nan")
    for k in TIMING_ORDER:
        if k in t:
            timing.add_row(k, f"{t[k]:.4f}", "" if k == "total" else f"{100 * t[k] / total:.0f}%")
    if "rows_per_s" in t:
        timing.add_row("rows/s", fmt(t["rows_per_s"], 4), "")
    console.print()
    console.print(timing)


def p_text(p: Any) -> str:
    """A p-value; one below the smallest float (computed as 0) is shown as a bound."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    return "<1e-300" if p == 0 else f"{p:.2g}"


def pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ci_text(ci: dict[str, Any] | None) -> str:
    if not ci:
        return "-"
    if ci.get("note") and not (math.isfinite(ci["low"]) and math.isfinite(ci["high"]) and ci["low"] != ci["high"]):
        return "-"
    return f"[{ci['low']:.6g}, {ci['high']:.6g}]"


def _ci_method(d: dict[str, Any]) -> str:
    ci = next((r["ci"] for r in d["results"] if r.get("ci")), {})
    if ci.get("method") == "bootstrap":
        return f"bootstrap, {ci.get('replicates')} resamples, seed {ci.get('seed')}"
    return "t"


BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(count: int, top: int, width: int = 40) -> str:
    """A horizontal bar of ``count`` out of ``top`` in ``width`` characters (eighths of a block)."""
    if top <= 0 or count <= 0:
        return ""
    eighths = max(1, round(8 * width * count / top))
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def histogram_lines(h: dict[str, Any], width: int = 40) -> list[str]:
    """A histogram as text lines: bin range, bar, count (readable without colour)."""
    edges, counts = h.get("edges", []), h.get("counts", [])
    labels = [
        f"[{fmt(a, 4)}, {fmt(b, 4)}{']' if i == len(counts) - 1 else ')'}"
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    rows = list(zip(labels, counts, strict=True))
    if h.get("zeros"):
        rows.insert(0, ("0", h["zeros"]))
    if h.get("nonfinite"):
        rows.append(("inf/nan", h["nonfinite"]))
    top = max((c for _, c in rows), default=0)
    lw = max((len(lbl) for lbl, _ in rows), default=0)
    cw = len(str(top))
    return [f"{lbl:>{lw}} {bar(c, top, width):<{width}} {c:>{cw}}" for lbl, c in rows]


def sweep_lines(sw: dict[str, Any], width: int = 72) -> list[str]:
    """A parameter sweep as text: the cost at each value (the least marked), then a chart."""
    from lossctl import chart

    fixed = f" ({params_text(sw['fixed'])})" if sw.get("fixed") else ""
    head = f"{sw['loss']}{fixed}: cost against {sw['param']}, {sw['n']} rows, one pass ({sw['seconds']:.3g} s)"
    least = sw.get("least") or {}
    rows = [
        (fmt(v), fmt(c, 10), "  <- least" if least and v == least["value"] else "")
        for v, c in zip(sw["values"], sw["costs"], strict=True)
    ]
    vw = max(len(sw["param"]), *(len(a) for a, _, _ in rows))
    cw = max(4, *(len(b) for _, b, _ in rows))
    lines = [head, f"{sw['param']:>{vw}}  {'cost':>{cw}}"]
    lines += [f"{a:>{vw}}  {b:>{cw}}{c}" for a, b, c in rows]
    costs = [math.nan if c is None else c for c in sw["costs"]]
    if len(rows) >= 2:
        lines.append("")
        lines += chart.render(
            sw["values"], [(sw["loss"], costs)], width=width, height=12, x_label=sw["param"], y_label="cost"
        )
    return lines


def _print_analyses(console: Any, d: dict[str, Any]) -> None:
    """Group breakdowns, train/held-out verdicts, worst rows and histograms under the summary."""
    from rich.table import Table
    from rich.text import Text

    for r in d["results"]:
        name = r.get("label", r["loss"])
        for column, groups in (r.get("groups") or {}).items():
            t = Table(title=f"{name} by {column}", show_edge=False, title_justify="left")
            t.add_column(column, no_wrap=True)
            t.add_column("n", justify="right")
            t.add_column("cost", justify="right")
            level = next((g["ci"]["level"] for g in groups if g.get("ci")), 0.95)
            t.add_column(f"{level:.0%} CI", justify="right", no_wrap=True)
            acc = any(g.get("accuracy") is not None for g in groups)
            if acc:
                t.add_column("accuracy", justify="right")
            for g in groups:
                cells = [str(g["group"]), str(g["n"]), fmt(g["cost"], 6), ci_text(g.get("ci"))]
                if acc:
                    cells.append(fmt(g.get("accuracy")))
                t.add_row(*cells)
            console.print()
            console.print(t)
        if r.get("top"):
            t = Table(title=f"{name}: worst {len(r['top'])} rows", show_edge=False, title_justify="left")
            for head in ("row", "y_true", "y_pred", "loss", "share of total"):
                t.add_column(head, justify="left" if head in ("y_pred",) else "right", no_wrap=True)
            for row in r["top"]:
                t.add_row(str(row["row"]), row["y_true"], row["y_pred"], fmt(row["loss"]), pct(row.get("share")))
            console.print()
            console.print(t)
        if r.get("gradient", {}).get("largest"):
            rows = r["gradient"]["largest"]
            t = Table(title=f"{name}: largest gradients", show_edge=False, title_justify="left")
            for head in GRADIENT_HEADER:
                t.add_column(head, justify="left" if head == "y_pred" else "right", no_wrap=True)
            for row in rows:
                t.add_row(*gradient_cells(row))
            console.print()
            console.print(t)
        if r.get("histogram"):
            h = r["histogram"]
            scale = "log-spaced bins" if h.get("scale") == "log" else "linear bins"
            console.print()
            console.print(Text.assemble((name, "bold"), f": per-sample losses ({h['n']} rows, {scale})"))
            for line in histogram_lines(h):
                console.print(line)
        if r.get("sweep"):
            console.print()
            for line in sweep_lines(r["sweep"]):
                console.print(line)
    for v in d.get("overfitting", []):
        console.print()
        console.print(Text.assemble((v["loss"], "bold"), f" {v['column']}: {v['verdict']}"))


RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": to_table,
    "json": to_json,
    "csv": to_csv,
    "markdown": to_markdown,
}


def render(d: dict[str, Any], fmt_name: str, out: TextIO) -> None:
    RENDERERS[fmt_name](d, out)


def frame_to_text(frame: Any, fmt_name: str) -> str:
    """Per-sample rows in a text format (for --reduction none or --per-sample -)."""
    buf = io.StringIO()
    if fmt_name == "json":
        # json.dumps writes floats that round-trip exactly (pandas' to_json rounds them).
        buf.write(json.dumps(jsonable(frame.to_dict("records"))))
        buf.write("\n")
    elif fmt_name == "markdown":
        buf.write(
            _md_table(
                list(map(str, frame.columns)), [[fmt(v, 10) for v in row] for row in frame.itertuples(index=False)]
            )
        )
    else:
        frame.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
    return buf.getvalue()


# --- benchmark reports ------------------------------------------------------------------------

BENCH_COLUMNS = (
    ("loss", "loss"),
    ("n", "n"),
    ("k", "K"),
    ("dtype", "dtype"),
    ("impl", "impl"),
    ("median_ms", "median ms"),
    ("min_ms", "min ms"),
    ("max_ms", "max ms"),
    ("first_call_s", "first call s"),
    ("rows_per_s", "rows/s"),
    ("gb_per_s", "GB/s"),
    ("ceiling_fraction", "of ceiling"),
    ("vs_numpy", "x NumPy"),
    ("per_sample_ratio", "per-sample x"),
    ("rel_diff", "rel diff"),
    ("agrees", "agrees"),
)


def bench_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for r in d["rows"]:
        row = dict(r)
        for k in ("median", "min", "max"):
            row[f"{k}_ms"] = r[f"{k}_s"] * 1e3
        rows.append({key: row.get(key) for key, _ in BENCH_COLUMNS})
    return rows


def _bench_cell(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key == "agrees":
        return "yes" if v else "NO"
    if key in ("ceiling_fraction",):
        return f"{v:.2f}"
    if key in ("vs_numpy", "per_sample_ratio"):
        return f"{v:.2f}x"
    if key == "rows_per_s":
        return f"{v:.3g}"
    if key == "rel_diff":
        return f"{v:.1e}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def env_lines(d: dict[str, Any]) -> list[str]:
    e = d["env"]
    versions = ", ".join(f"{k} {v}" for k, v in e["versions"].items())
    ceil = "; ".join(
        f"{c['bytes'] / 1e6:.3g} MB ({c['dtype']}): {c['gb_per_s']:.1f} GB/s" for c in d.get("ceilings", [])
    )
    return [
        f"cpu: {e['cpu']} ({e['cores']} cores, {e['threads']} threads, numba threading layer {e['threading_layer']})",
        f"versions: {versions}",
        f"read ceiling (a read-only parallel kernel over the same inputs): {ceil}",
    ]


def bench_to_table(d: dict[str, Any], out: TextIO) -> None:
    from rich.table import Table

    console = console_for(out)
    table = Table(show_edge=False)
    for key, head in BENCH_COLUMNS:
        table.add_column(head, justify="left" if key in ("loss", "dtype", "impl") else "right", no_wrap=True)
    previous = None
    for row in bench_rows(d):
        case = (row["loss"], row["n"], row["k"], row["dtype"])
        if previous is not None and case != previous:
            table.add_section()
        previous = case
        table.add_row(
            *[_bench_cell(k, row[k]) for k, _ in BENCH_COLUMNS], style="bold" if row["impl"] == "lossctl" else None
        )
    console.print(table)
    if d.get("scaling"):
        console.print()
        console.print(scaling_table(d["scaling"]))
    for line in env_lines(d):
        console.print(line)


def scaling_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Time per row across sizes (``lossctl bench --scaling``): a header and one row of cells per
    (loss, dtype, implementation), the shape of the table and Markdown renderers."""
    sizes = sorted({int(n) for r in rows for n in r["ns_per_row"]})
    header = ["loss", "dtype", "impl", *[f"n={n:.0e}".replace("e+0", "e") for n in sizes], "growth"]
    body = []
    for r in rows:
        per = {int(n): v for n, v in r["ns_per_row"].items()}
        growth = "-" if r["growth"] is None else f"{r['growth']:.2f}x"
        body.append([r["loss"], r["dtype"], r["impl"], *[f"{per[n]:.3g}" if n in per else "-" for n in sizes], growth])
    return header, body


def scaling_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    header, body = scaling_cells(rows)
    t = Table(title="time per row (ns) across sizes; growth = largest / smallest", show_edge=False)
    for head in header:
        t.add_column(head, justify="left" if head in ("loss", "dtype", "impl") else "right", no_wrap=True)
    for cells in body:
        t.add_row(*cells, style="bold" if cells[2] == "lossctl" else None)
    return t


def bench_to_json(d: dict[str, Any], out: TextIO) -> None:
    to_json(d, out)


def bench_to_csv(d: dict[str, Any], out: TextIO) -> None:
    for line in env_lines(d):
        out.write(f"# {line}\n")
    write_csv_rows(bench_rows(d), out, [k for k, _ in BENCH_COLUMNS])


def bench_to_markdown(d: dict[str, Any], out: TextIO) -> None:
    header = [head for _, head in BENCH_COLUMNS]
    body = [[_bench_cell(k, row[k]) for k, _ in BENCH_COLUMNS] for row in bench_rows(d)]
    out.write(_md_table(header, body))
    if d.get("scaling"):
        out.write("\nTime per row (ns) across sizes:\n\n")
        out.write(_md_table(*scaling_cells(d["scaling"])))
    out.write("\n" + "\n".join(f"- {line}" for line in env_lines(d)) + "\n")


BENCH_RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": bench_to_table,
    "json": bench_to_json,
    "csv": bench_to_csv,
    "markdown": bench_to_markdown,
}


# --- model comparisons --------------------------------------------------------------------------


def compare_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per (loss, model): the shape of the CSV and Markdown renderers."""
    rows = []
    for c in d["comparisons"]:
        diffs = {x["candidate"]: x for x in c["diffs"]}
        for m in c["models"]:
            x = diffs.get(m["name"], {})
            rows.append(
                {
                    "loss": c["loss"],
                    "rank": m["rank"],
                    "model": m["name"],
                    "n": c["n"],
                    "cost": m["cost"],
                    "ci_low": m["ci"]["low"],
                    "ci_high": m["ci"]["high"],
                    "accuracy": m.get("accuracy"),
                    "diff": x.get("diff"),
                    "diff_low": (x.get("ci") or {}).get("low"),
                    "diff_high": (x.get("ci") or {}).get("high"),
                    "p_value": x.get("p_value"),
                    "p_holm": x.get("p_holm"),
                    "win_share": x.get("win_share"),
                    "significant": x.get("significant"),
                }
            )
    return rows


def compare_to_table(d: dict[str, Any], out: TextIO) -> None:
    from rich.table import Table
    from rich.text import Text

    console = console_for(out)
    inp = d["input"]
    how = f"matched on {inp['key']}" if inp.get("key") else "matched by position"
    console.print(
        Text.assemble((f"{len(inp['predictions'])} models", "bold"), f" · {inp['rows']} rows compared ({how})")
    )
    if inp.get("where"):
        console.print(f"--where {'; '.join(inp['where'])}", style="dim")
    for f, u in inp.get("unmatched", {}).items():
        extra = f"; {u['without_label']} without a label" if u.get("without_label") else ""
        shown = ", ".join(map(str, u.get("examples", [])))
        console.print(f"{f}: {u['rows']} rows not in every file, left out (e.g. {shown}){extra}", style="yellow")
    for c in d["comparisons"]:
        holm = any(x.get("p_holm") is not None for x in c["diffs"])
        t = Table(title=f"{c['loss']} ({c['method']}, {c['level']:.0%})", show_edge=False, title_justify="left")
        for head in ("rank", "model", "cost", "CI", "accuracy", "vs baseline", "diff CI", "p", "rows better"):
            if head == "accuracy" and not any(m.get("accuracy") is not None for m in c["models"]):
                continue
            t.add_column(
                head + (" (Holm)" if head == "p" and holm else ""),
                justify="left" if head == "model" else "right",
                no_wrap=True,
            )
        diffs = {x["candidate"]: x for x in c["diffs"]}
        for m in c["models"]:
            x = diffs.get(m["name"])
            cells = [str(m["rank"]), m["name"], fmt(m["cost"]), ci_text(m["ci"])]
            if any(mm.get("accuracy") is not None for mm in c["models"]):
                cells.append(fmt(m.get("accuracy")))
            if x is None:
                cells += ["baseline", "", "", ""]
            else:
                p = x["p_holm"] if x.get("p_holm") is not None else x["p_value"]
                cells += [_signed(x["diff"]), ci_text(x["ci"]), p_text(p), pct(x.get("win_share"))]
            t.add_row(*cells, style="bold" if m["rank"] == 1 else None)
        console.print()
        console.print(t)
        for v in c["verdicts"]:
            console.print(v)
    if "gate" in d:
        g = d["gate"]
        verdict = ("passed", "green") if g["passed"] else (f"failed ({'; '.join(g['failed'])})", "red")
        console.print(Text.assemble("gate --fail-if-worse: ", verdict))


def compare_to_csv(d: dict[str, Any], out: TextIO) -> None:
    write_csv_rows(compare_rows(d), out)


def compare_to_markdown(d: dict[str, Any], out: TextIO) -> None:
    rows = compare_rows(d)
    if rows:
        header = list(rows[0])
        out.write(_md_table(header, [[fmt(r[k]) for k in header] for r in rows]))
    for c in d["comparisons"]:
        for v in c["verdicts"]:
            out.write(f"\n- {v}")
    out.write("\n")


COMPARE_RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": compare_to_table,
    "json": to_json,
    "csv": compare_to_csv,
    "markdown": compare_to_markdown,
}


# --- recommendations ----------------------------------------------------------------------------


def advice_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "loss": a["loss"],
            "primary": a["primary"],
            "params": params_text(a["params"]),
            "command": a["command"],
            "reason": a["reason"],
        }
        for a in d["advice"]
    ]


def advice_to_table(d: dict[str, Any], out: TextIO) -> None:
    from rich.table import Table
    from rich.text import Text

    console = console_for(out, 110)
    inp = d["input"]
    cols = inp["columns"]
    seen = f"{cols['y_true']}" + (f" vs {cols['y_pred']}" if cols.get("y_pred") else " (no predictions)")
    console.print(Text.assemble((inp["predictions"], "bold"), f" · {inp['rows']} rows · {seen}"))
    console.print(
        Text.assemble(
            "task: ", (d["task"], "bold"), f" (labels: {d['label_kind']}, predictions: {d['prediction_kind']})"
        )
    )
    console.print()
    console.print("evidence", style="bold")
    for e in d["evidence"]:
        console.print(f"  - {e['text']}")
    t = Table(show_edge=False, title="advice", title_justify="left")
    t.add_column("", no_wrap=True)
    t.add_column("use", no_wrap=True)
    t.add_column("why")
    for a in d["advice"]:
        t.add_row("*" if a["primary"] else "", a["command"], a["reason"])
    console.print()
    console.print(t)
    for note in d.get("notes", []):
        console.print(f"note: {note}")
    for other in inp.get("other_predictions", []):
        console.print(f"note: the file also has {other}; rerun with --y-pred '{other}' to inspect it")


def advice_to_csv(d: dict[str, Any], out: TextIO) -> None:
    write_csv_rows(advice_rows(d), out, ["loss", "primary", "params", "command", "reason"])


def advice_to_markdown(d: dict[str, Any], out: TextIO) -> None:
    out.write(f"task: **{d['task']}** (labels: {d['label_kind']}, predictions: {d['prediction_kind']})\n\n")
    out.write("".join(f"- {e['text']}\n" for e in d["evidence"]))
    out.write("\n")
    rows = advice_rows(d)
    out.write(
        _md_table(["", "use", "why"], [["*" if r["primary"] else "", f"`{r['command']}`", r["reason"]] for r in rows])
    )
    for note in d.get("notes", []):
        out.write(f"\nnote: {note}\n")


ADVICE_RENDERERS: dict[str, Callable[[dict[str, Any], TextIO], None]] = {
    "table": advice_to_table,
    "json": to_json,
    "csv": advice_to_csv,
    "markdown": advice_to_markdown,
}
