"""The table of known OpenVINO defects (ovaot/data/openvino_defects.toml): what each hits, on which OpenVINO
versions, what goes wrong and what ovaot does. The compiler applies it; packages record the entries their
compiler knew; `ovaot verify` warns about entries a package was built without."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class KnownDefect:
    id: str
    op: str
    pattern: str
    seen_on: tuple[str, ...]
    fixed_in: str
    symptom: str
    answer: str  # "fallback", "rewrite" or "compile-at-load"
    test: str

    def affects(self, openvino_version: str) -> bool:
        """Whether OpenVINO `openvino_version` ("2026.4.1-22982-...") has it: from the first version it was
        seen on until fixed_in."""
        version = _major_minor(openvino_version)
        fixed = self.fixed_in and version >= _major_minor(self.fixed_in)
        return version >= min(_major_minor(v) for v in self.seen_on) and not fixed


ANSWERS = ("fallback", "rewrite", "compile-at-load")


@functools.cache
def known_defects() -> dict[str, KnownDefect]:
    """The table, by id."""
    text = resources.files("ovaot.data").joinpath("openvino_defects.toml").read_text(encoding="utf-8")
    entries = [KnownDefect(**{**e, "seen_on": tuple(e["seen_on"])}) for e in tomllib.loads(text)["defect"]]
    for entry in entries:
        assert entry.answer in ANSWERS, f"{entry.id}: answer {entry.answer!r} is not one of {ANSWERS}"
    return {e.id: e for e in entries}


def _major_minor(version: str) -> tuple[int, int]:
    parts = version.split("-")[0].split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def defects_met(op_types: set[str], openvino_version: str, known: list[str] | None = None) -> list[KnownDefect]:
    """The entries that affect `openvino_version` and hit an op of `op_types`; with `known` (a package's
    Manifest.known_defects), only those not in it: what the package was built without."""
    return [
        d
        for d in known_defects().values()
        if d.op in op_types and d.affects(openvino_version) and (known is None or d.id not in known)
    ]
