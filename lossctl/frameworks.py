"""Helpers for the framework implementations that loss declarations list under ``frameworks``.

Each framework function takes NumPy arrays and returns the framework's own mean, computed in the
input's dtype as that framework would. The libraries are imported on first use.
"""

from __future__ import annotations

from typing import Any


def torch_tensor(a: Any) -> Any:
    import numpy as np
    import torch

    arr = np.asarray(a)
    return torch.from_numpy(arr if arr.flags.c_contiguous else np.ascontiguousarray(arr))


def torch_functional() -> Any:
    import torch.nn.functional as F  # noqa: N812

    return F


def torch_signed(y: Any) -> Any:
    """Binary labels {0, 1} or {-1, 1} as -1/+1 tensors."""
    t = torch_tensor(y)
    return (t > 0).to(t.dtype) * 2 - 1


def sklearn_metrics() -> Any:
    import sklearn.metrics

    return sklearn.metrics


def one_hot(y: Any, k: int, dtype: Any) -> Any:
    import numpy as np

    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(dtype)
    out = np.zeros((y.shape[0], k), dtype=dtype)
    out[np.arange(y.shape[0]), y.astype(np.int64)] = 1
    return out
