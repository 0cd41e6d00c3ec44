"""Reading a model with its weights set aside at the wire level gives what parsing it whole and setting its
weights aside gives: the same model, field for field, and the same weights; bytes it does not expect are left to
the whole parse."""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import pytest
from onnx import ModelProto, TensorProto, helper, numpy_helper

from ovaot.compiler.frontend import _checks_alone
from ovaot.passes.weights import set_weights_aside
from ovaot.passes.weights_reader import parse_with_weights_aside

from helpers import LIGHT_DIR, LIGHT_MODELS


def _as_whole_parse_leaves_it(data: bytes) -> tuple[ModelProto, dict[str, bytes]]:
    model = ModelProto.FromString(data)
    return model, set_weights_aside(model).data


def _assert_same_as_whole_parse(data: bytes) -> None:
    read = parse_with_weights_aside(data)
    assert read is not None
    model, stash = read
    want_model, want_weights = _as_whole_parse_leaves_it(data)
    assert model.SerializeToString() == want_model.SerializeToString()
    assert {name: bytes(view) for name, view in stash.data.items()} == want_weights
    stash.restore(model)
    whole = ModelProto.FromString(data)
    set_weights_aside(whole).restore(whole)  # as the compiler has it after shape inference puts the weights back
    assert model.SerializeToString() == whole.SerializeToString()


@functools.cache
def _node_cases() -> list[ModelProto]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():  # onnx's own cases overflow casts on purpose while they are collected
        warnings.simplefilter("ignore", RuntimeWarning)
        return [case.model for case in collect_testcases(None)]


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_the_light_models_read_as_the_whole_parse_leaves_them(name):
    _assert_same_as_whole_parse((LIGHT_DIR / f"light_{name}.onnx").read_bytes())


@pytest.mark.slow  # 1,884 models, each parsed three ways
def test_onnx_node_cases_read_as_the_whole_parse_leaves_them():
    for model in _node_cases():
        _assert_same_as_whole_parse(model.SerializeToString())


def test_tensors_in_every_layout_read_as_the_whole_parse_leaves_them():
    big = np.arange(2048, dtype=np.float32)
    explicit_default = numpy_helper.from_array(big, "explicit_default")
    explicit_default.data_location = TensorProto.DEFAULT
    two_fields = numpy_helper.from_array(big, "two_fields")
    two_fields.float_data.extend([1.0])
    typed_field = TensorProto(name="typed_field", data_type=TensorProto.FLOAT, dims=[2048], float_data=big.tolist())
    small = numpy_helper.from_array(np.arange(10, dtype=np.float32), "small")
    unicode_name = numpy_helper.from_array(big, "ü-名前")
    unnamed = numpy_helper.from_array(big, "")
    weights = [explicit_default, two_fields, typed_field, small, unicode_name, unnamed]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2048])
    graph = helper.make_graph([helper.make_node("Add", ["small", "small"], ["y"])], "g", [], [output], weights)
    _assert_same_as_whole_parse(helper.make_model(graph).SerializeToString())


def test_bytes_it_does_not_expect_are_left_to_the_whole_parse():
    big = np.arange(2048, dtype=np.float32)
    twice = [numpy_helper.from_array(big, "w"), numpy_helper.from_array(big + 1, "w")]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2048])
    graph = helper.make_graph([helper.make_node("Add", ["w", "w"], ["y"])], "g", [], [output], twice)
    assert parse_with_weights_aside(helper.make_model(graph).SerializeToString()) is None
    # an initializer that names external data, or keeps an entry of it: read_model reads those
    stray_entries = numpy_helper.from_array(big, "stray_entries")
    stray_entries.external_data.add(key="x", value="y")
    external = TensorProto(name="external", data_type=TensorProto.FLOAT, dims=[2048])
    external.data_location = TensorProto.EXTERNAL
    external.external_data.add(key="location", value="weights.bin")
    for tensor in (stray_entries, external):
        graph = helper.make_graph([helper.make_node("Relu", [tensor.name], ["y"])], "g", [], [output], [tensor])
        assert parse_with_weights_aside(helper.make_model(graph).SerializeToString()) is None
    for junk in [b"\x00\x01garbage", os.urandom(1000), b"\x3a\xff\xff\xff\xff\x0f", b"\x0b\x0c"]:
        assert parse_with_weights_aside(junk) is None


def _verdict(data: bytes, aside: bool) -> str | None:
    """The checker's finding through frontend.check_model: on the whole bytes, or on the model read with its
    weights set aside (checked without them where check_model finds that the same check)."""
    from ovaot.compiler.frontend import check_model
    from ovaot.errors import ModelError

    read = parse_with_weights_aside(data) if aside else None
    model, stash = read if read is not None else (ModelProto.FromString(data), None)
    try:
        check_model(model, "m.onnx", None, data, stash)
    except ModelError as exc:
        return str(exc)
    return None


def test_the_check_without_the_weights_finds_what_the_whole_check_finds():
    # seeded tensors of every type code, with dimensions of 0 or below, extra value fields, raw data shorter or
    # longer than the shape needs, beside ops that exist or not and every IR version
    rng = np.random.default_rng(11)
    codes = [*range(27), 9999]
    differ, alone = [], 0
    for _ in range(300):
        dims = [int(rng.choice([1, 2, 16, 64, 0, -1, 128]))] + [int(rng.choice([16, 64, 0, -3]))] * int(rng.integers(2))
        code = int(rng.choice(codes)) if rng.random() < 0.5 else TensorProto.FLOAT
        tensor = TensorProto(name="w", data_type=code, dims=dims, raw_data=bytes(int(rng.choice([4096, 8192, 40000]))))
        if rng.random() < 0.1:
            tensor.float_data.extend([1.0])
        op = "Identity" if rng.random() < 0.8 else "NoSuchOp"
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [int(rng.choice([1, 64]))])
        graph = helper.make_graph([helper.make_node(op, ["w"], ["y"])], "g", [], [output], [tensor])
        opset = helper.make_opsetid("", int(rng.choice([9, 13, 17, 21])))
        data = helper.make_model(
            graph, opset_imports=[opset], ir_version=int(rng.choice([3, 4, 7, 9, 11]))
        ).SerializeToString()
        alone += _checks_alone(*parse_with_weights_aside(data))
        if _verdict(data, aside=True) != _verdict(data, aside=False):
            differ.append((code, dims))
    assert not differ
    assert 50 < alone < 300  # both ways were taken


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_a_light_model_passes_the_check_without_its_weights(name):
    data = (LIGHT_DIR / f"light_{name}.onnx").read_bytes()
    assert _verdict(data, aside=True) is None and _verdict(data, aside=False) is None


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    def varint(value: int) -> bytes:
        out = bytearray()
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        return bytes([*out, value])

    return varint(number << 3 | wire_type) + (varint(len(payload)) if wire_type == 2 else b"") + payload


def test_fields_of_an_unexpected_wire_type_read_as_protobuf_reads_them():
    # protobuf keeps a known field of another wire type as an unknown field: so must the reader, or decline
    big = numpy_helper.from_array(np.arange(2048, dtype=np.float32), "big")
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2048])
    base = helper.make_model(helper.make_graph([helper.make_node("Relu", ["big"], ["y"])], "g", [], [output], [big]))
    unnamed = numpy_helper.from_array(np.arange(2048, dtype=np.float32), "")
    unnamed.ClearField("name")
    external = numpy_helper.from_array(np.arange(2048, dtype=np.float32), "ext")
    external.data_location = TensorProto.EXTERNAL
    an_initializer = _field(8, 2, b"ab") + _field(2, 0, b"\x06") + _field(5, 0, b"\x00")  # 8 bytes
    extra_graphs = [
        _field(5, 1, an_initializer),  # an initializer's bytes as a fixed64
        _field(5, 2, external.SerializeToString() + _field(14, 2, b"\x00")),  # data_location as bytes
        _field(5, 2, unnamed.SerializeToString() + _field(8, 0, b"\x41")),  # a name as a varint
        _field(5, 2, big.SerializeToString() + _field(14, 0, b"\x02")),  # a data_location the enum lacks
    ]
    cases = [base.SerializeToString() + _field(7, 2, graph) for graph in extra_graphs]
    cases.append(base.SerializeToString() + _field(7, 5, b"\x01\x02\x03\x04"))  # the graph as a fixed32
    for data in cases:
        read = parse_with_weights_aside(data)
        if read is not None:
            model, stash = read
            want_model, want_weights = _as_whole_parse_leaves_it(data)
            assert model.SerializeToString() == want_model.SerializeToString()
            assert {name: bytes(view) for name, view in stash.data.items()} == want_weights
        assert _verdict(data, aside=True) == _verdict(data, aside=False)
