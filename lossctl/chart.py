"""Plain-text line charts for the terminal: loss curves, their gradients, cost against a parameter.

    >>> xs = [i / 10 for i in range(-30, 31)]
    >>> lines = render(xs, [("mse", [v * v for v in xs]), ("mae", [abs(v) for v in xs])], width=40, height=8)
    >>> print("\\n".join(lines))  # doctest: +SKIP

Pure standard-library Python: no colour codes, no NumPy, so the output reads the same in a
terminal, in a pipe and in a log file, and importing this module costs nothing.

Layout, top to bottom: the title (if any), the y label (if any), ``height`` plot rows with the y
tick labels and a ``|`` axis on the left, the x axis line, the x tick labels, the x label (if any)
and the legend. Every line is at most ``width`` characters and has no trailing spaces.

Drawing rules
-------------
* Series ``i`` draws with ``markers(n)[i]``: ``* o + x @ % & = ~ $``, then letters and digits
  (skipping those that look like the chart's own characters); beyond that the markers repeat.
* Overlap: a cell that two or more series pass through shows ``#`` (``OVERLAP``), never one
  series hiding another; the legend then lists ``# overlap``.
* Continuity: each series is the polyline through its finite points. Column ``c`` stands for the
  x value at its centre; it shows the curve's value there (linear interpolation when the points
  are sparser than the columns) and the whole span from min to max of the points that fall into
  the column (when they are denser). Between adjacent columns the vertical run between the two
  values is filled, half in each column, so steep parts and steps read as solid lines.
* Gaps: a non-finite y (nan, +inf, -inf; ``None`` counts as nan) breaks the polyline: the columns
  whose centre lies between its finite neighbours stay empty, and no run is drawn across it.
* Clipping: a value beyond ``y_range`` is clipped to the edge row and shown there as ``^``
  (``CLIP_HIGH``, above the range) or ``v`` (``CLIP_LOW``, below); runs that leave the range are
  drawn up to the edge, which then shows the indicator. Indicators yield to curve markers in the
  same cell. The legend then lists ``^/v off-scale``.
* Background, lighter than the curves and always under them: ``:`` for each ``marks`` position
  (legend ``: label (x=...)``; a mark outside the x range is listed as ``off-chart``), ``|`` for
  x = 0 and ``-`` for y = 0 when zero lies strictly inside the x or y range (``|`` wins where they
  cross). Priority per cell: curve markers (or ``#``) > ``^``/``v`` > ``:`` > ``|`` > ``-``.

Ranges and degenerate input
---------------------------
* x must be finite; it is sorted (stably, the series with it), so any order works and repeated x
  values are allowed (a vertical jump). The x range is [min x, max x].
* ``y_range`` defaults to [min, max] of the finite values of all series; a zero-width range (a
  constant, or a single point) is padded by half its magnitude (by 1 around zero), as is a single
  x. With no finite value at all (no series, no x, all nan) the range is [0, 1]. A series without
  finite values is listed in the legend as ``(no data)``.
* Errors are ``ValueError`` (``lossctl.errors.UsageError``) with one clear line: width below
  ``MIN_WIDTH`` (30) or height below ``MIN_HEIGHT`` (5), a series whose length differs from x,
  a non-finite x, a value that is not a number, a ``y_range`` that is not finite and increasing.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["render", "markers", "MIN_WIDTH", "MIN_HEIGHT", "OVERLAP", "CLIP_HIGH", "CLIP_LOW", "MARK"]

MIN_WIDTH = 30
MIN_HEIGHT = 5

OVERLAP = "#"
CLIP_HIGH = "^"
CLIP_LOW = "v"
MARK = ":"
ZERO_X = "|"  # the vertical line at x = 0
ZERO_Y = "-"  # the horizontal line at y = 0

# No marker may look like the chart's own characters (# ^ v : | - . and the axis), nor 0/O, l/I.
_MARKERS = "*o+x@%&=~$" + "abcdefghijkmnpqrstuwyz" + "ABCDEFGHJKLMNPQRSTUWYZ" + "123456789"

_GAP = "   "  # between legend entries


def markers(n: int) -> list[str]:
    """The marker character of each of ``n`` series, as ``render`` draws them (repeating after 63)."""
    if n < 0:
        _fail(f"markers: n must be >= 0, got {n}")
    return [_MARKERS[i % len(_MARKERS)] for i in range(n)]


def render(
    x: Sequence[float],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 72,
    height: int = 20,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    y_range: tuple[float, float] | None = None,
    marks: Sequence[tuple[float, str]] = (),
) -> list[str]:
    """The chart of ``series`` (label, y values aligned with ``x``) as lines of plain text.

    ``width`` is the total characters per line including the axis labels, ``height`` the number
    of plot rows. See the module docstring for the drawing rules (markers, ``#`` overlap, ``^``/``v``
    clipping, gaps, zero lines, marks) and how degenerate input is handled.
    """
    width, height = _size(width, "width"), _size(height, "height")
    if width < MIN_WIDTH:
        _fail(f"chart width must be at least {MIN_WIDTH} characters, got {width}")
    if height < MIN_HEIGHT:
        _fail(f"chart height must be at least {MIN_HEIGHT} rows, got {height}")

    xs = [_number(v, "x") for v in x]
    for v in xs:
        if not math.isfinite(v):
            _fail(f"x values must be finite, got {v}")
    order = sorted(range(len(xs)), key=xs.__getitem__)
    xs = [xs[i] for i in order]
    data: list[tuple[str, list[float]]] = []
    for item in series:
        label, values = item
        ys = [_number(v, f"series {label!r}") for v in values]
        if len(ys) != len(xs):
            _fail(f"series {label!r} has {len(ys)} values but x has {len(xs)}")
        data.append((_printable(str(label)), [ys[i] for i in order]))

    xmin, xmax = _span(xs[0], xs[-1]) if xs else (0.0, 1.0)
    if y_range is None:
        finite = [v for _, ys in data for v in ys if math.isfinite(v)]
        ymin, ymax = _span(min(finite), max(finite)) if finite else (0.0, 1.0)
    else:
        ymin, ymax = (_number(v, "y_range") for v in y_range)
        if not (math.isfinite(ymin) and math.isfinite(ymax) and ymin < ymax):
            _fail(f"y_range must be two finite numbers, low < high, got ({ymin}, {ymax})")
    if not (math.isfinite(xmax - xmin) and math.isfinite(ymax - ymin)):
        _fail("the values span too wide a range to plot")

    # y ticks: the range ends and 1 or 3 evenly spaced values, each on the row where it is drawn.
    rows = height
    yspan = ymax - ymin
    k = 4 if rows >= 9 else 2
    tick_values = [ymax] + [ymax - yspan * i / k for i in range(1, k)] + [ymin]
    tick_values = [0.0 if abs(v) < yspan * 1e-9 else v for v in tick_values]
    tick_labels = _labels(tick_values)
    lw = max(len(s) for s in tick_labels)
    cols = width - lw - 2
    left = lw + 2  # where the plot area starts

    def row_of(y: float) -> int:
        r = (ymax - y) / yspan * (rows - 1)
        return math.floor(min(max(r, -2.0), rows + 1.0) + 0.5)

    def col_of(v: float) -> int:
        c = math.floor((v - xmin) / (xmax - xmin) * (cols - 1) + 0.5)
        return min(max(c, 0), cols - 1)

    centres = [xmin + (xmax - xmin) * c / (cols - 1) for c in range(cols)]
    centres[-1] = xmax
    tol = yspan * 1e-9

    def clipped_row(y: float) -> int:
        r = row_of(y)
        if y > ymax + tol:
            return min(r, -1)
        if y < ymin - tol:
            return max(r, rows)
        return r

    # Paint: per cell the series that pass through it, and the clip indicators.
    owners: list[list[set[int]]] = [[set() for _ in range(cols)] for _ in range(rows)]
    clips: list[list[str]] = [[""] * cols for _ in range(rows)]
    no_data: set[int] = set()
    for s, (_, ys) in enumerate(data):
        spans = _column_spans(xs, ys, centres, col_of)
        if all(sp is None for sp in spans):
            no_data.add(s)
            continue
        top = [clipped_row(sp[1]) if sp else 0 for sp in spans]
        bot = [clipped_row(sp[0]) if sp else 0 for sp in spans]
        ext_top, ext_bot = top[:], bot[:]
        for c in _connected(xs, ys, centres):
            if spans[c] is None or spans[c + 1] is None:
                continue
            if top[c] - bot[c + 1] > 1:  # the next column is higher: fill the rows in between
                g = top[c] - bot[c + 1] - 1
                ext_top[c] = min(ext_top[c], top[c] - (g + 1) // 2)
                ext_bot[c + 1] = max(ext_bot[c + 1], bot[c + 1] + g // 2)
            elif top[c + 1] - bot[c] > 1:  # the next column is lower
                g = top[c + 1] - bot[c] - 1
                ext_bot[c] = max(ext_bot[c], bot[c] + (g + 1) // 2)
                ext_top[c + 1] = min(ext_top[c + 1], top[c + 1] - g // 2)
        for c in range(cols):
            if spans[c] is None:
                continue
            t, b = ext_top[c], ext_bot[c]
            first, last = max(t, 0), min(b, rows - 1)
            if t < 0:
                clips[0][c] = CLIP_HIGH
                first = max(first, 1)
            if b > rows - 1:
                clips[rows - 1][c] = CLIP_LOW
                last = min(last, rows - 2)
            for r in range(first, last + 1):
                owners[r][c].add(s)

    # Background: marks, then the zero lines.
    mark_cols: set[int] = set()
    mark_entries: list[str] = []
    for item in marks:
        mx, mlabel = item
        mx = _number(mx, "mark")
        inside = math.isfinite(mx) and xmin <= mx <= xmax
        if inside:
            mark_cols.add(col_of(mx))
        text = _printable(str(mlabel))
        where = f"x={_fmt(mx, 3)}" + ("" if inside else ", off-chart")
        mark_entries.append(f"{MARK} {text} ({where})" if text else f"{MARK} {where}")
    zero_col = col_of(0.0) if xmin < 0.0 < xmax else None
    zero_row = row_of(0.0) if ymin < 0.0 < ymax else None

    symbols = markers(len(data))
    used_overlap = used_clip = False
    grid: list[str] = []
    for r in range(rows):
        cells = []
        for c in range(cols):
            who = owners[r][c]
            if len(who) > 1:
                ch = OVERLAP
                used_overlap = True
            elif who:
                ch = symbols[next(iter(who))]
            elif clips[r][c]:
                ch = clips[r][c]
                used_clip = True
            elif c in mark_cols:
                ch = MARK
            elif c == zero_col:
                ch = ZERO_X
            elif r == zero_row:
                ch = ZERO_Y
            else:
                ch = " "
            cells.append(ch)
        grid.append("".join(cells))

    lines: list[str] = []
    if title:
        lines.append(_place(_printable(title), left, cols, width))
    if y_label:
        lines.append(_fit(_printable(y_label), width))
    label_at = {row_of(v): s.rjust(lw) for v, s in zip(tick_values, tick_labels, strict=True)}
    for r in range(rows):
        lines.append((label_at.get(r, " " * lw) + " |" + grid[r]).rstrip())

    # x axis: ticks at both ends, the middle and zero, each label centred on its column if it fits.
    x_ticks = [xmin, xmax, 0.0, (xmin + xmax) / 2] if xmin < 0.0 < xmax else [xmin, xmax, (xmin + xmax) / 2]
    x_tick_labels = _labels(x_ticks)
    axis = ["-"] * cols
    under = [" "] * width
    taken: list[tuple[int, int]] = []
    for i, (v, s) in enumerate(zip(x_ticks, x_tick_labels, strict=True)):
        c = col_of(v)
        start = left + c - len(s) // 2
        if i == 1:
            start = min(start, width - len(s))
        start = max(start, 0)
        end = start + len(s)
        if end > width or any(start <= b and a <= end for a, b in taken):
            continue  # no room: keep the labels already placed (the ends first)
        taken.append((start, end))
        under[start:end] = s
        if c > 0:  # column 0's tick is the corner
            axis[c] = "+"
    lines.append(" " * lw + " +" + "".join(axis))
    lines.append("".join(under).rstrip())
    if x_label:
        lines.append(_place(_printable(x_label), left, cols, width))

    entries = [f"{symbols[s]} {label}" + (" (no data)" if s in no_data else "") for s, (label, _) in enumerate(data)]
    if used_overlap:
        entries.append(f"{OVERLAP} overlap")
    if used_clip:
        entries.append(f"{CLIP_HIGH}/{CLIP_LOW} off-scale")
    entries += mark_entries
    lines += _wrap(entries, left, width)
    return lines


# --- helpers --------------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    from lossctl.errors import UsageError  # lazily: this module imports nothing but the stdlib

    raise UsageError(message)


def _number(v: Any, what: str) -> float:
    if v is None:
        return math.nan
    if isinstance(v, str):
        _fail(f"{what}: expected a number, got the string {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        _fail(f"{what}: expected a number, got {v!r}")


def _size(v: Any, what: str) -> int:
    try:
        return operator.index(v)
    except TypeError:
        _fail(f"chart {what} must be an integer, got {v!r}")


def _span(lo: float, hi: float) -> tuple[float, float]:
    """[lo, hi], padded by half the magnitude (1 around zero) when it has zero width."""
    if lo < hi:
        return lo, hi
    pad = abs(lo) * 0.5 or 1.0
    return lo - pad, lo + pad


def _column_spans(
    xs: list[float], ys: list[float], centres: list[float], col_of: Any
) -> list[tuple[float, float] | None]:
    """Per column, the (min, max) of the curve's value at the centre and of the points in it."""
    lo = [math.inf] * len(centres)
    hi = [-math.inf] * len(centres)
    for xv, yv in zip(xs, ys, strict=True):
        if math.isfinite(yv):
            c = col_of(xv)
            lo[c] = min(lo[c], yv)
            hi[c] = max(hi[c], yv)
    n = len(xs)
    for c, xc in enumerate(centres):
        j = bisect_right(xs, xc)
        if 0 < j < n and xs[j - 1] < xc:
            y0, y1 = ys[j - 1], ys[j]
            if math.isfinite(y0) and math.isfinite(y1):
                t = (xc - xs[j - 1]) / (xs[j] - xs[j - 1])
                v = y0 * (1.0 - t) + y1 * t  # no overflow for finite y0, y1
                lo[c] = min(lo[c], v)
                hi[c] = max(hi[c], v)
    return [(a, b) if a <= b else None for a, b in zip(lo, hi, strict=True)]


def _connected(xs: list[float], ys: list[float], centres: list[float]) -> list[int]:
    """Columns c whose centre joins the next column's centre by finite segments of the curve."""
    bad = [0]
    for v in ys:
        bad.append(bad[-1] + (not math.isfinite(v)))
    out = []
    for c in range(len(centres) - 1):
        a = bisect_right(xs, centres[c]) - 1  # last point at or before this centre
        b = bisect_left(xs, centres[c + 1])  # first point at or after the next one
        if a >= 0 and b < len(xs) and bad[b + 1] == bad[a]:
            out.append(c)
    return out


def _fmt(v: float, digits: int) -> str:
    return "0" if v == 0 else f"{v:.{digits}g}"


def _labels(values: list[float]) -> list[str]:
    """Compact labels (``%.3g``), with more digits while distinct values would print the same."""
    distinct = len(set(values))
    for digits in range(3, 11):
        labels = [_fmt(v, digits) for v in values]
        if len(set(labels)) == distinct:
            break
    return labels


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _place(text: str, left: int, cols: int, width: int) -> str:
    """``text`` centred over the plot area, shifted left or cut to stay within ``width``."""
    text = _fit(text, width)
    start = min(left + (cols - len(text)) // 2, width - len(text))
    return " " * max(start, 0) + text


def _wrap(entries: list[str], indent: int, width: int) -> list[str]:
    room = width - indent
    lines: list[str] = []
    current = ""
    for entry in entries:
        entry = _fit(entry, room)
        if current and len(current) + len(_GAP) + len(entry) > room:
            lines.append(current)
            current = entry
        else:
            current = current + _GAP + entry if current else entry
    if current:
        lines.append(current)
    return [" " * indent + line for line in lines]
