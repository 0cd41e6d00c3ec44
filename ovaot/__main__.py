"""python -m ovaot: the same as the ovaot command."""

from ovaot.cli import run

run()
