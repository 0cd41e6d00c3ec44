"""The OpenVINO Execution Provider's configuration options, by the spec's names and types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ovaot.errors import UsageError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT")


@dataclass(frozen=True)
class ProviderOptions:
    """device_type is the target itself; the rest are the spec's other keys, plus num_streams (a key of later
    EP versions) and performance_hint (OpenVINO's PERFORMANCE_HINT)."""

    device_id: str | None = None
    num_of_threads: int | None = None
    enable_vpu_fast_compile: bool = False
    use_compiled_network: bool = False
    blob_dump_path: str | None = None
    num_streams: int | None = None
    performance_hint: str | None = None
    # OpenVINO properties per device, {"CPU": {"KEY": "value"}}, for any property ovaot does not name; given as
    # the path of a JSON file (the EP's load_config) or as a mapping. The manifest records the contents.
    load_config: Mapping[str, Mapping[str, str]] | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any], parameters: Sequence[str] = ()) -> ProviderOptions:
        """Build from KEY=VALUE strings or Python values. An unknown key is a UsageError that lists the EP
        options and, apart, the caller's own keyword `parameters`, which share its keyword namespace."""
        known = {f.name: f for f in fields(cls)}
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if key == "device_type":
                raise UsageError(
                    "device_type is the target, not an option here: give it as compile()'s second argument "
                    "or -t on the command line"
                )
            if key not in known:
                raise _unknown(key, parameters, list(known))
            if value is None:
                continue  # not given
            parsed[key] = _load_config(value) if key == "load_config" else _convert(key, value, str(known[key].type))
        hint = parsed.get("performance_hint")
        if hint is not None:
            parsed["performance_hint"] = hint.upper()
            if parsed["performance_hint"] not in PERFORMANCE_HINTS:
                raise UsageError(f"option performance_hint must be one of {', '.join(PERFORMANCE_HINTS)}, got {hint!r}")
        return cls(**parsed)

    def to_manifest(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}

    def openvino_properties(self, device: str | None = None) -> dict[str, str]:
        """The OpenVINO properties these options set: threads, streams and the performance hint, and for
        `device` what load_config gives it (by its name, else by its plugin's: "GPU" for "GPU.1")."""
        properties = {
            "INFERENCE_NUM_THREADS": self.num_of_threads,
            "NUM_STREAMS": self.num_streams,
            "PERFORMANCE_HINT": self.performance_hint,
        }
        result = {key: str(value) for key, value in properties.items() if value is not None}
        if self.load_config and device is not None:
            result.update(self.load_config.get(device) or self.load_config.get(device.split(".")[0]) or {})
        return result


def _load_config(value: Any) -> dict[str, dict[str, str]]:
    """load_config as {DEVICE: {PROPERTY: "value"}}, from a JSON file's path or a mapping."""
    import json
    from pathlib import Path

    where = "load_config"
    if isinstance(value, (str, Path)):
        where = f"load_config {value}"
        try:
            value = json.loads(Path(value).read_text())
        except OSError as exc:
            raise UsageError(f"{where}: cannot read it ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
    if not isinstance(value, Mapping) or not all(isinstance(p, Mapping) for p in value.values()):
        raise UsageError(f'{where}: expected {{"DEVICE": {{"PROPERTY": "value", ...}}, ...}}')
    return {str(d): {str(k): str(v) for k, v in sorted(p.items())} for d, p in sorted(value.items())}


def keyword_parameters(function: Callable[..., Any]) -> list[str]:
    """The keyword-only parameters of `function`, which share its **options with the EP options."""
    import inspect

    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters if p.kind == inspect.Parameter.KEYWORD_ONLY]


def _unknown(key: str, parameters: Sequence[str], options: list[str]) -> UsageError:
    import difflib

    close = difflib.get_close_matches(key, [*parameters, *options], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    own = f"parameters: {', '.join(parameters)}; " if parameters else ""
    return UsageError(f"unknown option {key!r}{hint}; {own}OpenVINO EP options: {', '.join(options)}")


def _convert(key: str, value: Any, kind: str) -> Any:
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise UsageError(f"option {key} must be True or False, got {value!r}")
    if "int" in kind:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number <= 0 or isinstance(value, bool):
            raise UsageError(f"option {key} must be an unsigned number other than 0, got {value!r}")
        return number
    return str(value)


def parse_key_values(
    items: tuple[str, ...] | list[str], option: str = "--option", form: str = "KEY=VALUE"
) -> dict[str, str]:
    """`option`'s KEY=VALUE pairs into a dict; `form` is how the message spells a pair."""
    result = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} {item!r}: expected {form}")
        result[key.strip()] = value.strip()
    return result
