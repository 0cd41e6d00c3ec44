"""Load an ONNX model from a path or a ModelProto, check it, normalise it and infer its shapes."""

from __future__ import annotations

import logging
import math
import mmap
import os
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blake3
import onnx
from google.protobuf.message import DecodeError
from onnx import ModelProto, TensorProto

from ovaot.compiler.input_shapes import apply_input_shapes, fix_dynamic_dims
from ovaot.compiler.stages import stage
from ovaot.compiler.type_inference import (
    complete_element_types,
    refine_if_shapes,
    refine_tokenizer_shapes,
    types_from_a_run,
)
from ovaot.errors import ModelError, first_line
from ovaot.mapped_file import mapped
from ovaot.passes import NORMALIZE_PASSES, run_passes
from ovaot.passes.weights import MARK, Stash, is_set_aside, set_weights_aside
from ovaot.passes.weights_reader import parse_with_weights_aside

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A checked, normalised (and, from load_model, shape-inferred) model and what identifies its source."""

    model: ModelProto
    source_name: str
    source_digest: str
    # the model's large weights where reading set them aside: the model holds none of them until
    # infer_shapes(model, name, aside) puts them back; None: the model holds its weights
    aside: Stash | None = None


def read_model(source: str | os.PathLike | ModelProto, data: bytes | None = None) -> tuple[ModelProto, str]:
    """Read a model (with its external data) and return it with a display name; `data`, where given, is the
    file's bytes, read already (read_checked checks the same bytes)."""
    if isinstance(source, ModelProto):
        model = ModelProto()
        model.CopyFrom(source)
        return model, source.graph.name or "model"
    path = Path(source)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        model = (
            onnx.load_model_from_string(data) if data is not None else onnx.load(str(path), load_external_data=False)
        )
        if any(onnx.external_data_helper.uses_external_data(t) for t in _all_tensors(model)):
            onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        raise ModelError(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    except (OSError, onnx.checker.ValidationError) as exc:
        raise ModelError(f"{path}: cannot read the model or its external data ({exc})") from None
    return model, path.name


def _all_tensors(model: ModelProto) -> list[onnx.TensorProto]:
    return list(onnx.external_data_helper._get_all_tensors(model))


def _binary_file(source: str | os.PathLike | ModelProto) -> Path | None:
    """The source's path if onnx.load read it as binary protobuf (the checker reads only that), else None."""
    if isinstance(source, ModelProto):
        return None
    extension = os.path.splitext(str(source))[1]
    text = onnx.serialization.registry.get_format_from_file_extension(extension) not in (None, "protobuf")
    return None if text else Path(source)


def check_model(
    model: ModelProto, name: str, path: Path | None = None, data: bytes | None = None, aside: Stash | None = None
) -> None:
    """Run the ONNX checker; given the file `model` was read from, on that, or on its bytes where they are at
    hand (no serialised copy of the weights either way). Given the weights `aside` (the model holds none of
    them), on the model without them where that is the same check (_checks_alone), else on `data`."""
    if not model.graph.node and not model.graph.output:
        raise ModelError(f"{name}: not an ONNX model (it has no graph)")
    try:
        if not (aside is not None and aside.data and _checks_alone(model, aside) and _checked_alone(model)):
            onnx.checker.check_model(data if data is not None else model if path is None else str(path))
    except (onnx.checker.ValidationError, ValueError) as exc:
        raise ModelError(f"{name}: fails the ONNX checker: {first_line(exc)}") from None


def _checked_alone(model: ModelProto) -> bool:
    """Run the checker on `model`, whose large weights are set aside, from a file beside which their place as
    set aside exists (so that the checker's external data check passes); False where the files cannot be
    written (the caller checks the whole bytes). A failure raises the checker's error."""
    try:
        with tempfile.TemporaryDirectory(prefix="ovaot-check-") as name:
            folder = Path(name)
            (folder / MARK).touch()
            (folder / "model.onnx").write_bytes(model.SerializeToString())
            onnx.checker.check_model(str(folder / "model.onnx"))
    except OSError:
        return False
    return True


# bytes per element of the types whose raw data the checker sizes plainly
_ELEMENT_BYTES = {
    TensorProto.FLOAT: 4,
    TensorProto.UINT8: 1,
    TensorProto.INT8: 1,
    TensorProto.UINT16: 2,
    TensorProto.INT16: 2,
    TensorProto.INT32: 4,
    TensorProto.INT64: 8,
    TensorProto.BOOL: 1,
    TensorProto.FLOAT16: 2,
    TensorProto.DOUBLE: 8,
    TensorProto.UINT32: 4,
    TensorProto.UINT64: 8,
    TensorProto.COMPLEX64: 8,
    TensorProto.COMPLEX128: 16,
    TensorProto.BFLOAT16: 2,
}
_VALUE_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _checks_alone(model: ModelProto, aside: Stash) -> bool:
    """Whether each weight set aside passes what the checker asks of a tensor's raw data (a type it sizes, no
    dimension below 1, no other value field, at least as many bytes as the shape needs): then the checker's
    verdict on the model without them is its verdict on the whole model. Any doubt: False."""
    for tensor in model.graph.initializer:
        data = aside.data.get(tensor.name)
        if data is None or tensor.data_location != TensorProto.EXTERNAL:
            continue
        size = _ELEMENT_BYTES.get(tensor.data_type)
        if size is None or any(d < 1 for d in tensor.dims) or any(getattr(tensor, f) for f in _VALUE_FIELDS):
            return False
        if len(data) < size * math.prod(tensor.dims):
            return False
    return True


def infer_shapes(model: ModelProto, name: str, aside: Stash | None = None) -> ModelProto:
    """The model with its shapes inferred. It consumes `model`: the large weights move to the result (the
    input keeps none), so that they are never held twice. `aside`: the weights, where the caller has set them
    aside already; they go into the result."""
    stash = set_weights_aside(model, into=aside)  # all of them, or those made since (Constant nodes')
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception as exc:  # shape inference is an aid, not a gate
        stash.restore(model)
        log.warning("%s: shape inference failed, continuing without it: %s", name, exc)
    else:
        stash.restore(inferred)
        model = inferred
    if refine_if_shapes(model) or refine_tokenizer_shapes(model):
        return infer_shapes(model, name)  # what follows the If or the Tokenizer can now be inferred too
    complete_element_types(model)
    if types_from_a_run(model):
        return infer_shapes(model, name)  # what follows a custom op can now be inferred too
    return model


def _names_other_files(model: ModelProto) -> bool:
    """Whether a tensor of `model`, other than the weights set aside, is stored elsewhere or names a file (an
    entry left behind counts: source_digest hashes every file a "location" names)."""
    return any(
        not is_set_aside(t)
        and (onnx.external_data_helper.uses_external_data(t) or any(e.key == "location" for e in t.external_data))
        for t in _all_tensors(model)
    )


def _may_name_external_data(contents: bytes | mmap.mmap) -> bool:
    """Whether a model file's bytes may name external data files: those are named by a "location" entry."""
    return contents.find(b"location") >= 0


def source_digest(source: str | os.PathLike | ModelProto) -> str:
    """'blake3:<hex>' identifying the input: a file's bytes and its external data files, or a ModelProto's
    contents. BLAKE3 over the memory-mapped file, on every core (a tree hash: the same digest either way), is
    cheap enough to decide whether a package is up to date without reading the model (resnet50: 0.02 s).
    """
    if isinstance(source, ModelProto):
        return "blake3:" + blake3.blake3(source.SerializeToString(deterministic=True)).hexdigest()
    path = Path(source)
    contents = _contents(path)
    digest = blake3.blake3(contents, max_threads=blake3.blake3.AUTO)
    if not _may_name_external_data(contents):
        return "blake3:" + digest.hexdigest()
    try:
        model = onnx.load(str(path), load_external_data=False)  # the format from the extension, as read_model
    except (DecodeError, RuntimeWarning, ValueError):
        return "blake3:" + digest.hexdigest()  # not ONNX: loading will say so
    locations = sorted({e.value for t in _all_tensors(model) for e in t.external_data if e.key == "location"})
    for location in locations:
        external_file = path.parent / location
        digest.update(location.encode())
        digest.update(mapped(external_file) if external_file.is_file() else b"<missing>")
    return "blake3:" + digest.hexdigest()


def _contents(path: Path) -> mmap.mmap | bytes:
    """The model file's bytes, mapped."""
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    return mapped(path)


def load_model(
    source: str | os.PathLike | ModelProto, digest: str | None = None, input_shapes: Mapping | None = None
) -> LoadedModel:
    """read_checked, then infer_shapes."""
    loaded = read_checked(source, digest, input_shapes)
    with stage("shape inference"):
        loaded.model = infer_shapes(loaded.model, loaded.source_name, loaded.aside)
    loaded.aside = None
    return loaded


def read_checked(
    source: str | os.PathLike | ModelProto,
    digest: str | None = None,
    input_shapes: Mapping | None = None,
    static_for: str | None = None,
) -> LoadedModel:
    """The model read, checked and normalised, with --input-shape's shapes; its shapes not inferred yet.
    `static_for` names a target whose devices compile static shapes only: the dimensions left dynamic become
    1, with a warning. A model file without external data is read with its large weights set aside (the
    result's `aside`)."""
    if digest is not None or isinstance(source, ModelProto):
        digest = digest or source_digest(source)
        model, name, aside = _read_normalised(source, input_shapes, static_for)
        return LoadedModel(model, name, digest, aside)
    # a file is hashed on a thread while the model is read and checked, on one core while the other reads it:
    # BLAKE3 lets go of the GIL (a failed read waits for the hash to end)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovaot-hash") as hashing:
        file_hash = hashing.submit(lambda: blake3.blake3(_contents(Path(source)), max_threads=1).hexdigest())
        model, name, aside = _read_normalised(source, input_shapes, static_for)
        if aside is None:  # not read with its weights set aside: it may name external data, which the digest covers
            return LoadedModel(model, name, source_digest(source), aside)
        return LoadedModel(model, name, "blake3:" + file_hash.result(), aside)


def _read_normalised(
    source: str | os.PathLike | ModelProto, input_shapes: Mapping | None, static_for: str | None
) -> tuple[ModelProto, str, Stash | None]:
    binary = _binary_file(source)
    with stage("read"):
        # a binary file is read once: parsed, and checked, from the same bytes (with external data, the
        # checker reads the files itself); without external data, parsed with its weights set aside
        data = binary.read_bytes() if binary is not None and binary.is_file() else None
        split = parse_with_weights_aside(data) if data is not None else None
        if split is not None and binary is not None and not _names_other_files(split[0]):
            (model, aside), name, bytes_to_check = split, binary.name, data
        else:  # read_model says what is wrong with a tensor stored elsewhere
            bytes_to_check = data if data is not None and not _may_name_external_data(data) else None
            (model, name), aside = read_model(source, data), None
    with stage("check"):
        check_model(model, name, binary, bytes_to_check, aside)
    del data
    with stage("normalise"):
        model, _ = run_passes(model, NORMALIZE_PASSES)  # structural and checked by tests: no second check
        if input_shapes:
            apply_input_shapes(model, input_shapes)  # before shape inference: what follows is sized by them
        if static_for:
            fixed = fix_dynamic_dims(model, input_shapes or {}, static_for)
            if fixed:
                log.warning(
                    "%s compiles static shapes only: %s; --input-shape NAME=[d0,...] gives other sizes",
                    static_for,
                    ", ".join(fixed),
                )
    return model, name, aside
