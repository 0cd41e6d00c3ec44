"""Helpers the tests share: where the test data lies, this host's devices, model feeds, and a compile-then-load
round trip.

Imported as a top-level module (pyproject's pytest `pythonpath`), never through the checkout: the tests run
against the installed ovaot, and the checkout's root is not on sys.path.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import ovaot

ROOT = Path(__file__).resolve().parent.parent  # the checkout: test data and build inputs, never imported
EXAMPLES = ROOT / "examples"
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem.removeprefix("light_") for p in LIGHT_DIR.glob("light_*.onnx"))

# With all-ones weights, squeezenet's 1000 logits for the runner's input are equal in exact arithmetic
# (about 9.5e9, where one float32 ulp is 1024), so its softmax is decided by summation-order rounding:
# onnxruntime sums every channel in the same order and gets 0.001 everywhere; OpenVINO's blocked kernels
# round some channels one ulp up. For it, the logits are compared instead of the softmax.
ILL_CONDITIONED_SOFTMAX = {"squeezenet"}


@functools.cache
def host_devices() -> tuple[str, ...]:
    """The devices OpenVINO reports on this host (e.g. ("CPU",), or ("CPU", "GPU.0", "GPU.1", "NPU"))."""
    import openvino  # here, not at the top: a test may check what importing ovaot alone loads

    return tuple(openvino.Core().available_devices)


def host_has(device: str) -> bool:
    """Whether this host has `device`: "GPU" matches any GPU ("GPU", "GPU.0", ...), "GPU.1" only that one.

    MYRIAD, HDDL and FPGA left OpenVINO, so no host has them; AUTO is not a device of its own.
    """
    if "." in device:
        return device in host_devices()
    return any(d.split(".")[0] == device for d in host_devices())


def compile_and_load(model: onnx.ModelProto | Path, tmp_path: Path, target: str = "CPU_FP32", **options):
    package = tmp_path / "model.ovpkg"
    result = ovaot.compile(model, target, package, **options)
    return result, ovaot.load(package)


def random_feed(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs for every non-initializer graph input (dynamic dims become 1)."""
    rng = np.random.default_rng(seed)
    weights = {t.name for t in model.graph.initializer}
    feed = {}
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor_type = value.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in tensor_type.shape.dim]  # -1 and 0 are dynamic too
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        feed[value.name] = rng.standard_normal(shape).astype(dtype)
    return feed


def expose_logits(model: onnx.ModelProto) -> onnx.ModelProto:
    """Add the input of the last Softmax, if any, as an extra graph output (typed by shape inference)."""
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    if softmax:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        model.graph.output.extend(v for v in inferred if v.name == softmax[-1].input[0])
        assert len(model.graph.output) == 2
    return model


def with_random_weights(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """Replace each ConstantOfShape weight with seeded random values of the same shape.

    Also exposes the logits, so a saturated softmax cannot hide a wrong kernel.
    """
    rng = np.random.default_rng(seed)
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    roles = {name: (n.op_type, i) for n in graph.node for i, name in enumerate(n.input)}
    keep = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            keep.append(node)
            continue
        shape = tuple(int(d) for d in inits[node.input[0]])
        op, position = roles.get(node.output[0], ("", 0))
        if len(shape) > 1:
            value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), size=shape)
        elif op == "BatchNormalization" and position in (1, 4):  # scale, variance: positive
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.normal(0.0, 0.1, size=shape)
        graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
        graph.input.append(onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, shape))
    del graph.node[:]
    graph.node.extend(keep)
    return expose_logits(model)


def bare_manifest(plans: list, members: dict | None = None):
    """A Manifest holding `plans` and no model: for what reads only the plans and the members."""
    from ovaot.format.manifest import SCHEMA_VERSION, Manifest

    return Manifest(
        schema_version=SCHEMA_VERSION,
        ovaot_version="0",
        openvino_version="0",
        source_digest="blake3:00",
        source_name="m.onnx",
        target="CPU_FP32",
        options={},
        inputs=[],
        outputs=[],
        plans=list(plans),
        members=members or {},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ovaot serve` as a subprocess on 127.0.0.1 and free ports, ready when constructed; stop() by its PID."""

    def __init__(self, packages: list[Path], *extra: str, cpus: set[int] | None = None) -> None:
        """`cpus`: the cores the server may run on (its own and OpenVINO's threads), all of them by default."""
        self.http, self.grpc = _free_port(), _free_port()
        command = [sys.executable, "-m", "ovaot", "serve", *map(str, packages), *extra]
        command += ["--http-port", str(self.http), "--grpc-port", str(self.grpc)]
        pin = None if cpus is None else functools.partial(os.sched_setaffinity, 0, cpus)
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=pin
        )
        self.url = f"127.0.0.1:{self.http}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ovaot serve ended: {self.process.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.url}/v2/health/ready", timeout=2) as response:
                    if json.load(response).get("ready"):
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("ovaot serve did not become ready in 90 s")

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://{self.url}{path}", timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"http://{self.url}{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def stop(self) -> int:
        os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(timeout=60)


def relu_mlp(widths: list[int], seed: int, scale: float) -> onnx.ModelProto:
    """x (batch, widths[0]) -> a MatMul and a Relu per layer -> (batch, widths[-1]); seeded standard-normal
    weights times `scale`."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    nodes, weights, name = [], [], "x"
    for i, shape in enumerate(itertools.pairwise(widths)):
        weights.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), f"w{i}"))
        nodes += [
            helper.make_node("MatMul", [name, f"w{i}"], [f"m{i}"]),
            helper.make_node("Relu", [f"m{i}"], [f"r{i}"]),
        ]
        name = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", widths[0]])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", widths[-1]])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
