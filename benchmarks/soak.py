"""Concurrency soak: one Session shared by many threads for a while; report runs, threads and mismatches.

Run from the repository root:  python -m benchmarks.soak [--threads 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import ovaot
from tests.zoo import mobilenet_v2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = ovaot.compile(mobilenet_v2(), "CPU_FP32", Path(tmp) / "m.ovpkg", force_fallback=["Flatten"]).output
        session = ovaot.load(package)
    rng = np.random.default_rng(0)
    feeds = [{"input": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)} for _ in range(args.threads)]
    expected = [session.run(None, feed)[0] for feed in feeds]
    runs, mismatches, errors = [0] * args.threads, [0] * args.threads, []
    deadline = time.monotonic() + args.seconds

    def worker(i: int) -> None:
        try:
            while time.monotonic() < deadline:
                if not np.array_equal(session.run(None, feeds[i])[0], expected[i]):
                    mismatches[i] += 1
                runs[i] += 1
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(
        f"threads {args.threads}, seconds {args.seconds:.0f}, runs {sum(runs)}, mismatches {sum(mismatches)}, "
        f"errors {len(errors)}"
    )


if __name__ == "__main__":
    main()
