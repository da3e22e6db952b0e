"""The built-in losses. Importing this package declares them in the registry."""

from lossctl.losses import binary, multiclass, regression  # noqa: F401
