"""Shared test setup: an isolated workspace per test, no credentials from the developer's machine, and no network
beyond this machine (a call that escapes a mock fails loudly instead of reaching Google or Anthropic)."""

from __future__ import annotations

import ipaddress
import socket
from datetime import date
from pathlib import Path

import pytest

import tools.catalog
from tools.context import ToolContext
from tools.settings import Settings
from tools.workspace import Workspace

_SECRET_ENV = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
    "GTO_BUCKET", "GTO_BACKEND",
    "GTO_MODEL", "STORAGE_EMULATOR_HOST", "CLOUDSDK_CORE_PROJECT",
)
_real_connect = socket.socket.connect
# The day the catalog's lifecycle facts were read: tests judge retirements on it, whatever the real date is.
CATALOG_DAY = date(2026, 12, 7)


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"tests may not reach the network ({host}); mock the call instead")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def internal_errors_fail_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """dispatch() turns a bug into an is_error result for users; in tests it raises, so no bug hides."""
    from tools import failures

    monkeypatch.setattr(failures, "RAISE_INTERNAL_ERRORS", True)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "gto-home"
    monkeypatch.setenv("GTO_HOME", str(home))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    monkeypatch.setattr(tools.catalog, "clock", lambda: CATALOG_DAY)
    return home


@pytest.fixture
def before_2_5_retired(monkeypatch: pytest.MonkeyPatch) -> date:
    """A day when Gemini 2.5 was still tunable: price arithmetic needs a published tuning price, and no Gemini 3 row
    has one (catalog of 2026-12-07); the 2.x regional list is tested on it too."""
    day = date(2026, 6, 1)
    monkeypatch.setattr(tools.catalog, "clock", lambda: day)
    return day


@pytest.fixture
def workspace(isolated: Path) -> Workspace:
    return Workspace(isolated)


@pytest.fixture
def ctx(workspace: Workspace) -> ToolContext:
    return ToolContext(workspace=workspace, settings=Settings())


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch):
    """The real registry, loaded, with room for test-only tools that vanish after the test."""
    from tools.registry import REGISTRY

    REGISTRY.load()
    monkeypatch.setattr(REGISTRY, "tools", dict(REGISTRY.tools))
    return REGISTRY
