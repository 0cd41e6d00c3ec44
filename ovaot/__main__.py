"""python -m ovaot: the same as the ovaot command."""

from ovaot.cli import main

main(prog_name="ovaot")
