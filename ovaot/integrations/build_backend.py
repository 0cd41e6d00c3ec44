"""A PEP 517 build backend: compile the models a project lists in [tool.ovaot], then build with setuptools.

In the project's pyproject.toml:

    [build-system]
    requires = ["setuptools>=70.1", "ovaot"]
    build-backend = "ovaot.integrations.build_backend"

    [tool.ovaot]
    models = [{source = "models/net.onnx", target = "CPU_FP32", output = "mypkg/net.ovpkg"}]

and ship the packages as package data (`[tool.setuptools.package-data] mypkg = ["*.ovpkg"]`). Each entry
may add compile options (`options = {opt_level = "extended"}`); packages already up to date are kept.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (re-exported hooks)
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

from ovaot.errors import UsageError

log = logging.getLogger(__name__)


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads(path.read_text())


def compile_project_models(project: Path = Path()) -> list[Path]:
    """Compile every model of [tool.ovaot].models; return the packages' paths."""
    from ovaot.compiler import compile

    config = _read_toml(project / "pyproject.toml").get("tool", {}).get("ovaot", {})
    outputs = []
    for i, entry in enumerate(config.get("models", [])):
        missing = [key for key in ("source", "target", "output") if key not in entry]
        if missing:
            raise UsageError(f"[tool.ovaot] models[{i}] needs {', '.join(missing)}")
        result = compile(
            project / entry["source"], entry["target"], project / entry["output"], **entry.get("options", {})
        )
        log.warning("ovaot: %s", result.summary())
        outputs.append(result.output)
    return outputs


def build_wheel(
    wheel_directory: str, config_settings: dict | None = None, metadata_directory: str | None = None
) -> str:
    compile_project_models()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict | None = None) -> str:
    compile_project_models()
    return _setuptools.build_sdist(sdist_directory, config_settings)


def build_editable(
    wheel_directory: str, config_settings: dict | None = None, metadata_directory: str | None = None
) -> str:
    compile_project_models()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
