"""Lazy module proxies: keep heavy imports off the start-up path.

``from lossctl._lazy import np`` gives an object that imports NumPy the first time one of its
attributes is read. The loss declarations use it in their references, so declaring a loss (which
`lossctl --help` and `lossctl list` need) costs no NumPy import.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module and imports it on first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


np: Any = LazyModule("numpy")
