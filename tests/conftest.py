"""Test session setup shared by every test module."""

import os
from pathlib import Path

from lossctl.registry import load_plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = ROOT / "examples" / "cauchy_loss.py"

# The example plugin is loaded for the whole session, so every test parametrised over the registry
# (reference agreement, properties, examples, domains, gradients, bench cases) covers a plugin
# loss exactly like a built-in one. Tests about lossctl's own losses use names(builtin=True).
load_plugin(os.path.relpath(EXAMPLE_PLUGIN))
