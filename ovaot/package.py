"""The .ovpkg container: a zip archive of manifest.json plus artifacts, written atomically and read with checks."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from ovaot.errors import PackageError
from ovaot.manifest import MANIFEST_NAME, Manifest, Member

# Fixed metadata so the same members always give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16
# Binary artifacts are stored uncompressed so a loader can use them in place.
_COMPRESSED_SUFFIXES = (".xml", ".json", ".onnx")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_members(members: Mapping[str, bytes]) -> dict[str, Member]:
    return {name: Member(sha256=sha256(data), size=len(data)) for name, data in sorted(members.items())}


def write_package(path: str | os.PathLike, manifest: Manifest, members: Mapping[str, bytes]) -> None:
    """Write the archive to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    assert set(manifest.members) == set(members), "manifest must describe exactly the members"
    entries = {MANIFEST_NAME: manifest.to_json().encode(), **members}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=_EPOCH)
                info.external_attr = _FILE_MODE
                info.create_system = 3
                compressed = name.endswith(_COMPRESSED_SUFFIXES)
                info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
                archive.writestr(info, entries[name])
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class PackageReader:
    """An open .ovpkg: the manifest, and members checked against their recorded sha256 when read."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise PackageError(f"{self.path}: no such package file")
        try:
            self._archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackageError(f"{self.path}: not an .ovpkg archive ({exc})") from None
        names = [info.filename for info in self._archive.infolist()]
        if len(names) != len(set(names)):
            raise PackageError(f"{self.path}: archive holds duplicate member names")
        if MANIFEST_NAME not in names:
            raise PackageError(f"{self.path}: archive has no {MANIFEST_NAME}")
        self.manifest = Manifest.from_json(self._read_raw(MANIFEST_NAME))
        listed = set(self.manifest.members) | {MANIFEST_NAME}
        for name in sorted(set(names) ^ listed):
            where = "not listed in the manifest" if name in names else "missing from the archive"
            raise PackageError(f"{self.path}: member {name!r} is {where}")

    def _read_raw(self, name: str) -> bytes:
        try:
            return self._archive.read(name)
        except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
            raise PackageError(f"{self.path}: cannot read member {name!r} ({exc})") from None

    def verify(self) -> None:
        """Check every member's size and sha256 against the manifest, streaming, before anything runs."""
        for name, expected in self.manifest.members.items():
            digest, size = hashlib.sha256(), 0
            try:
                with self._archive.open(name) as stream:
                    while chunk := stream.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise PackageError(f"{self.path}: cannot read member {name!r} ({exc})") from None
            if size != expected.size or digest.hexdigest() != expected.sha256:
                raise PackageError(f"{self.path}: member {name!r} does not match its sha256 in the manifest")

    def read(self, name: str) -> bytes:
        expected = self.manifest.members[name]
        data = self._read_raw(name)
        if len(data) != expected.size or sha256(data) != expected.sha256:
            raise PackageError(f"{self.path}: member {name!r} does not match its sha256 in the manifest")
        return data

    def close(self) -> None:
        self._archive.close()

    def __enter__(self) -> PackageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
