"""The ovaot command line: a thin layer of click commands over the Python API."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ovaot.errors import OvaotError, UsageError, first_line
from ovaot.version import __version__

# Exit codes, stable for scripts: 0 ok, 1 failed, 2 usage error, 3 verification failed.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_VERIFICATION_FAILED = 0, 1, 2, 3


class OvaotGroup(click.Group):
    """Turns an error into one line on stderr and its exit code; --debug shows the whole message and the
    traceback (a cause's message can run to pages: onnx.reference lists every op it has)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OvaotError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"ovaot: error: {_one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (ovaot passes | head): nothing more to say
            sys.stderr.close()
            ctx.exit(EXIT_OK)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = _one_line(exc) if _has_more(exc) else f"{first_line(exc)} (run with --debug for a traceback)"
            click.echo(f"ovaot: internal error: {type(exc).__name__}: {message}", err=True)
            ctx.exit(EXIT_FAILED)


def _has_more(exc: BaseException) -> bool:
    return len(str(exc).strip().splitlines()) > 1


def _one_line(exc: BaseException) -> str:
    """The message's first line, saying where the rest is when there is more."""
    return first_line(exc) + (" (--debug shows the rest)" if _has_more(exc) else "")


@click.group(cls=OvaotGroup)
@click.version_option(__version__, prog_name="ovaot")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log what each stage does.")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Compile ONNX models ahead of time into OpenVINO packages (.ovpkg) and run them."""
    ctx.obj = {"debug": debug}
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="ovaot: %(levelname)s: %(message)s")


def run() -> None:
    """The `ovaot` command's entry point: this process is ovaot's own.

    It never calls openvino.convert_model, which openvino/__init__ imports inside `try: ... except ImportError`
    (openvino.tools.ovc: a slow import, and a telemetry event); a None entry in sys.modules
    makes that import fail at once. Read, query, compile and save_model are untouched. Not done by main() or
    `import ovaot`, which may run in the caller's process.
    """
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino.tools.ovc", None)
    main(prog_name="ovaot")


def _target(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from ovaot.targets import parse_target

    try:
        return parse_target(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def _pass_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from ovaot.passes.manager import check_names
    from ovaot.passes.registry import optimisation_passes

    try:
        check_names(value, optimisation_passes(), "")  # click names the option itself
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@main.command("passes")
@click.option("--json", "as_json", is_flag=True, help="Print the passes as JSON.")
def passes_command(as_json: bool) -> None:
    """List the graph passes: name, the level that turns them on, and what they do."""
    from ovaot.passes.registry import describe_passes

    passes = describe_passes()
    if as_json:
        click.echo(json.dumps(passes, indent=2))
        return
    width = max(len(str(p["name"])) for p in passes)
    for p in passes:
        click.echo(f"{p['name']:<{width}}  {p['level']:<11}  {p['description']}")


@main.command("compile")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-t", "--target", required=True, callback=_target, help="Device type, e.g. CPU_FP32, HETERO:MYRIAD,CPU.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The .ovpkg to write.")
@click.option(
    "--force-fallback",
    "force_fallback",
    multiple=True,
    metavar="OP_TYPE",
    help="Run this op type in the numpy fallback (repeatable).",
)
@click.option(
    "--capabilities",
    type=click.Path(path_type=Path),
    help='JSON {"DEVICE": {"OpType": true|false}} overriding what a device supports.',
)
@click.option(
    "--host-variant/--no-host-variant",
    default=True,
    help="Add a CPU-compiled variant when the target's devices are not on this host (default: on).",
)
@click.option(
    "--ir/--no-ir",
    "portable_ir",
    default=True,
    help="Bundle each partition's portable OpenVINO IR (default: on). --no-ir leaves it out where every device "
    "has a blob: weights stored once, but a blob the host cannot import is then an error.",
)
@click.option(
    "--option",
    "provider_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An OpenVINO EP option: device_id, num_of_threads, num_streams, performance_hint, "
    "enable_vpu_fast_compile (repeatable).",
)
@click.option(
    "--opt-level",
    "opt_level",
    default=None,
    metavar="LEVEL",
    help="disable_all, basic, extended or all (onnxruntime's levels; default: disable_all).",
)
@click.option("-O", "opt_number", type=click.IntRange(0, 3), default=None, help="-O0..-O3, the same as --opt-level.")
@click.option(
    "--enable-pass",
    "enable_passes",
    multiple=True,
    callback=_pass_names,
    metavar="NAME",
    help="Run this pass whatever the level (repeatable).",
)
@click.option(
    "--disable-pass",
    "disable_passes",
    multiple=True,
    callback=_pass_names,
    metavar="NAME",
    help="Never run this pass (repeatable).",
)
@click.option(
    "--fold-limit",
    "fold_limit_bytes",
    type=click.IntRange(0),
    default=1 << 20,
    show_default=True,
    help="Largest constant (bytes) that constant folding may add to the package.",
)
@click.option("--verify-passes", is_flag=True, help="Check each pass with onnx.reference on seeded inputs.")
@click.option(
    "--save-temps",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Keep the model after each pass, each partition's subgraph and the manifest in DIR.",
)
@click.option(
    "--validate",
    is_flag=True,
    help="Run each OpenVINO partition against onnx.reference on sample inputs; move what differs to the fallback.",
)
@click.option(
    "--sample-input",
    "sample_input",
    multiple=True,
    metavar="NAME=FILE.npy",
    help="A sample input for validation, which it turns on (default: seeded random inputs from the signature).",
)
@click.option("--force", is_flag=True, help="Rebuild even when the package is up to date.")
@click.option(
    "--sign",
    "sign_key",
    type=click.Path(path_type=Path),
    metavar="KEY.pem",
    help="Sign the manifest with this Ed25519 private key (needs ovaot[sign]).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compile_command(
    model: Path,
    target: Any,
    output: Path,
    force_fallback: tuple[str, ...],
    capabilities: Path | None,
    host_variant: bool,
    portable_ir: bool,
    provider_options: tuple[str, ...],
    opt_level: str | None,
    opt_number: int | None,
    enable_passes: tuple[str, ...],
    disable_passes: tuple[str, ...],
    fold_limit_bytes: int,
    verify_passes: bool,
    save_temps: Path | None,
    validate: bool,
    sample_input: tuple[str, ...],
    force: bool,
    sign_key: Path | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Compile MODEL (an .onnx file) into one .ovpkg package."""
    from ovaot.compiler import CompileOptions, compile
    from ovaot.compiler.options import DEFAULT_OPT_LEVEL
    from ovaot.inspection import package_report
    from ovaot.options import ProviderOptions, parse_key_values
    from ovaot.passes import OptLevel

    if opt_level is not None and opt_number is not None and OptLevel.parse(opt_level) != opt_number:
        raise click.UsageError(f"--opt-level {opt_level} and -O{opt_number} disagree")
    level = opt_level if opt_level is not None else opt_number
    options = CompileOptions(
        force_fallback=force_fallback,
        capabilities=capabilities or {},
        host_variant=host_variant,
        portable_ir=portable_ir,
        opt_level=DEFAULT_OPT_LEVEL if level is None else level,
        enable_passes=enable_passes,
        disable_passes=disable_passes,
        fold_limit_bytes=fold_limit_bytes,
        verify_passes=verify_passes,
        save_temps=save_temps,
        validate=validate,
        sample_inputs=_parse_inputs(sample_input) if sample_input else None,
        provider=ProviderOptions.parse(parse_key_values(provider_options)),
    )
    result = compile(
        model, target, output, options, force=force, sign=sign_key, progress=_progress_printer(quiet or as_json)
    )
    if as_json:
        report = {"output": str(result.output), "up_to_date": result.up_to_date, **package_report(result.manifest)}
        click.echo(json.dumps(report))
    elif not quiet:
        click.echo(result.summary())


def _progress_printer(silent: bool) -> Any:
    """Per-partition progress on a terminal's stderr; nothing when silent or not on a terminal."""
    if silent or not sys.stderr.isatty():
        return None

    def show(message: str) -> None:
        click.echo(f"\r\033[K{message}", err=True, nl=False)

    return show


def _parse_inputs(values: tuple[str, ...]) -> dict[str, Any]:
    import numpy as np

    feed: dict[str, Any] = {}
    for item in values:
        name, sep, file = item.partition("=")
        if not sep:
            if item.endswith(".npz"):
                with np.load(item) as archive:
                    feed.update({k: archive[k] for k in archive.files})
                continue
            raise UsageError(f"--input {item!r}: expected NAME=FILE.npy or FILE.npz")
        try:
            feed[name] = np.load(file, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--input {item!r}: cannot read {file} ({exc})") from None
    return feed


@main.command("run")
@click.argument("package", type=click.Path(path_type=Path))
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=FILE.npy",
    help="An input as a .npy file, or a .npz holding several (repeatable).",
)
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
    outputs = session.run(None, _parse_inputs(inputs))
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
    from ovaot.inspection import package_lines, package_report
    from ovaot.package import PackageReader

    with PackageReader(package) as reader:
        manifest = reader.manifest
    if graph_file is not None:
        from ovaot.graph_drawing import write_graph

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
    from ovaot.loader.verify import verify_package

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
    if not report.ok:
        ctx.exit(EXIT_VERIFICATION_FAILED)


@main.command("bench")
@click.argument("package", type=click.Path(path_type=Path))
@click.option(
    "-i",
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=FILE.npy",
    help="Inputs (default: seeded random values of the declared shapes, symbolic dimensions 1).",
)
@click.option("-n", "--runs", type=click.IntRange(1), default=100, show_default=True)
@click.option(
    "--in-flight",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="Requests in flight for the throughput run.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def bench_command(
    package: Path, inputs: tuple[str, ...], runs: int, in_flight: int, quiet: bool, as_json: bool
) -> None:
    """Measure PACKAGE: load time, latency percentiles and throughput."""
    from ovaot.bench import benchmark

    show = not (quiet or as_json) and sys.stderr.isatty()
    with click.progressbar(length=2 * runs, label="benchmarking", file=sys.stderr) if show else _NoBar() as bar:
        report = benchmark(package, _parse_inputs(inputs) if inputs else None, runs, in_flight, bar.update)
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
    from ovaot.diff import diff_packages

    found = diff_packages(first, second)
    if as_json:
        click.echo(json.dumps({"same": not found, "differences": found}, indent=2))
    else:
        click.echo("\n".join(found) if found else "same")
    if found:
        ctx.exit(EXIT_FAILED)


@main.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def devices_command(as_json: bool) -> None:
    """The devices OpenVINO sees here, their properties, and which targets can be precompiled on this host."""
    from ovaot.devices import devices_report

    report = devices_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"OpenVINO {report['openvino_version']}")
    for device in report["devices"]:
        click.echo(f"  {device['name']}: {device['full_name']} ({', '.join(device['capabilities'])})")
    for target in report["targets"]:
        how = "precompiled here" if target["precompiled_here"] else "IR only here, compiled at load on the device"
        click.echo(f"  target {target['target']}: {how}")


if __name__ == "__main__":
    sys.exit(main())
