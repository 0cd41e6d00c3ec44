"""Optional Ed25519 signatures over manifest.json (which already holds every member's BLAKE3 hash).

Uses the `cryptography` package (install `ovaot[sign]`). The signature is the archive member manifest.sig;
a loader given trusted public keys refuses a package whose signature is missing or matches none of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ovaot.errors import PackageError, UsageError


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise UsageError("signing needs the cryptography package: pip install 'ovaot[sign]'") from None
    return serialization, ed25519, InvalidSignature


def _pem(key: bytes | str | os.PathLike) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return key.encode()
    try:
        return Path(key).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key {key}: {exc}") from None


def sign_manifest(manifest_bytes: bytes, private_key: bytes | str | os.PathLike) -> bytes:
    serialization, ed25519, _ = _crypto()
    try:
        key = serialization.load_pem_private_key(_pem(private_key), password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError("the signing key must be an Ed25519 private key")
    return key.sign(manifest_bytes)


def check_signature(
    manifest_bytes: bytes, signature: bytes | None, trusted_keys: Iterable[bytes | str | os.PathLike], where: str
) -> None:
    serialization, ed25519, invalid_signature = _crypto()
    if signature is None:
        raise PackageError(f"{where}: the package is not signed, and trusted_keys were given")
    for trusted in trusted_keys:
        try:
            key = serialization.load_pem_public_key(_pem(trusted))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"not a PEM public key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise UsageError("trusted keys must be Ed25519 public keys")
        try:
            key.verify(signature, manifest_bytes)
            return
        except invalid_signature:
            continue
    raise PackageError(f"{where}: the manifest's signature matches none of the trusted keys")
