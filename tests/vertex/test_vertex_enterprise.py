"""Vertex AI is now Gemini Enterprise Agent Platform: google-genai's GOOGLE_GENAI_USE_ENTERPRISE (since 1.74) is
honoured wherever the legacy GOOGLE_GENAI_USE_VERTEXAI is, and wins a conflict as it does in the SDK."""

from __future__ import annotations

import pytest

from agent.models import default_model_name
from tools.backends.vertex import VertexBackend
from tools.backends.vertex.client import api_key_only
from tools.settings import Settings, vertex_mode_requested


@pytest.mark.parametrize("enterprise, vertexai, expected", [
    (None, None, None), ("true", None, True), ("1", None, True), (None, "true", True), ("false", None, False),
    ("false", "true", False), ("true", "false", True),  # ENTERPRISE wins, as in google-genai's _api_client
])
def test_the_mode_flag_reads_both_variables(monkeypatch: pytest.MonkeyPatch, enterprise: str | None,
                                            vertexai: str | None, expected: bool | None) -> None:
    for name, value in (("GOOGLE_GENAI_USE_ENTERPRISE", enterprise), ("GOOGLE_GENAI_USE_VERTEXAI", vertexai)):
        if value is not None:
            monkeypatch.setenv(name, value)
    assert vertex_mode_requested() is expected


def test_enterprise_picks_gemini_as_the_brain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-proj")
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
    name, why = default_model_name()
    assert name == "gemini" and "GOOGLE_GENAI_USE_ENTERPRISE" in why and "Gemini Enterprise Agent Platform" in why


def test_an_api_key_with_enterprise_off_cannot_tune(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyD-not-a-real-key-0123456789")
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "false")
    reason = api_key_only(Settings(project="my-proj"))
    assert reason and "Gemini Enterprise Agent Platform" in reason
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
    assert api_key_only(Settings(project="my-proj")) is None


def test_the_backend_client_is_in_enterprise_mode(backend: VertexBackend, fake) -> None:
    client = backend.conn.genai("us")
    assert client._api_client.vertexai is True and client._api_client.location == "us"
