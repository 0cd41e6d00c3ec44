"""Parse a serialised ONNX model with its large weights already set aside, without copying them.

set_weights_aside(ModelProto.FromString(data)) copies every weight twice (into the parsed model, then out of it);
for resnet50 that is 0.17 s before anything else can start. Here the model's bytes are walked at the protobuf
wire level instead: each large raw_data of a graph initializer is cut out of a copy of the bytes that is parsed
(a few hundred KiB), and the Stash holds views of `data` where those weights lie. The model and the Stash are
what set_weights_aside would leave, field for field; anything unexpected (a group, a raw_data or a name given
twice, two weights of one name, an initializer that names external data) gives None, and the caller parses the
bytes whole.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError
from onnx import ModelProto
from onnx.checker import MAXIMUM_PROTOBUF

from ovaot.passes.weights import MARK, MIN_BYTES, Stash

# field numbers in onnx.proto: ModelProto.graph, GraphProto.initializer, TensorProto.name, .raw_data,
# .external_data, .data_location; StringStringEntryProto.key, .value
_GRAPH, _INITIALIZER, _NAME, _RAW_DATA, _EXTERNAL_DATA, _DATA_LOCATION = 7, 5, 8, 9, 13, 14
_KEY, _VALUE = 1, 2
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5  # wire types
_EXTERNAL = 1  # TensorProto.DataLocation


def parse_with_weights_aside(data: bytes) -> tuple[ModelProto, Stash] | None:
    """The model `data` holds, with its large weights set aside in the returned Stash (as views of `data`);
    None where the bytes are not laid out as this reader expects."""
    if len(data) > MAXIMUM_PROTOBUF:
        return None  # protobuf parses no more; the whole parse says so
    reader = _Reader(data)
    try:
        stripped = reader.message(0, len(data), {_GRAPH: reader.graph})
    except _Unexpected:
        return None
    stash = Stash()
    for name, start, end in stripped.weights:
        if name in stash.data:
            return None  # two weights of one name: the whole parse decides what that means
        stash.data[name] = reader.view[start:end]
    model = ModelProto()
    try:
        model.ParseFromString(b"".join(stripped.pieces))
    except DecodeError:
        return None
    return model, stash


class _Unexpected(Exception):
    """Bytes this reader does not handle (the caller parses them whole)."""


class _Rewritten:
    """A message's bytes as pieces (views of the original, and new bytes) and the weights cut out of it."""

    def __init__(self) -> None:
        self.pieces: list[bytes | memoryview] = []
        self.size = 0
        self.weights: list[tuple[str, int, int]] = []  # name, start and end in the original bytes

    def add(self, piece: bytes | memoryview) -> None:
        self.pieces.append(piece)
        self.size += len(piece)

    def add_message(self, number: int, inner: _Rewritten) -> None:
        self.add(_key(number, _LENGTH) + _varint_bytes(inner.size))
        for piece in inner.pieces:
            self.add(piece)
        self.weights += inner.weights


Field = tuple[int, int, int, int, int]  # number, wire type, start of the field, start and end of its value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.view = memoryview(data)

    def message(self, start: int, end: int, nested: dict[int, Callable[[int, int], _Rewritten]]) -> _Rewritten:
        """data[start:end], a message, with the fields `nested` names rewritten by its function (given their
        value's start and end) and the others kept."""
        out = _Rewritten()
        for number, wire_type, field_start, value_start, value_end in self.fields(start, end):
            if number in nested and wire_type == _LENGTH:
                out.add_message(number, nested[number](value_start, value_end))
            else:  # of another wire type, protobuf keeps it as an unknown field: so do we
                out.add(self.view[field_start:value_end])
        return out

    def graph(self, start: int, end: int) -> _Rewritten:
        return self.message(start, end, {_INITIALIZER: self.tensor})

    def tensor(self, start: int, end: int) -> _Rewritten:
        """The TensorProto at data[start:end], as set_weights_aside leaves it: a raw_data of MIN_BYTES or more,
        where data_location is DEFAULT, cut out and named in external_data as set aside."""
        fields = self.fields(start, end)
        for number, wire_type, *_ in fields:  # a field of the wrong wire type: protobuf would keep it aside
            if number in (_NAME, _RAW_DATA) and wire_type != _LENGTH:
                raise _Unexpected
            if number == _EXTERNAL_DATA:  # stored elsewhere, or an entry left behind: read_model's to read
                raise _Unexpected
            if number == _DATA_LOCATION and wire_type != _VARINT:
                raise _Unexpected
        raw = [f for f in fields if f[0] == _RAW_DATA]
        names = [f for f in fields if f[0] == _NAME]
        locations = [f for f in fields if f[0] == _DATA_LOCATION]
        out = _Rewritten()
        location = self._varint(locations[-1][3], locations[-1][4])[0] if locations else 0
        if location not in (0, _EXTERNAL):
            raise _Unexpected  # a value the enum lacks: protobuf keeps it as an unknown field
        if not raw or location != 0 or raw[-1][4] - raw[-1][3] < MIN_BYTES:
            out.add(self.view[start:end])
            return out
        if len(raw) > 1 or len(names) > 1:
            raise _Unexpected
        try:
            name = bytes(self.view[names[0][3] : names[0][4]]).decode() if names else ""
        except UnicodeDecodeError:
            raise _Unexpected from None
        for number, _, field_start, _, value_end in fields:
            if number != _RAW_DATA:
                out.add(self.view[field_start:value_end])
        entry = _string(_KEY, b"location") + _string(_VALUE, MARK.encode())
        out.add(_string(_EXTERNAL_DATA, entry) + _key(_DATA_LOCATION, _VARINT) + _varint_bytes(_EXTERNAL))
        out.weights.append((name, raw[0][3], raw[0][4]))
        return out

    def fields(self, start: int, end: int) -> list[Field]:
        result, position = [], start
        while position < end:
            field_start = position
            key, position = self._varint(position, end)
            number, wire_type = key >> 3, key & 7
            value_start = position
            if wire_type == _VARINT:
                position = self._varint(position, end)[1]
            elif wire_type == _FIXED64:
                position += 8
            elif wire_type == _FIXED32:
                position += 4
            elif wire_type == _LENGTH:
                length, value_start = self._varint(position, end)
                position = value_start + length
            else:
                raise _Unexpected  # groups and unknown wire types
            if position > end or number == 0:
                raise _Unexpected
            result.append((number, wire_type, field_start, value_start, position))
        return result

    def _varint(self, position: int, end: int) -> tuple[int, int]:
        result, shift = 0, 0
        while position < end and shift < 64:
            byte = self.data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result, position
            shift += 7
        raise _Unexpected


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint_bytes(number << 3 | wire_type)


def _string(number: int, value: bytes) -> bytes:
    return _key(number, _LENGTH) + _varint_bytes(len(value)) + value


__all__ = ["parse_with_weights_aside"]
