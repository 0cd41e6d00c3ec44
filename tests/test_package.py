"""ovaot.format.package: write_package and PackageReader on members given as data.

Refusals of unsafe or unlisted names, links, bombs and missing members (tests/test_robustness.py), damaged bytes
(tests/test_signing_and_fuzzing.py), digests, sizes and non-archives (tests/test_loader.py) and whole compiled
packages being byte-identical (tests/test_build_integration.py) are tested elsewhere; here are the container's
own promises.
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from pathlib import Path

import blake3
import pytest

from ovaot.errors import PackageError
from ovaot.format.manifest import Manifest, Partition, Plan
from ovaot.format.package import PackageReader, describe_members, write_package
from ovaot.format.package_writer import PackageWriter, package_order

from helpers import bare_manifest

ALIGNMENT = 64  # the README: binary members are stored uncompressed and 64-byte aligned
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # a zip local file header (APPNOTE 4.3.7), before name and extra


def _members() -> dict[str, bytes]:
    return {
        "target/000-CPU/model.xml": b"<net name='m'>" + b"<layer/>" * 300 + b"</net>",
        "target/000-CPU/model.bin": bytes(range(256)) * 7 + b"\x01",
        "target/000-CPU/CPU.blob": b"\x00blob" * 999,
        "host/000-CPU/CPU.blob": b"b",  # odd sizes, so a member after another can start anywhere
    }


def _manifest(members: dict[str, bytes]) -> Manifest:
    partition = Partition(
        index=0,
        kind="openvino",
        devices=["CPU"],
        consumes=["x"],
        produces=["y"],
        nodes=[],
        artifacts={"ir_xml": "target/000-CPU/model.xml", "ir_bin": "target/000-CPU/model.bin"},
        blobs={"CPU": "target/000-CPU/CPU.blob"},
    )
    host = Partition(
        index=0,
        kind="openvino",
        devices=["CPU"],
        consumes=["x"],
        produces=["y"],
        nodes=[],
        artifacts={},
        blobs={"CPU": "host/000-CPU/CPU.blob"},
    )
    plans = [Plan("target", "single", ["CPU"], [partition]), Plan("host", "single", ["CPU"], [host])]
    return bare_manifest(plans, describe_members(members))


@pytest.fixture
def written(tmp_path: Path) -> Path:
    members = _members()
    write_package(tmp_path / "m.ovpkg", _manifest(members), members)
    return tmp_path / "m.ovpkg"


def test_members_are_described_by_size_and_blake3():
    members = _members()
    described = describe_members(members)
    assert list(described) == sorted(members)
    for name, data in members.items():
        assert described[name].size == len(data) and described[name].blake3 == blake3.blake3(data).hexdigest()


def test_members_given_as_files_are_written_and_described_as_their_bytes(tmp_path: Path):
    """The compiler hands its IR and blobs over as files: the package is the same bytes as from data."""
    members = _members()
    as_files: dict[str, bytes | Path] = {}
    for number, (name, data) in enumerate(members.items()):
        (tmp_path / str(number)).write_bytes(data)
        as_files[name] = tmp_path / str(number)
    assert describe_members(as_files) == describe_members(members)
    write_package(tmp_path / "data.ovpkg", _manifest(members), members)
    write_package(tmp_path / "files.ovpkg", _manifest(members), as_files)
    assert (tmp_path / "files.ovpkg").read_bytes() == (tmp_path / "data.ovpkg").read_bytes()


@pytest.mark.parametrize("early", ["in order", "a plan that changed", "out of order"])
def test_members_written_early_give_the_same_bytes_as_all_at_the_end(early: str, tmp_path: Path):
    """The compiler hands the writer each member as it is made; when what it handed over is not the package's
    beginning after all (the plan changed), the writer starts again: the bytes are the same either way."""
    members = _members()
    write_package(tmp_path / "at_the_end.ovpkg", _manifest(members), members)
    writer = PackageWriter(tmp_path / "early.ovpkg")
    if early == "in order":
        for name in package_order(members):
            writer.add(name, members[name])
    elif early == "a plan that changed":
        writer.add("target/000-CPU/model.xml", b"<net name='an earlier plan'/>")
    else:
        writer.add("target/000-CPU/CPU.blob", members["target/000-CPU/CPU.blob"])
    assert not (tmp_path / "early.ovpkg").exists()  # nothing at the destination before finish()
    writer.finish(_manifest(members), members)
    assert (tmp_path / "early.ovpkg").read_bytes() == (tmp_path / "at_the_end.ovpkg").read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_abandoned_package_leaves_the_previous_one_and_no_temporary_file(written: Path):
    before = written.read_bytes()
    writer = PackageWriter(written)
    writer.add("target/000-CPU/model.xml", b"<net/>")
    writer.abandon()
    assert written.read_bytes() == before and not list(written.parent.glob(".*.tmp"))


@pytest.mark.parametrize("source", ["path", "bytes"])
def test_what_is_written_reads_back_the_same(source: str, written: Path):
    members = _members()
    with PackageReader(written if source == "path" else written.read_bytes()) as reader:
        assert reader.manifest == _manifest(members) and reader.signature is None
        for name, data in members.items():
            assert reader.read(name) == data and bytes(reader.view(name)) == data
        reader.verify()


def test_binary_members_are_stored_64_byte_aligned_and_text_ones_compressed(written: Path):
    raw = written.read_bytes()
    with zipfile.ZipFile(written) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    assert set(infos) == {"manifest.json", *_members()}
    for name, info in infos.items():
        if name.endswith((".xml", ".json")):
            assert info.compress_type == zipfile.ZIP_DEFLATED, name
            continue
        assert info.compress_type == zipfile.ZIP_STORED, name
        header = LOCAL_HEADER.unpack_from(raw, info.header_offset)
        assert header[0] == b"PK\x03\x04"
        start = info.header_offset + LOCAL_HEADER.size + header[-2] + header[-1]
        assert start % ALIGNMENT == 0, name
        assert raw[start : start + info.file_size] == _members()[name]


def test_a_stored_member_is_read_in_place_from_the_file(written: Path):
    with PackageReader(written) as reader:
        view = reader.view("target/000-CPU/CPU.blob")
        assert isinstance(view, memoryview) and view.readonly
        assert bytes(view) == _members()["target/000-CPU/CPU.blob"]
        del view


def test_the_same_members_give_the_same_bytes_whatever_their_order_time_or_umask(tmp_path: Path):
    members = _members()
    write_package(tmp_path / "a.ovpkg", _manifest(members), members)
    reordered = dict(reversed(list(members.items())))
    old = os.umask(0o077)
    try:
        write_package(tmp_path / "sub" / "b.ovpkg", _manifest(reordered), reordered)
    finally:
        os.umask(old)
    assert (tmp_path / "a.ovpkg").read_bytes() == (tmp_path / "sub" / "b.ovpkg").read_bytes()
    assert stat.S_IMODE((tmp_path / "sub" / "b.ovpkg").stat().st_mode) == 0o644
    with zipfile.ZipFile(tmp_path / "a.ovpkg") as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]  # sorted, the blobs last (the compiler has them last), the manifest after
    assert names == [
        *sorted(n for n in members if not n.endswith(".blob")),
        *sorted(n for n in members if n.endswith(".blob")),
        "manifest.json",
    ]
    assert {(i.date_time, i.external_attr >> 16) for i in infos} == {((1980, 1, 1, 0, 0, 0), 0o644)}


def test_writing_replaces_the_package_whole_and_clears_what_a_killed_write_left(written: Path):
    stale = written.with_name(f".{written.name}.abc123.tmp")
    stale.write_bytes(b"half a package")
    members = {**_members(), "host/000-CPU/CPU.blob": b"another blob"}
    write_package(written, _manifest(members), members)
    assert sorted(p.name for p in written.parent.iterdir()) == ["m.ovpkg"]
    with PackageReader(written) as reader:
        assert reader.read("host/000-CPU/CPU.blob") == b"another blob"


def _archive(path: Path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)


@pytest.mark.parametrize("name", ["target\\evil", "C:/evil", "C:evil"])
def test_windows_style_member_names_are_refused(name: str, written: Path, tmp_path: Path):
    with zipfile.ZipFile(written) as archive:
        entries = [(i.filename, archive.read(i)) for i in archive.infolist()]
    _archive(tmp_path / "bad.ovpkg", [*entries, (name, b"x")])
    with pytest.raises(PackageError, match="not a plain relative path"):
        PackageReader(tmp_path / "bad.ovpkg")


def test_an_archive_without_a_manifest_or_with_a_name_twice_is_refused(written: Path, tmp_path: Path):
    with zipfile.ZipFile(written) as archive:
        entries = [(i.filename, archive.read(i)) for i in archive.infolist()]
    _archive(tmp_path / "none.ovpkg", [e for e in entries if e[0] != "manifest.json"])
    with pytest.raises(PackageError, match=r"has no manifest\.json"):
        PackageReader(tmp_path / "none.ovpkg")
    with pytest.warns(UserWarning, match="Duplicate name"):
        _archive(tmp_path / "twice.ovpkg", [*entries, ("host/000-CPU/CPU.blob", b"c")])
    with pytest.raises(PackageError, match="duplicate member names"):
        PackageReader(tmp_path / "twice.ovpkg")
