"""lossctl: deep-learning loss functions on prediction files, fast.

    >>> import lossctl
    >>> r = lossctl.evaluate([0.0, 1.0], [0.5, 3.0], "huber")
    >>> r.cost
    0.8125

Importing lossctl is cheap: NumPy, numba and pandas are imported only when a loss is computed.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = [
    "evaluate",
    "evaluate_files",
    "compare",
    "compare_files",
    "recommend",
    "recommend_file",
    "get_loss",
    "list_losses",
    "curves",
    "expression_loss",
    "load_plugin",
    "EvalResult",
    "LossctlError",
    "__version__",
]

_LAZY = {
    "evaluate": "lossctl.api",
    "EvalResult": "lossctl.api",
    "evaluate_files": "lossctl.pipeline",
    "recommend_file": "lossctl.pipeline",
    "compare": "lossctl.comparison",
    "compare_files": "lossctl.comparison",
    "recommend": "lossctl.advice",
    "curves": "lossctl.plot",
    "expression_loss": "lossctl.expr",
    "load_plugin": "lossctl.registry",
}


def __getattr__(name: str) -> Any:
    # Lazy public API, so `import lossctl` stays light.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "get_loss":
        from lossctl.registry import get_loss

        return get_loss
    if name == "list_losses":
        from lossctl.registry import registry

        return lambda: registry().names()
    if name == "LossctlError":
        from lossctl.errors import LossctlError

        return LossctlError
    raise AttributeError(f"module 'lossctl' has no attribute {name!r}")
