"""The .ovpkg manifest: a typed, versioned record of what a package holds and how to run it."""

from __future__ import annotations

import functools
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from typing import Any

from ovaot.errors import PackageError

SCHEMA_MAJOR = 1
SCHEMA_MINOR = 3  # 1.1: Partition.input_ports, BLAKE3 digests; 1.2: Manifest.rewrites and .lowered;
# 1.3: Partition.blob_checks and .quantization, Manifest.known_defects
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


def bounds_name(bounds: tuple[int, int]) -> str:
    """The symbolic dimension that carries --input-shape's bounds (lo..hi) through the model and the manifest."""
    return f"{bounds[0]}..{bounds[1]}"


def parse_bounds_name(name: str) -> tuple[int, int] | None:
    """(lo, hi) for a dimension named "lo..hi"; None for any other name."""
    low, dots, high = name.partition("..")
    return (int(low), int(high)) if dots and low.isdigit() and high.isdigit() else None


class StrEnum(str, Enum):
    """A closed set of strings (enum.StrEnum, which needs Python 3.11): a member equals, hashes, prints and
    serialises as its value, so JSON and string comparisons see the value."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def choices(cls) -> str:
        """The values, as a message lists them: "a, b or c"."""
        values = [m.value for m in cls]
        return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


class PartitionKind(StrEnum):
    """The engine that runs a partition."""

    OPENVINO = "openvino"
    FALLBACK = "fallback"  # numpy, through onnx.reference


class PlanName(StrEnum):
    """A package's plans: the target as asked, and the CPU-compiled host variant of the whole model."""

    TARGET = "target"
    HOST = "host"


class PlanMode(StrEnum):
    """How a plan's devices combine (the target's form: one device, HETERO:... or MULTI:...)."""

    SINGLE = "single"
    HETERO = "hetero"
    MULTI = "multi"


class SupportSource(StrEnum):
    """Why the compiler believes a node runs (or does not run) on a device."""

    LIVE_QUERY = "live-query"  # the device plugin's query_model on the build host
    CONVERSION = "conversion"  # OpenVINO could not convert or build it
    TABLE = "table"  # the spec's table of supported layers, for a device the build host lacks
    USER = "user"  # --capabilities
    FORCED = "forced"  # --force-fallback
    VALIDATION = "validation"  # OpenVINO's result differed from onnx.reference's on sample inputs
    KNOWN_DEFECT = "known-defect"  # ovaot's table of OpenVINO defects (ovaot/compiler/defects.py)
    CROSSING = "crossing"  # a lone data-movement op between fallback partitions joins them (no crossing)
    BLOB_CHECK = "blob-check"  # its exported blob differed once imported, and its compiled model from onnx.reference


class BlobCheckStatus(StrEnum):
    """What the blob check (ovaot/engines/blob_check.py) found for one exported blob."""

    PASSED = "passed"  # imported back, it gives the compiled model's outputs on a seeded sample
    FAILED = "failed"  # it does not: the blob is not shipped, the IR is compiled at load
    NOT_RUN = "not run"  # the compiled model does not run on a seeded sample (shapes, indices): unknown
    OFF = "off"  # --no-check


@dataclass(frozen=True)
class BlobCheckResult:
    status: BlobCheckStatus
    detail: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", BlobCheckStatus(self.status))


class ArtifactRole(StrEnum):
    """What a partition's artifact member is."""

    IR_XML = "ir_xml"
    IR_BIN = "ir_bin"
    ONNX = "onnx"


# Field metadata: a field a manifest may leave out (one a later schema added), which then takes its default.
OPTIONAL = {"optional": True}


@dataclass(frozen=True)
class ValueInfo:
    """A public input or output: its name, onnxruntime-style type and shape (None: unknown rank)."""

    name: str
    type: str
    shape: list[Dim] | None = field(default=None, metadata=OPTIONAL)


@dataclass(frozen=True)
class NodePlacement:
    """One ONNX node of a partition and why it was placed there."""

    name: str
    op_type: str
    domain: str
    reason: str
    source: SupportSource

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", SupportSource(self.source))


@dataclass(frozen=True)
class Partition:
    """A piece of the graph run by one engine; partitions run in list order.

    An OpenVINO partition has a precompiled blob for each device in `blobs`, and its IR (compiled at load time
    where no blob fits) unless every device it runs on has a blob and the package was built with --no-ir;
    `devices` lists where it may run (several for MULTI).
    """

    index: int
    kind: PartitionKind
    devices: list[str]
    consumes: list[str]
    produces: list[str]
    nodes: list[NodePlacement]
    artifacts: dict[ArtifactRole, str]  # role -> member name
    blobs: dict[str, str] = field(default_factory=dict)  # device -> exported compiled model
    compile_config: dict[str, str] = field(default_factory=dict)
    requested_precision: str | None = None
    reported_precision: dict[str, str] = field(default_factory=dict)  # device -> what the compiled model reports
    # device -> {"openvino_version", "device_architecture", "device_name"} of the build host, per blob
    blob_built_with: dict[str, dict[str, str]] = field(default_factory=dict, metadata=OPTIONAL)
    # the tensor each input port of the compiled model takes, in port order (an imported blob can lose
    # the input's tensor name: OpenVINO renames a parameter that feeds a result directly)
    input_ports: list[str] = field(default_factory=list, metadata=OPTIONAL)
    # --quantize: {"quantized": true, "method", "calibration_size", "max_abs_difference", ...} or why not
    quantization: dict[str, Any] = field(default_factory=dict, metadata=OPTIONAL)
    # device -> what the blob check found (a failed blob is not in `blobs`: the IR is compiled at load)
    blob_checks: dict[str, BlobCheckResult] = field(default_factory=dict, metadata=OPTIONAL)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PartitionKind(self.kind))
        object.__setattr__(self, "artifacts", {ArtifactRole(k): v for k, v in self.artifacts.items()})

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

    name: PlanName
    mode: PlanMode
    devices: list[str]
    partitions: list[Partition]

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", PlanName(self.name))
        object.__setattr__(self, "mode", PlanMode(self.mode))


@dataclass(frozen=True)
class Member:
    """One archive member's size in bytes and its hash: BLAKE3 (schema 1.1) or sha256 (schema 1.0)."""

    size: int
    blake3: str = field(default="", metadata=OPTIONAL)
    sha256: str = field(default="", metadata=OPTIONAL)


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
    rewrites: list[str] = field(default_factory=list, metadata=OPTIONAL)  # passes that changed the model, in order
    lowered: list[str] = field(default_factory=list, metadata=OPTIONAL)  # domain.op types rewritten as standard ops
    # the ids of the defect table (ovaot/data/openvino_defects.toml) its compiler knew
    known_defects: list[str] = field(default_factory=list, metadata=OPTIONAL)

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
        return _manifest_from_dict(data)


# Reading: every value is checked against its field's type, and a malformed manifest is a PackageError that
# names where (`plans[0].partitions[1].kind`), never a KeyError or TypeError. Paths are relative to the top
# level, which messages call "manifest".


def _require(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise PackageError(f"{MANIFEST_NAME}: {where or 'manifest'} must be {names}, found {type(value).__name__}")
    return value


def _member(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@functools.cache
def _schema(cls: type) -> list[tuple[str, Any, bool]]:
    """A record's fields as (name, type, may be left out)."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], bool(f.metadata.get("optional"))) for f in fields(cls)]


def _record(cls: type, data: Any, where: str) -> Any:
    """The dataclass `cls` built from a JSON object, each field read as its type."""
    data = _require(data, dict, where)
    values = {}
    for name, kind, optional in _schema(cls):
        if name in data:
            values[name] = _read(kind, data[name], _member(where, name))
        elif not optional:
            raise PackageError(f"{MANIFEST_NAME}: {where or 'manifest'} has no field {name!r}")
    return cls(**values)


def _read(kind: Any, value: Any, where: str) -> Any:
    """`value` checked against `kind`: a StrEnum, a manifest dataclass, list[T], dict[str, T], a union with
    None, Any, or a plain JSON type."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        try:
            return kind(_require(value, str, where))
        except ValueError:
            raise PackageError(f"{MANIFEST_NAME}: {where} is {value!r}, expected {kind.choices()}") from None
    if is_dataclass(kind):
        return _record(kind, value, where)
    if origin is list:
        return [_read(args[0], item, f"{where}[{i}]") for i, item in enumerate(_require(value, list, where))]
    if origin is dict:
        items = _require(value, dict, where).items()
        return {_read(args[0], k, f"{where}[{k!r}]"): _read(args[1], v, f"{where}[{k!r}]") for k, v in items}
    if origin in (typing.Union, types.UnionType):
        if all(typing.get_origin(arg) is None and not is_dataclass(arg) for arg in args):
            return _require(value, args, where)  # a union of plain types: int | str | None
        assert len(args) == 2 and type(None) in args, f"unsupported manifest field type {kind}"
        return None if value is None else _read(next(a for a in args if a is not type(None)), value, where)
    return value if kind is Any else _require(value, kind, where)


def _check_schema_version(data: dict) -> None:
    if "schema_version" not in data:
        raise PackageError(f"{MANIFEST_NAME}: manifest has no field 'schema_version'")
    version = _require(data["schema_version"], str, "schema_version")
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise PackageError(f"{MANIFEST_NAME}: schema_version {version!r} is not MAJOR.MINOR")
    if int(major) not in UNDERSTOOD_MAJORS:
        understood = ", ".join(f"{m}.x" for m in UNDERSTOOD_MAJORS)
        raise PackageError(
            f"package schema version {version} is not understood by ovaot "
            f"(this ovaot reads {understood}); use a matching ovaot to load it"
        )


def _dims_as_dynamic(values: list[ValueInfo]) -> list[ValueInfo]:
    """Packages from before ovaot read -1 and 0 as dynamic recorded them as sizes: those are dynamic."""
    result = []
    for v in values:
        dims = None if v.shape is None else [None if isinstance(d, int) and d <= 0 else d for d in v.shape]
        result.append(replace(v, shape=dims))
    return result


def _check_references(manifest: Manifest) -> None:
    if not manifest.plans:
        raise PackageError(f"{MANIFEST_NAME}: plans is empty")
    for name, member in manifest.members.items():
        if not (member.blake3 or member.sha256):
            raise PackageError(f"{MANIFEST_NAME}: members[{name!r}] has no digest (blake3 or sha256)")
    for plan in manifest.plans:
        for partition in plan.partitions:
            for member in partition.members:
                if member not in manifest.members:
                    raise PackageError(
                        f"{MANIFEST_NAME}: plan {plan.name} partition {partition.index} names artifact "
                        f"{member!r}, which is not listed in members"
                    )


def _manifest_from_dict(data: Any) -> Manifest:
    data = _require(data, dict, "")
    _check_schema_version(data)
    if "source_digest" not in data and "source_sha256" in data:  # schema 1.0
        data = {**data, "source_digest": "sha256:" + _require(data["source_sha256"], str, "source_sha256")}
    manifest = _record(Manifest, data, "")
    manifest = replace(manifest, inputs=_dims_as_dynamic(manifest.inputs), outputs=_dims_as_dynamic(manifest.outputs))
    _check_references(manifest)
    return manifest
