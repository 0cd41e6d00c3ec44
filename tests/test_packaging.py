"""What users install: the suite runs against the installed ovaot, and the wheel and sdist hold every file it reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import ovaot

from helpers import ROOT, host_has

SOURCE = ROOT / "ovaot"


def _data_files() -> list[str]:
    """The non-Python files under ovaot/ that the checkout tracks (all of them outside a git checkout), as
    paths relative to the checkout."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "ovaot"], cwd=ROOT, capture_output=True, text=True, check=True)
        paths = [ROOT / name for name in listed.stdout.split()]
    else:
        paths = [path for path in SOURCE.rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    return sorted(str(path.relative_to(ROOT)) for path in paths if path.suffix not in (".py", ".pyc"))


def test_ovaot_is_imported_from_the_installed_package_not_the_checkout():
    assert not Path(ovaot.__file__).resolve().is_relative_to(ROOT), (
        f"ovaot was imported from the checkout ({ovaot.__file__}): install it (pip install .) and run `pytest` "
        "(not `python -m pytest` from the checkout, which puts the checkout first on sys.path)"
    )


def test_subprocesses_of_the_suite_import_the_installed_package_too():
    done = subprocess.run(
        [sys.executable, "-c", "import ovaot; print(ovaot.__file__)"], capture_output=True, text=True, check=True
    )
    assert not Path(done.stdout.strip()).resolve().is_relative_to(ROOT), done.stdout


def test_the_installed_package_holds_every_data_file():
    installed = Path(ovaot.__file__).resolve().parent
    assert _data_files(), "expected at least the EP op table under ovaot/"
    missing = [name for name in _data_files() if not (installed.parent / name).is_file()]
    assert not missing, f"not installed: {missing}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """A wheel and an sdist built by setuptools' PEP 517 hooks from a copy of the checkout's sources."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(SOURCE, tree / "ovaot", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    script = "from setuptools import build_meta as b; b.build_wheel('dist'); b.build_sdist('dist')"
    subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, check=True)
    (wheel,) = (tree / "dist").glob("*.whl")
    (sdist,) = (tree / "dist").glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = archive.namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    return {"wheel": wheel_names, "sdist": sdist_names}


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_the_distribution_holds_every_non_python_file_under_ovaot(built: dict[str, list[str]], kind: str):
    missing = sorted(set(_data_files()) - set(built[kind]))
    assert not missing, f"the {kind} lacks {missing}: list them in pyproject's [tool.setuptools.package-data]"


def test_the_wheel_holds_every_module(built: dict[str, list[str]]):
    modules = {str(p.relative_to(ROOT)) for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts}
    assert not modules - set(built["wheel"])


def _quick_start() -> list[str]:
    """The README's Quick start commands, read as .ci/run reads them (the first fenced block under the heading)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Quick start", 1)[1].split("```", 2)[1]
    return [line for line in block.splitlines()[1:] if line.strip()]


def test_the_quick_start_compiles_the_example_for_myriad_and_runs_the_host_variant(tmp_path: Path):
    install, tests = _quick_start()
    assert tests.startswith("python -m pip install '.[test]' && pytest")
    prefix = "python -m pip install . && "
    assert install.startswith(prefix) and "-t MYRIAD_FP16" in install
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the commands name examples/ from the checkout root
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", install.removeprefix(prefix)], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "for MYRIAD_FP16: 1 partition, on MYRIAD (compiled from IR at load)" in done.stdout
    assert "probabilities: float32 [1, 10]" in done.stdout
    assert ("compiling its IR for NPU" if host_has("NPU") else "running the host variant") in done.stderr


def _modules() -> list[str]:
    package = Path(ovaot.__file__).resolve().parent
    names = [p.relative_to(package.parent).with_suffix("") for p in package.rglob("*.py") if p.name != "__main__.py"]
    return sorted(".".join(n.parts[:-1] if n.name == "__init__" else n.parts) for n in names)


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_process():
    """A cycle between modules shows only when one of them is the first imported."""
    import concurrent.futures

    def imports(module: str) -> str:
        done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        return "" if done.returncode == 0 else f"{module}: {done.stderr.strip().splitlines()[-1]}"

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(imports, _modules()) if f]
    assert len(_modules()) > 40 and not failures, failures
