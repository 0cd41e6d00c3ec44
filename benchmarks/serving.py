"""`ovaot serve` against in-process `run` and `run_many`: requests per second, latency, CPU per request.

Run from the repository root (needs ovaot[serve] and tritonclient):  python -m benchmarks.serving [--seconds 8]

squeezenet and resnet50 (the onnx wheel's light models with seeded weights of the real shapes, one 224x224
image per request) served on 127.0.0.1; 1, 4 and 16 concurrent clients, each a thread with its own
tritonclient over gRPC or HTTP with binary tensors; in the same run, in-process `Session.run` from the same
number of threads and `Session.run_many` with that many requests in flight. Three setups: shared (server,
in-process runs and clients on every core, as on one small machine), split (the server and the in-process runs
on the first half of the cores, the clients on the other half, as when clients are other machines), and
shared-throughput (shared, with the server and the in-process session loaded with performance_hint=THROUGHPUT:
`ovaot serve --option performance_hint=THROUGHPUT`). CPU per request is the server process's (in process, the
benchmark's) user+system time over the requests served; the clients' own is beside it. Writes
artifacts/serving.md.
"""

from __future__ import annotations

import argparse
import os
import resource
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
Cores = set[int] | None  # None: every core


def _setups() -> dict[str, tuple[Cores, Cores, str | None]]:
    """Setup name -> (cores of the server and in-process runs, cores of the clients, the performance hint both
    load with: None for the package's own)."""
    cores = sorted(os.sched_getaffinity(0))
    half = max(1, len(cores) // 2)
    split = (set(cores[:half]), set(cores[half:]) or set(cores))
    return {"shared": (None, None, None), "split": (*split, None), "shared-throughput": (None, None, "THROUGHPUT")}


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu_seconds(pid: int) -> float:
    """User+system time of every thread of process `pid` so far (/proc/PID/stat utime and stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _prepare(name: str, folder: Path) -> tuple[Path, str, np.ndarray]:
    model, input_name = light_model(name)
    package = folder / f"{name}.ovpkg"
    ovaot.compile(model, "CPU_FP32", package)
    return package, input_name, np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)


def _load(
    clients: int,
    seconds: float,
    make_call: Callable[[], Callable[[], object]],
    cpus: Cores = None,
    server_pid: int | None = None,
) -> dict[str, float]:
    """`clients` threads on `cpus`, each calling its own call for `seconds`: requests/s, latency percentiles
    (ms) and CPU ms per request, this process's ("client") and, given `server_pid`, the server's."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # this thread only
        call, mine = make_call(), []
        call()  # warm up the connection
        while time.perf_counter() < stop:
            start = time.perf_counter()
            call()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began, own = time.perf_counter(), _own_cpu_seconds()
    served = _process_cpu_seconds(server_pid) if server_pid else 0.0
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    requests = len(ordered) + clients  # with each client's warm-up call
    own_ms = 1000 * (_own_cpu_seconds() - own) / requests
    result = {
        "rps": len(ordered) / wall,
        "p50": 1000 * statistics.median(ordered),
        "p99": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "cpu": own_ms,
        "client_cpu": float("nan"),
    }
    if server_pid:
        result["cpu"] = 1000 * (_process_cpu_seconds(server_pid) - served) / requests
        result["client_cpu"] = own_ms
    return result


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
    batch, done, began, own = max(8, 4 * in_flight), 0, time.perf_counter(), _own_cpu_seconds()
    while time.perf_counter() - began < seconds:
        session.run_many([feed] * batch, in_flight=in_flight)
        done += batch
    nan = float("nan")
    cpu = 1000 * (_own_cpu_seconds() - own) / done
    return {"rps": done / (time.perf_counter() - began), "p50": nan, "p99": nan, "cpu": cpu, "client_cpu": nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="Seconds per measurement.")
    parser.add_argument("--setups", default=",".join(_setups()), help="Setups to measure, comma-separated.")
    parser.add_argument("--models", default=",".join(MODELS), help="Models, comma-separated.")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)), help="Client counts, comma-separated.")
    args = parser.parse_args()
    setups = {name: setup for name, setup in _setups().items() if name in args.setups.split(",")}
    every_core = os.sched_getaffinity(0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        prepared = {name: _prepare(name, Path(folder)) for name in args.models.split(",")}
        for setup, (server_cpus, client_cpus, hint) in setups.items():
            options = ["--option", f"performance_hint={hint}"] if hint else []
            server = Server([package for package, _, _ in prepared.values()], *options, cpus=server_cpus)
            try:
                for name, (package, input_name, image) in prepared.items():
                    os.sched_setaffinity(0, server_cpus or every_core)  # OpenVINO's threads inherit it at load
                    session = ovaot.load(package, performance_hint=hint)
                    feed = {input_name: image}
                    for clients in map(int, args.clients.split(",")):
                        in_process = lambda s=session, f=feed: lambda: s.run(None, f)  # noqa: E731
                        results = {
                            "in-process run": _load(clients, args.seconds, in_process, server_cpus),
                            "in-process run_many": _run_many(session, feed, clients, args.seconds),
                        }
                        os.sched_setaffinity(0, every_core)
                        for engine, call in (
                            ("gRPC", _grpc_call(server.grpc, name, input_name, image)),
                            ("HTTP binary", _http_call(server.url, name, input_name, image)),
                        ):
                            results[engine] = _load(clients, args.seconds, call, client_cpus, server.process.pid)
                        os.sched_setaffinity(0, server_cpus or every_core)
                        rows.append((setup, name, clients, results))
                        summary = {k: {m: round(v, 2) for m, v in r.items()} for k, r in results.items()}
                        print(setup, name, clients, summary, flush=True)
                    session.close()
            finally:
                os.sched_setaffinity(0, every_core)
                server.stop()
    _write(rows, args, setups)


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.2f}"


def _write(rows: list, args: argparse.Namespace, setups: dict[str, tuple[Cores, Cores, str | None]]) -> None:
    def named(cpus: Cores) -> str:
        return f"cores {sorted(cpus)}" if cpus else "every core"

    described = "; ".join(
        f"{name}: server and in-process on {named(s)}, clients on {named(c)}, "
        + (f"both loaded with performance_hint={h}" if h else "the package's own performance hint")
        for name, (s, c, h) in setups.items()
    )
    lines = [
        "# Serving: `ovaot serve` against in-process runs",
        "",
        f"Measured by `python -m benchmarks.serving {' '.join(sys.argv[1:])}` on this machine "
        f"({len(os.sched_getaffinity(0))} cores), ovaot {ovaot.__version__}, Python {sys.version.split()[0]}: one "
        "1x3x224x224 image per request, the server on 127.0.0.1 (KServe SDK ModelServer, one worker), each client a "
        "thread with its own tritonclient. Requests per second and latency percentiles (ms) over the run; "
        "`run_many` keeps as many requests in flight as there are clients. CPU ms per request: the server "
        "process's user+system time (in process: the benchmark's) over the requests; client CPU: the client "
        f"threads' process. Setups: {described}.",
        "",
        "| setup | model | clients | engine | requests/s | p50 ms | p99 ms | CPU ms/request | client CPU ms/request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, name, clients, results in rows:
        for engine, r in results.items():
            cells = [_cell(r[k]) for k in ("p50", "p99", "cpu", "client_cpu")]
            lines.append(f"| {setup} | {name} | {clients} | {engine} | {r['rps']:.1f} | {' | '.join(cells)} |")
    lines += ["", "Against the goals (throughput at 4 clients / in-process run_many; gRPC p50 - in-process p50):", ""]
    for setup, name, clients, results in rows:
        if clients == 1:
            gap = results["gRPC"]["p50"] - results["in-process run"]["p50"]
            lines.append(
                f"- {setup}, {name}, 1 client: gRPC p50 is {gap:+.2f} ms over in-process `run` (goal: at most +1 ms)"
            )
        if clients == 4:
            for engine in ("gRPC", "HTTP binary"):
                ratio = results[engine]["rps"] / results["in-process run_many"]["rps"]
                lines.append(
                    f"- {setup}, {name}, 4 clients: {engine} at {ratio:.2f}x in-process `run_many` (goal: 0.9x)"
                )
    (ROOT / "artifacts" / "serving.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
