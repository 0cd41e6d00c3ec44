"""onnx's backend test cases (node cases and model tests of the onnx wheel) run through ovaot.integrations.onnx_backend.

Shared by tests/test_conformance.py (a seeded sample) and benchmarks/conformance.py (the full run). Each case is
compiled for CPU_FP32, loaded and run on its inputs; outputs are compared with the expected ones using the
case's rtol/atol, as onnx's backend test runner does.
"""

from __future__ import annotations

import functools
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases
from onnx.backend.test.case.test_case import TestCase
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from ovaot.integrations.onnx_backend import OvaotBackend


@dataclass(frozen=True)
class Outcome:
    name: str
    ops: tuple[str, ...]
    tensors_only: bool
    status: str  # "pass", "wrong" (numbers differ), "error" (compile or run failed)
    detail: str


def tensors_only(model: onnx.ModelProto) -> bool:
    values = [*model.graph.input, *model.graph.output]
    return all(v.type.WhichOneof("value") == "tensor_type" for v in values)


def run_case(case: TestCase | ModelCase, **options) -> Outcome:
    model = case.model
    ops = (case.kind,) if isinstance(case, ModelCase) else tuple(sorted({n.op_type for n in model.graph.node}))
    try:
        rep = OvaotBackend.prepare(model, "CPU", **options)
        for inputs, expected in case.data_sets:
            outputs = rep.run([_normalize(v) for v in inputs])
            expected = [_normalize(v) for v in expected]
            Runner.assert_similar_outputs(expected, list(outputs), rtol=case.rtol, atol=case.atol)
    except AssertionError as exc:
        return Outcome(case.name, ops, tensors_only(model), "wrong", str(exc).strip().splitlines()[0][:160])
    except Exception as exc:
        return Outcome(case.name, ops, tensors_only(model), "error", f"{type(exc).__name__}: {exc}"[:160])
    return Outcome(case.name, ops, tensors_only(model), "pass", "")


def _normalize(value: object) -> object:
    """As onnx's runner does: TensorProto inputs become numpy arrays."""
    return numpy_helper.to_array(value) if isinstance(value, onnx.TensorProto) else value


@functools.cache
def _all_node_cases() -> tuple[TestCase, ...]:
    """Every node case of the onnx wheel, by name (collecting runs each case's generator: a few seconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some generators divide by zero on purpose
        return tuple(sorted(collect_testcases(), key=lambda c: c.name))


def node_cases(sample: int | None = None, seed: int = 0) -> list[TestCase]:
    cases = list(_all_node_cases())
    if sample is not None and sample < len(cases):
        cases = sorted(random.Random(seed).sample(cases, sample), key=lambda c: c.name)
    return cases


@dataclass(frozen=True)
class ModelCase:
    """A model test of the onnx wheel (simple, pytorch-converted, pytorch-operator) with its data sets."""

    name: str
    kind: str
    model: onnx.ModelProto
    data_sets: list[tuple[list[Any], list[Any]]]
    rtol: float
    atol: float


def _read_value(path: Path) -> Any:
    data = path.read_bytes()
    tensor = onnx.TensorProto()
    tensor.ParseFromString(data)
    return numpy_helper.to_array(tensor)


def model_cases(kinds: tuple[str, ...] = ("simple", "pytorch-converted", "pytorch-operator")) -> list[ModelCase]:
    cases = []
    for kind in kinds:
        for test in load_model_tests(kind=kind):
            folder = Path(test.model_dir)
            data_sets = []
            for data in sorted(folder.glob("test_data_set_*")):
                inputs = [_read_value(p) for p in sorted(data.glob("input_*.pb"), key=lambda p: int(p.stem[6:]))]
                outputs = [_read_value(p) for p in sorted(data.glob("output_*.pb"), key=lambda p: int(p.stem[7:]))]
                data_sets.append((inputs, outputs))
            cases.append(ModelCase(test.name, kind, onnx.load(folder / "model.onnx"), data_sets, test.rtol, test.atol))
    return cases
