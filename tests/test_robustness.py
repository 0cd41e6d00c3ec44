"""Packages that cannot be broken: safe reading, version skew, atomic output under SIGKILL, concurrency."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

import ovaot
from ovaot.compiler.scratch import SHARED_MEMORY
from ovaot.errors import DeviceError, PackageError
from ovaot.format.manifest import Manifest
from ovaot.format.package import PackageReader, write_package

from helpers import EXAMPLES
from zoo import mobilenet_v2

MODEL = EXAMPLES / "tiny_cnn.onnx"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg").output


def _members(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    with PackageReader(path) as reader:
        return reader.manifest, {name: reader.read(name) for name in reader.manifest.members}


def _rewrite(path: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]] = (), drop: str | None = None) -> None:
    manifest, members = _members(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", manifest.to_json())
        for name, data in members.items():
            if name != drop:
                archive.writestr(name, data)
        for info, data in extra:
            archive.writestr(info, data)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("/etc/evil", "not a plain relative path"),
        ("target/../../evil", "not a plain relative path"),
        ("target//evil", "not a plain relative path"),
        ("extra.bin", "'extra.bin' is not listed in the manifest"),
    ],
)
def test_unsafe_or_unlisted_member_names_are_refused(entry: str, message: str, package: Path):
    _rewrite(package, extra=[(entry, b"x")])
    with pytest.raises(PackageError, match=message):
        ovaot.load(package)


def test_links_missing_members_and_compression_bombs_are_refused(package: Path):
    link = zipfile.ZipInfo("target/link")
    link.external_attr = (0o120777) << 16
    _rewrite(package, extra=[(link, b"/etc/passwd")])
    with pytest.raises(PackageError, match="not a regular file"):
        ovaot.load(package)
    fresh = ovaot.compile(MODEL, "CPU_FP32", package.with_name("fresh.ovpkg")).output
    manifest, _ = _members(fresh)
    _rewrite(fresh, drop=manifest.partitions[0].artifacts["ir_bin"])
    with pytest.raises(PackageError, match="missing from the archive"):
        ovaot.load(fresh)
    bomb = package.with_name("bomb.ovpkg")
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", " " * 10_000_000)
    with pytest.raises(PackageError, match="expands more than"):
        ovaot.load(bomb)


def test_a_package_from_another_openvino_compiles_its_ir_or_is_refused_when_strict(package: Path, caplog):
    manifest, members = _members(package)
    data = json.loads(manifest.to_json())
    data["plans"][0]["partitions"][0]["blob_built_with"]["CPU"]["openvino_version"] = "2023.0.0-0000"
    write_package(package, Manifest.from_json(json.dumps(data)), members)
    session = ovaot.load(package)
    assert "built with OpenVINO 2023.0.0-0000" in caplog.text and session.placements[0].how == ["ir"]
    image = np.zeros((1, 1, 28, 28), np.float32)
    assert session.run(None, {"image": image})[0].shape == (1, 10)
    with pytest.raises(DeviceError, match="strict=True refuses"):
        ovaot.load(package, strict=True)


def test_sigkill_during_compile_leaves_the_previous_package_and_no_stray_files(tmp_path: Path):
    output = tmp_path / "m.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", output)
    before = output.read_bytes()
    source = tmp_path / "big.onnx"
    onnx.save(mobilenet_v2(), source)
    killed = []
    for delay in (0.3, 1.0, 1.8, 2.6):
        child = subprocess.Popen(
            [sys.executable, "-m", "ovaot", "compile", str(source), "-t", "CPU_FP32", "-o", str(output), "-O2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        killed.append(child.pid)
        current = output.read_bytes()
        assert current == before or zipfile.is_zipfile(output)
        ovaot.load(output)  # whatever is at the path is a whole, loadable package
        before = current
    ovaot.compile(MODEL, "CPU_FP32", output, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "m.ovpkg"]
    # the killed compiles' scratch folders (in shared memory, which only a reboot would free) went with it
    scratch_places = [SHARED_MEMORY, Path(tempfile.gettempdir())]
    assert not [f for place in scratch_places for pid in killed for f in place.glob(f"ovaot-build-{pid}-*")]


def test_one_session_from_eight_threads_gives_the_single_threaded_results(tmp_path: Path):
    ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", force_fallback=["Relu"])
    session = ovaot.load(tmp_path / "m.ovpkg")
    rng = np.random.default_rng(11)
    feeds = [{"image": rng.random((1 + i % 3, 1, 28, 28), dtype=np.float32)} for i in range(8)]
    expected = [session.run(None, feed)[0] for feed in feeds]
    mismatches, errors = [], []

    def worker(index: int) -> None:
        try:
            for _ in range(25):
                got = session.run(None, feeds[index])[0]
                if not np.array_equal(got, expected[index]):
                    mismatches.append(index)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not mismatches
    other = ovaot.load(tmp_path / "m.ovpkg")  # several sessions in one process
    np.testing.assert_array_equal(other.run(None, feeds[0])[0], expected[0])
