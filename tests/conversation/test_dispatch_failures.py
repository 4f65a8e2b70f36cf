"""Any exception a tool raises becomes an is_error result: a failure of the world says what to check, a bug of ours
says "internal error in gto" and leaves its traceback (redacted) in the workspace log, never in the result."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from agent.cli import app
from tools import failures
from tools.errors import ToolInput
from tools.registry import dispatch, tool

KEY = "sk-ant-api03-" + "q" * 40


class Nothing(ToolInput):
    pass


class Done(BaseModel):
    ok: bool = True


@pytest.fixture
def failing_tools(scratch_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "RAISE_INTERNAL_ERRORS", False)  # what users get, not the test-suite's raise

    @tool
    def test_bug(args: Nothing) -> Done:
        """A tool with a bug that mentions a secret."""
        raise KeyError(f"lookup with {KEY}")

    @tool
    def test_missing_file(args: Nothing) -> Done:
        """A tool that reads a file that is not there."""
        open("/nonexistent/gto/input.jsonl").close()
        return Done()

    @tool
    def test_offline(args: Nothing) -> Done:
        """A tool whose network call fails."""
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_bug_is_an_internal_error_with_the_traceback_only_in_the_log(ctx, failing_tools) -> None:
    result = dispatch("test_bug", {}, ctx)
    assert result.is_error and "internal error in gto (KeyError)" in result.content
    assert "Traceback" not in result.content and KEY not in result.content
    log = failures.log_path(ctx.workspace)
    assert str(log) in result.content
    text = log.read_text()
    assert "Traceback" in text and "test_bug" in text and KEY not in text and "[REDACTED]" in text


def test_world_failures_name_the_path_or_the_network(ctx, failing_tools) -> None:
    missing = dispatch("test_missing_file", {}, ctx)
    assert missing.is_error and "/nonexistent/gto/input.jsonl" in missing.content
    assert "does not exist" in missing.content and "internal error" not in missing.content
    offline = dispatch("test_offline", {}, ctx)
    assert offline.is_error and "network error" in offline.content


def test_gto_call_exits_1_with_one_line(failing_tools) -> None:
    result = CliRunner().invoke(app, ["call", "test_bug", "{}"])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["ok"] is False
    assert "Traceback" not in result.output


def test_in_tests_a_bug_still_raises(ctx, scratch_registry) -> None:
    @tool
    def test_bug_raises(args: Nothing) -> Done:
        """A bug a test must see."""
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        dispatch("test_bug_raises", {}, ctx)


def test_a_consent_check_that_fails_is_answered_too(ctx, scratch_registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failures, "RAISE_INTERNAL_ERRORS", False)

    def ask(args: Nothing, ctx) -> str:  # noqa: ANN001
        raise TimeoutError(110, "Connection timed out")

    @tool(consent=ask)
    def test_priced(args: Nothing) -> Done:
        """A billable tool whose price lookup fails."""
        return Done()

    result = dispatch("test_priced", {}, ctx)
    assert result.is_error and "network error" in result.content


def test_a_result_that_cannot_be_recorded_is_still_a_success(ctx, scratch_registry,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A job created (or money spent) must not look failed because the workspace could not write: the caller would
    do it again."""
    import sqlite3

    done = []

    @tool
    def test_billable(args: Nothing) -> Done:
        """A tool whose work is done once it returns."""
        done.append(1)
        return Done()

    def locked(*args, **kwargs):  # noqa: ANN002, ANN003
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ctx.workspace, "log_event", locked)
    result = dispatch("test_billable", {}, ctx)
    assert not result.is_error and result.output == Done() and done == [1]
    assert "not recorded in the workspace" in result.content and "database is locked" in result.content
