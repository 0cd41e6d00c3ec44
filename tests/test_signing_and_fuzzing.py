"""Signed packages, and property-based fuzzing: only OvaotError escapes, whatever the bytes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ovaot
from ovaot.errors import OvaotError, PackageError

from helpers import EXAMPLES

MODEL = EXAMPLES / "tiny_cnn.onnx"


def _keypair() -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def test_signed_packages_load_only_with_a_trusted_key(tmp_path: Path):
    private, public = _keypair()
    _, stranger = _keypair()
    (tmp_path / "key.pem").write_bytes(private)
    signed = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "s.ovpkg", sign=tmp_path / "key.pem").output
    unsigned = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "u.ovpkg").output
    image = np.zeros((1, 1, 28, 28), np.float32)
    assert ovaot.load(signed, trusted_keys=[public]).run(None, {"image": image})[0].shape == (1, 10)
    assert ovaot.load(signed).run(None, {"image": image})  # no keys asked for: the signature is not required
    with pytest.raises(PackageError, match="matches none of the trusted keys"):
        ovaot.load(signed, trusted_keys=[stranger])
    with pytest.raises(PackageError, match="not signed"):
        ovaot.load(unsigned, trusted_keys=[public])
    # Editing the manifest (say, a member's hash to match a swapped blob) breaks the signature.
    with zipfile.ZipFile(signed) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    manifest["target"] = "CPU"
    entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(signed, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(PackageError, match="matches none of the trusted keys"):
        ovaot.load(signed, trusted_keys=[public])


@pytest.fixture(scope="module")
def package_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "m.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", path, force_fallback=["Relu"])
    return path.read_bytes()


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_ovaot_error(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzzed.ovpkg"
    path.write_bytes(data)
    try:
        session = ovaot.load(path)
        session.run(None, {"image": np.zeros((1, 1, 28, 28), np.float32)})
    except OvaotError:
        pass


@FUZZ
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=8))
def test_flipped_bytes_anywhere_give_only_ovaot_errors(package_bytes: bytes, tmp_path: Path, flips):
    data = bytearray(package_bytes)
    for position, value in flips:
        data[position % len(data)] = value
    _load_or_ovaot_error(bytes(data), tmp_path)


@FUZZ
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_truncated_packages_give_only_ovaot_errors(package_bytes: bytes, tmp_path: Path, cut, _):
    _load_or_ovaot_error(package_bytes[: cut % len(package_bytes)], tmp_path)


MANIFEST_EDITS = st.sampled_from(["schema_version", "inputs", "plans", "members", "target", "options"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(MANIFEST_EDITS, JSON_VALUES)
def test_manifest_fields_replaced_by_anything_give_only_ovaot_errors(package_bytes, tmp_path, field, value):
    with zipfile.ZipFile(io.BytesIO(package_bytes)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries["manifest.json"])
    manifest[field] = value
    entries["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    _load_or_ovaot_error(buffer.getvalue(), tmp_path)


@FUZZ
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=6))
def test_corrupted_onnx_files_give_only_ovaot_errors_on_compile(tmp_path: Path, flips):
    data = bytearray(MODEL.read_bytes())
    for position, value in flips:
        data[position % len(data)] = value
    source = tmp_path / "fuzzed.onnx"
    source.write_bytes(bytes(data))
    try:
        ovaot.compile(source, "CPU_FP32", tmp_path / "out.ovpkg", force=True, reproducible=False)
    except OvaotError:
        pass
