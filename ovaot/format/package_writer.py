"""Writing a package: members go into a temporary file beside the package as soon as they are ready, on a
thread, while the compiler goes on; finish() adds the rest and the manifest and renames the file into place.

The order of the members is fixed by their names, not by when they were ready: the IR and fallback models
sorted, then the blobs sorted (they are ready last), then manifest.json (and manifest.sig). Members written
early that turn out not to be that order's beginning (the plan changed after they were written) are written
again: the same members give the same bytes whatever their order or timing.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import blake3

from ovaot.format.manifest import MANIFEST_NAME, Manifest, Member
from ovaot.format.package import (
    ALIGNMENT,
    BLOB_SUFFIX,
    COMPRESSED_SUFFIXES,
    LOCAL_HEADER,
    SIGNATURE_NAME,
    MemberData,
    describe_members,
)

# Fixed metadata so the same members always give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o644 << 16
_PADDING_FIELD = 0xD935  # the extra-field id Android's zipalign uses for padding
_PIECE = 1 << 20  # bytes of a member's file copied at a time


def package_order(members: Iterable[str]) -> list[str]:
    """The members' order in the archive: all but the blobs sorted, then the blobs sorted."""
    return sorted(members, key=lambda name: (name.endswith(BLOB_SUFFIX), name))


class PackageWriter:
    """One package being written to a temporary file beside `path`; finish() or abandon() it."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._tmp: Path | None = None  # made by the first write: nothing is created before there is a member
        self._raw: Any = None
        self._archive: zipfile.ZipFile | None = None
        self._written: list[tuple[str, MemberData]] = []
        self._described: dict[str, tuple[MemberData, Member]] = {}  # each member's size and digest, as written
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovaot-package")
        self._last: Future | None = None

    def add(self, name: str, data: MemberData) -> None:
        """Write a member on the writer's thread, after those added before it."""
        if any(written == name for written, _ in self._written):
            return
        self._written.append((name, data))
        self._last = self._thread.submit(self._write, name, data)

    def describe(self, members: Mapping[str, MemberData]) -> dict[str, Member]:
        """describe_members(members), from the digests taken while writing where a member is written already:
        its file is not read a second time."""
        self._wait()
        known = {name: member for name, (data, member) in self._described.items() if members.get(name) == data}
        rest = describe_members({name: data for name, data in members.items() if name not in known})
        return dict(sorted({**known, **rest}.items()))

    def finish(self, manifest: Manifest, members: Mapping[str, MemberData], signing_key: Any = None) -> None:
        """Write what is missing, the manifest last, and rename the file into place.

        With a signing key (an Ed25519 private key in PEM), manifest.sig holds the manifest's signature.
        """
        try:
            assert set(manifest.members) == set(members), "manifest must describe exactly the members"
            self._wait()
            order = package_order(members)
            if self._written != [(name, members[name]) for name in order[: len(self._written)]]:
                self._restart()
            manifest_bytes = manifest.to_json().encode()
            rest = [(name, members[name]) for name in order[len(self._written) :]]
            rest.append((MANIFEST_NAME, manifest_bytes))
            if signing_key is not None:
                from ovaot.format.signing import sign_manifest

                rest.append((SIGNATURE_NAME, sign_manifest(manifest_bytes, signing_key)))
            for name, data in rest:
                self._write(name, data)
            assert self._archive is not None and self._tmp is not None
            self._archive.close()
            self._raw.close()
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abandon()
            raise
        finally:
            self._thread.shutdown()

    def abandon(self) -> None:
        """Stop and remove the temporary file; the package at `path`, if any, is left as it was."""
        self._thread.shutdown(wait=True, cancel_futures=True)
        if self._tmp is None:
            return
        try:
            self._archive.close()
        except (OSError, ValueError, AttributeError):
            pass  # closing a half-written archive can fail; it is removed anyway
        self._raw.close()
        self._tmp.unlink(missing_ok=True)

    def _wait(self) -> None:
        if self._last is not None:
            self._last.result()  # the writes run in order: the last one's end is all of theirs

    def _restart(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._raw.seek(0)
            self._raw.truncate()
            self._archive = zipfile.ZipFile(self._raw, "w")
        self._written = []

    def _open(self) -> zipfile.ZipFile:
        if self._archive is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A compile killed while writing leaves its temporary file; the next write to this path removes it.
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            self._tmp, self._raw = Path(name), os.fdopen(fd, "wb")
            self._archive = zipfile.ZipFile(self._raw, "w")
        return self._archive

    def _write(self, name: str, data: MemberData) -> None:
        archive = self._open()
        info = zipfile.ZipInfo(name, date_time=_EPOCH)
        info.external_attr = _FILE_MODE
        info.create_system = 3
        compressed = name.endswith(COMPRESSED_SUFFIXES)
        info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
        if not compressed:
            info.extra = _padding(self._raw.tell() + LOCAL_HEADER.size + len(name.encode()))
        if not isinstance(data, Path):
            archive.writestr(info, data)
            return
        info.file_size = data.stat().st_size  # as writestr sets it: the same headers either way
        hasher = blake3.blake3()  # one core: the other is compiling
        buffer = memoryview(bytearray(_PIECE))  # each piece is CRC'd, hashed and written while in the cache
        with open(data, "rb", buffering=0) as source, archive.open(info, "w") as target:
            while size := source.readinto(buffer):
                target.write(buffer[:size])
                hasher.update(buffer[:size])
        self._described[name] = (data, Member(size=info.file_size, blake3=hasher.hexdigest()))


def _padding(data_offset: int) -> bytes:
    """An extra field that moves a member's data from `data_offset` to the next multiple of ALIGNMENT."""
    pad = (-(data_offset + 4)) % ALIGNMENT
    return struct.pack("<HH", _PADDING_FIELD, pad) + bytes(pad)


__all__ = ["PackageWriter", "package_order"]
