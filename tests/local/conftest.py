"""Fixtures for the local backend: a tiny randomly initialised Gemma 3 with a small BPE tokenizer trained here,
saved as a Hugging Face folder (built once per session), and a job trained on it through the real trainer process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_gemma import build_tiny_model, tiny_rows, wait_for, write_jsonl

from tools.backends.base import JobInfo, TuningSpec
from tools.settings import Settings
from tools.workspace import Workspace


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model: Path):  # noqa: ANN201 - a transformers tokenizer
    from tools.backends.local.weights import load_tokenizer

    return load_tokenizer(tiny_model)


@pytest.fixture(scope="session")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, JobInfo]]:
    """(workspace root, finished JobInfo) of one tiny job trained through the background process: 3 epochs."""
    from tools.backends.local import LocalBackend

    root = tmp_path_factory.mktemp("trained-workspace")
    data = tmp_path_factory.mktemp("trained-data")
    backend = LocalBackend(Workspace(root), Settings())
    spec = TuningSpec(
        base_model=str(tiny_model), client_request_id="trained-fixture", epochs=3, learning_rate_multiplier=5.0,
        training_dataset_uri=str(write_jsonl(data / "train.jsonl", tiny_rows(32))),
        validation_dataset_uri=str(write_jsonl(data / "val.jsonl", tiny_rows(8, start=100))),
    )
    info = backend.create_job(spec)
    info = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=120)
    yield root, info
    if not info.state.ended:
        backend.cancel_job(info.job_id)
