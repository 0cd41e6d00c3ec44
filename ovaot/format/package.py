"""The .ovpkg container: a zip archive of manifest.json plus artifacts, written atomically and read with checks."""

from __future__ import annotations

import io
import mmap
import os
import stat
import struct
import threading
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import blake3

from ovaot.errors import PackageError
from ovaot.format.manifest import MANIFEST_NAME, Manifest, Member

# A member's contents: its bytes, or the file that holds them (the compiler's IR and blobs, written once).
MemberData = bytes | Path

SIGNATURE_NAME = "manifest.sig"  # the manifest's Ed25519 signature, when the package is signed

# Binary artifacts are stored uncompressed so a loader can use them in place, their data starting at a
# multiple of ALIGNMENT bytes (OpenVINO runs an imported blob's weights where they lie).
COMPRESSED_SUFFIXES = (".xml", ".json", ".onnx")
ALIGNMENT = 64
BLOB_SUFFIX = ".blob"
PIECE = 1 << 24  # bytes read at a time from a member's file


def sha256(data: bytes) -> str:
    import hashlib  # schema 1.0 packages only; the loader need not load OpenSSL

    return hashlib.sha256(data).hexdigest()


def blake3_digest(data: bytes | memoryview) -> str:
    # Large members are hashed on every core (BLAKE3 is a tree hash: the same digest either way).
    threads = blake3.blake3.AUTO if len(data) >= 1 << 22 else 1
    return blake3.blake3(data, max_threads=threads).hexdigest()


def _digests(member: Member) -> list[tuple[str, Any, str]]:
    return [("BLAKE3", blake3_digest, member.blake3), ("sha256", sha256, member.sha256)]


def file_digest(path: Path) -> str:
    """blake3_digest of a file's contents, read in pieces (never all in memory)."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    with open(path, "rb") as file:
        while piece := file.read(PIECE):
            hasher.update(piece)
    return hasher.hexdigest()


def describe_members(members: Mapping[str, MemberData]) -> dict[str, Member]:
    return {
        name: Member(size=data.stat().st_size, blake3=file_digest(data))
        if isinstance(data, Path)
        else Member(size=len(data), blake3=blake3_digest(data))
        for name, data in sorted(members.items())
    }


def write_package(
    path: str | os.PathLike, manifest: Manifest, members: Mapping[str, MemberData], signing_key: Any = None
) -> None:
    """Write the archive to a temporary file beside `path`, then rename it into place (package_writer). A member
    given as a file is copied from it in pieces; with a signing key (Ed25519, PEM), manifest.sig is added."""
    from ovaot.format.package_writer import PackageWriter  # the compiler side only: the loader never writes

    PackageWriter(path).finish(manifest, members, signing_key)


# What zipfile raises on damaged archives, one way or another.
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    ValueError,
    EOFError,
    KeyError,
    NotImplementedError,
    zlib.error,
    struct.error,
    UnicodeDecodeError,
)

# The fixed part of a zip local file header; its last two fields are the name and extra-field lengths.
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")

# Bounds for reading archives from elsewhere: no member or sum of members a loader would not expect.
MAX_TOTAL_BYTES = 64 << 30
MAX_MANIFEST_BYTES = 64 << 20
MAX_COMPRESSION_RATIO = 200


def _check_entry(path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse names that could escape a folder, links, and members that expand suspiciously."""
    name = info.filename
    parts = name.split("/")
    if name.startswith(("/", "\\")) or "\\" in name or ":" in parts[0] or ".." in parts or "" in parts:
        raise PackageError(f"{path}: member name {name!r} is not a plain relative path")
    mode = (info.external_attr >> 16) & 0o170000
    if mode not in (0, stat.S_IFREG):
        raise PackageError(f"{path}: member {name!r} is not a regular file (links and devices are refused)")
    if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
        raise PackageError(f"{path}: member {name!r} expands more than {MAX_COMPRESSION_RATIO} times")


class PackageReader:
    """An open .ovpkg (a file, memory-mapped, or bytes in memory): the manifest, and members checked against
    their recorded digest when read."""

    def __init__(self, source: str | os.PathLike | bytes | bytearray | memoryview) -> None:
        in_memory = isinstance(source, (bytes, bytearray, memoryview))
        self.path = Path("<package bytes>" if in_memory else source)  # what messages call the package
        self._map: mmap.mmap | bytes | None = bytes(source) if in_memory else None
        self._map_lock = threading.Lock()
        self._verified: set[str] = set()
        if not in_memory and not self.path.is_file():
            raise PackageError(f"{self.path}: no such package file")
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(self._map) if self._map is not None else self.path)
        except ARCHIVE_ERRORS as exc:
            raise PackageError(f"{self.path}: not an .ovpkg archive ({exc})") from None
        infos = self._archive.infolist()
        names = [info.filename for info in infos]
        if len(names) != len(set(names)):
            raise PackageError(f"{self.path}: archive holds duplicate member names")
        for info in infos:
            _check_entry(self.path, info)
        if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
            raise PackageError(f"{self.path}: members add up to more than {MAX_TOTAL_BYTES} bytes")
        if MANIFEST_NAME not in names:
            raise PackageError(f"{self.path}: archive has no {MANIFEST_NAME}")
        if self._archive.getinfo(MANIFEST_NAME).file_size > MAX_MANIFEST_BYTES:
            raise PackageError(f"{self.path}: {MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes")
        self.manifest_bytes = self._read_raw(MANIFEST_NAME)
        self.manifest = Manifest.from_json(self.manifest_bytes)
        self.signature = self._read_raw(SIGNATURE_NAME) if SIGNATURE_NAME in names else None
        listed = set(self.manifest.members) | {MANIFEST_NAME} | ({SIGNATURE_NAME} if self.signature else set())
        for name in sorted(set(names) ^ listed):
            where = "not listed in the manifest" if name in names else "missing from the archive"
            raise PackageError(f"{self.path}: member {name!r} is {where}")
        for info in infos:
            expected = self.manifest.members.get(info.filename)
            if expected is not None and info.file_size != expected.size:
                raise PackageError(
                    f"{self.path}: member {info.filename!r} is {info.file_size} bytes, "
                    f"the manifest says {expected.size}"
                )

    def _read_raw(self, name: str) -> bytes:
        try:
            return self._archive.read(name)
        except ARCHIVE_ERRORS as exc:
            raise PackageError(f"{self.path}: cannot read member {name!r} ({exc})") from None

    def _stored_view(self, name: str) -> memoryview | None:
        """An uncompressed member's bytes in place (memory-mapped), or None for a compressed one."""
        info = self._archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            return None
        with self._map_lock:  # verify() reads members from several threads
            if self._map is None:
                with open(self.path, "rb") as file:
                    self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        header = self._map[info.header_offset : info.header_offset + LOCAL_HEADER.size]
        if len(header) != LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise PackageError(f"{self.path}: member {name!r} has a damaged local header")
        name_length, extra_length = LOCAL_HEADER.unpack(header)[-2:]
        start = info.header_offset + LOCAL_HEADER.size + name_length + extra_length
        if start + info.file_size > len(self._map):
            raise PackageError(f"{self.path}: member {name!r} runs past the end of the archive")
        return memoryview(self._map)[start : start + info.file_size]

    def _member_bytes(self, name: str) -> bytes | memoryview:
        try:
            view = self._stored_view(name)
        except ARCHIVE_ERRORS as exc:
            raise PackageError(f"{self.path}: cannot read member {name!r} ({exc})") from None
        return view if view is not None else self._read_raw(name)

    def _check(self, name: str) -> None:
        expected = self.manifest.members[name]
        data = self._member_bytes(name)
        checks = [(label, digest, recorded) for label, digest, recorded in _digests(expected) if recorded]
        if len(data) != expected.size:
            raise PackageError(f"{self.path}: member {name!r} does not have its size in the manifest")
        for digest_name, digest, recorded in checks:
            if digest(data) != recorded:
                raise PackageError(f"{self.path}: member {name!r} does not match its {digest_name} in the manifest")
        self._verified.add(name)

    def verify(self) -> None:
        """Check every member's size and hash against the manifest (`ovaot verify`, up-to-date checks).

        A loader need not: read() and view() check each member they hand out. Uncompressed members are
        hashed in place from a memory map, several at once (the hashes release the GIL).
        """
        from concurrent.futures import ThreadPoolExecutor

        names = sorted(self.manifest.members, key=lambda n: -self.manifest.members[n].size)
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1, max(1, len(names)))) as pool:
            for future in [pool.submit(self._check, name) for name in names]:
                future.result()

    def read(self, name: str) -> bytes:
        """A member's bytes, checked against the manifest's digest first."""
        return bytes(self.view(name))

    def view(self, name: str) -> bytes | memoryview:
        """A member checked against the manifest's digest first; an uncompressed one in place, not copied.

        A view keeps the archive's memory map open after close(), until the view itself is gone.
        """
        if name not in self._verified:
            self._check(name)
        return self._member_bytes(name)

    def close(self) -> None:
        self._archive.close()
        if isinstance(self._map, mmap.mmap):
            try:
                self._map.close()
            except BufferError:  # a view handed out is still alive; the map goes when it does
                pass

    def __enter__(self) -> PackageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
