"""The manifest's closed sets are string enums, and its reader checks every field by the field's type."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from ovaot.errors import PackageError
from ovaot.format.manifest import (
    ArtifactRole,
    BlobCheckStatus,
    Manifest,
    NodePlacement,
    Partition,
    PartitionKind,
    Plan,
    PlanMode,
    PlanName,
    SupportSource,
)
from ovaot.targets import parse_target

from helpers import EXAMPLES, compile_and_load


@pytest.fixture(scope="module")
def manifest_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("enums")
    result, _ = compile_and_load(EXAMPLES / "tiny_cnn.onnx", folder, force_fallback=["Relu"])
    return result.manifest.to_json()


def _refused(data: dict, message: str) -> None:
    with pytest.raises(PackageError, match=message):
        Manifest.from_json(json.dumps(data))


def test_enum_members_are_their_values_in_json_and_text():
    assert json.dumps({PlanName.TARGET: [PartitionKind.OPENVINO]}) == '{"target": ["openvino"]}'
    assert f"{SupportSource.LIVE_QUERY}" == str(SupportSource.LIVE_QUERY) == "live-query"
    assert PartitionKind.FALLBACK == "fallback" and {"fallback": 1}[PartitionKind.FALLBACK] == 1
    assert PlanMode.choices() == "single, hetero or multi"
    assert {s.value for s in SupportSource} == {
        "live-query",
        "conversion",
        "table",
        "user",
        "forced",
        "validation",
        "known-defect",
        "blob-check",
        "crossing",
    }
    assert BlobCheckStatus.choices() == "passed, failed, not run or off"


def test_reading_gives_enum_members_and_writes_the_same_bytes(manifest_text: str):
    manifest = Manifest.from_json(manifest_text)
    assert manifest.to_json() == manifest_text
    plan = manifest.plans[0]
    assert (type(plan.name), type(plan.mode)) == (PlanName, PlanMode)
    assert {p.kind for p in plan.partitions} == {PartitionKind.OPENVINO, PartitionKind.FALLBACK}
    assert all(type(n.source) is SupportSource for p in plan.partitions for n in p.nodes)
    assert all(type(role) is ArtifactRole for p in plan.partitions for role in p.artifacts)


def test_strings_given_in_code_become_members_and_unknown_ones_are_errors():
    node = NodePlacement("n", "Relu", "", "forced here", "forced")
    partition = Partition(0, "fallback", [], ["x"], ["y"], [node], {"onnx": "target/000-fallback/model.onnx"})
    plan = Plan("host", "single", ["CPU"], [partition])
    assert node.source is SupportSource.FORCED and partition.kind is PartitionKind.FALLBACK
    assert list(partition.artifacts) == [ArtifactRole.ONNX] and plan.name is PlanName.HOST
    assert parse_target("MULTI:CPU,GPU").mode is PlanMode.MULTI and parse_target("VAD-F_FP32").mode is PlanMode.HETERO
    with pytest.raises(ValueError):
        Plan("target", "parallel", ["CPU"], [])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["plans"][0].update(mode="fast"), r"plans\[0\]\.mode is 'fast', expected single, hetero or multi"),
        (lambda d: d["plans"][0].update(name="spare"), r"plans\[0\]\.name is 'spare', expected target or host"),
        (lambda d: d["plans"][0]["partitions"][0]["nodes"][0].update(source="guess"), r"\.source is 'guess', expected"),
        (lambda d: d["plans"][0]["partitions"][0]["artifacts"].update(wasm="x"), r"artifacts\['wasm'\] is 'wasm'"),
        (lambda d: d["plans"][0]["partitions"][0].update(kind=3), r"partitions\[0\]\.kind must be str, found int"),
        (lambda d: d["plans"][0]["partitions"][0]["devices"].append(7), r"partitions\[0\]\.devices\[1\] must be str"),
        (lambda d: d["plans"][0]["partitions"][0].update(index=True), r"\]\.index must be int, found bool"),
        (lambda d: d["inputs"][0].update(shape=[1.5]), r"inputs\[0\]\.shape\[0\] must be int or str or NoneType"),
        (lambda d: d["plans"][0]["partitions"][0].update(requested_precision=[]), "must be str or NoneType"),
        (lambda d: d["members"].update(extra={"size": 1}), r"members\['extra'\] has no digest"),
        (lambda d: d.update(plans=[]), "plans is empty"),
    ],
)
def test_bad_values_are_refused_with_their_path(manifest_text: str, edit, message: str):
    data = json.loads(manifest_text)
    edit(data)
    _refused(data, message)


@pytest.mark.parametrize("record", [Partition, Plan, NodePlacement])
def test_every_field_without_a_default_for_old_schemas_is_required(manifest_text: str, record: type):
    optional = {f.name for f in fields(record) if f.metadata.get("optional")}
    for field in fields(record):
        data = json.loads(manifest_text)
        plan = data["plans"][0]
        target = {Plan: plan, Partition: plan["partitions"][0], NodePlacement: plan["partitions"][0]["nodes"][0]}
        del target[record][field.name]
        if field.name in optional:
            Manifest.from_json(json.dumps(data))
        else:
            _refused(data, f"has no field '{field.name}'")


def test_a_schema_1_0_manifest_still_reads(manifest_text: str, tmp_path: Path):
    data = json.loads(manifest_text)
    data["schema_version"] = "1.0"
    data["source_sha256"] = "ab" * 32
    del data["source_digest"], data["inputs"][0]["shape"]
    for member in data["members"].values():
        member["sha256"] = member.pop("blake3")
    for partition in data["plans"][0]["partitions"]:
        del partition["input_ports"], partition["blob_built_with"]
    manifest = Manifest.from_json(json.dumps(data))
    assert manifest.source_digest == "sha256:" + "ab" * 32 and manifest.inputs[0].shape is None
    assert all(m.sha256 and not m.blake3 for m in manifest.members.values())
