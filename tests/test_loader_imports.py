"""The loader's independence, as an allowlist: what loading and running a package imports in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ovaot

from helpers import EXAMPLES

# Top-level modules outside the standard library that a load may import: numpy (with the runtime module of
# its Cython extensions), BLAKE3, and for a package with a fallback partition onnx with what onnx.reference
# imports. Never the openvino Python package (the loader calls its C library through ctypes), onnxoptimizer
# or click. Modules the interpreter had before the script ran (__main__, site's .pth hooks) are not counted.
RUNTIME_THIRD_PARTY = {"numpy", "cython_runtime", "blake3", "ovaot"}
FALLBACK_THIRD_PARTY = {"onnx", "google", "ml_dtypes", "typing_extensions"}

# ovaot's runtime side; the compiler side (ovaot.compiler, ovaot.passes, ovaot.codegen, ...) never.
RUNTIME_MODULES = {
    "ovaot",
    "ovaot.custom_ops",
    "ovaot.engines",
    "ovaot.engines.c_declarations",
    "ovaot.engines.ports",
    "ovaot.errors",
    "ovaot.format",
    "ovaot.loader",
    "ovaot.loader.feeds",
    "ovaot.loader.load",
    "ovaot.loader.log",
    "ovaot.loader.openvino_runner",
    "ovaot.engines.ov_c",
    "ovaot.loader.placement",
    "ovaot.loader.session",
    "ovaot.format.manifest",
    "ovaot.options",
    "ovaot.format.package",
    "ovaot.targets",
    "ovaot.version",
}
FALLBACK_MODULES = {
    "ovaot.engines.libsvm",
    "ovaot.engines.reference_requirements",
    "ovaot.loader.fallback_runner",
    "ovaot.engines.reference",
}

SCRIPT = """
import sys
before = set(sys.modules)
import json, numpy as np, ovaot
with ovaot.load(sys.argv[1]) as session:
    session.run(None, {"image": np.zeros((1, 1, 28, 28), np.float32)})
    kinds = [p.kind for p in session.placements]
top = sorted({m.split(".")[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names))
ours = sorted(m for m in sys.modules if m.startswith("ovaot."))
print(json.dumps({"kinds": kinds, "top": top, "ovaot": ours, "logging": "logging" in set(sys.modules) - before}))
"""


def _imports_of_a_run(package: Path) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(package)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("with_fallback", [False, True], ids=["openvino-only", "with-fallback"])
def test_a_load_imports_only_the_runtime_side(tmp_path: Path, with_fallback: bool):
    package = tmp_path / "tiny.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", package, force_fallback=["Relu"] if with_fallback else [])
    found = _imports_of_a_run(package)
    assert ("fallback" in found["kinds"]) == with_fallback, found["kinds"]

    third_party = RUNTIME_THIRD_PARTY | (FALLBACK_THIRD_PARTY if with_fallback else set())
    third_party |= {m for m in found["top"] if m.startswith("_cython_")}  # one per Cython version, numpy's
    assert set(found["top"]) <= third_party, f"unexpected imports: {sorted(set(found['top']) - third_party)}"
    ours = RUNTIME_MODULES | (FALLBACK_MODULES if with_fallback else set())
    assert {"ovaot", *found["ovaot"]} <= ours, f"unexpected ovaot modules: {sorted(set(found['ovaot']) - ours)}"
    assert ("onnx" in found["top"]) == with_fallback, "onnx is imported exactly when a package has a fallback"
    if not with_fallback:  # onnx imports logging itself
        assert not found["logging"], "a load that warns of nothing does not import logging"


COMPILER_SIDE = ("ovaot.compiler", "ovaot.passes", "ovaot.codegen", "ovaot.cli", "ovaot.integrations")


def test_no_loader_module_imports_the_compiler_side():
    # the whole loader, verify included, not only what a load happens to import: every import statement
    import ast

    loader = Path(ovaot.__file__).parent / "loader"
    found = []
    for module in sorted(loader.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{module.name}: {name}" for name in names if name.startswith(COMPILER_SIDE)]
    assert not found, found
