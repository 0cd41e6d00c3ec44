"""The declarations of OpenVINO's C API that ov_c binds: structs, argument types and element type codes.

From openvino/c/*.h (the wheel ships them in openvino/include).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np


class Version(ctypes.Structure):
    _fields_ = [("buildNumber", ctypes.c_char_p), ("description", ctypes.c_char_p)]


class Devices(ctypes.Structure):
    _fields_ = [("devices", ctypes.POINTER(ctypes.c_char_p)), ("size", ctypes.c_size_t)]


class Shape(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int64), ("dims", ctypes.POINTER(ctypes.c_int64))]


class Dimension(ctypes.Structure):
    _fields_ = [("min", ctypes.c_int64), ("max", ctypes.c_int64)]


class PartialShape(ctypes.Structure):
    _fields_ = [("rank", Dimension), ("dims", ctypes.POINTER(Dimension))]


class ProfilingInfo(ctypes.Structure):
    _fields_ = [
        ("status", ctypes.c_int),  # NOT_RUN, OPTIMIZED_OUT, EXECUTED
        ("real_time", ctypes.c_int64),  # microseconds
        ("cpu_time", ctypes.c_int64),
        ("node_name", ctypes.c_char_p),
        ("exec_type", ctypes.c_char_p),
        ("node_type", ctypes.c_char_p),
    ]


class ProfilingInfoList(ctypes.Structure):
    _fields_ = [("profiling_infos", ctypes.POINTER(ProfilingInfo)), ("size", ctypes.c_size_t)]


H = ctypes.c_void_p  # an opaque handle: ov_core_t*, ov_tensor_t*, ...
OUT = ctypes.POINTER(ctypes.c_void_p)  # where a function stores the handle (or char*) it creates
SIZE, STR, ENUM, P = ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER

# Argument types, from openvino/c/*.h (the wheel ships them in openvino/include). These return ov_status_e.
SIGNATURES: dict[str, list[Any]] = {
    "ov_get_openvino_version": [P(Version)],
    "ov_core_create": [OUT],
    "ov_core_get_available_devices": [H, P(Devices)],
    "ov_core_set_property": [H, STR],  # variadic: one (char* key, char* value) pair follows
    "ov_core_import_model": [H, H, SIZE, STR, OUT],
    "ov_core_read_model_from_memory_buffer": [H, STR, SIZE, H, OUT],
    "ov_core_compile_model": [H, H, STR, SIZE, OUT],  # variadic: property_args_size char* follow
    "ov_compiled_model_inputs_size": [H, P(SIZE)],
    "ov_compiled_model_outputs_size": [H, P(SIZE)],
    "ov_compiled_model_input_by_index": [H, SIZE, OUT],
    "ov_compiled_model_output_by_index": [H, SIZE, OUT],
    "ov_compiled_model_create_infer_request": [H, OUT],
    "ov_compiled_model_get_property": [H, STR, OUT],
    "ov_compiled_model_export_model": [H, STR],
    "ov_port_get_any_name": [H, OUT],
    "ov_port_get_element_type": [H, P(ENUM)],
    "ov_port_get_partial_shape": [H, P(PartialShape)],
    "ov_tensor_create": [ENUM, Shape, OUT],
    "ov_tensor_create_from_host_ptr": [ENUM, Shape, H, OUT],
    "ov_tensor_get_shape": [H, P(Shape)],
    "ov_tensor_get_element_type": [H, P(ENUM)],
    "ov_tensor_get_byte_size": [H, P(SIZE)],
    "ov_tensor_data": [H, OUT],
    "ov_shape_free": [P(Shape)],
    "ov_infer_request_set_input_tensor_by_index": [H, SIZE, H],
    "ov_infer_request_get_output_tensor_by_index": [H, SIZE, OUT],
    "ov_infer_request_get_input_tensor_by_index": [H, SIZE, OUT],
    "ov_infer_request_infer": [H],
    "ov_infer_request_get_profiling_info": [H, P(ProfilingInfoList)],
    "ov_infer_request_start_async": [H],
    "ov_infer_request_wait": [H],
}
VOID_FUNCTIONS: dict[str, list[Any]] = {
    "ov_version_free": [P(Version)],
    "ov_available_devices_free": [P(Devices)],
    "ov_partial_shape_free": [P(PartialShape)],
    "ov_profiling_info_list_free": [P(ProfilingInfoList)],
    **{f"ov_{kind}_free": [H] for kind in ("core", "model", "compiled_model", "infer_request", "tensor")},
    **{name: [H] for name in ("ov_output_const_port_free", "ov_free")},
}

# ov_element_type_e of the 2026 headers (DYNAMIC=0, BOOLEAN, BF16, F16, F32, F64, I4, I8, I16, I32, I64, U1, U2,
# U3, U4, U6, U8, U16, U32, U64, ...); each entry was checked by round-tripping data through compiled models.
DTYPES: dict[int, np.dtype] = {
    code: np.dtype(name)
    for code, name in {
        1: "bool", 3: "float16", 4: "float32", 5: "float64", 7: "int8", 8: "int16", 9: "int32", 10: "int64",
        16: "uint8", 17: "uint16", 18: "uint32", 19: "uint64",
    }.items()
}  # fmt: skip
CODES: dict[np.dtype, int] = {dtype: code for code, dtype in DTYPES.items()}
# Only these statuses come from a caught C++ exception and so have a fresh ov_get_last_err_msg(); the others
# (e.g. INVALID_C_PARAM) return early, and the last message would belong to an older failure.
FROM_EXCEPTION = {-1, -2, -8, -13, -17}
