"""Fixtures for the fault tests: the tiny Gemma 3 the local tests train (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_gemma import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3-faults"))
