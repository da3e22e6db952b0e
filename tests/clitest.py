"""What the CLI test modules share: running the app in-process and the shape of its answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lossctl.cli import app


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
