"""--save-temps DIR: keep every intermediate of a compile (model after each pass, partition subgraphs, manifest)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import ModelProto

from ovaot.format.manifest import Manifest
from ovaot.passes.base import Pass


class SaveTemps:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def after_pass(self, step: int, p: Pass, before: ModelProto, after: ModelProto) -> None:
        if step == 0:
            self._save(before, "passes/00-input.onnx")
        self._save(after, f"passes/{step + 1:02d}-{p.name}.onnx")

    def partition(self, plan: str, number: int, label: str, subgraph: ModelProto) -> None:
        self._save(subgraph, f"partitions/{plan}-{number:03d}-{label}.onnx")

    def manifest(self, manifest: Manifest) -> None:
        (self.directory / "manifest.json").write_text(manifest.to_json())

    def _save(self, model: ModelProto, name: str) -> None:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, path)
