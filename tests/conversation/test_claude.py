"""The Claude adapter over canned Messages API traffic: what goes over the wire, and retries."""

from __future__ import annotations

import io
import json
import re

import anthropic
import httpx
import pytest

from agent.console import Console
from agent.loop import Agent
from agent.models.anthropic import ClaudeModel
from agent.transcript import Transcript
from test_loop import CountInput, CountOutput  # noqa: F401 - shared tool models
from wire import anthropic_sse
from tools.registry import REGISTRY, tool

URL = "https://api.anthropic.com/v1/messages"


@pytest.fixture
def double_tool(scratch_registry):
    @tool
    def test_double(args: CountInput) -> CountOutput:
        """Double a number."""
        return CountOutput(doubled=args.n * 2)

    yield REGISTRY.get("test_double")


def sse(body: bytes, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/event-stream", **headers})


def test_tool_use_round_trip_over_the_wire(ctx, double_tool, httpx2_mock):
    route = httpx2_mock.post(URL).mock(side_effect=[
        sse(anthropic_sse([{"type": "text", "text": "Let me double it."},
                           {"type": "tool_use", "id": "toolu_01A", "name": "test_double", "input": {"n": "x"}}],
                          "tool_use", cache_write=3000)),
        sse(anthropic_sse([{"type": "tool_use", "id": "toolu_01B", "name": "test_double", "input": {"n": 21}}],
                          "tool_use", cache_read=3000)),
        sse(anthropic_sse([{"type": "text", "text": "It is 42."}], "end_turn")),
    ])
    client = anthropic.Anthropic(api_key="sk-ant-test-key-000000")
    model = ClaudeModel("claude-sonnet-4-6", client=client)
    transcript = Transcript.start(ctx.workspace, "double", model.name, REGISTRY.schema_hash(), "local")
    out = io.StringIO()
    agent = Agent(model, ctx, transcript, Console(out=out, color=False, can_ask=False), interactive=True)
    agent.run("double 21")

    assert route.call_count == 3
    first = json.loads(route.calls[0].request.content)
    assert first["model"] == "claude-sonnet-4-6"
    assert first["stream"] is True
    assert first["system"][0]["cache_control"] == {"type": "ephemeral"}
    sent_tools = {t["name"]: t for t in first["tools"]}
    assert sent_tools["test_double"]["input_schema"] == double_tool.input_schema
    assert first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"] == [{"role": "user", "content": "double 21"}]

    second = json.loads(route.calls[1].request.content)
    assistant, results = second["messages"][1], second["messages"][2]
    assert assistant["content"][1] == {"type": "tool_use", "id": "toolu_01A", "name": "test_double", "input": {"n": "x"}}
    (result,) = results["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_01A" and result["is_error"] is True
    assert "field 'n'" in result["content"]

    third = json.loads(route.calls[2].request.content)
    ok = third["messages"][-1]["content"][0]
    assert ok == {"type": "tool_result", "tool_use_id": "toolu_01B", "content": '{"doubled":42}', "is_error": False}
    assert "Let me double it." in out.getvalue() and "It is 42." in out.getvalue()
    assert agent.totals.usage.cost_usd > 0
    assert route.calls[0].request.headers["anthropic-version"]


def test_overloaded_is_retried(ctx, double_tool, httpx2_mock):
    overloaded = httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error",
                                                                       "message": "Overloaded"}},
                                 headers={"retry-after-ms": "1"})
    route = httpx2_mock.post(URL).mock(side_effect=[
        overloaded, sse(anthropic_sse([{"type": "text", "text": "fine"}], "end_turn"))])
    model = ClaudeModel(client=anthropic.Anthropic(api_key="sk-ant-test", max_retries=3))
    turn = model.complete("system", [{"role": "user", "content": "hi"}], [double_tool])
    assert turn.text == "fine" and route.call_count == 2


def test_missing_key_is_a_clear_error():
    from agent.models import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="ANTHROPIC_API_KEY"):
        ClaudeModel()


@pytest.mark.parametrize("response, says", [
    (httpx.Response(401, json={"type": "error", "error": {"type": "authentication_error",
                                                          "message": "invalid x-api-key"}}), "ANTHROPIC_API_KEY"),
    (httpx.Response(400, json={"type": "error", "error": {"type": "invalid_request_error",
                                                          "message": "tool_use ids must be unique"}}),
     "rejected the request (400: tool_use ids must be unique)"),
    (httpx.Response(404, json={"type": "error", "error": {"type": "not_found_error", "message": "model: nope"}}),
     "--model claude:MODEL"),
])
def test_api_errors_become_a_model_error_that_says_what_to_do(double_tool, httpx2_mock, response, says):
    from agent.models import ModelError

    httpx2_mock.post(URL).mock(return_value=response)
    model = ClaudeModel(client=anthropic.Anthropic(api_key="sk-ant-test", max_retries=0))
    with pytest.raises(ModelError, match=re.escape(says)):
        model.complete("system", [{"role": "user", "content": "hi"}], [double_tool])


def test_an_unreachable_api_is_a_model_error(double_tool, httpx2_mock):
    import httpx2

    from agent.models import ModelError

    httpx2_mock.post(URL).mock(side_effect=httpx2.ConnectError("connection refused"))
    model = ClaudeModel(client=anthropic.Anthropic(api_key="sk-ant-test", max_retries=0))
    with pytest.raises(ModelError, match="Could not reach the Anthropic API"):
        model.complete("system", [{"role": "user", "content": "hi"}], [double_tool])


def test_gto_run_with_a_rejected_key_exits_1_and_records_the_error(httpx2_mock, monkeypatch, workspace):
    from typer.testing import CliRunner

    from agent.cli import app

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-bad-key-000000")
    httpx2_mock.post(URL).mock(return_value=httpx.Response(401, json={
        "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}))
    result = CliRunner().invoke(app, ["run", "Tune on data/t.jsonl", "--model", "claude", "--backend", "local"])
    assert result.exit_code == 1, result.output
    assert "Claude refused the credentials" in result.output and "Traceback" not in result.output
    with workspace.connect() as db:
        assert [r["status"] for r in db.execute("SELECT status FROM runs")] == ["error"]
