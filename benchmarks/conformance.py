"""Run onnx's backend node test cases through ovaot.integrations.onnx_backend; write artifacts/conformance.md.

Run from the repository root:  python -m benchmarks.conformance [--sample N] [--seed S] [--out FILE]
Each case is compiled for CPU_FP32, loaded and run on the case's inputs; outputs are compared with the
case's expected outputs using the case's rtol/atol, as onnx's backend test runner does.
"""

from __future__ import annotations

import argparse
import collections
import logging
import time
import warnings
from pathlib import Path

import onnx
import openvino

import ovaot
from tests.conformance_cases import Outcome, model_cases, node_cases, run_case


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
