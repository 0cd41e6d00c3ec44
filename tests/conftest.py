"""Fixtures; the helpers the tests share are in helpers.py.

The suite tests the installed ovaot, not the checkout: pytest runs with --import-mode=importlib and only
tests/ on sys.path (pyproject.toml), and every test runs in a scratch directory, so that a subprocess
(`python -m ovaot`, `python -c`) cannot import the checkout's ovaot from its working directory either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import onnx
import pytest

from helpers import EXAMPLES


@pytest.fixture(autouse=True, scope="session")
def outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


@pytest.fixture
def tiny_cnn() -> onnx.ModelProto:
    return onnx.load(EXAMPLES / "tiny_cnn.onnx")
