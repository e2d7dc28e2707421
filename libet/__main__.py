"""``python -m libet`` runs the command line."""

from libet.cli import run

run()
