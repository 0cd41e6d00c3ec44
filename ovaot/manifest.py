"""The .ovpkg manifest: a typed, versioned record of what a package holds and how to run it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ovaot.errors import PackageError

SCHEMA_MAJOR = 1
SCHEMA_MINOR = 0
SCHEMA_VERSION = f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}"
UNDERSTOOD_MAJORS = (1,)

MANIFEST_NAME = "manifest.json"

# ONNX tensor element types as onnxruntime spells them, mapped to numpy dtype names.
# Kept here (not derived from onnx) so the loader can check feeds without importing onnx.
TENSOR_DTYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}

Dim = int | str | None


@dataclass(frozen=True)
class ValueInfo:
    """A public input or output: its name, onnxruntime-style type and shape (None: unknown rank)."""

    name: str
    type: str
    shape: list[Dim] | None


@dataclass(frozen=True)
class NodePlacement:
    """One ONNX node of a partition and why it was placed there."""

    name: str
    op_type: str
    domain: str
    reason: str
    source: str  # "live-query", "forced", "conversion"


@dataclass(frozen=True)
class Partition:
    """A piece of the graph run by one engine; partitions run in list order."""

    index: int
    kind: str  # "openvino" or "fallback"
    device: str | None
    consumes: list[str]
    produces: list[str]
    nodes: list[NodePlacement]
    artifacts: dict[str, str]  # role ("ir_xml", "ir_bin", "blob", "onnx") -> member name
    compile_config: dict[str, str] = field(default_factory=dict)
    reported_precision: str | None = None  # what the compiled model says it runs at


@dataclass(frozen=True)
class Member:
    """The sha256 and size in bytes of one archive member."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Everything a loader needs to know about a package, serialised as manifest.json."""

    schema_version: str
    ovaot_version: str
    openvino_version: str
    source_sha256: str
    source_name: str
    target: str
    options: dict[str, Any]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    partitions: list[Partition]
    members: dict[str, Member]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PackageError(f"{MANIFEST_NAME} is not valid JSON: {exc}") from None
        return _manifest_from_dict(_require(data, dict, MANIFEST_NAME))


def _require(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PackageError(f"{MANIFEST_NAME}: {where} must be {names}, found {type(value).__name__}")
    return value


def _field(data: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise PackageError(f"{MANIFEST_NAME}: {where} has no field {key!r}")
    return _require(data[key], kind, f"{where}.{key}")


def _check_schema_version(data: dict) -> None:
    version = _field(data, "schema_version", str, "manifest")
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise PackageError(f"{MANIFEST_NAME}: schema_version {version!r} is not MAJOR.MINOR")
    if int(major) not in UNDERSTOOD_MAJORS:
        understood = ", ".join(f"{m}.x" for m in UNDERSTOOD_MAJORS)
        raise PackageError(
            f"package schema version {version} is not understood by ovaot "
            f"(this ovaot reads {understood}); use a matching ovaot to load it"
        )


def _value_info(data: Any, where: str) -> ValueInfo:
    data = _require(data, dict, where)
    shape = data.get("shape")
    if shape is not None:
        for i, dim in enumerate(_require(shape, list, f"{where}.shape")):
            _require(dim, (int, str, type(None)), f"{where}.shape[{i}]")
    return ValueInfo(name=_field(data, "name", str, where), type=_field(data, "type", str, where), shape=shape)


def _partition(data: Any, where: str) -> Partition:
    data = _require(data, dict, where)
    kind = _field(data, "kind", str, where)
    if kind not in ("openvino", "fallback"):
        raise PackageError(f"{MANIFEST_NAME}: {where}.kind is {kind!r}, expected openvino or fallback")
    nodes = [
        NodePlacement(**{k: _field(n, k, str, f"{where}.nodes[{i}]") for k in NodePlacement.__annotations__})
        for i, n in enumerate(_field(data, "nodes", list, where))
    ]
    return Partition(
        index=_field(data, "index", int, where),
        kind=kind,
        device=_field(data, "device", (str, type(None)), where),
        consumes=[_require(n, str, f"{where}.consumes") for n in _field(data, "consumes", list, where)],
        produces=[_require(n, str, f"{where}.produces") for n in _field(data, "produces", list, where)],
        nodes=nodes,
        artifacts={
            k: _require(v, str, f"{where}.artifacts") for k, v in _field(data, "artifacts", dict, where).items()
        },
        compile_config={k: str(v) for k, v in data.get("compile_config", {}).items()},
        reported_precision=data.get("reported_precision"),
    )


def _manifest_from_dict(data: dict) -> Manifest:
    _check_schema_version(data)
    members = {
        name: Member(
            sha256=_field(_require(m, dict, f"members[{name!r}]"), "sha256", str, f"members[{name!r}]"),
            size=_field(m, "size", int, f"members[{name!r}]"),
        )
        for name, m in _field(data, "members", dict, "manifest").items()
    }
    manifest = Manifest(
        schema_version=data["schema_version"],
        ovaot_version=_field(data, "ovaot_version", str, "manifest"),
        openvino_version=_field(data, "openvino_version", str, "manifest"),
        source_sha256=_field(data, "source_sha256", str, "manifest"),
        source_name=_field(data, "source_name", str, "manifest"),
        target=_field(data, "target", str, "manifest"),
        options=_field(data, "options", dict, "manifest"),
        inputs=[_value_info(v, f"inputs[{i}]") for i, v in enumerate(_field(data, "inputs", list, "manifest"))],
        outputs=[_value_info(v, f"outputs[{i}]") for i, v in enumerate(_field(data, "outputs", list, "manifest"))],
        partitions=[
            _partition(p, f"partitions[{i}]") for i, p in enumerate(_field(data, "partitions", list, "manifest"))
        ],
        members=members,
    )
    for partition in manifest.partitions:
        for role, member in partition.artifacts.items():
            if member not in members:
                raise PackageError(
                    f"{MANIFEST_NAME}: partition {partition.index} artifact {role} names "
                    f"{member!r}, which is not listed in members"
                )
    return manifest
