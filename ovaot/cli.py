"""The ovaot command line: a thin layer of click commands over the Python API."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ovaot.errors import OvaotError, UsageError
from ovaot.version import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class OvaotGroup(click.Group):
    """Turns OvaotError into one line on stderr and its exit code; --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OvaotError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"ovaot: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # the reader went away (ovaot passes | head): nothing more to say
            sys.stderr.close()
            ctx.exit(EXIT_OK)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                f"ovaot: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True
            )
            ctx.exit(EXIT_FAILED)


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


def _target(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    from ovaot.targets import parse_target

    try:
        return parse_target(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def _pass_names(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from ovaot.passes.registry import optimisation_passes

    known = [p.name for p in optimisation_passes()]
    for name in value:
        if name not in known:
            raise click.BadParameter(f"unknown pass {name!r}; valid passes: {', '.join(known)}")
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
    "--option",
    "provider_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An OpenVINO EP option: device_id, num_of_threads, enable_vpu_fast_compile (repeatable).",
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
    help="A sample input for --validate (default: seeded random inputs from the signature).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compile_command(
    model: Path,
    target: Any,
    output: Path,
    force_fallback: tuple[str, ...],
    capabilities: Path | None,
    host_variant: bool,
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
    as_json: bool,
) -> None:
    """Compile MODEL (an .onnx file) into one .ovpkg package."""
    from ovaot.compiler import compile
    from ovaot.inspection import package_report
    from ovaot.options import parse_key_values
    from ovaot.passes import OptLevel

    if opt_level is not None and opt_number is not None and OptLevel.parse(opt_level) != opt_number:
        raise click.UsageError(f"--opt-level {opt_level} and -O{opt_number} disagree")
    level = opt_level if opt_level is not None else opt_number
    result = compile(
        model,
        target,
        output,
        force_fallback=force_fallback,
        capabilities=capabilities,
        host_variant=host_variant,
        **({"opt_level": level} if level is not None else {}),
        enable_passes=enable_passes,
        disable_passes=disable_passes,
        fold_limit_bytes=fold_limit_bytes,
        verify_passes=verify_passes,
        save_temps=save_temps,
        validate=validate or bool(sample_input),
        sample_inputs=_parse_inputs(sample_input) if sample_input else None,
        **parse_key_values(provider_options),
    )
    if as_json:
        click.echo(json.dumps({"output": str(result.output), **package_report(result.manifest)}))
    else:
        click.echo(result.summary())


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
@click.option("--output", "output_dir", type=click.Path(path_type=Path), help="Write each output as NAME.npy here.")
def run_command(package: Path, inputs: tuple[str, ...], output_dir: Path | None) -> None:
    """Run PACKAGE on the given inputs and print a summary of each output."""
    import numpy as np

    from ovaot.loader import load

    session = load(package)
    outputs = session.run(None, _parse_inputs(inputs))
    for info, value in zip(session.get_outputs(), outputs):
        array = np.asarray(value)
        line = f"{info.name}: {array.dtype} {list(array.shape)}"
        if array.size and array.dtype.kind in "fiu":
            line += f" min={array.min():.6g} max={array.max():.6g} argmax={int(array.argmax())}"
        click.echo(line)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            np.save(output_dir / f"{info.name.replace('/', '_')}.npy", array)


@main.command("inspect")
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect_command(package: Path, as_json: bool) -> None:
    """Show what PACKAGE holds: plans, partitions, what is precompiled for which device, why nodes fell back."""
    from ovaot.inspection import package_lines, package_report
    from ovaot.package import PackageReader

    with PackageReader(package) as reader:
        manifest = reader.manifest
    if as_json:
        click.echo(json.dumps(package_report(manifest), indent=2))
        return
    click.echo(f"{package}: " + "\n".join(package_lines(manifest)))


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
