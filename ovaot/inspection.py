"""What a package holds, as a dict for --json and as lines for people: plans, partitions, devices, reasons."""

from __future__ import annotations

from typing import Any

from ovaot.manifest import Manifest, Partition


def partition_report(partition: Partition, manifest: Manifest) -> dict[str, Any]:
    report: dict[str, Any] = {
        "index": partition.index,
        "kind": partition.kind,
        "device": partition.device,
        "devices": partition.devices,
        "op_types": sorted({n.op_type for n in partition.nodes}),
        "nodes": [n.name for n in partition.nodes],
        "size": sum(manifest.members[m].size for m in partition.members),
    }
    if partition.kind == "openvino":
        report["precompiled_for"] = sorted(partition.blobs)
        report["compiled_at_load_for"] = [d for d in partition.devices if d not in partition.blobs]
        report["requested_precision"] = partition.requested_precision
        report["reported_precision"] = partition.reported_precision
    else:
        report["fallback_reasons"] = sorted({n.reason for n in partition.nodes})
    return report


def package_report(manifest: Manifest) -> dict[str, Any]:
    plans = [
        {
            "name": plan.name,
            "mode": plan.mode,
            "devices": plan.devices,
            "partitions": [partition_report(p, manifest) for p in plan.partitions],
        }
        for plan in manifest.plans
    ]
    return {
        "target": manifest.target,
        "ovaot_version": manifest.ovaot_version,
        "openvino_version": manifest.openvino_version,
        "source": {"name": manifest.source_name, "digest": manifest.source_digest},
        "options": manifest.options,
        "partitions": plans[0]["partitions"],
        "plans": plans,
        "size": sum(m.size for m in manifest.members.values()),
    }


def package_lines(manifest: Manifest) -> list[str]:
    report = package_report(manifest)
    lines = [
        f"target {report['target']}, built by ovaot {report['ovaot_version']} with OpenVINO "
        f"{report['openvino_version']}, {report['size']} bytes"
    ]
    for plan in report["plans"]:
        label = "the target as asked" if plan["name"] == "target" else "runs where the target's devices are absent"
        lines.append(f"plan {plan['name']} ({plan['mode']}: {', '.join(plan['devices'])}; {label})")
        for p in plan["partitions"]:
            where = f"openvino on {p['device']}" if p["kind"] == "openvino" else "fallback (numpy, onnx.reference)"
            lines.append(
                f"  partition {p['index']}: {where}, {len(p['nodes'])} nodes ({', '.join(p['op_types'])}), "
                f"{p['size']} bytes"
            )
            if p["kind"] == "openvino":
                precompiled = ", ".join(p["precompiled_for"]) or "none"
                at_load = ", ".join(p["compiled_at_load_for"]) or "none"
                lines.append(f"    precompiled for: {precompiled}; compiled at load for: {at_load}")
            for reason in p.get("fallback_reasons", []):
                lines.append(f"    why: {reason}")
    return lines
