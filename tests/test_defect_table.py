"""The table of known OpenVINO defects is data: complete, applied by version, shown by inspect, and a package
built before an entry was added is warned about by verify."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from test_blob_check import attention_with_rope

from ovaot.cli import EXIT_VERIFICATION_FAILED, main
from ovaot.compiler.defects import HITS
from ovaot.defect_table import ANSWERS, known_defects
from ovaot.loader.package_check import verify_package

from helpers import ROOT, compile_and_load


def test_every_entry_is_complete_and_has_its_test():
    table = known_defects()
    assert len(table) >= 6
    for entry in table.values():
        assert entry.answer in ANSWERS and entry.symptom and entry.pattern and entry.seen_on
        assert (ROOT / entry.test).is_file(), f"{entry.id}: no test {entry.test}"
        assert entry.op in (ROOT / entry.test).read_text(), f"{entry.id}: {entry.test} never builds {entry.op}"
    fallback = {i for i, e in table.items() if e.answer == "fallback"}
    assert fallback == set(HITS), "each fallback entry needs the check that finds its nodes, and only those"


@pytest.mark.parametrize(
    ("version", "affected"),
    [("2026.3.0", False), ("2026.4.1-22982-e213a147257-releases/2026/4", True), ("2027.0.0", True)],
)
def test_an_entry_applies_from_the_version_it_was_seen_on(version, affected):
    assert known_defects()["bitshift-64-bit"].affects(version) is affected


def _without_known_defects(package: Path, copy: Path) -> None:
    """`package` as an ovaot that predates the table would have written it: no known_defects in the manifest."""
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(copy, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                del manifest["known_defects"]
                data = json.dumps(manifest).encode()
            target.writestr(info, data)


def test_verify_warns_about_a_defect_the_package_was_built_without(tmp_path):
    result, _ = compile_and_load(attention_with_rope(four_d=True), tmp_path)
    assert "rotary-embedding-blob" in result.manifest.known_defects
    assert not verify_package(tmp_path / "model.ovpkg").warnings
    _without_known_defects(tmp_path / "model.ovpkg", tmp_path / "old.ovpkg")
    [warning] = verify_package(tmp_path / "old.ovpkg").warnings
    assert "rotary-embedding-blob" in warning and "rebuild" in warning
    runner = CliRunner()
    shown = runner.invoke(main, ["verify", str(tmp_path / "old.ovpkg")])
    assert shown.exit_code == 0 and "warning: built without known defect rotary-embedding-blob" in shown.output
    inspected = runner.invoke(main, ["inspect", str(tmp_path / "old.ovpkg")]).output
    assert "known OpenVINO defect rotary-embedding-blob (RotaryEmbedding; compile-at-load): NOT known" in inspected
    inspected = runner.invoke(main, ["inspect", str(tmp_path / "model.ovpkg")]).output
    assert (
        "known OpenVINO defect rotary-embedding-blob (RotaryEmbedding; compile-at-load): its answer applied"
        in inspected
    )


@pytest.mark.slow
def test_verify_compares_each_blob_with_its_ir_on_this_host(tmp_path):
    # a package built with --no-check ships the RotaryEmbedding blob: verify finds what the build did not check
    model_path = tmp_path / "attention.onnx"
    onnx.save(attention_with_rope(four_d=False), model_path)
    runner = CliRunner()
    for flag in ("--check", "--no-check"):
        built = runner.invoke(
            main, ["compile", str(model_path), "-t", "CPU_FP32", "-o", str(tmp_path / f"{flag}.ovpkg"), flag]
        )
        assert built.exit_code == 0, built.output
    unchecked = runner.invoke(main, ["verify", str(tmp_path / "--no-check.ovpkg"), "--json"])
    assert unchecked.exit_code == EXIT_VERIFICATION_FAILED
    [blob] = json.loads(unchecked.output)["blobs"]
    assert blob["status"] == "differs from its IR" and "differs from the compiled model" in blob["reason"]
    checked = runner.invoke(main, ["verify", str(tmp_path / "--check.ovpkg"), "--json"])
    assert checked.exit_code == 0
    assert [b["status"] for b in json.loads(checked.output)["blobs"]] == ["not shipped"]
