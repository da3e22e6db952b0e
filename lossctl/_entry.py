"""The console-script entry point.

Importing the CLI happens inside ``main`` so that Ctrl-C during start-up is caught too: the
shell sees exit 130 and one line, never a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from lossctl.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("lossctl: interrupted\n")
        raise SystemExit(130) from None
    cli_main()
