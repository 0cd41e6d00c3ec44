"""The deployment examples (examples/serving) start `ovaot serve` with arguments it accepts."""

from __future__ import annotations

import json
import re

import pytest

from ovaot.cli.package_commands import serve_command

from helpers import EXAMPLES

yaml = pytest.importorskip("yaml", reason="PyYAML (a KServe SDK dependency) is not installed")


def _parses(args: list[str], package: str) -> dict:
    """serve's parameters for `args`, the package path pointing at a real package (click checks it exists)."""
    args = [package if a.endswith(".ovpkg") else a for a in args]
    return serve_command.make_context("serve", args).params


def test_the_dockerfile_and_the_inferenceservice_serve_with_valid_arguments():
    package = str(EXAMPLES / "tiny_cnn.onnx")  # an existing file: make_context checks existence, not contents
    dockerfile = (EXAMPLES / "serving" / "Dockerfile").read_text()
    [cmd] = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    args = json.loads(cmd)
    assert args[0] == "serve" and '"ovaot"' in dockerfile
    docker = _parses(args[1:], package)
    assert docker["host"] == "0.0.0.0" and docker["http_port"] == 8080 and docker["grpc_port"] == 8081
    service = yaml.safe_load((EXAMPLES / "serving" / "inferenceservice.yaml").read_text())
    [container] = service["spec"]["predictor"]["containers"]
    params = _parses(container["args"][1:], package)
    assert params["http_port"] == container["ports"][0]["containerPort"] == 8080
    assert container["readinessProbe"]["httpGet"]["path"] == f"/v2/models/{params['name']}/ready"
