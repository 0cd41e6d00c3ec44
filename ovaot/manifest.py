"""The .ovpkg manifest: a typed, versioned record of what a package holds and how to run it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ovaot.errors import PackageError

SCHEMA_MAJOR = 1
SCHEMA_MINOR = 1  # 1.1: Partition.input_ports, BLAKE3 digests (Member.blake3, source_digest)
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
    """A piece of the graph run by one engine; partitions run in list order.

    An OpenVINO partition always has its IR (compiled at load time where no blob fits) and a
    precompiled blob for each device in `blobs`; `devices` lists where it may run (several for MULTI).
    """

    index: int
    kind: str  # "openvino" or "fallback"
    devices: list[str]
    consumes: list[str]
    produces: list[str]
    nodes: list[NodePlacement]
    artifacts: dict[str, str]  # role ("ir_xml", "ir_bin" or "onnx") -> member name
    blobs: dict[str, str] = field(default_factory=dict)  # device -> exported compiled model
    compile_config: dict[str, str] = field(default_factory=dict)
    requested_precision: str | None = None
    reported_precision: dict[str, str] = field(default_factory=dict)  # device -> what the compiled model reports
    # device -> {"openvino_version", "device_architecture", "device_name"} of the build host, per blob
    blob_built_with: dict[str, dict[str, str]] = field(default_factory=dict)
    # the tensor each input port of the compiled model takes, in port order (an imported blob can lose
    # the input's tensor name: OpenVINO renames a parameter that feeds a result directly)
    input_ports: list[str] = field(default_factory=list)

    @property
    def device(self) -> str | None:
        if not self.devices:
            return None
        return self.devices[0] if len(self.devices) == 1 else f"MULTI:{','.join(self.devices)}"

    @property
    def members(self) -> list[str]:
        return [*self.artifacts.values(), *self.blobs.values()]


@dataclass(frozen=True)
class Plan:
    """One way to run the whole model: the target as asked, or the host variant that runs anywhere."""

    name: str  # "target" or "host"
    mode: str  # "single", "hetero" or "multi"
    devices: list[str]
    partitions: list[Partition]


@dataclass(frozen=True)
class Member:
    """One archive member's size in bytes and BLAKE3 hash (schema 1.0 recorded sha256 instead).

    BLAKE3 runs at about 4 GB/s here, sha256 at about 0.24 GB/s (no SHA extensions), which made hashing
    most of a large model's load time and a sixth of its compile time.
    """

    size: int
    blake3: str = ""
    sha256: str = ""  # schema 1.0 packages


@dataclass(frozen=True)
class Manifest:
    """Everything a loader needs to know about a package, serialised as manifest.json."""

    schema_version: str
    ovaot_version: str
    openvino_version: str
    source_digest: str  # "blake3:<hex>" of the ONNX file and its external data ("sha256:<hex>" in schema 1.0)
    source_name: str
    target: str
    options: dict[str, Any]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    plans: list[Plan]
    members: dict[str, Member]

    @property
    def partitions(self) -> list[Partition]:
        """The partitions of the target plan."""
        return self.plans[0].partitions

    def plan(self, name: str) -> Plan | None:
        return next((p for p in self.plans if p.name == name), None)

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
        # packages from before ovaot read -1 and 0 as dynamic recorded them as sizes
        shape = [None if isinstance(dim, int) and dim <= 0 else dim for dim in shape]
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
        devices=_strings(_field(data, "devices", list, where), f"{where}.devices"),
        consumes=_strings(_field(data, "consumes", list, where), f"{where}.consumes"),
        produces=_strings(_field(data, "produces", list, where), f"{where}.produces"),
        nodes=nodes,
        artifacts=_string_map(_field(data, "artifacts", dict, where), f"{where}.artifacts"),
        blobs=_string_map(_field(data, "blobs", dict, where), f"{where}.blobs"),
        compile_config=_string_map(_field(data, "compile_config", dict, where), f"{where}.compile_config"),
        requested_precision=_field(data, "requested_precision", (str, type(None)), where),
        reported_precision=_string_map(_field(data, "reported_precision", dict, where), f"{where}.reported_precision"),
        blob_built_with={
            device: _string_map(_require(info, dict, f"{where}.blob_built_with"), f"{where}.blob_built_with")
            for device, info in _require(data.get("blob_built_with", {}), dict, f"{where}.blob_built_with").items()
        },
        input_ports=_strings(_require(data.get("input_ports", []), list, where), f"{where}.input_ports"),
    )


def _strings(values: list, where: str) -> list[str]:
    return [_require(v, str, where) for v in values]


def _string_map(values: dict, where: str) -> dict[str, str]:
    return {k: _require(v, str, f"{where}[{k!r}]") for k, v in values.items()}


def _plan(data: Any, where: str) -> Plan:
    data = _require(data, dict, where)
    mode = _field(data, "mode", str, where)
    if mode not in ("single", "hetero", "multi"):
        raise PackageError(f"{MANIFEST_NAME}: {where}.mode is {mode!r}, expected single, hetero or multi")
    partitions = _field(data, "partitions", list, where)
    return Plan(
        name=_field(data, "name", str, where),
        mode=mode,
        devices=_strings(_field(data, "devices", list, where), f"{where}.devices"),
        partitions=[_partition(p, f"{where}.partitions[{i}]") for i, p in enumerate(partitions)],
    )


def _source_digest(data: dict) -> str:
    if "source_digest" in data:
        return _field(data, "source_digest", str, "manifest")
    return "sha256:" + _field(data, "source_sha256", str, "manifest")  # schema 1.0


def _member_digest_check(members: dict[str, Member]) -> None:
    for name, member in members.items():
        if not (member.blake3 or member.sha256):
            raise PackageError(f"{MANIFEST_NAME}: members[{name!r}] has no digest (blake3 or sha256)")


def _manifest_from_dict(data: dict) -> Manifest:
    _check_schema_version(data)
    members = {
        name: Member(
            size=_field(_require(m, dict, f"members[{name!r}]"), "size", int, f"members[{name!r}]"),
            blake3=_require(m.get("blake3", ""), str, f"members[{name!r}].blake3"),
            sha256=_require(m.get("sha256", ""), str, f"members[{name!r}].sha256"),
        )
        for name, m in _field(data, "members", dict, "manifest").items()
    }
    _member_digest_check(members)
    manifest = Manifest(
        schema_version=data["schema_version"],
        ovaot_version=_field(data, "ovaot_version", str, "manifest"),
        openvino_version=_field(data, "openvino_version", str, "manifest"),
        source_digest=_source_digest(data),
        source_name=_field(data, "source_name", str, "manifest"),
        target=_field(data, "target", str, "manifest"),
        options=_field(data, "options", dict, "manifest"),
        inputs=[_value_info(v, f"inputs[{i}]") for i, v in enumerate(_field(data, "inputs", list, "manifest"))],
        outputs=[_value_info(v, f"outputs[{i}]") for i, v in enumerate(_field(data, "outputs", list, "manifest"))],
        plans=[_plan(p, f"plans[{i}]") for i, p in enumerate(_field(data, "plans", list, "manifest"))],
        members=members,
    )
    if not manifest.plans:
        raise PackageError(f"{MANIFEST_NAME}: plans is empty")
    for plan in manifest.plans:
        for partition in plan.partitions:
            for member in partition.members:
                if member not in members:
                    raise PackageError(
                        f"{MANIFEST_NAME}: plan {plan.name} partition {partition.index} names artifact "
                        f"{member!r}, which is not listed in members"
                    )
    return manifest
