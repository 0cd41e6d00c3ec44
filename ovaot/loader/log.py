"""The loader's loggers, which import `logging` only when a record could be shown.

Importing logging costs more than the rest of a small package's load. An info record can only reach a handler
that someone configured, and configuring one imports logging first; warnings always import it, since
logging's last-resort handler prints them.
"""

from __future__ import annotations

import sys
from typing import Any


class LoaderLog:
    def __init__(self, name: str) -> None:
        self.name = name

    def info(self, message: str, *args: Any) -> None:
        if "logging" in sys.modules:
            self._logger().info(message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self._logger().warning(message, *args)

    def _logger(self) -> Any:
        import logging

        return logging.getLogger(self.name)
