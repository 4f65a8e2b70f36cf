"""Fixtures for the Vertex backend tests: a fake Vertex AI server reached through GOOGLE_VERTEX_BASE_URL, the Cloud
Storage emulator through STORAGE_EMULATOR_HOST, fake OAuth credentials, and a context that records consent."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials
from vertex_fakes import BUCKET, PROJECT, REGION, Approvals, FakeVertex

from tools.backends.vertex import RetryPolicy, VertexBackend
from tools.context import ToolContext
from tools.settings import Settings
from tools.workspace import Workspace


@pytest.fixture(autouse=True)
def genai_over_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    # google-genai 3.x defaults to httpx2; this keeps respx interception working on either major version.
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", "httpx")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVertex]:
    with FakeVertex() as server:
        monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", server.url)
        yield server


@pytest.fixture
def approvals() -> Approvals:
    return Approvals()


@pytest.fixture
def vctx(workspace: Workspace, approvals: Approvals) -> ToolContext:
    settings = Settings(project=PROJECT, region=REGION, bucket=BUCKET, backend="vertex")
    return ToolContext(workspace=workspace, settings=settings, approve=approvals)


@pytest.fixture
def backend(vctx: ToolContext) -> VertexBackend:
    """The real backend with offline credentials and quick retries, registered as the context's vertex backend."""
    vertex = VertexBackend(vctx.workspace, vctx.settings, credentials=Credentials(token="fake-token-for-tests"),
                           retry=RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, timeout_s=10,
                                             settle_s=0.3))
    vctx._backends["vertex"] = vertex
    return vertex


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """gcp-storage-emulator in this process, holding the test bucket."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    lines = [
        '{"contents": [{"role": "user", "parts": [{"text": "Extract: Ada, 36"}]},'
        ' {"role": "model", "parts": [{"text": "{\\"name\\": \\"Ada\\", \\"age\\": 36}"}]}]}'
    ] * 40
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
