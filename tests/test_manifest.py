"""The manifest: a JSON round trip, clear refusals of unknown schemas, and every member described."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ovaot.errors import PackageError
from ovaot.format.manifest import SCHEMA_VERSION, Manifest
from ovaot.format.package import PackageReader, blake3_digest

from helpers import compile_and_load


@pytest.fixture
def manifest(tiny_cnn, tmp_path: Path) -> Manifest:
    result, _ = compile_and_load(tiny_cnn, tmp_path, force_fallback=["Relu"])
    return result.manifest


def test_round_trip(manifest: Manifest):
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_records_what_the_issue_asks_for(manifest: Manifest, tmp_path: Path):
    data = json.loads(manifest.to_json())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["source_name"] == "tiny_cnn" and data["source_digest"].startswith("blake3:")
    assert data["inputs"] == [{"name": "image", "type": "tensor(float)", "shape": ["N", 1, 28, 28]}]
    assert data["openvino_version"] and data["ovaot_version"]
    assert [plan["name"] for plan in data["plans"]] == ["target"]
    first = data["plans"][0]["partitions"][0]
    assert first["compile_config"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert first["requested_precision"] == "f32" and first["reported_precision"] == {"CPU": "f32"}
    assert set(first["artifacts"]) == {"ir_xml", "ir_bin"} and set(first["blobs"]) == {"CPU"}
    with PackageReader(tmp_path / "model.ovpkg") as reader:
        for name, member in reader.manifest.members.items():
            assert blake3_digest(reader.read(name)) == member.blake3
    assert "/tmp" not in manifest.to_json()


def test_newer_major_schema_is_refused_with_both_versions(manifest: Manifest):
    data = json.loads(manifest.to_json())
    data["schema_version"] = "2.0"
    with pytest.raises(PackageError, match=r"schema version 2\.0 .*reads 1\.x"):
        Manifest.from_json(json.dumps(data))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("plans"), "has no field 'plans'"),
        (lambda d: d.update(inputs="x"), "inputs must be list"),
        (lambda d: d["plans"][0]["partitions"][0].update(kind="gpu-magic"), "expected openvino or fallback"),
        (lambda d: d["plans"][0]["partitions"][0]["blobs"].update(CPU="nowhere"), "not listed in members"),
    ],
)
def test_malformed_manifests_are_refused_clearly(manifest: Manifest, edit, message: str):
    data = json.loads(manifest.to_json())
    edit(data)
    with pytest.raises(PackageError, match=message):
        Manifest.from_json(json.dumps(data))
    with pytest.raises(PackageError, match="not valid JSON"):
        Manifest.from_json("{")
