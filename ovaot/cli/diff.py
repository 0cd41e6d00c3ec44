"""ovaot diff A B: compare two packages by meaning (manifest, plans, partitions, IR), not by bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ovaot.format.manifest import Manifest, Member, Partition
from ovaot.format.package import PackageReader

_HEADER_FIELDS = ("target", "options", "source_digest", "source_name", "ovaot_version", "openvino_version")


def _partition_view(p: Partition, manifest: Manifest) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "devices": p.devices,
        "nodes": [(n.name, n.op_type, n.domain, n.source) for n in p.nodes],
        "consumes": p.consumes,
        "produces": p.produces,
        "compile_config": p.compile_config,
        "precompiled_for": sorted(p.blobs),
        "ir": {role: _digest(manifest.members[m]) for role, m in p.artifacts.items()},
        "blobs": {device: _digest(manifest.members[m]) for device, m in p.blobs.items()},
    }


def _digest(member: Member) -> str:
    return member.blake3 or member.sha256


def diff_packages(a: str | Path, b: str | Path) -> list[str]:
    """Human-readable differences; empty when the packages mean the same thing."""
    with PackageReader(a) as ra, PackageReader(b) as rb:
        ma, mb = ra.manifest, rb.manifest
    found = []
    for name in _HEADER_FIELDS:
        if getattr(ma, name) != getattr(mb, name):
            found.append(f"{name}: {getattr(ma, name)!r} != {getattr(mb, name)!r}")
    for name in ("inputs", "outputs"):
        if getattr(ma, name) != getattr(mb, name):
            found.append(f"{name} differ: {getattr(ma, name)} != {getattr(mb, name)}")
    plans_a, plans_b = {p.name: p for p in ma.plans}, {p.name: p for p in mb.plans}
    for plan in sorted(set(plans_a) | set(plans_b)):
        if plan not in plans_a or plan not in plans_b:
            found.append(f"plan {plan}: only in {'A' if plan in plans_a else 'B'}")
            continue
        pa, pb = plans_a[plan].partitions, plans_b[plan].partitions
        if len(pa) != len(pb):
            found.append(f"plan {plan}: {len(pa)} partitions != {len(pb)}")
        for x, y in zip(pa, pb):
            va, vb = _partition_view(x, ma), _partition_view(y, mb)
            for key in va:
                if va[key] != vb[key]:
                    found.append(f"plan {plan} partition {x.index}: {key} differs")
    return found
