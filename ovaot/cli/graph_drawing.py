"""ovaot inspect --graph: the partitioned graph of a package, coloured by device, as .dot, .svg or .html.

Boxes are partitions in execution order (their ops listed), arrows the tensors that cross between them;
the layout is computed here (layers by dependency), so no Graphviz install is needed.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from ovaot.errors import UsageError
from ovaot.format.manifest import Manifest, Partition

COLOURS = {
    "CPU": "#4e79a7",
    "GPU": "#59a14f",
    "NPU": "#b07aa1",
    "MYRIAD": "#f28e2b",
    "HDDL": "#edc948",
    "FPGA": "#76b7b2",
    "AUTO": "#9c755f",
    "MULTI": "#e15759",
    "fallback": "#bab0ac",
    "input": "#ffffff",
}
BOX_W, BOX_H, GAP_X, GAP_Y = 230, 64, 40, 56


def _colour(partition: Partition) -> str:
    device = partition.device or "fallback"
    return COLOURS.get(device.split(":")[0].split(".")[0], "#ff9da7")


def _label(partition: Partition) -> tuple[str, str]:
    where = partition.device or "fallback (numpy)"
    ops = Counter(n.op_type for n in partition.nodes)
    summary = ", ".join(f"{op} x{k}" if k > 1 else op for op, k in ops.most_common(4))
    if len(ops) > 4:
        summary += ", ..."
    return f"#{partition.index} {where}: {len(partition.nodes)} nodes", summary


def _edges(manifest: Manifest) -> list[tuple[str, str, str]]:
    """(from, to, tensor): from/to are 'in', 'out' or a partition index."""
    producer = {name: str(p.index) for p in manifest.partitions for name in p.produces}
    inputs = {v.name for v in manifest.inputs}
    edges = []
    for p in manifest.partitions:
        for name in p.consumes:
            source = producer.get(name, "in" if name in inputs else None)
            if source is not None:
                edges.append((source, str(p.index), name))
    for out in manifest.outputs:
        edges.append((producer.get(out.name, "in"), "out", out.name))
    return edges


def to_dot(manifest: Manifest) -> str:
    lines = [f"digraph {json_quote(manifest.source_name)} {{", "  rankdir=TB; node [shape=box, style=filled];"]
    lines.append('  in [label="inputs", fillcolor="#ffffff"]; out [label="outputs", fillcolor="#ffffff"];')
    for p in manifest.partitions:
        title, summary = _label(p)
        lines.append(
            f"  {p.index} [label={json_quote(title + chr(10) + summary)}, fillcolor={json_quote(_colour(p))}];"
        )
    for source, target, tensor in _edges(manifest):
        lines.append(f"  {source} -> {target} [label={json_quote(tensor)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def json_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_svg(manifest: Manifest) -> str:
    edges = _edges(manifest)
    layer = {"in": 0}
    for p in manifest.partitions:  # execution order is topological
        sources = [layer[s] for s, t, _ in edges if t == str(p.index) and s in layer]
        layer[str(p.index)] = max(sources, default=0) + 1
    layer["out"] = max(layer.values()) + 1
    rows: dict[int, list[str]] = {}
    for key, depth in layer.items():
        rows.setdefault(depth, []).append(key)
    width = max(len(r) for r in rows.values()) * (BOX_W + GAP_X) + GAP_X
    height = len(rows) * (BOX_H + GAP_Y) + GAP_Y
    position = {}
    for depth, keys in rows.items():
        offset = (width - len(keys) * (BOX_W + GAP_X) + GAP_X) / 2
        for i, key in enumerate(keys):
            position[key] = (offset + i * (BOX_W + GAP_X), GAP_Y / 2 + depth * (BOX_H + GAP_Y))
    by_index = {str(p.index): p for p in manifest.partitions}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
        '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
    ]
    for source, target, tensor in edges:
        (x1, y1), (x2, y2) = position[source], position[target]
        parts.append(
            f'<line x1="{x1 + BOX_W / 2:.0f}" y1="{y1 + BOX_H:.0f}" x2="{x2 + BOX_W / 2:.0f}" y2="{y2:.0f}" '
            f'stroke="#555" marker-end="url(#arrow)"><title>{html.escape(tensor)}</title></line>'
        )
    for key, (x, y) in position.items():
        p = by_index.get(key)
        title, summary = _label(p) if p else ("inputs" if key == "in" else "outputs", "")
        fill = _colour(p) if p else COLOURS["input"]
        nodes = html.escape(", ".join(n.name for n in p.nodes)) if p else ""
        ink = "#fff" if p else "#000"
        parts.append(
            f'<g><title>{nodes}</title><rect x="{x:.0f}" y="{y:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{fill}" stroke="#333"/>'
            f'<text x="{x + 8:.0f}" y="{y + 24:.0f}" fill="{ink}" font-weight="bold">{html.escape(title)}</text>'
            f'<text x="{x + 8:.0f}" y="{y + 46:.0f}" fill="{ink}">{html.escape(summary)}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def to_html(manifest: Manifest) -> str:
    legend = "".join(
        f'<span style="background:{c};padding:2px 8px;margin-right:6px;border:1px solid #333">{html.escape(k)}</span>'
        for k, c in COLOURS.items()
        if k != "input"
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(manifest.source_name)}: ovaot partitions</title></head>"
        "<body style='font-family:sans-serif'>"
        f"<h1>{html.escape(manifest.source_name)}</h1><p>target {html.escape(manifest.target)}; "
        f"{len(manifest.partitions)} partitions in execution order. Hover a box for its nodes.</p>"
        f"<p>{legend}</p>{to_svg(manifest)}</body></html>\n"
    )


def write_graph(manifest: Manifest, path: Path) -> None:
    writers = {".dot": to_dot, ".svg": to_svg, ".html": to_html}
    if path.suffix not in writers:
        raise UsageError(f"--graph {path}: the file must end in .svg, .dot or .html")
    path.write_text(writers[path.suffix](manifest))
