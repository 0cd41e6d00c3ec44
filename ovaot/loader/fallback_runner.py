"""Run one fallback partition with onnx.reference, built once when the package loads."""

from __future__ import annotations

from typing import Any

from ovaot.custom_ops import build_failure, registered_ops, unregistered
from ovaot.engines.reference_requirements import require
from ovaot.errors import PackageError
from ovaot.format.manifest import Partition
from ovaot.format.package import PackageReader


class FallbackRunner:
    def __init__(self, reader: PackageReader, partition: Partition) -> None:
        import onnx  # imported only when a package has fallback partitions

        from ovaot.engines.reference import reference_evaluator

        self.partition = partition
        missing = unregistered(partition.nodes)
        if missing:
            raise PackageError(
                f"partition {partition.index} needs the custom op {', '.join(missing)}, which is not registered "
                "in this process: call ovaot.register_op(domain, op_type, kernel) before ovaot.load"
            )
        model = onnx.load_from_string(reader.read(partition.artifacts["onnx"]))
        require(model.graph.node, partition.index)  # now, not as an ImportError from onnx.reference on a run
        try:
            self.evaluator = reference_evaluator(model, registered_ops())
        except Exception as exc:  # a kernel registered where the package was compiled, but not here
            raise PackageError(f"partition {partition.index}: {build_failure(exc)}") from exc
        self._outputs = list(model.graph.output)

    def run(self, env: dict[str, Any]) -> None:
        values = self.evaluator.run(None, {name: env[name] for name in self.partition.consumes})
        for info, value in zip(self._outputs, values):
            env[info.name] = value

    def close(self) -> None:
        """Nothing to free: the evaluator is Python objects, which go when the Session drops this runner."""
