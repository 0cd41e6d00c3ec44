"""--input-shape NAME=[1,3,224,224]: fix (or bound) the model's input dimensions before anything is decided.

A dimension is a size, `?` (dynamic) or `lo..hi` (dynamic within bounds). The shapes are written into the
model's graph inputs before shape inference, capability and partitioning, so OpenVINO compiles static shapes
where they are static; a bounded dimension is named "lo..hi" in the ONNX model (a symbolic dimension) and given
to OpenVINO as a bounded Dimension. The manifest records the option and the inputs' shapes, and the loader
checks feeds against them.
"""

from __future__ import annotations

from collections.abc import Mapping

from onnx import ModelProto

from ovaot.compiler.value_info import tensor_inputs
from ovaot.errors import UsageError
from ovaot.format.manifest import bounds_name, parse_bounds_name

Dim = int | None | tuple[int, int]  # a size, dynamic, or (lower, upper) bounds


def parse_shape(text: str, name: str = "") -> tuple[Dim, ...]:
    """'[1,3,224,224]', '[?,3,224..448,224]' -> (1, 3, 224, 224), (None, 3, (224, 448), 224)."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise UsageError(f"--input-shape {name}={text}: a shape is written [d0,d1,...] (d: a size, ? or lo..hi)")
    dims: list[Dim] = []
    for part in (p.strip() for p in body[1:-1].split(",")) if body[1:-1].strip() else ():
        bounds = parse_bounds_name(part)
        if part == "?":
            dims.append(None)
        elif part.isdigit() and int(part) > 0:
            dims.append(int(part))
        elif bounds and 0 < bounds[0] <= bounds[1]:
            dims.append(bounds)
        else:
            raise UsageError(f"--input-shape {name}={text}: {part!r} is not a size, ? or lo..hi (0 < lo <= hi)")
    return tuple(dims)


def shape_text(dims: tuple[Dim, ...]) -> str:
    """The canonical spelling of a parsed shape, as the manifest records it."""
    return "[" + ",".join("?" if d is None else bounds_name(d) if isinstance(d, tuple) else str(d) for d in dims) + "]"


def apply_input_shapes(model: ModelProto, shapes: Mapping[str, tuple[Dim, ...]]) -> None:
    """Write `shapes` into the model's graph inputs; a name, rank or static size that contradicts the model is a
    UsageError that says what the model has."""
    weights = {t.name for t in model.graph.initializer}
    inputs = {v.name: v for v in model.graph.input if v.name not in weights}
    for name, dims in shapes.items():
        value = inputs.get(name)
        if value is None:
            raise UsageError(f"--input-shape {name}: the model has no input {name!r}; its inputs are {sorted(inputs)}")
        if not value.type.HasField("tensor_type"):
            raise UsageError(f"--input-shape {name}: {name!r} is not a tensor")
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape") and len(tensor_type.shape.dim) != len(dims):
            raise UsageError(
                f"--input-shape {name}={shape_text(dims)}: {name!r} has rank {len(tensor_type.shape.dim)} in the model"
            )
        old = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else [None] * len(dims)
        for axis, (before, after) in enumerate(zip(old, dims)):
            fixed = before.dim_value if before is not None and before.dim_value > 0 else None
            if (
                fixed is not None
                and after != fixed
                and not (isinstance(after, tuple) and after[0] <= fixed <= after[1])
            ):
                raise UsageError(
                    f"--input-shape {name}={shape_text(dims)}: dimension {axis} of {name!r} is {fixed} in the model"
                )
        names = [d.dim_param if d is not None else "" for d in old]
        tensor_type.shape.ClearField("dim")
        for dim, symbol in zip(dims, names):
            entry = tensor_type.shape.dim.add()
            if isinstance(dim, int):
                entry.dim_value = dim
            elif isinstance(dim, tuple):
                entry.dim_param = bounds_name(dim)
            elif symbol:
                entry.dim_param = symbol  # "?" keeps the model's own name for a dynamic dimension


def fix_dynamic_dims(model: ModelProto, given: Mapping[str, tuple[Dim, ...]], target: str) -> list[str]:
    """For a target whose devices compile static shapes only (MYRIAD, HDDL, NPU): every input dimension the
    model leaves dynamic, and --input-shape does not size, becomes 1; a dimension --input-shape itself makes
    dynamic (? or lo..hi) is a UsageError. Returns a description of each dimension fixed."""
    for name, dims in given.items():
        for axis, dim in enumerate(dims):
            if not isinstance(dim, int):
                raise UsageError(
                    f"--input-shape {name}={shape_text(dims)}: {target} compiles static shapes only, and dimension "
                    f"{axis} of {name!r} is dynamic; give its size"
                )
    fixed = []
    for value in tensor_inputs(model):
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            raise UsageError(
                f"{target} compiles static shapes only, and input {value.name!r} has no rank in the model; "
                f"give its shape with --input-shape {value.name}=[d0,d1,...]"
            )
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.dim_value <= 0:
                was = dim.dim_param or "?"
                dim.Clear()
                dim.dim_value = 1
                fixed.append(f"{value.name!r} dimension {axis} ({was}) -> 1")
    return fixed


def bounded_partial_shapes(parameters: list, value_types: Mapping) -> dict[int, list]:
    """For OpenVINO parameters whose ONNX input has "lo..hi" dimensions: parameter index -> dims, each a size,
    -1 or (lo, hi), for ov.PartialShape."""
    result = {}
    for index, parameter in enumerate(parameters):
        for name in parameter.output(0).get_names():
            value_type = value_types.get(name)
            if value_type is None or not value_type.tensor_type.HasField("shape"):
                continue
            dims = [
                d.dim_value if d.dim_value > 0 else parse_bounds_name(d.dim_param) or -1
                for d in value_type.tensor_type.shape.dim
            ]
            if any(isinstance(d, tuple) for d in dims):
                result[index] = dims
    return result
