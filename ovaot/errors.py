"""The error hierarchy: every failure ovaot reports is an OvaotError."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (OpenVINO's run to dozens), or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class OvaotError(Exception):
    """Root of every error ovaot raises on purpose."""

    exit_code = 1


class UsageError(OvaotError):
    """The caller asked for something that is not valid (a bad target, an unknown option)."""

    exit_code = 2


class ModelError(OvaotError):
    """The input model cannot be read, fails the ONNX checker or cannot be normalised."""


class CompileError(OvaotError):
    """A stage of the compiler failed on a model that passed the checks."""


class PackageError(OvaotError):
    """A .ovpkg file is missing, unreadable, inconsistent or from an unknown schema."""


class DeviceError(OvaotError):
    """No device on this host can run a partition of the package."""


class InputError(OvaotError):
    """The feed given to Session.run does not match the model's input signature."""


class VerificationError(OvaotError):
    """A build-time check found different numbers: a pass or a partition changed the model's outputs."""

    exit_code = 3
