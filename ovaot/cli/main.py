"""The ovaot command: the group every command belongs to, one-line errors and stable exit codes."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
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
    try:
        main(prog_name="ovaot")
    except SystemExit as done:
        if done.code in (0, None) and _skip_teardown:
            # As clang's driver does (-disable-free): the work is done and written, and unwinding the interpreter
            # (OpenVINO's plugins, a large model's memory) would cost a compile another 0.1 s for nothing.
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError):  # a reader that went away (ovaot ... | head)
                    stream.flush()
            os._exit(0)
        raise


_skip_teardown = False


def skip_teardown() -> None:
    """Let run() end this process without unwinding the interpreter once the command succeeds (a command whose
    files are written and whose child processes are reaped; not when main() runs in someone else's process)."""
    global _skip_teardown
    _skip_teardown = True


def inputs_option(help: str) -> Any:
    """-i/--input NAME=FILE.npy or FILE.npz (repeatable), as parse_inputs reads them."""
    return click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=FILE.npy", help=help)


def parse_inputs(values: tuple[str, ...]) -> dict[str, Any]:
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
