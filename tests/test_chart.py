"""The plain-text line chart renderer ``lossctl.chart``.

Assertions read the plot area back as a grid of cells (row 0 = top, column 0 = first plot column)
and check positions computed here from the chart geometry: row of y = round((ymax - y) / (ymax -
ymin) * (height - 1)), column of x likewise. One golden test pins the look of a tiny chart.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from lossctl.chart import CLIP_HIGH, CLIP_LOW, MARK, MIN_HEIGHT, MIN_WIDTH, OVERLAP, markers, render

NAN = math.nan
INF = math.inf


def linspace(a: float, b: float, n: int) -> list[float]:
    return [a + (b - a) * i / (n - 1) for i in range(n)]


def huber(v: float, delta: float = 1.0) -> float:
    a = abs(v)
    return 0.5 * v * v if a <= delta else delta * (a - 0.5 * delta)


def axis_index(lines: list[str]) -> int:
    """Index of the x axis line: spaces, the corner '+', then only '-' and '+'."""
    (i,) = [i for i, line in enumerate(lines) if line.lstrip().startswith("+") and set(line.strip()) <= {"+", "-"}]
    return i


def plot(lines: list[str], height: int) -> tuple[list[str], int]:
    """The plot rows as fixed-width strings of cells, and the character offset of column 0."""
    i = axis_index(lines)
    axis = lines[i]
    left = axis.index("+") + 1
    cols = len(axis) - left
    rows = [line.ljust(left + cols)[left : left + cols] for line in lines[i - height : i]]
    for line in lines[i - height : i]:
        assert line[left - 1] == "|"
    return rows, left


def row_of(y: float, ymin: float, ymax: float, height: int) -> int:
    return math.floor((ymax - y) / (ymax - ymin) * (height - 1) + 0.5)


def col_of(x: float, xmin: float, xmax: float, cols: int) -> int:
    return math.floor((x - xmin) / (xmax - xmin) * (cols - 1) + 0.5)


def cells(rows: list[str], ch: str) -> set[tuple[int, int]]:
    return {(r, c) for r, row in enumerate(rows) for c, v in enumerate(row) if v == ch}


def legend(lines: list[str]) -> str:
    return " ".join(lines[axis_index(lines) + 2 :])


def y_tick_labels(lines: list[str], height: int) -> dict[int, str]:
    i = axis_index(lines)
    out = {}
    for r, line in enumerate(lines[i - height : i]):
        label = line[: line.index("|")].strip()
        if label:
            out[r] = label
    return out


# --- markers --------------------------------------------------------------------------------------


def test_markers_are_distinct_and_avoid_the_charts_own_characters():
    assert markers(0) == []
    assert markers(4) == ["*", "o", "+", "x"]
    ms = markers(63)
    assert len(set(ms)) == 63
    assert not set(ms) & {OVERLAP, CLIP_HIGH, CLIP_LOW, MARK, "|", "-", ".", " ", "0", "O", "l", "I", "V"}
    assert len(markers(200)) == 200  # beyond the alphabet they repeat
    with pytest.raises(ValueError):
        markers(-1)


# --- geometry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_points", [2, 7, 40, 500])
def test_straight_line_lies_on_the_diagonal(n_points):
    h = 15
    xs = linspace(0.0, 1.0, n_points)
    lines = render(xs, [("id", xs)], width=60, height=h)
    rows, _ = plot(lines, h)
    cols = len(rows[0])
    stars = cells(rows, "*")
    for c in range(cols):
        expected = row_of(c / (cols - 1), 0.0, 1.0, h)
        assert (expected, c) in stars  # the line passes every column, at its own row
    for r, c in stars:  # and nothing strays from the diagonal
        assert abs(r - row_of(c / (cols - 1), 0.0, 1.0, h)) <= 1
    assert (h - 1, 0) in stars and (0, cols - 1) in stars


def test_parabola_minimum_is_on_the_bottom_row_at_the_zero_column():
    h = 12
    xs = linspace(-3.0, 3.0, 121)
    lines = render(xs, [("mse", [v * v for v in xs])], width=61, height=h)
    rows, _ = plot(lines, h)
    cols = len(rows[0])
    zc = col_of(0.0, -3.0, 3.0, cols)
    assert rows[h - 1][zc] == "*"
    assert rows[0][0] == "*" and rows[0][cols - 1] == "*"
    # the bottom row is reached only near x = 0, where x^2 rounds to the row of 0
    for c in range(cols):
        xc = -3 + 6 * c / (cols - 1)
        if rows[h - 1][c] == "*":
            assert xc * xc <= 9 * 1.5 / (h - 1)


def test_sparse_points_are_interpolated_across_the_columns():
    lines = render([0.0, 10.0], [("two points", [0.0, 5.0])], width=50, height=6)
    rows, _ = plot(lines, 6)
    for c in range(len(rows[0])):
        assert any(row[c] == "*" for row in rows)


def test_dense_points_in_one_column_draw_their_whole_span():
    # 1000 points of a fast zig-zag between 0 and 1: every column holds both extremes
    xs = linspace(0.0, 1.0, 1000)
    ys = [float(i % 2) for i in range(1000)]
    h = 8
    rows, _ = plot(render(xs, [("zigzag", ys)], width=40, height=h), h)
    for c in range(len(rows[0])):
        assert all(rows[r][c] == "*" for r in range(h))


def connected(points: set[tuple[int, int]]) -> bool:
    """Whether the cells form one piece, neighbours including diagonals."""
    if not points:
        return True
    todo = [next(iter(points))]
    seen = set(todo)
    while todo:
        r, c = todo.pop()
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                p = (r + dr, c + dc)
                if p in points and p not in seen:
                    seen.add(p)
                    todo.append(p)
    return seen == points


@pytest.mark.parametrize("n_points", [8, 61, 2000])
def test_a_step_is_one_continuous_vertical_run(n_points):
    h = 16
    xs = linspace(-1.0, 1.0, n_points)
    ys = [0.0 if v < 0.1 else 10.0 for v in xs]
    rows, _ = plot(render(xs, [("step", ys)], width=50, height=h), h)
    stars = cells(rows, "*")
    assert {r for r, _ in stars} == set(range(h))  # every row is crossed
    assert connected(stars)


def test_steep_curves_are_continuous():
    xs = linspace(-3.0, 3.0, 25)
    for ys in ([v**5 for v in xs], [math.exp(3 * v) for v in xs], [math.tanh(8 * v) for v in xs]):
        rows, _ = plot(render(xs, [("f", ys)], width=72, height=20), 20)
        assert connected(cells(rows, "*"))


def test_x_order_does_not_matter():
    xs = linspace(-2.0, 2.0, 21)
    ys = [v**3 - v for v in xs]
    order = list(range(21))
    random.Random(1).shuffle(order)
    shuffled = render([xs[i] for i in order], [("f", [ys[i] for i in order])], width=50, height=10)
    assert shuffled == render(xs, [("f", ys)], width=50, height=10)


# --- series, legend, overlap ----------------------------------------------------------------------


def test_two_series_get_different_markers_and_the_legend_lists_both():
    xs = linspace(-3.0, 3.0, 61)
    lines = render(xs, [("mse", [v * v for v in xs]), ("mae", [abs(v) for v in xs])], width=72, height=16)
    rows, _ = plot(lines, 16)
    assert cells(rows, "*") and cells(rows, "o")
    text = legend(lines)
    assert "* mse" in text and "o mae" in text
    assert text.index("* mse") < text.index("o mae")


def test_coinciding_series_show_the_overlap_character_and_say_so():
    xs = linspace(0.0, 1.0, 11)
    lines = render(xs, [("a", xs), ("b", xs)], width=40, height=8)
    rows, _ = plot(lines, 8)
    assert not cells(rows, "*") and not cells(rows, "o")  # identical curves: every cell is shared
    assert cells(rows, OVERLAP)
    assert f"{OVERLAP} overlap" in legend(lines)
    # apart, they do not overlap and the legend says nothing about it
    apart = render(xs, [("a", xs), ("b", [v + 5 for v in xs])], width=40, height=8)
    assert not cells(plot(apart, 8)[0], OVERLAP)
    assert "overlap" not in legend(apart)


def test_crossing_series_overlap_only_where_they_cross():
    xs = linspace(-1.0, 1.0, 41)
    lines = render(xs, [("up", xs), ("down", [-v for v in xs])], width=41, height=11)
    rows, _ = plot(lines, 11)
    hits = cells(rows, OVERLAP)
    zc = col_of(0.0, -1.0, 1.0, len(rows[0]))
    assert (5, zc) in hits
    assert all(r == 5 and abs(c - zc) <= 2 for r, c in hits)
    assert len(cells(rows, "*")) > 20 and len(cells(rows, "o")) > 20


def test_many_series_have_their_own_markers():
    xs = linspace(0.0, 1.0, 5)
    series = [(f"s{i}", [float(i)] * 5) for i in range(12)]
    lines = render(xs, series, width=72, height=24)
    rows, _ = plot(lines, 24)
    for m in markers(12):
        assert cells(rows, m)
        assert f"{m} s" in legend(lines)


# --- gaps and clipping ----------------------------------------------------------------------------


def test_nan_makes_a_gap():
    xs = linspace(0.0, 10.0, 101)
    ys = [NAN if 4.0 <= v <= 6.0 else 1.0 + v for v in xs]
    h = 10
    rows, _ = plot(render(xs, [("f", ys)], width=61, height=h), h)
    cols = len(rows[0])
    for c in range(cols):
        xc = 10 * c / (cols - 1)
        has = any(row[c] == "*" for row in rows)
        if 4.2 < xc < 5.8:
            assert not has, c
        elif xc < 3.8 or xc > 6.2:
            assert has, c


@pytest.mark.parametrize("bad", [NAN, INF, -INF, None])
def test_a_single_non_finite_value_breaks_the_line(bad):
    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    ys = [0.0, 1.0, bad, 3.0, 4.0]
    rows, _ = plot(render(xs, [("f", ys)], width=45, height=9), 9)
    cols = len(rows[0])
    for c in range(cols):
        xc = 4 * c / (cols - 1)
        has = any(row[c] == "*" for row in rows)
        assert has == (xc <= 1.0 + 1e-9 or xc >= 3.0 - 1e-9) or abs(xc - 1) < 0.1 or abs(xc - 3) < 0.1


def test_values_beyond_y_range_are_clipped_with_indicators():
    xs = linspace(-3.0, 3.0, 61)
    h = 10
    lines = render(xs, [("cubic", [v**3 for v in xs])], width=61, height=h, y_range=(-5.0, 5.0))
    rows, _ = plot(lines, h)
    cols = len(rows[0])
    ups, downs = cells(rows, CLIP_HIGH), cells(rows, CLIP_LOW)
    assert ups and downs
    assert {r for r, _ in ups} == {0} and {r for r, _ in downs} == {h - 1}
    limit = 5 ** (1 / 3)
    for _, c in ups:
        assert -3 + 6 * c / (cols - 1) > limit - 0.1
    for _, c in downs:
        assert -3 + 6 * c / (cols - 1) < -limit + 0.1
    # inside the range the curve is drawn, and the clipped curve still reaches the edge rows
    assert cells(rows, "*")
    assert f"{CLIP_HIGH}/{CLIP_LOW} off-scale" in legend(lines)
    assert connected(cells(rows, "*") | ups | downs)


def test_no_clip_indicator_when_everything_fits():
    xs = linspace(0.0, 1.0, 11)
    lines = render(xs, [("f", xs)], width=40, height=8, y_range=(0.0, 1.0))
    rows, _ = plot(lines, 8)
    assert not cells(rows, CLIP_HIGH) and not cells(rows, CLIP_LOW)
    assert "off-scale" not in legend(lines)


def test_a_curve_entirely_above_the_range_is_a_row_of_indicators():
    xs = linspace(0.0, 1.0, 11)
    rows, _ = plot(render(xs, [("high", [100.0] * 11)], width=40, height=6, y_range=(0.0, 1.0)), 6)
    assert rows[0].strip() == CLIP_HIGH * len(rows[0])
    assert all(not row.strip() for row in rows[1:])


# --- axes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 9.0), (-2.5, 7.25), (1e-6, 3e-6), (1000.0, 1000.5), (-4e9, -1e9)])
def test_tick_labels_equal_the_range_ends(lo, hi):
    xs = linspace(lo, hi, 30)
    h = 12
    lines = render(xs, [("f", xs)], width=60, height=h)
    ticks = y_tick_labels(lines, h)
    assert 3 <= len(ticks) <= 5
    assert float(ticks[0]) == pytest.approx(hi, rel=1e-3)
    assert float(ticks[h - 1]) == pytest.approx(lo, rel=1e-3)
    assert len(set(ticks.values())) == len(ticks)  # distinct
    assert len({lines[axis_index(lines) - h + r].index("|") for r in range(h)}) == 1  # same width
    xticks = lines[axis_index(lines) + 1].split()
    assert float(xticks[0]) == pytest.approx(lo, rel=1e-3)
    assert float(xticks[-1]) == pytest.approx(hi, rel=1e-3)


def test_y_ticks_sit_on_the_rows_where_their_values_are_drawn():
    h = 16
    xs = linspace(0.0, 9.0, 10)
    lines = render(xs, [("f", xs)], width=60, height=h)
    ticks = y_tick_labels(lines, h)
    assert ticks == {0: "9", 4: "6.75", 8: "4.5", 11: "2.25", 15: "0"}
    assert list(y_tick_labels(render(xs, [("f", xs)], width=60, height=5), 5).values()) == ["9", "4.5", "0"]


def test_x_ticks_at_ends_middle_and_zero():
    xs = linspace(-1.0, 4.0, 11)
    lines = render(xs, [("f", xs)], width=72, height=8, x_label="prediction - target")
    i = axis_index(lines)
    assert lines[i + 1].split() == ["-1", "0", "1.5", "4"]
    rows, left = plot(lines, 8)
    cols = len(rows[0])
    for value, label in [(0.0, "0"), (1.5, "1.5")]:
        c = col_of(value, -1.0, 4.0, cols)
        assert lines[i][left + c] == "+"  # a tick on the axis line
        assert label in lines[i + 1][left + c - 2 : left + c + 3]
    assert lines[i + 2].strip() == "prediction - target"
    centre = lines[i + 2].index("p") + len("prediction - target") / 2
    assert abs(centre - (left + cols / 2)) <= 1


def test_title_first_and_labels_present():
    xs = linspace(0.0, 1.0, 5)
    lines = render(xs, [("f", xs)], width=50, height=6, title="Huber loss", y_label="loss", x_label="residual")
    assert lines[0].strip() == "Huber loss"
    assert lines[1].strip() == "loss"
    assert "residual" in lines[axis_index(lines) + 2]
    bare = render(xs, [("f", xs)], width=50, height=6)
    assert bare[0].lstrip().startswith("1 |")  # no title, no y label: the plot starts at once


@pytest.mark.parametrize("width", [30, 31, 45, 72, 100, 160])
@pytest.mark.parametrize("height", [5, 8, 20])
def test_every_line_fits_the_width(width, height):
    xs = linspace(-1234.5, 98765.4321, 50)
    long = "a very long label " * 10
    lines = render(
        xs,
        [(long, [v * 1e-7 for v in xs]), ("short", [NAN] * 50)],
        width=width,
        height=height,
        title=long,
        x_label=long,
        y_label=long,
        marks=[(0.5, long), (1e9, "far")],
    )
    assert all(len(line) <= width for line in lines)
    assert all(line == line.rstrip() for line in lines)
    assert len(plot(lines, height)[0]) == height


def test_zero_lines_present_only_when_zero_is_inside_the_range():
    xs = linspace(-2.0, 2.0, 41)
    h = 11
    rows, _ = plot(render(xs, [("f", [v**3 for v in xs])], width=41, height=h), h)
    cols = len(rows[0])
    zc, zr = col_of(0.0, -2.0, 2.0, cols), row_of(0.0, -8.0, 8.0, h)
    assert all(rows[r][zc] in "|*" for r in range(h))
    assert all(rows[zr][c] in "-|*" for c in range(cols))
    assert rows[zr].count("-") > cols // 2 and sum(row[zc] == "|" for row in rows) > h // 2
    # the curve passes through the origin and is not hidden there
    assert rows[zr][zc] == "*"

    pos = linspace(1.0, 3.0, 21)
    rows, _ = plot(render(pos, [("f", pos)], width=41, height=h), h)  # 0 is in neither range
    assert not cells(rows, "-") and not cells(rows, "|")
    # zero at the edge of the range (a loss with minimum 0) is the bottom row, with no extra line
    rows, _ = plot(render(xs, [("mse", [v * v for v in xs])], width=41, height=h), h)
    assert not cells(rows, "-") and cells(rows, "|")


def test_zero_lines_never_hide_a_curve():
    xs = linspace(-1.0, 1.0, 41)
    lines = render(xs, [("flat", [0.0] * 41), ("bump", [1 - v * v - 0.5 for v in xs])], width=41, height=9)
    rows, _ = plot(lines, 9)
    zr = row_of(0.0, -0.5, 0.5, 9)
    assert "-" not in rows[zr] and "|" not in rows[zr]  # the flat series covers the whole zero row


def test_marks_draw_a_dotted_vertical_line_and_are_listed():
    xs = linspace(-3.0, 3.0, 61)
    h = 10
    lines = render(xs, [("huber", [huber(v) for v in xs])], width=61, height=h, marks=[(1.0, "delta"), (7.0, "far")])
    rows, _ = plot(lines, h)
    cols = len(rows[0])
    mc = col_of(1.0, -3.0, 3.0, cols)
    column = [row[mc] for row in rows]
    assert column.count(MARK) >= h - 2 and set(column) <= {MARK, "*"}
    assert "*" in column  # the curve crosses the mark and stays visible
    assert sum(row.count(MARK) for row in rows) == column.count(MARK)  # the far mark is not drawn
    text = legend(lines)
    assert ": delta (x=1)" in text and ": far (x=7, off-chart)" in text


# --- degenerate input -----------------------------------------------------------------------------


def test_no_series():
    lines = render([0.0, 1.0, 2.0], [], width=40, height=6)
    rows, _ = plot(lines, 6)
    assert all(not row.strip() for row in rows)
    assert axis_index(lines) == len(lines) - 2  # no legend
    assert render([], [], width=40, height=6)  # no x either


def test_all_nan_series_is_listed_as_no_data():
    xs = linspace(0.0, 1.0, 5)
    lines = render(xs, [("empty", [NAN] * 5), ("f", [1.0, 2.0, 3.0, 4.0, 5.0])], width=50, height=6)
    rows, _ = plot(lines, 6)
    assert not cells(rows, "*") and cells(rows, "o")
    assert "* empty (no data)" in legend(lines)
    only = render(xs, [("empty", [INF, -INF, NAN, None, NAN])], width=50, height=6)
    assert y_tick_labels(only, 6) == {0: "1", 3: "0.5", 5: "0"}  # the fallback range [0, 1]


def test_constant_series_is_padded_and_drawn_in_the_middle():
    xs = linspace(0.0, 1.0, 11)
    h = 9
    for value in (5.0, 0.0, -1e-9):
        lines = render(xs, [("const", [value] * 11)], width=40, height=h)
        rows, _ = plot(lines, h)
        assert rows[h // 2].strip("-|") == "*" * len(rows[0])
        ticks = y_tick_labels(lines, h)
        assert float(ticks[0]) > value > float(ticks[h - 1])


def test_single_point():
    h = 7
    lines = render([2.0], [("one", [3.0])], width=40, height=h)
    rows, _ = plot(lines, h)
    assert cells(rows, "*") == {(h // 2, len(rows[0]) // 2)}
    assert lines[axis_index(lines) + 1].split() == ["1", "2", "3"]
    assert cells(plot(render([0.0], [("zero", [0.0])], width=40, height=h), h)[0], "*")


def test_repeated_x_is_a_vertical_jump():
    xs = [0.0, 1.0, 1.0, 2.0]
    rows, _ = plot(render(xs, [("jump", [0.0, 0.0, 5.0, 5.0])], width=40, height=10), 10)
    stars = cells(rows, "*")
    assert {r for r, _ in stars} == set(range(10)) and connected(stars)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": MIN_WIDTH - 1}, "width must be at least 30"),
        ({"height": MIN_HEIGHT - 1}, "height must be at least 5"),
        ({"width": 72.5}, "width must be an integer"),
        ({"y_range": (1.0, 1.0)}, "y_range"),
        ({"y_range": (2.0, 1.0)}, "y_range"),
        ({"y_range": (0.0, INF)}, "y_range"),
    ],
)
def test_bad_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render([0.0, 1.0], [("f", [0.0, 1.0])], **kwargs)


def test_bad_data_raise_value_error():
    with pytest.raises(ValueError, match="has 3 values but x has 2"):
        render([0.0, 1.0], [("f", [0.0, 1.0, 2.0])])
    with pytest.raises(ValueError, match="x values must be finite"):
        render([0.0, NAN], [("f", [0.0, 1.0])])
    with pytest.raises(ValueError, match="expected a number"):
        render([0.0, 1.0], [("f", [0.0, "one"])])
    with pytest.raises(ValueError, match="too wide"):
        render([-1e308, 1e308], [("f", [0.0, 1.0])])


def test_random_input_never_crashes():
    rnd = random.Random(7)
    specials = [NAN, INF, -INF, 0.0, -0.0, 1e300, -1e300, 1e-300]
    for _ in range(150):
        n = rnd.randint(0, 30)
        xs = [rnd.choice([rnd.uniform(-5, 5), float(rnd.randint(-2, 2))]) for _ in range(n)]
        series = []
        for s in range(rnd.randint(0, 4)):
            ys = [rnd.choice(specials) if rnd.random() < 0.2 else rnd.gauss(0, 10) for _ in range(n)]
            series.append((f"s{s}", ys))
        width, height = rnd.randint(MIN_WIDTH, 90), rnd.randint(MIN_HEIGHT, 25)
        y_range = None if rnd.random() < 0.5 else (-rnd.uniform(0, 5), rnd.uniform(0.1, 5))
        lines = render(xs, series, width=width, height=height, y_range=y_range, marks=[(rnd.uniform(-6, 6), "m")])
        assert all(len(line) <= width for line in lines)
        assert len(plot(lines, height)[0]) == height


def test_accepts_tuples_and_other_sequences():
    xs = (0.0, 1.0, 2.0)
    assert render(xs, (("f", (1, 2, 3)),), width=40, height=5) == render(
        list(xs), [("f", [1.0, 2.0, 3.0])], width=40, height=5
    )


def test_import_is_light():
    heavy = "('numpy', 'rich', 'pandas', 'numba')"
    code = f"import sys, lossctl.chart; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the look -------------------------------------------------------------------------------------


def test_golden_tiny_chart():
    xs = [-2.0, -1.0, 0.0, 1.0, 2.0]
    lines = render(xs, [("line", xs), ("square", [v * v for v in xs])], width=30, height=7, title="tiny")
    assert lines == [
        "               tiny",
        " 4 |oo           |          oo",
        "   |  oo         |        oo",
        "   |    oo       |      oo****",
        " 1 |      oooo   |  ####**",
        "   |----------######----------",
        "   |    ******   |",
        "-2 |****         |",
        "   +-------------+-----------+",
        "   -2            0           2",
        "    * line   o square",
        "    # overlap",
    ]


def test_golden_gap_clip_and_mark():
    data = [("a", [1.0, NAN, 3.0])]
    lines = render([0.0, 1.0, 2.0], data, width=30, height=5, y_range=(0.0, 2.0), marks=[(1.0, "m")])
    assert lines == [
        "2 |             :            ^",
        "  |             :",
        "1 |*            :",
        "  |             :",
        "0 |             :",
        "  +-------------+------------+",
        "   0            1            2",
        "   * a   ^/v off-scale",
        "   : m (x=1)",
    ]
