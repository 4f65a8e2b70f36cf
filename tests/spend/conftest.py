"""Fixtures for the spend tests: the monitoring tests' scripted backend, standing in for Vertex AI (billable) or
for the local backend (free), and a training file whose tokens the workspace already knows."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_name = "monitor_fake_backend"
if _name not in sys.modules:  # the monitor tests may have loaded it already, under the same name
    _spec = importlib.util.spec_from_file_location(_name, Path(__file__).parents[1] / "monitor" / "fake_backend.py")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_name] = _module
    _spec.loader.exec_module(_module)
fake_backend = sys.modules[_name]

TRAIN_URI = "gs://bucket/train.jsonl"


@pytest.fixture
def vertex(ctx):
    """A billable backend: the scripted fake under the name vertex; the workspace knows a 1M-token training file."""
    backend = fake_backend.FakeBackend(name="vertex")
    ctx._backends["vertex"] = backend
    ctx.settings.backend = "vertex"
    ctx.approve = lambda tool, question: True
    ctx.workspace.record_dataset(TRAIN_URI, {"billable_tokens_per_epoch": 1_000_000, "examples": 100})
    return backend


@pytest.fixture
def local(ctx):
    backend = fake_backend.FakeBackend(name="local")
    ctx._backends["local"] = backend
    return backend


@pytest.fixture
def write_examples():
    """Write Gemini SFT examples (prompt, answer), with a system instruction when given."""
    return _write


def _write(path: Path, pairs: list[tuple[str, str]], system: str | None = None) -> Path:
    with path.open("w") as out:
        for prompt, answer in pairs:
            record = {"contents": [{"role": "user", "parts": [{"text": prompt}]},
                                   {"role": "model", "parts": [{"text": answer}]}]}
            if system:
                record["systemInstruction"] = {"parts": [{"text": system}]}
            out.write(json.dumps(record) + "\n")
    return path
