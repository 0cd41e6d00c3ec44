"""`ovaot serve` against in-process `run` and `run_many`: requests per second and latency percentiles.

Run from the repository root (needs ovaot[serve] and tritonclient):  python -m benchmarks.serving [--seconds 8]

squeezenet and resnet50 (the onnx wheel's light models with seeded weights of the real shapes, one 224x224
image per request) served on 127.0.0.1; 1, 4 and 16 concurrent clients, each a thread with its own
tritonclient over gRPC or HTTP with binary tensors; in the same run, in-process `Session.run` from the same
number of threads and `Session.run_many` with that many requests in flight. Writes artifacts/serving.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import ovaot
from benchmarks.light import light_model
from tests.helpers import Server

ROOT = Path(__file__).parent.parent
MODELS = ["squeezenet", "resnet50"]
CLIENTS = [1, 4, 16]


def _prepare(name: str, folder: Path) -> tuple[Path, str, np.ndarray]:
    model, input_name = light_model(name)
    package = folder / f"{name}.ovpkg"
    ovaot.compile(model, "CPU_FP32", package)
    return package, input_name, np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)


def _load(clients: int, seconds: float, make_call: Callable[[], Callable[[], object]]) -> dict[str, float]:
    """`clients` threads, each calling its own call for `seconds`: requests/s and latency percentiles (ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        call, mine = make_call(), []
        call()  # warm up the connection
        while time.perf_counter() < stop:
            start = time.perf_counter()
            call()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / wall,
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def _grpc_call(port: int, model: str, input_name: str, image: np.ndarray) -> Callable[[], Callable[[], object]]:
    import tritonclient.grpc as grpcclient

    def make() -> Callable[[], object]:
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        tensor = grpcclient.InferInput(input_name, list(image.shape), "FP32")
        tensor.set_data_from_numpy(image)
        return lambda: client.infer(model, [tensor]).as_numpy

    return make


def _http_call(url: str, model: str, input_name: str, image: np.ndarray) -> Callable[[], Callable[[], object]]:
    import tritonclient.http as httpclient

    def make() -> Callable[[], object]:
        client = httpclient.InferenceServerClient(url)
        tensor = httpclient.InferInput(input_name, list(image.shape), "FP32")
        tensor.set_data_from_numpy(image, binary_data=True)
        return lambda: client.infer(model, [tensor])

    return make


def _run_many(session: ovaot.Session, feed: dict, in_flight: int, seconds: float) -> dict[str, float]:
    batch, done, began = max(8, 4 * in_flight), 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        session.run_many([feed] * batch, in_flight=in_flight)
        done += batch
    return {"rps": done / (time.perf_counter() - began), "p50": float("nan"), "p99": float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds per measurement.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        prepared = {name: _prepare(name, Path(folder)) for name in MODELS}
        server = Server([package for package, _, _ in prepared.values()])
        try:
            for name, (package, input_name, image) in prepared.items():
                session = ovaot.load(package)
                feed = {input_name: image}
                for clients in CLIENTS:
                    results = {
                        "in-process run": _load(
                            clients, args.seconds, lambda s=session, f=feed: lambda: s.run(None, f)
                        ),
                        "in-process run_many": _run_many(session, feed, clients, args.seconds),
                        "gRPC": _load(clients, args.seconds, _grpc_call(server.grpc, name, input_name, image)),
                        "HTTP binary": _load(clients, args.seconds, _http_call(server.url, name, input_name, image)),
                    }
                    rows.append((name, clients, results))
                    print(name, clients, {k: {m: round(v, 2) for m, v in r.items()} for k, r in results.items()})
        finally:
            server.stop()
    _write(rows, args)


def _write(rows: list, args: argparse.Namespace) -> None:
    lines = [
        "# Serving: `ovaot serve` against in-process runs",
        "",
        f"Measured by `python -m benchmarks.serving --seconds {args.seconds:g}` on this machine (2 cores), ovaot "
        f"{ovaot.__version__}, Python {sys.version.split()[0]}: one 1x3x224x224 image per request, the server on "
        "127.0.0.1 (KServe SDK ModelServer, one worker), each client a thread with its own tritonclient. Requests "
        "per second and latency percentiles (ms) over the run; `run_many` keeps as many requests in flight as there "
        "are clients.",
        "",
        "| model | clients | engine | requests/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, clients, results in rows:
        for engine, r in results.items():
            p50 = "" if np.isnan(r["p50"]) else f"{r['p50']:.2f}"
            p99 = "" if np.isnan(r["p99"]) else f"{r['p99']:.2f}"
            lines.append(f"| {name} | {clients} | {engine} | {r['rps']:.1f} | {p50} | {p99} |")
    lines += ["", "Against the goals (throughput at 4 clients / in-process run_many; gRPC p50 - in-process p50):", ""]
    for name, clients, results in rows:
        if clients == 1:
            gap = results["gRPC"]["p50"] - results["in-process run"]["p50"]
            lines.append(f"- {name}, 1 client: gRPC p50 is {gap:+.2f} ms over in-process `run` (goal: at most +1 ms)")
        if clients == 4:
            for engine in ("gRPC", "HTTP binary"):
                ratio = results[engine]["rps"] / results["in-process run_many"]["rps"]
                lines.append(f"- {name}, 4 clients: {engine} at {ratio:.2f}x in-process `run_many` (goal: 0.9x)")
    (ROOT / "artifacts" / "serving.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
