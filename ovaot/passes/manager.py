"""Choosing and running passes: onnxruntime's level names, TVM's switching rule, errors that name the pass."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from onnx import ModelProto

from ovaot.errors import CompileError, OvaotError, UsageError
from ovaot.passes.base import Pass

log = logging.getLogger(__name__)


class OptLevel(enum.IntEnum):
    """onnxruntime's GraphOptimizationLevel names and numbers."""

    disable_all = 0
    basic = 1
    extended = 2
    all = 3

    @classmethod
    def parse(cls, value: str | int | OptLevel) -> OptLevel:
        if isinstance(value, OptLevel):
            return value
        text = str(value).strip().lower().removeprefix("-o").removeprefix("o")
        if text.isdigit() and int(text) in cls._value2member_map_:
            return cls(int(text))
        if text in cls.__members__:
            return cls[text]
        valid = ", ".join(f"{m.name} ({m.value})" for m in cls)
        raise UsageError(f"invalid opt level {value!r}; valid levels: {valid}")


@dataclass(frozen=True)
class PassConfig:
    """Which passes run: a disabled pass never runs, an enabled one always does, else level >= its own."""

    level: OptLevel = OptLevel.disable_all
    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    fold_limit_bytes: int = field(default=1 << 20)

    def to_manifest(self) -> dict[str, object]:
        return {
            "opt_level": self.level.name,
            "enabled_passes": sorted(self.enabled),
            "disabled_passes": sorted(self.disabled),
            "fold_limit_bytes": self.fold_limit_bytes,
        }


def check_names(names: Iterable[str], registry: Sequence[Pass], option: str) -> None:
    known = [p.name for p in registry]
    for name in names:
        if name not in known:
            where = f"{option}: " if option else ""
            raise UsageError(f"{where}unknown pass {name!r}; valid passes: {', '.join(known)}")


def select_passes(registry: Sequence[Pass], config: PassConfig) -> list[Pass]:
    """The passes to run, in registry order, with the passes enabled ones require pulled in."""
    check_names(config.enabled, registry, "--enable-pass")
    check_names(config.disabled, registry, "--disable-pass")
    by_name = {p.name: p for p in registry}
    chosen = {
        p.name
        for p in registry
        if p.name not in config.disabled and (p.name in config.enabled or config.level >= p.opt_level)
    }
    pending = list(chosen)
    while pending:
        for required in by_name[pending.pop()].requires:
            if required in config.disabled:
                continue
            if required not in chosen:
                chosen.add(required)
                pending.append(required)
    return [p for p in registry if p.name in chosen]


StepHook = Callable[[int, Pass, ModelProto, ModelProto], None]


def run_passes(
    model: ModelProto, passes: Sequence[Pass], after_each: StepHook | None = None
) -> tuple[ModelProto, list[str]]:
    """Run passes in order; return the model and the names of those that changed it.

    `after_each(step, pass, before, after)` sees every step (to save or verify it); an error raised there or
    by a pass becomes a CompileError naming the pass and the ones that ran before it.
    """
    ran: list[str] = []
    changed: list[str] = []
    for step, p in enumerate(passes):
        before = None
        if after_each is not None:
            before = ModelProto()
            before.CopyFrom(model)
        try:
            result = p(model)
            if after_each is not None and before is not None:
                after_each(step, p, before, result.model)
        except Exception as exc:
            earlier = ", ".join(ran) or "none"
            error = type(exc) if isinstance(exc, OvaotError) else CompileError
            raise error(f"pass {p.name} failed: {exc} (passes run before it: {earlier})") from exc
        ran.append(p.name)
        if result.modified:
            changed.append(p.name)
            log.debug("pass %s changed the model", p.name)
        model = result.model
    return model, changed
