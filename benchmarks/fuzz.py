"""A longer fuzz run than the test suite's: mutate a package and an ONNX file, count what escapes.

Run from the repository root:  python -m benchmarks.fuzz [--cases 2000] [--seed 0]
Only ovaot.OvaotError may escape ovaot.load, Session.run and ovaot.compile; anything else is a finding.
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import tempfile
import time
from pathlib import Path

import numpy as np

import ovaot
from ovaot.errors import OvaotError

MODEL = Path(__file__).parent.parent / "examples" / "tiny_cnn.onnx"


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    kind = rng.choice(["flip", "truncate", "splice"])
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == "truncate":
        out = out[: rng.randrange(len(out))]
    else:
        start = rng.randrange(len(out))
        out[start : start + rng.randint(1, 64)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    return bytes(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rng = random.Random(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    findings = []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        package = ovaot.compile(MODEL, "CPU_FP32", folder / "m.ovpkg", force_fallback=["Relu"]).output.read_bytes()
        model = MODEL.read_bytes()
        for case in range(args.cases):
            target = "package" if case % 4 else "onnx"
            data = mutate(package if target == "package" else model, rng)
            path = folder / ("fuzzed.ovpkg" if target == "package" else "fuzzed.onnx")
            path.write_bytes(data)
            try:
                if target == "package":
                    ovaot.load(path).run(None, {"image": np.zeros((1, 1, 28, 28), np.float32)})
                else:
                    ovaot.compile(path, "CPU_FP32", folder / "out.ovpkg", force=True, reproducible=False)
                outcomes[f"{target}: accepted"] += 1
            except OvaotError as exc:
                outcomes[f"{target}: {type(exc).__name__}"] += 1
            except Exception as exc:
                outcomes[f"{target}: ESCAPED {type(exc).__name__}"] += 1
                findings.append(f"case {case} ({target}): {type(exc).__name__}: {exc}")
    print(f"{args.cases} cases in {time.time() - start:.0f} s (seed {args.seed})")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    for finding in findings[:20]:
        print("  finding:", finding)


if __name__ == "__main__":
    main()
