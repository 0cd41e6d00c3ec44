"""Cold start and steady state: ovaot against raw OpenVINO, onnxruntime and onnxruntime's OpenVINO EP.

Run from the repository root:  python -m benchmarks.coldstart [--processes 5] [--models squeezenet,...]
Cold start: a fresh process per measurement; the clock starts after `import numpy` (every engine pays it)
and stops at the first result, so each engine's own imports count. The onnxruntime OpenVINO EP conflicts
with plain onnxruntime, so it runs from its own virtual environment (benchmarks/.venv-ovep, made on first
use with pip). Writes artifacts/benchmarks.md and artifacts/benchmarks.png (matplotlib, if installed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import openvino as ov

import ovaot
from tests.conftest import LIGHT_DIR
from tests.test_light_models import with_random_weights

ROOT = Path(__file__).parent.parent
EP_VENV = ROOT / "benchmarks" / ".venv-ovep"

CHILD = {
    "onnxruntime CPU": """
import onnxruntime as ort
s = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
s.run(None, FEED)""",
    "OpenVINO read+compile": """
import openvino as ov
c = ov.Core()
m = c.compile_model(c.read_model(MODEL), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
m(FEED)""",
    "OpenVINO import_model": """
import openvino as ov
c = ov.Core()
m = c.import_model(open(BLOB, "rb").read(), "CPU")
m(FEED)""",
    "ovaot load": """
import ovaot
s = ovaot.load(PACKAGE)
s.run(None, FEED)""",
    "onnxruntime + OpenVINO EP": """
import onnxruntime as ort
s = ort.InferenceSession(MODEL, providers=["OpenVINOExecutionProvider"], provider_options=[{"device_type": "CPU"}])
s.run(None, FEED)""",
}

TEMPLATE = """
import time, numpy as np
FEED = {{k: v for k, v in np.load({inputs!r}).items()}}
MODEL, BLOB, PACKAGE = {model!r}, {blob!r}, {package!r}
start = time.perf_counter()
{body}
print(time.perf_counter() - start)
"""


def ep_python() -> Path | None:
    python = EP_VENV / "bin" / "python"
    if not python.exists():
        created = subprocess.run([sys.executable, "-m", "venv", str(EP_VENV)], capture_output=True)
        installed = (
            created.returncode == 0
            and subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "onnxruntime-openvino", "numpy"], capture_output=True
            ).returncode
            == 0
        )
        if not installed:
            return None
    return python


def prepare(name: str, folder: Path) -> dict[str, str]:
    model = with_random_weights(onnx.load(LIGHT_DIR / f"light_{name}.onnx"), seed=7)
    del model.graph.output[1:]  # with_random_weights exposes the logits; benchmark the model's own output
    paths = {
        k: str(folder / f"{name}{suffix}")
        for k, suffix in (("model", ".onnx"), ("blob", ".blob"), ("package", ".ovpkg"), ("inputs", ".npz"))
    }
    onnx.save(model, paths["model"])
    ovaot.compile(paths["model"], "CPU_FP32", paths["package"])
    core = ov.Core()
    compiled = core.compile_model(core.read_model(paths["model"]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    blob = compiled.export_model()
    Path(paths["blob"]).write_bytes(blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob))
    weights = {t.name for t in model.graph.initializer}
    feed = {
        v.name: np.random.default_rng(0).random([d.dim_value for d in v.type.tensor_type.shape.dim], dtype=np.float32)
        for v in model.graph.input
        if v.name not in weights
    }
    np.savez(paths["inputs"], **feed)
    return paths


def cold_start(engine: str, paths: dict[str, str], processes: int, python: Path) -> float | None:
    script = TEMPLATE.format(body=CHILD[engine], **paths)
    times = []
    for _ in range(processes):
        done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"  {engine}: failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            return None
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times) * 1000


def steady_state(paths: dict[str, str], runs: int = 50) -> dict[str, float]:
    feed = dict(np.load(paths["inputs"]))
    session = ovaot.load(paths["package"])
    core = ov.Core()
    raw = core.import_model(Path(paths["blob"]).read_bytes(), "CPU").create_infer_request()
    result = {}
    for label, call in (
        ("ovaot Session.run", lambda: session.run(None, feed)),
        ("OpenVINO infer request", lambda: raw.infer(feed)),
    ):
        for _ in range(5):
            call()
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        result[label] = statistics.median(samples) * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--models", default="squeezenet,inception_v2,densenet121,resnet50")
    args = parser.parse_args()
    ep = ep_python()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            paths = prepare(name, Path(tmp))
            row = {}
            for engine in CHILD:
                python = ep if engine == "onnxruntime + OpenVINO EP" else Path(sys.executable)
                row[engine] = cold_start(engine, paths, args.processes, python) if python else None
            row.update(steady_state(paths))
            rows[name] = row
            print(name, json.dumps({k: None if v is None else round(v, 1) for k, v in row.items()}), flush=True)
    write_report(rows, args)


def write_report(rows: dict[str, dict[str, float | None]], args: argparse.Namespace) -> None:
    engines = list(CHILD)
    lines = [
        "# Cold start and steady state",
        "",
        f"Measured by `python -m benchmarks.coldstart --processes {args.processes}` on this machine (2 cores):",
        f"ovaot {ovaot.__version__}, OpenVINO {ov.get_version()}, onnx {onnx.__version__}. Models: the onnx wheel's",
        "light models with seeded random weights of the real shapes. Cold start: median over fresh processes of",
        "the time from after `import numpy` to the first result (engine imports included), in ms.",
        "",
        "| model | " + " | ".join(engines) + " | ovaot / onnxruntime | ovaot / ORT+OV EP | ovaot / import_model |",
        "|---|" + "---|" * (len(engines) + 3),
    ]

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a and b else "n/a"

    for name, row in rows.items():
        cells = [f"{row[e]:.0f}" if row[e] else "n/a" for e in engines]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {ratio(row['ovaot load'], row['onnxruntime CPU'])} | "
            f"{ratio(row['ovaot load'], row['onnxruntime + OpenVINO EP'])} | "
            f"{ratio(row['ovaot load'], row['OpenVINO import_model'])} |"
        )
    lines += [
        "",
        "Steady state: median of 50 runs on the same compiled model, in ms.",
        "",
        "| model | ovaot Session.run | OpenVINO infer request | ratio |",
        "|---|---|---|---|",
    ]
    for name, row in rows.items():
        a, b = row["ovaot Session.run"], row["OpenVINO infer request"]
        lines.append(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.3f} |")
    out = ROOT / "artifacts" / "benchmarks.md"
    out.write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart")
        return
    figure, axis = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        values = [rows[m][engine] or 0 for m in rows]
        axis.bar([x + i * width for x in range(len(rows))], values, width, label=engine)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(rows))], list(rows))
    axis.set_ylabel("cold start, ms (median of fresh processes)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(ROOT / "artifacts" / "benchmarks.png", dpi=110)


if __name__ == "__main__":
    main()
