"""`python -m lossctl` runs the command line."""

from lossctl._entry import main

main()
