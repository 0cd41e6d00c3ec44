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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compile_command(
    model: Path,
    target: Any,
    output: Path,
    force_fallback: tuple[str, ...],
    capabilities: Path | None,
    host_variant: bool,
    provider_options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Compile MODEL (an .onnx file) into one .ovpkg package."""
    from ovaot.compiler import compile
    from ovaot.inspection import package_report
    from ovaot.options import parse_key_values

    result = compile(
        model,
        target,
        output,
        force_fallback=force_fallback,
        capabilities=capabilities,
        host_variant=host_variant,
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
