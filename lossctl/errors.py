"""Typed errors. The CLI turns each into one line on stderr and its exit code, in one place."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable


class LossctlError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class UsageError(LossctlError, ValueError):
    """A bad option, loss name or parameter."""


class InputError(LossctlError, ValueError):
    """Input data that cannot be used: missing file or column, out-of-domain value, ..."""


class GateFailed(LossctlError):
    """A CI gate (such as ``--fail-above``) failed."""

    exit_code = 1


def renumbered(e: InputError, row: Callable[[int], int], lines: bool = False) -> InputError:
    """``e`` with each "row N" of its message read as ``row(N)`` (and each "line N" too, with
    ``lines``, for a shift): an error about some rows told in the numbering of the whole input."""
    words = r"row|line" if lines else r"row"
    return type(e)(re.sub(rf"\b({words}) (\d+)", lambda m: f"{m.group(1)} {row(int(m.group(2)))}", str(e)))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' for the nearest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""
