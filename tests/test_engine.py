"""The kernel machinery: generated sources, the disk cache, and the light import path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from lossctl import engine
from lossctl.registry import get_loss

PROBE = """
import json, sys
import numpy as np
import lossctl
from lossctl import engine
from lossctl.registry import get_loss
lossctl.evaluate(np.arange(5.0), np.arange(5.0) + 1.5, "huber")
k = engine.get_kernel(get_loss("huber"), "elementwise", False, False, False)  # 5 rows: the serial loop
print(json.dumps({"hits": sum(k.stats.cache_hits.values()), "misses": sum(k.stats.cache_misses.values())}))
"""


def _run(code: str, cache: str) -> dict:
    env = {**os.environ, "LOSSCTL_CACHE_DIR": cache}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_disk_cache(tmp_path):  # type: ignore[no-untyped-def]
    first = _run(PROBE, str(tmp_path))
    assert first == {"hits": 0, "misses": 1}
    second = _run(PROBE, str(tmp_path))
    assert second == {"hits": 1, "misses": 0}
    generated = list((tmp_path / "kernels").glob("lossctl_kernel_huber_elementwise_s_*.py"))
    assert len(generated) == 1


def test_generated_source_names_the_kernel_and_variant():  # type: ignore[no-untyped-def]
    src = engine.render_source(get_loss("huber"), "elementwise", weighted=True, per_sample=True)
    assert "from lossctl.losses.regression import huber as _py_kernel" in src
    assert "def run(y_true, y_pred, weight, out, p_delta):" in src
    assert "out[i] = loss" in src and "w != 0.0" in src
    plain = engine.render_source(get_loss("mse"), "elementwise", weighted=False, per_sample=False)
    assert "weight" not in plain.split("def run", 1)[1] and "out[" not in plain
    ids = engine.render_source(get_loss("softmax_ce"), "ids", weighted=False, per_sample=False)
    assert "import softmax_ce_ids as _py_kernel" in ids


def test_sums_across_block_edges():  # type: ignore[no-untyped-def]
    # Sizes around the block length exercise a single block, a partial last block and several.
    import math

    rng = np.random.default_rng(0)
    for n in (1, engine.BLOCK - 1, engine.BLOCK, engine.BLOCK + 1, 3 * engine.BLOCK + 5):
        y = rng.normal(size=n)
        p = rng.normal(size=n) * np.where(rng.random(n) < 0.01, 1e6, 1.0)
        w = rng.random(n)
        total, wsum = engine.run_kernel(get_loss("mse"), "elementwise", y, p, None, None, ())
        assert wsum == n
        # Non-negative terms: at most BLOCK * 2^-53 relative error by construction.
        assert abs(total - math.fsum((p - y) ** 2)) <= 2e-13 * total
        total_w, wsum_w = engine.run_kernel(get_loss("mse"), "elementwise", y, p, w, None, ())
        assert abs(total_w - math.fsum(w * (p - y) ** 2)) <= 2e-13 * total_w
        assert abs(wsum_w - math.fsum(w)) <= 1e-13 * wsum_w


def test_import_path_stays_light():  # type: ignore[no-untyped-def]
    code = (
        "import sys, lossctl, lossctl.cli\n"
        "from lossctl.registry import registry\n"
        "registry()\n"
        "print(' '.join(m for m in ('numba', 'pandas', 'pyarrow', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_serial_and_parallel_loops_give_the_same_bits():  # type: ignore[no-untyped-def]
    """Small inputs run the serial loop: same blocks and summation as the parallel one, so the
    cost and the per-sample losses are identical whichever runs (weights and class ids too)."""
    rng = np.random.default_rng(1)
    n = engine.PARALLEL_MIN_ROWS + 3 * engine.BLOCK + 7
    cases = [
        ("mse", rng.normal(size=n), rng.normal(size=n) * 1e3),
        ("huber", rng.normal(size=n), rng.normal(size=n)),
        ("bce", (rng.random(n) < 0.3).astype(float), rng.random(n)),
        ("softmax_ce", rng.integers(0, 4, size=n), rng.normal(size=(n, 4)) * 5),
    ]
    w = rng.random(n)
    for name, y, p in cases:
        lo = get_loss(name)
        params = tuple(par.default for par in lo.params)
        layout = engine.layout_for(lo, y.ndim)
        for weight in (None, w):
            outs = []
            for parallel in (False, True):
                out = np.empty(n)
                outs.append((engine.run_kernel(lo, layout, y, p, weight, out, params, parallel), out))
            assert outs[0][0] == outs[1][0], name
            assert np.array_equal(outs[0][1], outs[1][1], equal_nan=True), name
    assert not engine.parallel_for(engine.PARALLEL_MIN_ROWS - 1) and engine.parallel_for(engine.PARALLEL_MIN_ROWS)
    src = engine.render_source(get_loss("mse"), "elementwise", False, False, parallel=False)
    assert "parallel=True" not in src.split("def _sum")[1] and "prange(" not in src
