"""What the CLI test modules share: running the app in-process and the shape of its answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lossctl.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No debug mode leaking in from the caller's shell; the width of a pipe or a CI log.
    (Autouse in every module that imports it.)"""
    monkeypatch.delenv("LOSSCTL_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "80")


def run(*args: Any, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(app, [str(a) for a in args])


def ok(*args: Any) -> Result:
    r = run(*args)
    assert r.exit_code == 0, f"exit {r.exit_code}\nstdout: {r.stdout}\nstderr: {r.stderr}\n{r.exception!r}"
    assert "Traceback" not in r.output
    return r


def eval_json(*args: Any) -> dict[str, Any]:
    return json.loads(ok("eval", *args, "-f", "json").stdout)


def assert_error(r: Result, *needles: str, code: int = 2) -> str:
    """Exit ``code``, one ``lossctl: error:`` line on stderr with every needle, nothing on stdout,
    no traceback."""
    assert r.exit_code == code, f"exit {r.exit_code}\nstdout: {r.stdout}\nstderr: {r.stderr}\n{r.exception!r}"
    # An exception that escaped the CLI would be caught by CliRunner and never printed.
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    err = r.stderr.strip()
    assert err.startswith("lossctl: error: "), err
    assert "\n" not in err, f"expected one line on stderr, got:\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert r.stdout == "", f"an error should print no results, got stdout:\n{r.stdout}"
    return err


def env_without_debug(**extra: str) -> dict[str, str]:
    """The caller's environment for a child process, without LOSSCTL_DEBUG, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "LOSSCTL_DEBUG"}
    env.update(extra)
    return env


def lossctl_procs(
    commands: Sequence[list[str]], envs: Sequence[Mapping[str, str]] | None = None, **env: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``python -m lossctl`` once per command, all at the same time (each costs ~1 s of
    start-up), collected in order; ``envs`` adds variables per command, ``env`` to all."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "lossctl", *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env_without_debug(**env, **(envs[i] if envs else {})),
        )
        for i, cmd in enumerate(commands)
    ]
    done = []
    for cmd, p in zip(commands, procs, strict=True):
        out, err = p.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(cmd, p.returncode, out, err))
    return done
