"""ovaot compile: an ONNX model into one .ovpkg package."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from ovaot.cli.main import EXIT_FAILED, main, parse_inputs, skip_teardown
from ovaot.errors import UsageError


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
    "--quantize",
    type=click.Choice(["int8"]),
    help="Quantize the OpenVINO partitions with NNCF's post-training quantization (needs ovaot[quantize]).",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    metavar="DATA",
    help="--quantize's data: an .npz of input arrays (first axis: samples) or a folder of .npy/.npz samples.",
)
@click.option("--calibration-size", type=click.IntRange(1), default=300, show_default=True, metavar="N")
@click.option(
    "--compress-weights",
    type=click.Choice(["int8", "int4_sym", "int4_asym"]),
    help="Compress MatMul and Gemm weights with NNCF's compress_weights (needs ovaot[quantize]).",
)
@click.option("--group-size", type=click.IntRange(-1), help="int4 compression: weights per scale (-1: per channel).")
@click.option("--ratio", type=click.FloatRange(0, 1, min_open=True), help="int4 compression: the share in int4.")
@click.option(
    "--input-shape",
    "input_shape",
    multiple=True,
    metavar="NAME=[d0,d1,...]",
    help="Fix an input's shape before anything is decided (repeatable): a size, ? for dynamic, lo..hi for bounds.",
)
@click.option(
    "--check/--no-check",
    "check_blobs",
    default=True,
    show_default=True,
    help="Import each exported blob again and compare it with the model it was compiled from on a seeded "
    "sample; a blob that differs is not shipped (its IR is compiled at load). --no-check for throw-away builds.",
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with the seconds per stage).")
@click.option("--time-report", is_flag=True, help="Print the wall seconds of each compile stage on stderr.")
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
    quantize: str | None,
    calibration: Path | None,
    calibration_size: int,
    compress_weights: str | None,
    group_size: int | None,
    ratio: float | None,
    input_shape: tuple[str, ...],
    check_blobs: bool,
    sample_input: tuple[str, ...],
    force: bool,
    sign_key: Path | None,
    quiet: bool,
    as_json: bool,
    time_report: bool,
) -> None:
    """Compile MODEL (an .onnx file) into one .ovpkg package."""
    from ovaot.codegen import worker_process

    # numpy's OpenBLAS starts a thread per core that spins for 0.1 s after its import, while the compiler has
    # work for every core; its threads sleep at once instead (BLAS calls are rare here: --validate's)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    worker_process.start_early()  # its start-up overlaps the compiler's imports
    from ovaot.cli.inspection import package_report
    from ovaot.compiler import CompileOptions, compile
    from ovaot.compiler.options import DEFAULT_OPT_LEVEL
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
        check_blobs=check_blobs,
        input_shapes=parse_key_values(input_shape, "--input-shape", "NAME=[d0,d1,...]"),
        quantize=quantize,
        calibration=calibration,
        calibration_size=calibration_size,
        compress_weights=compress_weights,
        group_size=group_size,
        ratio=ratio,
        sample_inputs=parse_inputs(sample_input) if sample_input else None,
        provider=ProviderOptions.parse(parse_key_values(provider_options)),
    )
    result = compile(
        model, target, output, options, force=force, sign=sign_key, progress=_progress_printer(quiet or as_json)
    )
    if time_report:
        from ovaot.compiler.stages import report as stage_table

        seconds = dict(result.stage_seconds)
        click.echo(stage_table(seconds, seconds.pop("total")), err=True)
    if as_json:
        report = {"output": str(result.output), "up_to_date": result.up_to_date, **package_report(result.manifest)}
        click.echo(json.dumps({**report, "stage_seconds": result.stage_seconds}))
    elif not quiet:
        click.echo(result.summary())
    skip_teardown()


def _progress_printer(silent: bool) -> Any:
    """Per-partition progress on a terminal's stderr; nothing when silent or not on a terminal."""
    if silent or not sys.stderr.isatty():
        return None

    def show(message: str) -> None:
        click.echo(f"\r\033[K{message}", err=True, nl=False)

    return show


@main.command("compile-many")
@click.argument("models", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-t", "--target", "targets", multiple=True, required=True, help="A target (repeatable).")
@click.option("-o", "--output", "folder", type=click.Path(path_type=Path), required=True, metavar="OUTDIR")
@click.option("--jobs", type=click.IntRange(1), help="Processes in the local pool (default: one per core).")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Run the jobs on this Dask scheduler (tcp://host:port; needs ovaot[dask] and a filesystem the workers share).",
)
@click.option("--force", is_flag=True, help="Rebuild even the packages that are up to date.")
@click.option("--json", "as_json", is_flag=True, help="Print the index as JSON.")
@click.pass_context
def compile_many_command(
    ctx: click.Context,
    models: tuple[Path, ...],
    targets: tuple[str, ...],
    folder: Path,
    jobs: int | None,
    scheduler: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Compile every MODEL for every target into OUTDIR/<model>.<target>.ovpkg, each exactly as `ovaot compile`
    would; OUTDIR/index.json lists the results. Exit 1 when any job failed (the others still run)."""
    from ovaot.integrations.fleet import compile_many, plan_jobs, write_index

    folder.mkdir(parents=True, exist_ok=True)
    planned = plan_jobs(models, targets, folder, force=force)
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise click.UsageError("--scheduler needs Dask: pip install 'ovaot[dask]'") from None
        with Client(scheduler) as client:
            results = compile_many(planned, client.get_executor())
    else:
        results = compile_many(planned, workers=jobs)
    index = write_index(folder, results)
    if as_json:
        click.echo(index.read_text().rstrip())
    else:
        for result in results:
            where = Path(result.job.output).name
            detail = f": {result.error}" if result.error else f" ({result.seconds:.1f} s)"
            click.echo(f"{result.status}: {where}{detail}")
        click.echo(f"wrote {index}")
    if any(r.status == "failed" for r in results):
        ctx.exit(EXIT_FAILED)
