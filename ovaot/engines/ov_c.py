"""A lean ctypes binding to OpenVINO's C API: import compiled blobs and run them without `import openvino`.

Why: importing the `openvino` Python package is slow (pybind module, opsets, frontends, ovc tools), while the
C library that ships in the same wheel (openvino/libs/libopenvino_c.so.*) loads quickly. The wheel's libraries
carry RPATH $ORIGIN and libopenvino finds its plugins (libopenvino_intel_cpu_plugin.so, ...) next to itself, so a
plain dlopen is enough: no plugins.xml, environment variable or RTLD_GLOBAL is needed.

Only what the package loader needs is bound. Every call whose ov_status_e is not OK raises RuntimeError naming the
C function. The C API keeps one process-wide "last error message", so with concurrent failures in several threads
a message may belong to another thread's failure.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ovaot.engines import c_declarations as c

__all__ = ["CompiledModel", "Core", "InferRequest", "Port", "version"]


@functools.cache
def _lib() -> ctypes.CDLL:
    """libopenvino_c from the installed wheel, found without executing openvino/__init__.py."""
    spec = importlib.util.find_spec("openvino")  # locates the package; does not import it
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location, "libs").glob("libopenvino_c.so*"))
        if found:
            break
    else:
        raise ImportError("libopenvino_c.so* not found in the openvino wheel's libs directory")
    try:
        lib = ctypes.CDLL(str(found[0]))
    except OSError as exc:
        raise ImportError(f"cannot load {found[0]}: {exc}") from exc
    for name, argtypes in (c.SIGNATURES | c.VOID_FUNCTIONS).items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, (None if name in c.VOID_FUNCTIONS else ctypes.c_int)
    lib.ov_get_last_err_msg.argtypes, lib.ov_get_last_err_msg.restype = [], ctypes.c_void_p  # a copy we free
    lib.ov_get_error_info.argtypes, lib.ov_get_error_info.restype = [ctypes.c_int], ctypes.c_char_p  # static
    _verify_element_types(lib)
    return lib


def _verify_element_types(lib: ctypes.CDLL) -> None:
    """Refuse a library whose ov_element_type_e numbering differs from c.DTYPES.

    Why: releases have renumbered the enum (UNDEFINED dropped, U2/U3/U6 inserted), and a stale table would silently
    reinterpret tensor data. Each code must make a one-element tensor of the numpy item size.
    """
    one = (ctypes.c_int64 * 1)(1)
    for code, dtype in c.DTYPES.items():
        tensor, size = ctypes.c_void_p(), ctypes.c_size_t()
        if lib.ov_tensor_create(code, c.Shape(1, one), ctypes.byref(tensor)) == 0:
            lib.ov_tensor_get_byte_size(tensor, ctypes.byref(size))
            lib.ov_tensor_free(tensor)
        if size.value != dtype.itemsize:
            raise ImportError(f"this libopenvino_c numbers ov_element_type_e differently ({code} is not {dtype})")


def _check(name: str, *args: Any) -> None:
    """Call C function `name`; a status other than OK raises RuntimeError with OpenVINO's message."""
    lib = _lib()
    status = getattr(lib, name)(*args)
    if status != 0:
        detail = lib.ov_get_error_info(status).decode()
        if status in c.FROM_EXCEPTION:
            detail = _take_string(lib.ov_get_last_err_msg()) or detail
        raise RuntimeError(f"{name} failed (ov_status_e {status}): {detail}")


def _out(name: str, *args: Any) -> int:
    """Call a creator whose last parameter receives the new handle, and return that handle."""
    handle = ctypes.c_void_p()
    _check(name, *args, ctypes.byref(handle))
    return handle.value or 0


def _take_string(pointer: int | None) -> str:
    """Decode a char* the library allocated for us, and free it with ov_free."""
    if not pointer:
        return ""
    try:
        return ctypes.string_at(pointer).decode(errors="replace")
    finally:
        _lib().ov_free(pointer)


def _host_shape(dims: Sequence[int]) -> c.Shape:
    """An ov_shape_t over our own array (kept alive by the struct's _objects); the C side copies the dims."""
    return c.Shape(len(dims), (ctypes.c_int64 * len(dims))(*dims))


def _bytes_of(data: Any) -> np.ndarray:
    """A uint8 view of any contiguous buffer (bytes, bytearray, memoryview, mmap), never a copy.

    numpy also takes read-only buffers, which ctypes' from_buffer refuses: e.g. a memoryview of an ACCESS_READ mmap.
    """
    return np.frombuffer(data, dtype=np.uint8)


def _dtype(code: int) -> np.dtype:
    if code not in c.DTYPES:
        raise RuntimeError(f"OpenVINO element type {code} (ov_element_type_e) has no numpy equivalent here")
    return c.DTYPES[code]


def version() -> str:
    """OpenVINO's build number, e.g. '2026.4.1-22982-...' (what ov.get_version() returns)."""
    value = c.Version()
    _check("ov_get_openvino_version", ctypes.byref(value))
    try:
        return (value.buildNumber or b"").decode()
    finally:
        _lib().ov_version_free(ctypes.byref(value))


@dataclass(frozen=True)
class Port:
    """One input or output of a compiled model.

    names holds only ov_port_get_any_name(): the C API has no binding for get_names(), so a port with several tensor
    names shows just one of them. shape is None for a dynamic rank, with -1 for each dimension that is not static.
    """

    index: int
    names: frozenset[str]
    dtype: np.dtype
    shape: tuple[int, ...] | None


def _port(handle: int, index: int) -> Port:
    """Describe a port, then free its handle."""
    lib = _lib()
    try:
        name, code, partial = ctypes.c_void_p(), c.ENUM(), c.PartialShape()
        try:
            _check("ov_port_get_any_name", handle, ctypes.byref(name))
            names = frozenset({_take_string(name.value)})
        except RuntimeError:  # a port without any tensor name
            names = frozenset()
        _check("ov_port_get_element_type", handle, ctypes.byref(code))
        _check("ov_port_get_partial_shape", handle, ctypes.byref(partial))
        try:  # read the dims out before ov_partial_shape_free releases them
            rank, dims = partial.rank, partial.dims
            static = rank.min == rank.max >= 0
            shape = tuple(d.min if d.min == d.max else -1 for d in dims[: rank.max]) if static else None
        finally:
            lib.ov_partial_shape_free(ctypes.byref(partial))
        return Port(index, names, _dtype(code.value), shape)
    finally:
        lib.ov_output_const_port_free(handle)


class _Owned:
    """Owns one C object and frees it exactly once, on close() or when garbage collected."""

    _free_name: ClassVar[str]
    _handle: int | None = None

    def __init__(self, handle: int, keep: object = None) -> None:
        self._free = getattr(_lib(), self._free_name)  # bound now: module globals may be gone at interpreter exit
        self._handle = handle
        self._keep = keep  # Python memory the C object reads in place (blob, IR weights): released with it

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            self._free(handle)
        self._keep = None

    def __del__(self) -> None:
        self.close()


class Core(_Owned):
    """ov::Core: lists devices and turns blobs or IR into compiled models."""

    _free_name = "ov_core_free"

    def __init__(self) -> None:
        super().__init__(_out("ov_core_create"))

    def available_devices(self) -> list[str]:
        devices = c.Devices()
        _check("ov_core_get_available_devices", self._handle, ctypes.byref(devices))
        try:
            return [devices.devices[i].decode() for i in range(devices.size)]
        finally:
            _lib().ov_available_devices_free(ctypes.byref(devices))

    def import_model(self, data: Any, device: str = "CPU", config: dict[str, str] | None = None) -> CompiledModel:
        """Import a blob from CompiledModel.export_model(); `data` is any contiguous buffer, passed without a copy.

        OpenVINO 2026 does not copy it either: the compiled model's weights point into `data` (zeroing the buffer
        after import changes the results), so the compiled model keeps `data` alive. An mmap then cannot be closed
        before the compiled model and its requests are, and its file must not shrink meanwhile (SIGBUS); in return
        the weights are shared, evictable page cache.
        The C ov_core_import_model takes no properties, so `config` is set on this Core for `device` first
        (ov::Core merges it into the import config the same way); it stays set for later imports and compiles.
        """
        for key, value in (config or {}).items():  # variadic; the C side va_arg-reads exactly one pair per call
            _check(
                "ov_core_set_property", self._handle, device.encode(), c.STR(key.encode()), c.STR(str(value).encode())
            )
        blob = _bytes_of(data)
        handle = _out("ov_core_import_model", self._handle, blob.ctypes.data, blob.size, device.encode())
        return CompiledModel(handle, keep=blob)

    def compile_model_from_memory(
        self, xml: bytes, weights: Any, device: str = "CPU", config: dict[str, str] | None = None
    ) -> CompiledModel:
        """Compile IR held in memory: the fallback when no blob fits this host.

        The model's constants alias `weights` (no copy), so the compiled model keeps that buffer alive.
        """
        lib, array = _lib(), _bytes_of(weights)
        tensor = 0  # an empty .bin (a model without constants) is passed as no weights tensor
        if array.size:
            shape = _host_shape([array.size])
            tensor = _out("ov_tensor_create_from_host_ptr", c.CODES[array.dtype], shape, array.ctypes.data)
        try:
            model = _out("ov_core_read_model_from_memory_buffer", self._handle, xml, len(xml), tensor or None)
        finally:
            if tensor:
                lib.ov_tensor_free(tensor)
        # Variadic key, value, key, value... char*. On x86-64 (and Linux aarch64) variadic pointer arguments travel
        # exactly like fixed ones and libffi always sets %al (the vector-register count), so passing them as extra
        # c_char_p arguments is ABI-correct.
        pairs = [c.STR(str(text).encode()) for item in (config or {}).items() for text in item]
        compiled, name = ctypes.c_void_p(), device.encode()
        try:
            _check("ov_core_compile_model", self._handle, model, name, len(pairs), ctypes.byref(compiled), *pairs)
        finally:
            lib.ov_model_free(model)
        return CompiledModel(compiled.value or 0, keep=array)


class CompiledModel(_Owned):
    """ov::CompiledModel: its ports, properties and infer requests."""

    _free_name = "ov_compiled_model_free"

    def __init__(self, handle: int, keep: object = None) -> None:
        super().__init__(handle, keep)
        self.inputs: list[Port] = self._ports("input")
        self.outputs: list[Port] = self._ports("output")

    def _ports(self, kind: str) -> list[Port]:
        count = ctypes.c_size_t()
        _check(f"ov_compiled_model_{kind}s_size", self._handle, ctypes.byref(count))
        return [_port(_out(f"ov_compiled_model_{kind}_by_index", self._handle, i), i) for i in range(count.value)]

    def get_property(self, key: str) -> str:
        """A property as OpenVINO prints it, e.g. get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") -> "1"."""
        value = ctypes.c_void_p()
        _check("ov_compiled_model_get_property", self._handle, key.encode(), ctypes.byref(value))
        return _take_string(value.value)

    def export_model(self, path: str | os.PathLike) -> None:
        """Write the compiled model as a blob file (what Core.import_model reads)."""
        _check("ov_compiled_model_export_model", self._handle, os.fsencode(path))

    def create_infer_request(self) -> InferRequest:
        return InferRequest(_out("ov_compiled_model_create_infer_request", self._handle), self)


class _OwnedInput:
    """An input tensor the request allocated, of one shape and element type, that small feeds are copied into."""

    def __init__(self, handle: int, shape: tuple[int, ...], dtype: np.dtype, data: int) -> None:
        self.handle, self.shape, self.dtype, self.data = handle, shape, dtype, data


class InferRequest(_Owned):
    """ov::InferRequest over numpy arrays: inputs are copied in or shared, outputs are copied out.

    A feed of at most COPY_LIMIT bytes is copied into a tensor the request owns, allocated once per shape: setting
    a new tensor on every run makes the CPU plugin prepare the request again (25 us of a 60 us run on a small
    model), a copy of a few KiB costs well under 1 us. Larger feeds are shared in place, as a copy would cost more
    than the preparation.
    """

    _free_name = "ov_infer_request_free"
    COPY_LIMIT = 256 * 1024

    def __init__(self, handle: int, model: CompiledModel) -> None:
        super().__init__(handle, keep=model._keep)  # it runs on the model's weights even after model.close()
        self._model = model
        self._inputs: list[np.ndarray] = []
        self._owned: list[_OwnedInput | None] = [None] * len(model.inputs)
        self._tensor_free = _lib().ov_tensor_free  # bound now, like _Owned._free

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run synchronously on one array per input port (port order); return one array per output port."""
        self._set_inputs(inputs)
        _check("ov_infer_request_infer", self._handle)
        return self.outputs()

    def profiling(self) -> list[dict[str, Any]]:
        """Per op of the last run (the model compiled with PERF_COUNT=YES): name, type, exec type, status and
        real and CPU time in microseconds."""
        found = c.ProfilingInfoList()
        _check("ov_infer_request_get_profiling_info", self._handle, ctypes.byref(found))
        try:
            statuses = ("not run", "optimized out", "executed")
            return [
                {
                    "name": (info.node_name or b"").decode(),
                    "type": (info.node_type or b"").decode(),
                    "exec_type": (info.exec_type or b"").decode(),
                    "status": statuses[info.status] if 0 <= info.status < 3 else str(info.status),
                    "real_time_us": int(info.real_time),
                    "cpu_time_us": int(info.cpu_time),
                }
                for info in (found.profiling_infos[i] for i in range(found.size))
            ]
        finally:
            _lib().ov_profiling_info_list_free(ctypes.byref(found))

    def start_async(self, inputs: Sequence[np.ndarray]) -> None:
        """Start inference and return at once; wait() (which releases the GIL), then read outputs()."""
        self._set_inputs(inputs)
        _check("ov_infer_request_start_async", self._handle)

    def wait(self) -> None:
        _check("ov_infer_request_wait", self._handle)

    def outputs(self) -> list[np.ndarray]:
        """Copies of the output tensors, in their actual (run-time) shapes.

        Copies, because each output tensor is memory the request owns, overwrites on its next run and frees with
        the request: a view would silently change under the caller.
        """
        return [self._output(index) for index in range(len(self._model.outputs))]

    def _set_inputs(self, inputs: Sequence[np.ndarray]) -> None:
        if len(inputs) != len(self._model.inputs):
            raise ValueError(f"expected {len(self._model.inputs)} inputs, got {len(inputs)}")
        # np.ascontiguousarray would turn a 0-d array into shape (1,); a 0-d array is always contiguous. A numpy
        # scalar (a fallback partition's np.bool_) becomes a 0-d array.
        arrays = [
            value
            if isinstance(value, np.ndarray) and value.flags.c_contiguous
            else np.ascontiguousarray(value)
            if isinstance(value, np.ndarray)
            else np.asarray(value)
            for value in inputs
        ]
        for index, array in enumerate(arrays):
            if array.dtype not in c.CODES:
                raise TypeError(f"input {index}: dtype {array.dtype} has no OpenVINO element type here")
        # OpenVINO reads shared arrays in place (no copy), also after start_async returns. Until every input is
        # set, the request may point at old and new arrays (or, if a set fails, keep doing so): hold both.
        self._inputs = [*self._inputs, *arrays]
        for index, array in enumerate(arrays):
            if 0 < array.nbytes <= self.COPY_LIMIT:
                self._copy_in(index, array)
            else:
                self._share(index, array)
        self._inputs = arrays

    def _copy_in(self, index: int, array: np.ndarray) -> None:
        owned = self._owned[index]
        if owned is None or owned.shape != array.shape or owned.dtype != array.dtype:
            handle = _out("ov_tensor_create", c.CODES[array.dtype], _host_shape(array.shape))
            try:
                _check("ov_infer_request_set_input_tensor_by_index", self._handle, index, handle)
                data = _out("ov_tensor_data", handle)
            except BaseException:
                _lib().ov_tensor_free(handle)
                raise
            self._free_owned(index)
            owned = self._owned[index] = _OwnedInput(handle, array.shape, array.dtype, data)
        ctypes.memmove(owned.data, array.ctypes.data, array.nbytes)

    def _share(self, index: int, array: np.ndarray) -> None:
        tensor = _out(
            "ov_tensor_create_from_host_ptr", c.CODES[array.dtype], _host_shape(array.shape), array.ctypes.data
        )
        try:
            _check("ov_infer_request_set_input_tensor_by_index", self._handle, index, tensor)
        finally:
            _lib().ov_tensor_free(tensor)  # the request holds its own reference to the tensor
        self._free_owned(index)

    def _free_owned(self, index: int) -> None:
        owned, self._owned[index] = self._owned[index], None
        if owned is not None:
            self._tensor_free(owned.handle)  # the request keeps the tensor while it is set on it

    def _output(self, index: int) -> np.ndarray:
        lib = _lib()
        tensor = _out("ov_infer_request_get_output_tensor_by_index", self._handle, index)
        try:
            dtype = self._model.outputs[index].dtype  # a compiled model's output tensors have its ports' types
            size = ctypes.c_size_t()
            _check("ov_tensor_get_byte_size", tensor, ctypes.byref(size))
            result = np.empty(self._output_dims(index, tensor, size.value, dtype), dtype)
            if result.nbytes != size.value:
                raise RuntimeError(f"output {index}: {size.value} bytes do not fill a {dtype}{result.shape} array")
            if size.value:
                ctypes.memmove(result.ctypes.data, _out("ov_tensor_data", tensor), size.value)
            return result
        finally:
            lib.ov_tensor_free(tensor)

    def _output_dims(self, index: int, tensor: int, size: int, dtype: np.dtype) -> list[int]:
        """The output's run-time shape. ov_tensor_get_shape refuses rank 0 (ov_shape_create wants rank > 0),
        so a scalar is known from its port, or from its size when the port's rank is dynamic. A port with at most
        one dynamic dimension (a batch) has its shape read off the byte size, sparing two C calls per run."""
        port_shape = self._model.outputs[index].shape
        if port_shape == ():
            return []
        if port_shape is not None and port_shape.count(-1) <= 1:
            known = math.prod(d for d in port_shape if d != -1) * dtype.itemsize
            if known and size % known == 0:
                return [size // known if d == -1 else d for d in port_shape]
        shape = c.Shape()
        status = _lib().ov_tensor_get_shape(tensor, ctypes.byref(shape))
        if status == 0:
            try:
                return [shape.dims[i] for i in range(shape.rank)]
            finally:
                _lib().ov_shape_free(ctypes.byref(shape))
        if port_shape is None and size == dtype.itemsize:
            return []
        raise RuntimeError(f"ov_tensor_get_shape failed (ov_status_e {status}) on output {index}")

    def close(self) -> None:
        super().close()
        for index in range(len(self._owned)):
            self._free_owned(index)
        self._inputs = []
