"""`ovaot serve`: packages behind KServe's Open Inference Protocol (v2 REST and gRPC), on the KServe Python SDK.

Each package is a `kserve.Model` whose predict runs `Session.run` on a worker thread (off the event loop); any v2
client works unchanged (tritonclient over HTTP, JSON or binary tensors, and gRPC; plain JSON). A bad request
(an unknown input, a wrong datatype or shape) is the SDK's InvalidInput: HTTP 400 / gRPC INVALID_ARGUMENT with
ovaot's message. Ready means loaded: the package is loaded before the server listens.

The SDK binds every interface (REST "0.0.0.0", gRPC "[::]"); ovaot binds only the address --host gives (default
127.0.0.1), by giving the SDK's ModelServer server classes that listen there.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ovaot.errors import InputError, UsageError
from ovaot.format.manifest import ValueInfo

# ONNX tensor types (as the manifest spells them) -> the Open Inference Protocol's datatypes
V2_DATATYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(bfloat16)": "BF16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


def tensor_metadata(values: list[ValueInfo]) -> list[dict[str, Any]]:
    """v2 metadata for inputs or outputs: name, datatype, shape with -1 for each dynamic dimension."""
    return [
        {
            "name": v.name,
            "datatype": V2_DATATYPES.get(v.type, v.type),
            "shape": [d if isinstance(d, int) else -1 for d in v.shape] if v.shape is not None else [-1],
        }
        for v in values
    ]


def package_model(name: str, package: str | Path, options: dict[str, Any] | None = None) -> Any:
    """A kserve.Model serving `package` under `name`, loaded with the run-time EP `options` (ovaot.load's
    keywords: device_id, num_of_threads, num_streams, performance_hint). Needs the SDK: ovaot[serve]."""
    import kserve
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferOutput, InferResponse
    from kserve.utils.numpy_codec import from_np_dtype

    from ovaot.loader import load

    class PackageModel(kserve.Model):
        def __init__(self) -> None:
            super().__init__(name)
            self.session: Any = None
            self._runs: ThreadPoolExecutor | None = None

        def load(self) -> bool:
            self.stop()  # a model loaded again lets go of what it held
            self.session = load(package, **(options or {}))
            # as many inferences at once as the compiled model runs well: more would only take turns on the
            # same cores (and evict each other's caches); the requests beyond wait in the pool's queue
            self._runs = ThreadPoolExecutor(self.session.optimal_runs_at_once, thread_name_prefix=f"ovaot-{name}")
            self._declared = {v.name: v for v in self.session.manifest.inputs}
            self.ready = True
            return self.ready

        def stop(self) -> None:
            """Unloaded (or loaded again): the runs in flight finish, then the session is closed."""
            if self._runs is not None:
                self._runs.shutdown()
                self._runs = None
            if self.session is not None:
                self.session.close()
                self.session = None
            super().stop()

        def get_input_types(self) -> list[dict[str, Any]]:
            return tensor_metadata(self.session.manifest.inputs)

        def get_output_types(self) -> list[dict[str, Any]]:
            return tensor_metadata(self.session.manifest.outputs)

        async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
            feed = {}
            for tensor in payload.inputs:
                declared = self._declared.get(tensor.name)  # an unknown input: the session's own message
                expected = V2_DATATYPES.get(declared.type) if declared else None
                if expected is not None and tensor.datatype != expected:
                    raise InvalidInput(f"input {tensor.name!r} must have datatype {expected}, got {tensor.datatype}")
                try:
                    array = tensor.as_numpy()
                except Exception as exc:  # the SDK's decoding of a malformed tensor
                    raise InvalidInput(f"input {tensor.name!r}: {exc}") from None
                if declared and declared.type == "tensor(string)":  # v2 BYTES arrive as bytes; ONNX strings are str
                    texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.ravel()]
                    array = np.array(texts, dtype=object).reshape(array.shape)
                feed[tensor.name] = array
            wanted = [o.name for o in payload.request_outputs] if payload.request_outputs else None
            try:  # off the event loop: other requests are served while this one runs
                runs = self._runs
                if runs is None:
                    raise InvalidInput(f"model {name!r} is not loaded")
                values = await asyncio.get_running_loop().run_in_executor(runs, self.session.run, wanted, feed)
            except (InputError, UsageError) as exc:
                raise InvalidInput(str(exc)) from None
            names = wanted or [o.name for o in self.session.manifest.outputs]
            binary = payload.use_binary_outputs
            outputs = []
            for output_name, value in zip(names, values):
                array = np.asarray(value)
                output = InferOutput(output_name, list(array.shape), from_np_dtype(array.dtype))
                output.set_data_from_numpy(array, binary_data=binary)
                outputs.append(output)
            return InferResponse(payload.id or str(uuid.uuid4()), self.name, outputs, use_binary_outputs=binary)

    return PackageModel()


def serve(
    packages: list[Path],
    host: str,
    http_port: int,
    grpc_port: int,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Load every package (with the run-time EP `options`) and serve them until SIGTERM or SIGINT (blocks)."""
    if name is not None and len(packages) != 1:
        raise UsageError("--name names one package; with several, each is served under its file stem")
    names = [name] if name else [p.stem for p in packages]
    if len(set(names)) != len(names):
        raise UsageError(f"two packages would be served under the same name: {sorted(names)}")
    from ovaot.loader.load import RUN_TIME_OPTIONS

    unknown = sorted(set(options or {}) - set(RUN_TIME_OPTIONS))
    if unknown:
        raise UsageError(f"--option {unknown[0]}: ovaot serve takes the run-time options {', '.join(RUN_TIME_OPTIONS)}")
    try:
        import kserve
        import kserve.model_server as sdk_server
    except ImportError:
        raise UsageError("ovaot serve needs the KServe SDK: pip install 'ovaot[serve]'") from None
    models = [package_model(n, p, options) for n, p in zip(names, packages)]
    for model, package in zip(models, packages):
        model.load()  # before listening: ready means loaded
        print(f"ovaot serve: {model.name} <- {package}: {describe(model.session)}", file=sys.stderr, flush=True)
    sdk_server.RESTServer, sdk_server.GRPCServer = _bound_servers(host)
    server = kserve.ModelServer(http_port=http_port, grpc_port=grpc_port, workers=1)
    server.dataplane.decode_inference_request = _binary_kept(server.dataplane.decode_inference_request)
    server.start(models)


def describe(session: Any) -> str:
    """Where each partition of a loaded session runs; on each OpenVINO device, the performance hint and streams
    the compiled model got ("?" where the device does not say)."""
    from ovaot.loader.openvino_runner import MultiDevicePartition

    parts = []
    for placement, runner in zip(session.placements, session.runners):
        if not placement.devices:
            parts.append(f"partition {placement.partition}: numpy fallback")
            continue
        per_device = runner.per_device if isinstance(runner, MultiDevicePartition) else [runner]
        where = ", ".join(
            f"{compiled.device} ({compiled.how}, PERFORMANCE_HINT {_property(compiled.compiled, 'PERFORMANCE_HINT')}"
            f", NUM_STREAMS {_property(compiled.compiled, 'NUM_STREAMS')})"
            for compiled in per_device
        )
        parts.append(f"partition {placement.partition}: {where}")
    return "; ".join(parts)


def _property(compiled: Any, key: str) -> str:
    try:
        return str(compiled.get_property(key))
    except RuntimeError:
        return "?"


def _binary_kept(decode: Any) -> Any:
    """The SDK's REST request decoding, except that binary tensors stay bytes until the model reads them.

    The SDK turns each binary tensor into a Python list (and the model back into an array): 42 ms for a
    200 KB tensor, 120 ms for a 224x224 image, which made HTTP with binary tensors 13x slower than gRPC.
    """
    import orjson
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

    def decode_keeping_binary(body: Any, headers: Any, model_name: str) -> Any:
        json_length = headers.get("inference-header-content-length") if isinstance(body, bytes) else None
        if json_length is None:
            return decode(body, headers, model_name)
        try:
            request = orjson.loads(body[: int(json_length)])
            inputs, start = [], int(json_length)
            for entry in request["inputs"]:
                parameters = entry.get("parameters") or {}
                tensor = InferInput(entry["name"], entry["shape"], entry["datatype"], parameters=parameters)
                if "binary_data_size" in parameters:
                    end = start + int(parameters["binary_data_size"])
                    tensor._raw_data, start = body[start:end], end
                else:
                    tensor.data = entry["data"]
                inputs.append(tensor)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"malformed inference request: {type(exc).__name__}: {exc}") from None
        outputs = [RequestedOutput(o["name"], o.get("parameters")) for o in request.get("outputs") or []] or None
        return InferRequest(
            model_name,
            inputs,
            request_id=request.get("id"),
            parameters=request.get("parameters"),
            request_outputs=outputs,
        )

    return decode_keeping_binary


class JSONUnlessBinary:
    """ASGI middleware: a POST without Inference-Header-Content-Length is JSON, as the protocol says, whatever
    its Content-Type. The SDK reads a body that is not typed application/json as binary tensors and refuses it
    for want of that header, and tritonclient's JSON requests do not say application/json."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = list(scope["headers"])
            if not any(name.lower() == b"inference-header-content-length" for name, _ in headers):
                headers = [(n, v) for n, v in headers if n.lower() != b"content-type"]
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def _bound_servers(host: str) -> tuple[type, type]:
    """The SDK's REST and gRPC server classes, listening on `host` only."""
    from grpc import aio
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
    from kserve.protocol.grpc.server import GRPCServer
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.rest.server import RESTServer

    class BoundRESTServer(RESTServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host

        def _add_middlewares(self, app: Any) -> None:
            super()._add_middlewares(app)
            app.add_middleware(JSONUnlessBinary)

    class BoundGRPCServer(GRPCServer):
        async def start(self, max_workers: int) -> None:
            from concurrent import futures

            servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
            self._server = aio.server(
                futures.ThreadPoolExecutor(max_workers=max_workers),
                interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
            )
            grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
            self._server.add_insecure_port(f"[{host}]:{self._port}" if ":" in host else f"{host}:{self._port}")
            await self._server.start()
            await self._server.wait_for_termination()

    return BoundRESTServer, BoundGRPCServer


__all__ = ["V2_DATATYPES", "describe", "package_model", "serve", "tensor_metadata"]
