"""`python -m lossctl` runs the command line."""

from lossctl.cli import main

main()
