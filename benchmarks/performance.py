"""ovaot's performance against the alternatives, measured side by side in one run.

Run from the repository root:  python -m benchmarks.performance [--processes 5] [--models squeezenet,...]

- Cold start: a fresh process per measurement (after one untimed warm-up per engine, so every engine reads
  its files from the page cache); the clock starts after `import numpy` (every engine pays it) and stops at
  the first result, so each engine's own imports count. Peak RSS growth over the same span is recorded.
  "C API floor" is the least OpenVINO allows: ovaot's ctypes binding (ovaot/engines/ov_c.py, loaded by file
  path, without ovaot) imports the memory-mapped blob and runs once; no manifest, no checks.
- Steady state: Session.run against a raw infer request on the same blob (Python API and C API).
- Fallback crossings: a chain of alternating OpenVINO and fallback partitions; what Session.run costs per
  partition beyond the engines' own calls.
- Throughput: Session.run_many (OpenVINO's asynchronous requests) against the Python API's AsyncInferQueue.
- Compile time against read_model + compile_model; package size against the ONNX file.

The onnxruntime OpenVINO EP conflicts with plain onnxruntime, so it runs from its own virtual environment
(benchmarks/.venv-ovep, made on first use with pip). Writes artifacts/benchmarks.md and
artifacts/benchmarks.png (matplotlib, if installed).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
from onnx import TensorProto, helper

import ovaot
from benchmarks.light import light_model
from ovaot.engines import ov_c

ROOT = Path(__file__).parent.parent
EP_VENV = ROOT / "benchmarks" / ".venv-ovep"
OV_C = ROOT / "ovaot" / "engines" / "ov_c.py"  # with c_declarations.py beside it
EP = "onnxruntime + OpenVINO EP"
FLOOR = "C API floor"
FALLBACK = "ovaot load, one op in the fallback"

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
    FLOOR: """
import importlib.util, mmap, os, sys, types
def by_path(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
engines = sys.modules["ovaot.engines"] = types.ModuleType("ovaot.engines")  # no ovaot/__init__.py: only these two
sys.modules["ovaot"] = types.ModuleType("ovaot")
declarations = os.path.join(os.path.dirname(OV_C), "c_declarations.py")
engines.c_declarations = by_path("ovaot.engines.c_declarations", declarations)
ov_c = by_path("ov_c", OV_C)
with open(BLOB, "rb") as f:
    blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
m = ov_c.Core().import_model(memoryview(blob), "CPU")
m.create_infer_request().infer(list(FEED.values()))""",
    "ovaot load": """
import ovaot
s = ovaot.load(PACKAGE)
s.run(None, FEED)""",
    FALLBACK: """
import ovaot
s = ovaot.load(FALLBACK_PACKAGE)
s.run(None, FEED)""",
    EP: """
import onnxruntime as ort
s = ort.InferenceSession(MODEL, providers=["OpenVINOExecutionProvider"], provider_options=[{"device_type": "CPU"}])
s.run(None, FEED)""",
}

# Peak RSS: numpy's import peaks higher than it settles (thread buffers), so the high-water mark is reset
# (clear_refs 5) when the clock starts and peak growth is measured from the resident size at that moment.
TEMPLATE = """
import time, numpy as np
FEED = {{k: v for k, v in np.load({inputs!r}).items()}}
MODEL, BLOB, PACKAGE, FALLBACK_PACKAGE, OV_C = {model!r}, {blob!r}, {package!r}, {fallback!r}, {ov_c!r}
def kib(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0])
open("/proc/self/clear_refs", "w").write("5")
rss = kib("VmRSS")
start = time.perf_counter()
{body}
seconds = time.perf_counter() - start
print(seconds, (kib("VmHWM") - rss) / 1024)
"""


# What a user without ovaot runs to get a blob: read, compile, export, in a fresh process.
AOT_SCRIPT = """
import openvino as ov
core = ov.Core()
compiled = core.compile_model(core.read_model({model!r}), "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
blob = compiled.export_model()
open({out!r}, "wb").write(blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob))
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
    """The light model with seeded real-shaped weights, its raw blob, its ovaot package, an input set."""
    model, _ = light_model(name)
    paths = {
        k: str(folder / f"{name}{suffix}")
        for k, suffix in (
            ("model", ".onnx"),
            ("blob", ".blob"),
            ("package", ".ovpkg"),
            ("fallback", "-fallback.ovpkg"),
            ("inputs", ".npz"),
        )
    }
    onnx.save(model, paths["model"])
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


def last_single_op(model_path: str) -> str:
    """The op type of the last node whose type occurs once in the graph (Softmax, or densenet's pooling)."""
    nodes = onnx.load(model_path, load_external_data=False).graph.node
    counts = collections.Counter(n.op_type for n in nodes)
    return next(n.op_type for n in reversed(nodes) if counts[n.op_type] == 1)


def cold_start(engine: str, paths: dict[str, str], processes: int, python: Path) -> tuple[float, float] | None:
    """Median seconds to the first result and median peak-RSS growth (MiB) over fresh processes."""
    script = TEMPLATE.format(body=CHILD[engine], ov_c=str(OV_C), **paths)
    times, memory = [], []
    for attempt in range(processes + 1):  # the first run warms the page cache and is not counted
        done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"  {engine}: failed: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            return None
        seconds, rss = (float(v) for v in done.stdout.strip().splitlines()[-1].split())
        if attempt:
            times.append(seconds * 1000)
            memory.append(rss)
    return statistics.median(times), statistics.median(memory)


def median_ms(call: Callable[[], object], runs: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def steady_state(paths: dict[str, str], runs: int) -> dict[str, float]:
    """Session.run and raw requests on the same blob, timed in turn so drift hits all alike."""
    feed = dict(np.load(paths["inputs"]))
    session = ovaot.load(paths["package"])
    raw_python = ov.Core().import_model(Path(paths["blob"]).read_bytes(), "CPU").create_infer_request()
    raw_c = ov_c.Core().import_model(Path(paths["blob"]).read_bytes(), "CPU").create_infer_request()
    calls = {
        "ovaot Session.run": lambda: session.run(None, feed),
        "Python API infer request": lambda: raw_python.infer(feed),
        "C API infer request": lambda: raw_c.infer(list(feed.values())),
    }
    rounds: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(5):
        for label, call in calls.items():
            rounds[label].append(median_ms(call, runs // 5, warmup=2))
    return {label: statistics.median(values) for label, values in rounds.items()}


def throughput(paths: dict[str, str], runs: int, in_flight: int) -> dict[str, float]:
    """Results per second: Session.run_many against AsyncInferQueue with the same number of requests."""
    feed = dict(np.load(paths["inputs"]))
    session = ovaot.load(paths["package"])
    compiled = ov.Core().import_model(Path(paths["blob"]).read_bytes(), "CPU")
    queue = ov.AsyncInferQueue(compiled, in_flight)

    def async_queue() -> None:
        for _ in range(runs):
            queue.start_async(feed)
        queue.wait_all()

    busy = ovaot.load(paths["package"], performance_hint="THROUGHPUT")  # streams chosen for throughput
    result = {}
    for label, call in (
        ("ovaot run_many", lambda: session.run_many([feed] * runs, in_flight=in_flight)),
        ("AsyncInferQueue", async_queue),
        ("ovaot run_many, THROUGHPUT hint", lambda: busy.run_many([feed] * runs)),
    ):
        call()
        result[label] = runs / (median_ms(call, 3, warmup=0) / 1000)
    return result


def compile_and_size(paths: dict[str, str], folder: Path, repeats: int = 3) -> dict[str, float]:
    """Compile seconds (ovaot default into a new file; read_model + compile_model), medians of `repeats`
    interleaved runs, and package sizes over the ONNX file's."""
    onnx_size = Path(paths["model"]).stat().st_size
    core = ov.Core()
    out = folder / "timed.ovpkg"
    fresh = {  # the build step as a build system runs it: a new process that writes a file
        "ovaot compile CLI s": [
            sys.executable,
            "-m",
            "ovaot",
            "compile",
            paths["model"],
            "-t",
            "CPU_FP32",
            "-o",
            str(out),
        ],
        "OpenVINO export script s": [sys.executable, "-c", AOT_SCRIPT.format(model=paths["model"], out=str(out))],
    }
    times: dict[str, list[float]] = {label: [] for label in ["ovaot compile s", "compile_model s", *fresh]}
    for _ in range(repeats):
        out.unlink(missing_ok=True)  # a clean build: replacing a large file costs the filesystem extra
        start = time.perf_counter()
        ovaot.compile(paths["model"], "CPU_FP32", out)
        times["ovaot compile s"].append(time.perf_counter() - start)
        start = time.perf_counter()
        core.compile_model(core.read_model(paths["model"]), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        times["compile_model s"].append(time.perf_counter() - start)
        for label, command in fresh.items():
            out.unlink(missing_ok=True)
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
            times[label].append(time.perf_counter() - start)
    result = {label: statistics.median(values) for label, values in times.items()}
    variants = {
        "FP32 package": {"target": "CPU_FP32"},
        "FP32 --no-ir": {"target": "CPU_FP32", "portable_ir": False},
        "FP16 package": {"target": "MYRIAD_FP16"},
        "FP16 --no-host-variant": {"target": "MYRIAD_FP16", "host_variant": False},
    }
    for label, options in variants.items():
        out = folder / "size.ovpkg"
        ovaot.compile(paths["model"], output=out, force=True, reproducible=False, **options)
        result[label] = out.stat().st_size / onnx_size
    return result


def chain_model(pairs: int, width: int = 64) -> onnx.ModelProto:
    """x -> (Relu on OpenVINO -> Neg in the fallback) x pairs: 2*pairs partitions, 2*pairs-1 crossings."""
    nodes, name = [], "x"
    for i in range(pairs):
        nodes += [helper.make_node("Relu", [name], [f"r{i}"]), helper.make_node("Neg", [f"r{i}"], [f"n{i}"])]
        name = f"n{i}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])
    y = helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, width])
    graph = helper.make_graph(nodes, "chain", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def fallback_crossings(folder: Path, pairs: int = 10, runs: int = 400) -> dict[str, float]:
    """Microseconds Session.run spends per partition beyond the engines' own calls (OpenVINO's request
    and onnx.reference's run on the same inputs)."""
    package = folder / "chain.ovpkg"
    ovaot.compile(chain_model(pairs), "CPU_FP32", package, force_fallback=["Neg"], force=True)
    session = ovaot.load(package)
    feed = {"x": np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)}
    env = dict(feed)
    engines = []
    for partition, runner in zip(session.plan.partitions, session._runners):  # the engines' own calls
        if partition.kind == "fallback":
            feeds = {name: env[name] for name in partition.consumes}
            engines.append(lambda e=runner.evaluator, f=feeds: e.run(None, f))
        else:
            request, inputs = runner.compiled.create_infer_request(), [env[name] for name in runner._inputs]
            engines.append(lambda r=request, i=inputs: r.infer(i))
        runner.run(env)
    timer = time.perf_counter
    for _ in range(20):  # warm up both
        session.run(None, feed)
        for call in engines:
            call()
    overheads, wholes, parts = [], [], []
    for _ in range(runs):  # each round times the session and then the same engine calls, so drift hits both
        start = timer()
        session.run(None, feed)
        whole = timer() - start
        engine_time = 0.0
        for call in engines:
            start = timer()
            call()
            engine_time += timer() - start
        wholes.append(whole)
        parts.append(engine_time)
        overheads.append((whole - engine_time) / len(engines))
    return {
        "partitions": len(engines),
        "Session.run us": statistics.median(wholes) * 1e6,
        "engines us": statistics.median(parts) * 1e6,
        "overhead per partition us": statistics.median(overheads) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="Runs per steady-state and throughput measurement.")
    parser.add_argument("--in-flight", type=int, default=2, help="Requests for the throughput comparison.")
    parser.add_argument("--models", default="squeezenet,inception_v2,densenet121,resnet50")
    args = parser.parse_args()
    # ovaot is installed in place (editable) and this environment may not write bytecode on import: compile
    # it as a wheel install would, so its cold start is not charged for compiling Python sources.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "ovaot")], check=True)
    ep = ep_python()
    rows: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.models.split(","):
            paths = prepare(name, folder)
            ovaot.compile(paths["model"], "CPU_FP32", paths["package"])
            ovaot.compile(
                paths["model"], "CPU_FP32", paths["fallback"], force_fallback=[last_single_op(paths["model"])]
            )
            row: dict[str, object] = {}
            for engine in CHILD:
                python = ep if engine == EP else Path(sys.executable)
                row[engine] = cold_start(engine, paths, args.processes, python) if python else None
            row["steady"] = steady_state(paths, args.runs)
            row["throughput"] = throughput(paths, args.runs, args.in_flight)
            row["build"] = compile_and_size(paths, folder)
            rows[name] = row
            print(name, json.dumps(row, default=str), flush=True)
        crossings = fallback_crossings(folder)
    print("fallback crossings", json.dumps(crossings), flush=True)
    write_report(rows, crossings, args)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else "n/a"


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def write_report(rows: dict[str, dict], crossings: dict[str, float], args: argparse.Namespace) -> None:
    engines = list(CHILD)
    cold = {m: {e: (row[e][0] if row[e] else None) for e in engines} for m, row in rows.items()}
    lines = [
        "# Performance: cold start, steady state, throughput, compile time, package size",
        "",
        f"Measured by `python -m benchmarks.performance --processes {args.processes} --runs {args.runs}` on this",
        f"machine (2 cores): ovaot {ovaot.__version__}, OpenVINO {ov.get_version()}, onnx {onnx.__version__}.",
        "Models: the onnx wheel's light models with seeded random weights of the real shapes.",
        "",
        "## Cold start",
        "",
        "Median over fresh processes (after one untimed warm-up each) of the time from after `import numpy`",
        f"to the first result, engine imports included, in ms. {FLOOR}: ctypes, `ov_core_import_model` on the",
        f"memory-mapped blob and one inference, nothing else. {FALLBACK}: the same model compiled with the",
        "last op whose type occurs once (Softmax; densenet121: GlobalAveragePool) forced to the fallback, so",
        "loading also imports onnx and onnx.reference (on a second thread, while OpenVINO imports the blobs).",
        "",
        "| model | " + " | ".join(engines) + " | ovaot / onnxruntime | ovaot / ORT+OV EP | ovaot / floor |",
        "|---|" + "---|" * (len(engines) + 3),
    ]
    for name, times in cold.items():
        cells = [f"{times[e]:.0f}" if times[e] else "n/a" for e in engines]
        ours = times["ovaot load"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {_ratio(ours, times['onnxruntime CPU'])} | "
            f"{_ratio(ours, times[EP])} | {_ratio(ours, times[FLOOR])} |"
        )
    means = {e: _geomean([t[e] for t in cold.values()]) for e in engines if all(t[e] for t in cold.values())}
    lines.append(
        "| geometric mean | "
        + " | ".join(f"{means[e]:.0f}" if e in means else "n/a" for e in engines)
        + f" | {_ratio(means.get('ovaot load'), means.get('onnxruntime CPU'))} | "
        f"{_ratio(means.get('ovaot load'), means.get(EP))} | {_ratio(means.get('ovaot load'), means.get(FLOOR))} |"
    )
    lines += [
        "",
        "Peak RSS growth during the same span (MiB, median):",
        "",
        "| model | " + " | ".join(engines) + " | ovaot / Python import_model | ovaot / floor |",
        "|---|" + "---|" * (len(engines) + 2),
    ]
    for name, row in rows.items():
        rss = {e: (row[e][1] if row[e] else None) for e in engines}
        cells = [f"{rss[e]:.0f}" if rss[e] is not None else "n/a" for e in engines]
        ours = rss["ovaot load"]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {_ratio(ours, rss['OpenVINO import_model'])} | "
            f"{_ratio(ours, rss[FLOOR])} |"
        )
    lines += [
        "",
        f"## Steady state (median ms per run, {args.runs} runs in 5 interleaved rounds)",
        "",
        "| model | ovaot Session.run | Python API infer request | C API infer request | ovaot / Python | ovaot / C |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        s = row["steady"]
        ours, py, c = s["ovaot Session.run"], s["Python API infer request"], s["C API infer request"]
        lines.append(f"| {name} | {ours:.2f} | {py:.2f} | {c:.2f} | {ours / py:.3f} | {ours / c:.3f} |")
    lines += [
        "",
        f"Fallback crossings: a chain of {crossings['partitions']:.0f} partitions alternating OpenVINO (Relu) and",
        f"the fallback (Neg) on a 1x64 tensor: Session.run {crossings['Session.run us']:.0f} µs, the engines' own",
        f"calls {crossings['engines us']:.0f} µs, so ovaot adds {crossings['overhead per partition us']:.1f} µs per",
        "partition.",
        "",
        f"## Throughput (results per second, {args.in_flight} requests in flight, {args.runs} runs)",
        "",
        'The THROUGHPUT column loads the same package with `performance_hint="THROUGHPUT"` (OpenVINO picks',
        "the streams) and lets `run_many` use the compiled model's optimal number of requests.",
        "",
        "| model | ovaot run_many | OpenVINO AsyncInferQueue | ratio | ovaot run_many, THROUGHPUT hint | gain |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        t = row["throughput"]
        ours, theirs, busy = t["ovaot run_many"], t["AsyncInferQueue"], t["ovaot run_many, THROUGHPUT hint"]
        lines.append(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | {busy:.1f} | {busy / ours:.2f} |")
    lines += [
        "",
        "## Compile time and package size",
        "",
        "Compile time, seconds, medians of 3 interleaved runs, each into a new file. In this process:",
        "`ovaot.compile` with defaults (byte-reproducible: blobs exported by a fresh worker process) against",
        "`read_model` + `compile_model` (warm, nothing written). As a build step (a fresh process each):",
        "`python -m ovaot compile` against a script that imports openvino, reads, compiles and exports the blob.",
        "",
        "| model | ovaot.compile | compile_model | ratio | ovaot CLI | OpenVINO export script | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        b = row["build"]
        ours, theirs = b["ovaot compile s"], b["compile_model s"]
        cli, script = b["ovaot compile CLI s"], b["OpenVINO export script s"]
        lines.append(
            f"| {name} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} | "
            f"{cli:.2f} | {script:.2f} | {cli / script:.2f} |"
        )
    lines += [
        "",
        "Package size over the ONNX file's. MYRIAD_FP16 is not on this host, so its package holds FP16 IR plus a",
        "CPU host variant unless `--no-host-variant`.",
        "",
        "| model | FP32 package | FP32 --no-ir | FP16 package | FP16 --no-host-variant |",
        "|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        b = row["build"]
        lines.append(
            f"| {name} | {b['FP32 package']:.3f} | {b['FP32 --no-ir']:.3f} | {b['FP16 package']:.3f} | "
            f"{b['FP16 --no-host-variant']:.3f} |"
        )
    (ROOT / "artifacts" / "benchmarks.md").write_text("\n".join(lines) + "\n")
    chart(cold, engines)


def chart(cold: dict[str, dict[str, float | None]], engines: list[str]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart")
        return
    figure, axis = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        values = [cold[m][engine] or 0 for m in cold]
        axis.bar([x + i * width for x in range(len(cold))], values, width, label=engine)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(cold))], list(cold))
    axis.set_ylabel("cold start to first result, ms (median)")
    axis.set_title("Cold start on this machine (2 cores); lower is better")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(ROOT / "artifacts" / "benchmarks.png", dpi=110)


if __name__ == "__main__":
    main()
