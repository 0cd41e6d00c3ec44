"""CompileOptions: everything besides the model and the target that decides what a package holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ovaot.compiler.input_shapes import parse_shape, shape_text
from ovaot.errors import UsageError
from ovaot.options import ProviderOptions
from ovaot.passes import OptLevel, PassConfig

DEFAULT_OPT_LEVEL = OptLevel.disable_all  # chosen by measurement: artifacts/passes.md


@dataclass(frozen=True)
class CompileOptions:
    """The compile options, normalised on construction: sequences become deduplicated tuples, a capabilities
    file is read, the level is parsed, EP options are parsed into `provider`, and sample inputs or edge values
    turn validation on."""

    force_fallback: tuple[str, ...] = ()  # op types sent to the numpy fallback
    capabilities: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)  # or a JSON file's path
    host_variant: bool = True  # a CPU-compiled plan for hosts without the target's devices
    portable_ir: bool = True  # bundle each partition's IR even where every device has a blob
    opt_level: OptLevel = DEFAULT_OPT_LEVEL  # or its name or number
    enable_passes: tuple[str, ...] = ()
    disable_passes: tuple[str, ...] = ()
    fold_limit_bytes: int = 1 << 20  # the largest constant that folding may add to the package
    verify_passes: bool = False  # check every pass against onnx.reference on seeded inputs
    validate: bool = False  # check every OpenVINO partition, as it ships, against onnx.reference
    validate_edge_values: bool = False  # validation adds sample sets at the edges (inf, nan, ...)
    quantize: str | None = None  # "int8": NNCF's post-training quantization of the OpenVINO partitions
    calibration: Path | None = None  # its data: an .npz of input arrays or a folder of .npy/.npz samples
    calibration_size: int = 300  # at most this many calibration samples
    compress_weights: str | None = None  # "int8", "int4_sym" or "int4_asym": NNCF's compress_weights
    group_size: int | None = None  # for int4 compression
    ratio: float | None = None  # for int4 compression: the share of weights in int4
    input_shapes: Mapping[str, Any] = field(default_factory=dict)  # name -> "[1,3,224,224]" or parsed dims
    sample_inputs: Mapping[str, Any] | None = None  # validation's inputs (default: seeded from the signature)
    check_blobs: bool = True  # import each exported blob again and compare it with the compiled model
    reproducible: bool = True  # export blobs in a fresh worker process: byte-identical packages
    save_temps: Path | None = None  # keep every intermediate in this folder
    provider: ProviderOptions = field(default_factory=ProviderOptions)  # the OpenVINO EP options
    calibration_digest: str = field(default="", init=False)  # derived: BLAKE3 of the calibration data

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised once, here
        set_(self, "force_fallback", tuple(dict.fromkeys(self.force_fallback)))
        set_(self, "enable_passes", tuple(dict.fromkeys(self.enable_passes)))
        set_(self, "disable_passes", tuple(dict.fromkeys(self.disable_passes)))
        set_(self, "opt_level", OptLevel.parse(self.opt_level))
        if not isinstance(self.capabilities, Mapping):
            from ovaot.compiler.capability import read_capabilities

            set_(self, "capabilities", read_capabilities(self.capabilities))
        if not isinstance(self.provider, ProviderOptions):
            set_(self, "provider", ProviderOptions.parse(self.provider))
        if self.save_temps is not None:
            set_(self, "save_temps", Path(self.save_temps))
        set_(
            self,
            "input_shapes",
            {n: parse_shape(d, n) if isinstance(d, str) else tuple(d) for n, d in sorted(self.input_shapes.items())},
        )
        if self.calibration is not None:
            set_(self, "calibration", Path(self.calibration))
        if self.quantize is not None:
            from ovaot.compiler.quantization import METHODS, calibration_digest

            if self.quantize not in METHODS:
                raise UsageError(f"--quantize {self.quantize}: ovaot quantizes to {', '.join(METHODS)}")
            if self.calibration is None:
                raise UsageError("--quantize int8 needs --calibration DATA (an .npz or a folder of samples)")
            set_(self, "calibration_digest", calibration_digest(self.calibration))
        if self.compress_weights is not None:
            from ovaot.compiler.quantization import COMPRESSIONS

            if self.compress_weights not in COMPRESSIONS:
                raise UsageError(f"--compress-weights {self.compress_weights}: one of {', '.join(COMPRESSIONS)}")
            if self.quantize:
                raise UsageError("--compress-weights and --quantize do not combine: --quantize makes weights int8 too")
        if (self.group_size is not None or self.ratio is not None) and not (self.compress_weights or "").startswith(
            "int4"
        ):
            raise UsageError("--group-size and --ratio apply to --compress-weights int4_sym or int4_asym")
        set_(self, "validate", self.validate or self.validate_edge_values or self.sample_inputs is not None)

    @classmethod
    def of(cls, options: CompileOptions | None = None, **overrides: Any) -> CompileOptions:
        """`options` (default: the defaults) with `overrides`: option names, or EP options (device_id, ...),
        which go into `provider`. An unknown name lists both apart."""
        options = options or cls()
        names = [f.name for f in fields(cls) if f.init]
        own = {k: v for k, v in overrides.items() if k in names}
        provider = {k: v for k, v in overrides.items() if k not in names}
        if provider:
            merged = {**options.provider.to_manifest(), **provider}
            own["provider"] = ProviderOptions.parse(merged, parameters=names)
        return replace(options, **own)

    @property
    def passes(self) -> PassConfig:
        return PassConfig(self.opt_level, self.enable_passes, self.disable_passes, self.fold_limit_bytes)

    def to_manifest(self) -> dict[str, Any]:
        """What the manifest records: the options that decide the package's contents."""
        return {
            **self.passes.to_manifest(),
            "verify_passes": self.verify_passes,
            "validate": self.validate,
            "validate_edge_values": self.validate_edge_values,
            "check_blobs": self.check_blobs,
            **({"input_shapes": {n: shape_text(d) for n, d in self.input_shapes.items()}} if self.input_shapes else {}),
            **(
                {
                    "quantize": self.quantize,
                    "calibration_digest": self.calibration_digest,
                    "calibration_size": self.calibration_size,
                }
                if self.quantize
                else {}
            ),
            **(
                {"compress_weights": self.compress_weights, "group_size": self.group_size, "ratio": self.ratio}
                if self.compress_weights
                else {}
            ),
            "force_fallback": sorted(self.force_fallback),
            "capabilities": {d: dict(sorted(ops.items())) for d, ops in sorted(self.capabilities.items())},
            "host_variant": self.host_variant,
            "portable_ir": self.portable_ir,
            "provider_options": self.provider.to_manifest(),
        }


__all__ = ["DEFAULT_OPT_LEVEL", "CompileOptions"]
