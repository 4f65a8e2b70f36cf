"""Fixtures for the MCP tests: a server over the real registry, and a few tiny tools of our own that exercise what
the real ones do rarely or slowly (progress, consent, a bug, a long block), registered only for one test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, Field

from agent.mcp_server import build_server
from tools.context import ToolContext
from tools.errors import ToolInput
from tools.registry import REGISTRY, tool


@pytest.fixture(autouse=True)
def project_dir(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """The MCP server confines tools to the project folder (and the workspace): here, the test's own folder."""
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountInput(ToolInput):
    n: int = Field(3, description="How many steps to count")
    restart_at: int | None = Field(None, description="Start the count again from 1 after this step (a new phase)")


class Counted(BaseModel):
    counted: int


class SpendInput(ToolInput):
    usd: float = Field(description="Dollars to spend")


class Spent(BaseModel):
    spent_usd: float


class Blocker(ToolInput):
    pass


SPENT: list[float] = []
RELEASE = threading.Event()


def count_slowly(args: CountInput, ctx: ToolContext) -> Counted:
    """Count to n, reporting progress at every step."""
    step = 0
    for i in range(1, args.n + 1):
        step = 1 if args.restart_at is not None and i == args.restart_at + 1 else step + 1
        ctx.report(f"counting {i}", done=step, total=args.n, loss=1.0 / i, phase="b" if step != i else "a")
    return Counted(counted=args.n)


def spend(args: SpendInput, ctx: ToolContext) -> Spent:
    """Spend money (a stand-in for create_tuning_job)."""
    SPENT.append(args.usd)
    return Spent(spent_usd=args.usd)


def crash(args: Blocker) -> Counted:
    """A tool with a bug in it."""
    raise ZeroDivisionError("division by zero")


def wait_for_release(args: Blocker) -> Counted:
    """Block until the test releases it, like a watch on a job that takes hours."""
    if not RELEASE.wait(timeout=20):
        raise RuntimeError("never released")
    return Counted(counted=1)


@pytest.fixture
def test_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """Register the tiny tools for one test (the registry is restored afterwards); `spent` records what `spend`
    spent, `release` lets `wait_for_release` return."""
    monkeypatch.setattr(REGISTRY, "tools", dict(REGISTRY.tools))
    # Only the tools imported so far plus ours: these tests are about the server, not the other tool modules.
    monkeypatch.setattr(REGISTRY, "_loaded", True)
    tool(count_slowly)
    tool(consent=lambda args, ctx: f"Spend ${args.usd:.2f} on a test?" if args.usd > 0 else None)(spend)
    tool(crash)
    tool(wait_for_release)
    SPENT.clear()
    RELEASE.clear()
    yield SimpleNamespace(spent=SPENT, release=RELEASE)
    RELEASE.set()


@pytest.fixture
def server(ctx: ToolContext):
    return build_server(ctx_factory=lambda: ctx)
