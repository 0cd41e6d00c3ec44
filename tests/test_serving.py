"""`ovaot serve`: packages over KServe's Open Inference Protocol, called by unchanged v2 clients.

The server runs as a subprocess on 127.0.0.1 and free ports, is called with tritonclient (HTTP with JSON and
binary tensors, gRPC) and plain JSON, and is stopped by its PID. Nothing is sent to any address but loopback.
"""

from __future__ import annotations

import importlib.util
import ipaddress

import numpy as np
import pytest

import ovaot

from helpers import EXAMPLES, Server

# the SDK is found, not imported: kserve and tritonclient.grpc both register the v2 protocol's messages in
# protobuf's default pool, so they cannot share a process (the server runs in its own)
if importlib.util.find_spec("kserve") is None:
    pytest.skip("the KServe SDK (ovaot[serve]) is not installed", allow_module_level=True)
httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient is not installed")
grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is not installed")
psutil = pytest.importorskip("psutil", reason="psutil (a KServe dependency) is not installed")

pytestmark = pytest.mark.slow  # a server process and real clients: the full suite's


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", folder / "tiny.ovpkg")
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", folder / "split.ovpkg", force_fallback=["Relu"])
    ovaot.compile(_label_encoder(), "CPU_FP32", folder / "labels.ovpkg")
    return folder / "tiny.ovpkg", folder / "split.ovpkg", folder / "labels.ovpkg"


def _label_encoder():
    """words (N,) strings -> their ids (N,) int64: a string input, served as v2 BYTES."""
    from onnx import TensorProto, helper

    node = helper.make_node(
        "LabelEncoder",
        ["words"],
        ["ids"],
        domain="ai.onnx.ml",
        keys_strings=["cat", "dog"],
        values_int64s=[1, 2],
        default_int64=0,
    )
    graph = helper.make_graph(
        [node],
        "labels",
        [helper.make_tensor_value_info("words", TensorProto.STRING, ["N"])],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])


@pytest.fixture(scope="module")
def server(packages):
    running = Server(list(packages))
    yield running
    assert running.stop() == 0  # SIGTERM stops it cleanly


def _image(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 1, 28, 28)).astype(np.float32)


def test_it_listens_on_loopback_only(server):
    process = psutil.Process(server.process.pid)
    connections = (
        process.net_connections("inet") if hasattr(process, "net_connections") else process.connections("inet")
    )
    listening = [c.laddr for c in connections if c.status == "LISTEN"]
    assert {address.port for address in listening} == {server.http, server.grpc}
    for address in listening:  # gRPC's socket is IPv6, bound to ::ffff:127.0.0.1 (IPv4 loopback only)
        ip = ipaddress.ip_address(address.ip)
        assert (getattr(ip, "ipv4_mapped", None) or ip).is_loopback, address


def test_health_and_metadata_follow_the_protocol(server):
    assert server.get("/v2/health/live") == (200, {"live": True})
    assert server.get("/v2/models/split/ready")[1]["ready"] is True
    status, metadata = server.get("/v2/models/tiny")
    assert status == 200 and metadata["name"] == "tiny"
    assert metadata["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
    assert metadata["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]


@pytest.mark.parametrize("name", ["tiny", "split"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_over_http_gets_the_in_process_result(server, packages, name, binary):
    image = _image()
    want = ovaot.load(packages[0]).run(None, {"image": image})[0]
    client = httpclient.InferenceServerClient(server.url)
    tensor = httpclient.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image, binary_data=binary)
    output = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
    result = client.infer(name, [tensor], outputs=[output])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["tiny", "split"])
def test_tritonclient_over_grpc_gets_the_in_process_result(server, packages, name):
    image = _image(3)
    want = ovaot.load(packages[0]).run(None, {"image": image})[0]
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc}")
    assert client.is_model_ready(name)
    tensor = grpcclient.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    result = client.infer(name, [tensor])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want, rtol=1e-5, atol=1e-6)


def test_plain_json_works_and_bad_requests_are_400_with_ovaots_message(server, packages):
    image = _image(1)
    body = {"inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": image.ravel().tolist()}]}
    status, response = server.post("/v2/models/tiny/infer", body)
    assert status == 200
    got = np.array(response["outputs"][0]["data"], np.float32).reshape(response["outputs"][0]["shape"])
    np.testing.assert_allclose(got, ovaot.load(packages[0]).run(None, {"image": image})[0], rtol=1e-5, atol=1e-6)
    wrong_name = {"inputs": [{**body["inputs"][0], "name": "picture"}]}
    status, response = server.post("/v2/models/tiny/infer", wrong_name)
    assert status == 400 and "unknown input 'picture'" in response["error"]
    wrong_type = {"inputs": [{**body["inputs"][0], "datatype": "FP64"}]}
    status, response = server.post("/v2/models/tiny/infer", wrong_type)
    assert status == 400 and "datatype FP32" in response["error"]
    wrong_shape = {"inputs": [{**body["inputs"][0], "shape": [1, 1, 14, 56]}]}
    status, response = server.post("/v2/models/tiny/infer", wrong_shape)
    assert status == 400 and "must have shape" in response["error"], response


def test_grpc_bad_request_is_invalid_argument(server):
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{server.grpc}")
    tensor = grpcclient.InferInput("image", [1, 28, 28], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(InferenceServerException) as raised:
        client.infer("tiny", [tensor])
    assert "INVALID_ARGUMENT" in str(raised.value.status()) and "must have rank 4" in raised.value.message()


def test_string_inputs_arrive_as_bytes_and_run_as_strings(server):
    client = httpclient.InferenceServerClient(server.url)
    words = np.array([b"dog", b"cat", b"bird"], dtype=np.object_)
    tensor = httpclient.InferInput("words", [3], "BYTES")
    tensor.set_data_from_numpy(words, binary_data=False)
    assert client.infer("labels", [tensor]).as_numpy("ids").tolist() == [2, 1, 0]


def test_run_time_options_reach_the_loaded_model(packages):
    """--option performance_hint=THROUGHPUT: the served model gets the streams OpenVINO gives that hint in
    process, and concurrent requests still get the in-process results."""
    from concurrent.futures import ThreadPoolExecutor

    in_process = ovaot.load(packages[0], performance_hint="THROUGHPUT")
    streams = in_process.runners[0].compiled.get_property("NUM_STREAMS")
    running = Server([packages[0]], "--option", "performance_hint=throughput")
    try:
        images = [_image(batch) for batch in (1, 2, 3, 4)]

        def infer(image: np.ndarray) -> np.ndarray:
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{running.grpc}")
            tensor = grpcclient.InferInput("image", list(image.shape), "FP32")
            tensor.set_data_from_numpy(image)
            return client.infer("tiny", [tensor]).as_numpy("probabilities")

        with ThreadPoolExecutor(4) as pool:
            for image, got in zip(images, pool.map(infer, images)):
                want = in_process.run(None, {"image": image})[0]
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    finally:
        stopped = running.stop()
    assert stopped == 0
    announced = running.process.stderr.read()
    assert f"PERFORMANCE_HINT THROUGHPUT, NUM_STREAMS {streams}" in announced, announced[-2000:]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("performance_hint=fastest", "performance_hint must be one of LATENCY, THROUGHPUT, CUMULATIVE_THROUGHPUT"),
        ("strict=false", "--option strict: ovaot serve takes the run-time options device_id, num_of_threads"),
    ],
)
def test_a_bad_run_time_option_is_one_clear_error(packages, option, message):
    import subprocess
    import sys

    command = [sys.executable, "-m", "ovaot", "serve", str(packages[0]), "--option", option]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_announcement_says_where_each_partition_runs(packages):
    from ovaot.integrations.serving import describe

    said = describe(ovaot.load(packages[1])).split("; ")
    partitions = ovaot.load(packages[1]).manifest.partitions
    assert len(said) == len(partitions)
    for line, partition in zip(said, partitions):
        if partition.kind == "fallback":
            assert line.endswith("numpy fallback"), line
        else:
            assert "CPU (blob, PERFORMANCE_HINT LATENCY, NUM_STREAMS 1)" in line, line
