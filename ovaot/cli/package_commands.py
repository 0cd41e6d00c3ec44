"""The commands on a package: run, inspect, verify, bench and diff."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ovaot.cli.main import EXIT_FAILED, EXIT_VERIFICATION_FAILED, inputs_option, main, parse_inputs


@main.command("run")
@click.argument("package", type=click.Path(path_type=Path))
@inputs_option("An input as a .npy file, or a .npz holding several (repeatable).")
@click.option(
    "--output",
    "output_dir",
    type=click.Path(path_type=Path),
    help="Write each output as NAME.npy into this folder, or all of them into one file if it ends in .npz.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run_command(package: Path, inputs: tuple[str, ...], output_dir: Path | None, as_json: bool) -> None:
    """Run PACKAGE on the given inputs and print a summary of each output."""
    import numpy as np

    from ovaot.loader import load

    session = load(package)
    outputs = session.run(None, parse_inputs(inputs))
    arrays = {info.name: np.asarray(value) for info, value in zip(session.get_outputs(), outputs)}
    summary = []
    for name, array in arrays.items():
        entry: dict[str, Any] = {"name": name, "dtype": str(array.dtype), "shape": list(array.shape)}
        if array.size and array.dtype.kind in "fiu":
            entry.update(min=float(array.min()), max=float(array.max()), argmax=int(array.argmax()))
        summary.append(entry)
        if not as_json:
            line = f"{name}: {array.dtype} {list(array.shape)}"
            if "min" in entry:
                line += f" min={entry['min']:.6g} max={entry['max']:.6g} argmax={entry['argmax']}"
            click.echo(line)
    if as_json:
        click.echo(json.dumps({"outputs": summary}))
    if output_dir is not None and output_dir.suffix == ".npz":
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        np.savez(output_dir, **arrays)
    elif output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, array in arrays.items():
            np.save(output_dir / f"{name.replace('/', '_')}.npy", array)


@main.command("inspect")
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(path_type=Path),
    help="Draw the partitioned graph, coloured by device, to FILE (.svg, .dot or .html).",
)
def inspect_command(package: Path, as_json: bool, graph_file: Path | None) -> None:
    """Show what PACKAGE holds: plans, partitions, what is precompiled for which device, why nodes fell back."""
    from ovaot.cli.inspection import package_lines, package_report
    from ovaot.format.package import PackageReader

    with PackageReader(package) as reader:
        manifest = reader.manifest
    if graph_file is not None:
        from ovaot.cli.graph_drawing import write_graph

        write_graph(manifest, graph_file)
    if as_json:
        click.echo(json.dumps(package_report(manifest), indent=2))
        return
    click.echo(f"{package}: " + "\n".join(package_lines(manifest)))


@main.command("verify")
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def verify_command(ctx: click.Context, package: Path, as_json: bool) -> None:
    """Check PACKAGE's integrity and whether this host can import each blob (exit 3 when not)."""
    from ovaot.loader.package_check import verify_package

    report = verify_package(package)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(f"{package}: integrity {report.integrity}")
        for blob in report.blobs:
            extra = f" ({blob.reason})" if blob.reason else ""
            click.echo(f"  {blob.plan} partition {blob.partition} {blob.device} blob: {blob.status}{extra}")
        click.echo(f"  runs here as: {report.runnable_plan or 'nothing'}")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")
        for warning in report.warnings:
            click.echo(f"  warning: {warning}")
    if not report.ok:
        ctx.exit(EXIT_VERIFICATION_FAILED)


@main.command("bench")
@click.argument("package", type=click.Path(path_type=Path))
@inputs_option("Inputs (default: seeded random values of the declared shapes, symbolic dimensions 1).")
@click.option("-n", "--runs", type=click.IntRange(1), default=100, show_default=True)
@click.option(
    "--in-flight",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Requests in flight for the throughput run.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--profile", is_flag=True, help="Where the time goes: per partition, per OpenVINO op, per fallback node.")
@click.option("--top", type=click.IntRange(1), default=15, show_default=True, help="Ops --profile lists.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_command(
    package: Path,
    inputs: tuple[str, ...],
    runs: int,
    in_flight: int,
    quiet: bool,
    profile: bool,
    top: int,
    as_json: bool,
) -> None:
    """Measure PACKAGE: load time, latency percentiles and throughput; or with --profile, where the time goes."""
    from ovaot.cli.bench import benchmark

    if profile:
        from ovaot.cli.profile import profile as profile_package
        from ovaot.cli.profile import profile_lines

        report = profile_package(package, parse_inputs(inputs) if inputs else None, runs, top)
        click.echo(json.dumps(report, indent=2) if as_json else "\n".join(profile_lines(report)))
        return

    show = not (quiet or as_json) and sys.stderr.isatty()
    with click.progressbar(length=2 * runs, label="benchmarking", file=sys.stderr) if show else _NoBar() as bar:
        report = benchmark(package, parse_inputs(inputs) if inputs else None, runs, in_flight, bar.update)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"load {report['load_ms']:.1f} ms, first run {report['first_run_ms']:.2f} ms")
    click.echo("latency ms: " + ", ".join(f"{k} {v:.3f}" for k, v in report["latency_ms"].items()))
    click.echo(f"throughput: {report['throughput_per_s']:.1f} runs/s with {in_flight} in flight")


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, steps: int) -> None:
        return None


@main.command("diff")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.pass_context
def diff_command(ctx: click.Context, first: Path, second: Path, as_json: bool) -> None:
    """Compare two packages by meaning (manifest, partitions, IR); exit 0 when they agree, 1 when not."""
    from ovaot.cli.diff import diff_packages

    found = diff_packages(first, second)
    if as_json:
        click.echo(json.dumps({"same": not found, "differences": found}, indent=2))
    else:
        click.echo("\n".join(found) if found else "same")
    if found:
        ctx.exit(EXIT_FAILED)


@main.command("export")
@click.argument("package", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ovms", "triton"]),
    required=True,
    help="ovms: OpenVINO Model Server (model folder and config.json); triton: Triton's OpenVINO backend.",
)
@click.option("-o", "--output", "repository", type=click.Path(path_type=Path), required=True, metavar="REPO")
@click.option("--name", help="The model's name in the repository (default: the package's file stem).")
@click.option("--version", "version", type=int, default=1, show_default=True, help="The model version folder.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export_command(package: Path, fmt: str, repository: Path, name: str | None, version: int, as_json: bool) -> None:
    """Write PACKAGE into the model repository REPO for OpenVINO Model Server or Triton (one OpenVINO partition,
    no fallback; `ovaot serve` serves any package)."""
    from ovaot.integrations.model_repository import export_repository

    exported = export_repository(package, fmt, repository, name, version)
    if as_json:
        report = {"folder": str(exported.folder), "name": exported.name, "version": exported.version}
        click.echo(json.dumps({**report, "device": exported.device, "notes": exported.notes}))
        return
    for note in exported.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"{exported.folder}: {exported.name} version {exported.version} on {exported.device} ({fmt})")


@main.command("serve")
@click.argument("packages", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="The address both listeners bind.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=8081, show_default=True)
@click.option("--name", help="The model's name (one package only; default: each package's file stem).")
@click.option(
    "--option",
    "run_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A run-time OpenVINO EP option for loading the packages: device_id, num_of_threads, num_streams, "
    "performance_hint (repeatable). performance_hint=THROUGHPUT runs concurrent requests in parallel streams.",
)
def serve_command(
    packages: tuple[Path, ...],
    host: str,
    http_port: int,
    grpc_port: int,
    name: str | None,
    run_options: tuple[str, ...],
) -> None:
    """Serve PACKAGES over KServe's Open Inference Protocol (v2 REST and gRPC) until SIGTERM; needs ovaot[serve]."""
    from ovaot.integrations.serving import serve
    from ovaot.options import parse_key_values

    serve(list(packages), host, http_port, grpc_port, name, parse_key_values(run_options))
