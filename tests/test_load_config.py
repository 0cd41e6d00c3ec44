"""--option load_config=FILE.json (the OpenVINO EP's name): OpenVINO properties per device, for any property
ovaot does not name, applied at compile time and recorded."""

from __future__ import annotations

import json

from click.testing import CliRunner

import ovaot
from ovaot.cli import EXIT_USAGE, main

from helpers import EXAMPLES


def _compile(tmp_path, *extra):
    command = ["compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32", "-o", str(tmp_path / "m.ovpkg")]
    return CliRunner().invoke(main, [*command, *extra])


def test_properties_reach_the_compiled_model_and_the_manifest(tmp_path):
    config = tmp_path / "load_config.json"
    config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": 1, "ENABLE_CPU_PINNING": "NO"}, "GPU": {"X": "1"}}))
    result = _compile(tmp_path, "--option", f"load_config={config}")
    assert result.exit_code == 0, result.output
    session = ovaot.load(tmp_path / "m.ovpkg")
    [partition] = session.manifest.partitions
    assert partition.compile_config["INFERENCE_NUM_THREADS"] == "1"
    assert partition.compile_config["ENABLE_CPU_PINNING"] == "NO"
    recorded = session.manifest.options["provider_options"]["load_config"]
    assert recorded["CPU"] == {"ENABLE_CPU_PINNING": "NO", "INFERENCE_NUM_THREADS": "1"}  # the contents, not the path
    assert session._runners[0].compiled.get_property("INFERENCE_NUM_THREADS") == "1"


def test_a_missing_or_malformed_file_is_a_usage_error(tmp_path):
    missing = _compile(tmp_path, "--option", f"load_config={tmp_path / 'none.json'}")
    assert missing.exit_code == EXIT_USAGE and "cannot read it" in missing.output
    (tmp_path / "bad.json").write_text('{"CPU": 4}')
    malformed = _compile(tmp_path, "--option", f"load_config={tmp_path / 'bad.json'}")
    assert malformed.exit_code == EXIT_USAGE and '{"DEVICE": {"PROPERTY"' in malformed.output
    assert not (tmp_path / "m.ovpkg").exists()
