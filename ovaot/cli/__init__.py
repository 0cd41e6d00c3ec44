"""The ovaot command line: a thin layer of click commands over the Python API.

main.py holds the group, error handling and exit codes; each other module adds its commands to it.
"""

from ovaot.cli import compile_command, host_commands, package_commands  # noqa: F401 (they register commands)
from ovaot.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_VERIFICATION_FAILED, main, run

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "EXIT_VERIFICATION_FAILED", "main", "run"]
