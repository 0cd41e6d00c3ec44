"""Export compiled blobs in a fresh process, so the bytes do not depend on what this process compiled before.

OpenVINO names the nodes its transformations create from process-wide counters, so the same model compiled
twice in one process exports different blobs, while the first compile in each fresh process gives the same
bytes. The compiler therefore sends every partition of a package, in order, to one new worker process.

Protocol: `python -m ovaot.codegen.export_worker JOBS.json`; each job names an IR (xml, bin), a device and
properties, and the file to write the blob to.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ovaot.errors import CompileError


@dataclass(frozen=True)
class ExportJob:
    xml: bytes
    weights: bytes
    device: str
    config: dict[str, str]


def export_in_fresh_process(jobs: list[ExportJob]) -> list[bytes]:
    """The exported blob of each job, compiled in order in one new Python process."""
    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="ovaot-export-") as tmp:
        folder = Path(tmp)
        manifest = []
        for i, job in enumerate(jobs):
            (folder / f"{i}.xml").write_bytes(job.xml)
            (folder / f"{i}.bin").write_bytes(job.weights)
            manifest.append(
                {"xml": f"{i}.xml", "bin": f"{i}.bin", "blob": f"{i}.blob", "device": job.device, "config": job.config}
            )
        (folder / "jobs.json").write_text(json.dumps(manifest))
        done = subprocess.run(
            [sys.executable, "-m", "ovaot.codegen.export_worker", str(folder / "jobs.json")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CompileError(f"the export worker failed: {done.stderr.strip().splitlines()[-1:]}")
        return [(folder / f"{i}.blob").read_bytes() for i in range(len(jobs))]


def _main(jobs_file: str) -> None:
    # OpenVINO's C library through ctypes: the worker starts without the openvino package's ≈0.3 s import.
    from ovaot.loader import ov_c

    folder = Path(jobs_file).parent
    core = ov_c.Core()
    for job in json.loads(Path(jobs_file).read_text()):
        xml, weights = (folder / job["xml"]).read_bytes(), (folder / job["bin"]).read_bytes()
        compiled = core.compile_model_from_memory(xml, weights, job["device"], job["config"])
        compiled.export_model(folder / job["blob"])
        compiled.close()


if __name__ == "__main__":
    _main(sys.argv[1])

__all__ = ["ExportJob", "export_in_fresh_process"]
