"""What a package holds, as a dict for --json and as lines for people: plans, partitions, devices, reasons."""

from __future__ import annotations

from typing import Any

from ovaot.defect_table import defects_met
from ovaot.format.manifest import Manifest, Partition, PartitionKind, PlanName


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
    if partition.kind == PartitionKind.OPENVINO:
        report["precompiled_for"] = sorted(partition.blobs)
        report["compiled_at_load_for"] = [d for d in partition.devices if d not in partition.blobs]
        report["requested_precision"] = partition.requested_precision
        report["reported_precision"] = partition.reported_precision
        report["blob_checks"] = {d: {"status": c.status, "detail": c.detail} for d, c in partition.blob_checks.items()}
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
    op_types = {n.op_type for plan in manifest.plans for p in plan.partitions for n in p.nodes}
    return {
        "target": manifest.target,
        "ovaot_version": manifest.ovaot_version,
        "openvino_version": manifest.openvino_version,
        "source": {"name": manifest.source_name, "digest": manifest.source_digest},
        "options": manifest.options,
        "rewrites": manifest.rewrites,
        "lowered": manifest.lowered,
        "known_defects": [
            {
                "id": d.id,
                "op": d.op,
                "answer": d.answer,
                "symptom": d.symptom,
                "known_at_build": d.id in manifest.known_defects,
            }
            for d in defects_met(op_types, manifest.openvino_version)
        ],
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
    if report["lowered"]:
        lines.append(f"lowered to standard ONNX ops: {', '.join(report['lowered'])}")
    if report["rewrites"]:
        lines.append(f"passes that rewrote the model: {', '.join(report['rewrites'])}")
    for defect in report["known_defects"]:
        answer = "its answer applied" if defect["known_at_build"] else "NOT known when this package was built"
        lines.append(f"known OpenVINO defect {defect['id']} ({defect['op']}; {defect['answer']}): {answer}")
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
                for device, check in p["blob_checks"].items():
                    detail = "" if check["status"] == "passed" else f": {check['detail']}"
                    lines.append(f"    blob check on {device}: {check['status']}{detail}")
            for reason in p.get("fallback_reasons", []):
                lines.append(f"    why: {reason}")
    return lines


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _where(partition: Partition) -> str:
    """Where one partition runs and how it gets there, in a few words."""
    if partition.kind != PartitionKind.OPENVINO:
        ops = ", ".join(sorted({n.op_type for n in partition.nodes}))
        return f"the numpy fallback ({_plural(len(partition.nodes), 'node')}: {ops})"
    if len(partition.devices) == 1:
        return f"{partition.devices[0]} ({'precompiled' if partition.blobs else 'compiled from IR at load'})"
    how = [f"{d} {'precompiled' if d in partition.blobs else 'from IR at load'}" for d in partition.devices]
    return f"{partition.device} ({', '.join(how)})"


def _plan_text(partitions: list[Partition]) -> str:
    places = [_where(p) for p in partitions]
    if not places:
        return "no partitions (nothing to compute)"
    if len(places) == 1:
        return f"1 partition, on {places[0]}"
    return f"{len(places)} partitions, on " + "; then ".join(places)


def summary(manifest: Manifest) -> str:
    """One sentence: the target, its partitions and where each runs, and when the host variant runs instead."""
    text = f"for {manifest.target}: {_plan_text(manifest.partitions)}"
    host = manifest.plan(PlanName.HOST)
    if host is not None:
        absent = sorted({d for p in manifest.partitions for d in p.devices if d not in p.blobs})
        lacks = f" (this one lacks {', '.join(absent)})" if absent else ""
        text += (
            f". Where a host cannot run that{lacks}, the CPU-compiled host variant runs: {_plan_text(host.partitions)}"
        )
    return text + "."
