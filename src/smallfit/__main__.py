"""`python -m smallfit` runs the command line."""

from smallfit.cli import main

main()
