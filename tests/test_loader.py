"""The loader: checks feeds, falls back to the IR when a blob will not import (what it imports: test_loader_imports)."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import ovaot
from ovaot.errors import DeviceError, InputError, PackageError, UsageError
from ovaot.format.package import PackageReader
from ovaot.loader.package_check import verify_package

from helpers import compile_and_load


def test_io_metadata_follows_onnxruntime(tiny_cnn: onnx.ModelProto, tmp_path: Path):
    _, session = compile_and_load(tiny_cnn, tmp_path)
    reference = onnxruntime.InferenceSession(tiny_cnn.SerializeToString())
    for ours, theirs in [
        (session.get_inputs(), reference.get_inputs()),
        (session.get_outputs(), reference.get_outputs()),
    ]:
        assert [(i.name, i.shape, i.type) for i in ours] == [(i.name, i.shape, i.type) for i in theirs]


def test_run_selects_outputs_by_name(tiny_cnn: onnx.ModelProto, tmp_path: Path):
    _, session = compile_and_load(tiny_cnn, tmp_path)
    feed = {"image": np.ones((2, 1, 28, 28), np.float32)}
    assert np.array_equal(session.run(["probabilities"], feed)[0], session.run(None, feed)[0])
    with pytest.raises(UsageError, match=r"unknown output 'logits'; the model's outputs are \['probabilities'\]"):
        session.run(["logits"], feed)


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({}, "missing input 'image'"),
        ({"image": np.zeros((1, 1, 28, 28), np.float32), "extra": np.zeros(1)}, "unknown input 'extra'"),
        ({"image": np.zeros((1, 1, 28, 28), np.float64)}, "'image' must have dtype float32"),
        ({"image": np.zeros((1, 28, 28), np.float32)}, "'image' must have rank 4"),
        ({"image": np.zeros((1, 1, 28, 27), np.float32)}, r"dimension 3 is 27, expected 28"),
        ({"image": [[0.0]]}, "must be a numpy.ndarray"),
    ],
)
def test_bad_feeds_are_refused_with_the_input_named(feed: dict, message: str, tiny_cnn, tmp_path: Path):
    _, session = compile_and_load(tiny_cnn, tmp_path)
    with pytest.raises(InputError, match=message):
        session.run(None, feed)


def _rewrite_member(package: Path, name: str, data: bytes, fix_manifest: bool) -> None:
    from ovaot.format.manifest import Manifest, Member
    from ovaot.format.package import blake3_digest, write_package

    with PackageReader(package) as reader:
        manifest = reader.manifest
        members = {n: reader.read(n) for n in manifest.members}
    members[name] = data
    if fix_manifest:
        manifest = Manifest(
            **{**manifest.__dict__, "members": {**manifest.members, name: Member(len(data), blake3_digest(data))}}
        )
        write_package(package, manifest, members)
        return
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("manifest.json", manifest.to_json())
        for member, value in members.items():
            archive.writestr(member, value)


def test_where_each_partition_runs_is_logged_at_info(tiny_cnn: onnx.ModelProto, tmp_path: Path, caplog):
    with caplog.at_level(logging.INFO, logger="ovaot"):
        compile_and_load(tiny_cnn, tmp_path)
    assert any(r.name == "ovaot.loader.session" and r.message.startswith("partition 0: ") for r in caplog.records)


def test_a_blob_that_will_not_import_falls_back_to_the_bundled_ir(tiny_cnn, tmp_path: Path, caplog):
    result, _ = compile_and_load(tiny_cnn, tmp_path)
    package = tmp_path / "model.ovpkg"
    blob = result.manifest.partitions[0].blobs["CPU"]
    _rewrite_member(package, blob, b"not a compiled model", fix_manifest=True)
    session = ovaot.load(package)
    assert "compiling the bundled IR instead" in caplog.text
    assert [p.how for p in session.placements] == [["ir"]]
    with pytest.raises(DeviceError, match="strict=True refuses"):
        ovaot.load(package, strict=True)
    image = np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32)
    (want,) = onnxruntime.InferenceSession(tiny_cnn.SerializeToString()).run(None, {"image": image})
    np.testing.assert_allclose(session.run(None, {"image": image})[0], want, rtol=1e-4, atol=1e-6)


def test_a_member_that_does_not_match_its_hash_is_refused(tiny_cnn, tmp_path: Path):
    result, _ = compile_and_load(tiny_cnn, tmp_path)
    package = tmp_path / "model.ovpkg"
    blob = result.manifest.partitions[0].blobs["CPU"]
    _rewrite_member(package, blob, b"\0" * result.manifest.members[blob].size, fix_manifest=False)
    with pytest.raises(PackageError, match=f"member '{blob}' does not match its BLAKE3"):
        ovaot.load(package)
    compile_and_load(tiny_cnn, tmp_path)
    _rewrite_member(package, blob, b"<xml/>", fix_manifest=False)
    with pytest.raises(PackageError, match="is 6 bytes, the manifest says"):
        ovaot.load(package)


def test_a_damaged_member_the_loader_does_not_use_is_left_to_ovaot_verify(tiny_cnn, tmp_path: Path):
    # The loader checks what it hands to OpenVINO; the IR is unused while the blob imports.
    result, _ = compile_and_load(tiny_cnn, tmp_path)
    package = tmp_path / "model.ovpkg"
    member = result.manifest.partitions[0].artifacts["ir_xml"]
    _rewrite_member(package, member, b"<" * result.manifest.members[member].size, fix_manifest=False)
    assert [p.how for p in ovaot.load(package).placements] == [["blob"]]
    report = verify_package(package)
    assert not report.ok and f"member '{member}' does not match its BLAKE3" in report.integrity


def test_not_a_package_is_a_package_error(tmp_path: Path):
    junk = tmp_path / "junk.ovpkg"
    junk.write_bytes(b"PK\x03\x04 but not really")
    with pytest.raises(PackageError, match=r"not an \.ovpkg archive"):
        ovaot.load(junk)
    with pytest.raises(PackageError, match="no such package"):
        ovaot.load(tmp_path / "absent.ovpkg")


@pytest.mark.parametrize("in_flight", [1, 3])
def test_run_many_on_asynchronous_requests_gives_each_feed_its_own_result_in_order(tiny_cnn, tmp_path, in_flight):
    _, session = compile_and_load(tiny_cnn, tmp_path)
    feeds = [{"image": np.random.default_rng(i).random((1, 1, 28, 28), dtype=np.float32)} for i in range(7)]
    reference = onnxruntime.InferenceSession(tiny_cnn.SerializeToString())
    results = session.run_many(feeds, in_flight=in_flight)
    assert len(results) == len(feeds)
    for (got,), feed in zip(results, feeds):
        np.testing.assert_allclose(got, reference.run(None, feed)[0], rtol=1e-4, atol=1e-6)


def test_a_package_without_ir_runs_its_blob_and_says_so_when_the_blob_is_unusable(tiny_cnn, tmp_path: Path):
    result, session = compile_and_load(tiny_cnn, tmp_path, portable_ir=False)
    package = tmp_path / "model.ovpkg"
    assert not [m for m in result.manifest.members if m.endswith((".xml", ".bin"))]
    image = np.random.default_rng(2).random((1, 1, 28, 28), dtype=np.float32)
    (want,) = onnxruntime.InferenceSession(tiny_cnn.SerializeToString()).run(None, {"image": image})
    np.testing.assert_allclose(session.run(None, {"image": image})[0], want, rtol=1e-4, atol=1e-6)
    blob = result.manifest.partitions[0].blobs["CPU"]
    _rewrite_member(package, blob, b"not a compiled model", fix_manifest=True)
    with pytest.raises(DeviceError, match="holds no IR to compile"):
        ovaot.load(package)
