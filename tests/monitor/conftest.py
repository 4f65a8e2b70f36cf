"""Fixtures for the monitoring, evaluation and report tests: a scripted backend registered as the local one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# Loaded under its own name: another test folder may also have a fake_backend.py, and plain imports would collide.
_spec = importlib.util.spec_from_file_location("monitor_fake_backend", Path(__file__).with_name("fake_backend.py"))
fake_backend = importlib.util.module_from_spec(_spec)
sys.modules["monitor_fake_backend"] = fake_backend
_spec.loader.exec_module(fake_backend)


@pytest.fixture
def fake(ctx):
    backend = fake_backend.ServingFakeBackend()
    ctx._backends["local"] = backend
    return backend


@pytest.fixture
def progress(ctx):
    seen = []
    ctx.progress = seen.append
    return seen
