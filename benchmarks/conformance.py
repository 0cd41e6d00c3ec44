"""Run onnx's backend node test cases through ovaot (ovaot.backend) and write artifacts/conformance.md.

Run from the repository root:  python -m benchmarks.conformance [--sample N] [--seed S] [--out FILE]
Each case is compiled for CPU_FP32, loaded and run on the case's inputs; outputs are compared with the
case's expected outputs using the case's rtol/atol, as onnx's backend test runner does.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import openvino
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases
from onnx.backend.test.case.test_case import TestCase
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

import ovaot
from ovaot.backend import OvaotBackend


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


def node_cases(sample: int | None = None, seed: int = 0) -> list[TestCase]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = sorted(collect_testcases(), key=lambda c: c.name)
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


def report(outcomes: list[Outcome], seconds: float, command: str, models: list[Outcome] = ()) -> str:
    def counts(items: list[Outcome]) -> str:
        c = collections.Counter(o.status for o in items)
        return f"{c['pass']} | {c['wrong']} | {c['error']} | {len(items)}"

    tensor = [o for o in outcomes if o.tensors_only]
    other = [o for o in outcomes if not o.tensors_only]
    lines = [
        "# Conformance: onnx backend node tests through ovaot",
        "",
        f"Made by `{command}` in {seconds:.0f} s on this machine: ovaot {ovaot.__version__}, onnx {onnx.__version__},",
        f"OpenVINO {openvino.get_version()}, target CPU_FP32, default compile options.",
        "",
        "| category | pass | wrong numbers | error | cases |",
        "|---|---|---|---|---|",
        f"| inputs and outputs all tensors | {counts(tensor)} |",
        f"| sequence or optional inputs/outputs | {counts(other)} |",
        f"| all node cases | {counts(outcomes)} |",
        *(
            f"| model cases: {kind} | {counts([o for o in models if o.ops[0] == kind])} |"
            for kind in sorted({o.ops[0] for o in models})
        ),
        "",
        "## Per op (cases whose model holds the op)",
        "",
        "| op | pass | wrong numbers | error | cases |",
        "|---|---|---|---|---|",
    ]
    by_op: dict[str, list[Outcome]] = collections.defaultdict(list)
    for o in outcomes:
        for op in o.ops:
            by_op[op].append(o)
    lines += [f"| {op} | {counts(items)} |" for op, items in sorted(by_op.items())]
    failing = [o for o in [*outcomes, *models] if o.status != "pass"]
    lines += ["", "## Failing cases", "", "| case | status | detail |", "|---|---|---|"]
    lines += [f"| {o.name} | {o.status} | {o.detail.replace('|', '/')} |" for o in failing]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=None, help="Run a seeded sample of this many cases.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("artifacts/conformance.md"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    start = time.time()
    outcomes = []
    for i, case in enumerate(node_cases(args.sample, args.seed)):
        outcomes.append(run_case(case))
        if i % 100 == 0:
            print(i, case.name, flush=True)
    models = [] if args.sample else [run_case(case) for case in model_cases()]
    command = "python -m benchmarks.conformance" + (
        f" --sample {args.sample} --seed {args.seed}" if args.sample else ""
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(outcomes, time.time() - start, command, models))
    tensor = [o for o in outcomes if o.tensors_only]
    print(
        f"models: {sum(o.status == 'pass' for o in models)}/{len(models)} pass; "
        f"tensor-only: {sum(o.status == 'pass' for o in tensor)}/{len(tensor)} pass; "
        f"all: {sum(o.status == 'pass' for o in outcomes)}/{len(outcomes)}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
