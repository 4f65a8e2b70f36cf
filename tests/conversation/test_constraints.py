"""What the user ruled out is not run, whichever brain asks for it: Claude and Gemini over canned HTTP, and a
scripted model, each calling a tool the request forbids. The refusal goes back to the model as an is_error result
that quotes the user's words; nothing is created or uploaded; the nudge never pushes past the request."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import anthropic
import httpx
import respx
from wire import anthropic_sse, gemini_response

from agent.console import Console
from agent.loop import Agent
from agent.models.anthropic import ClaudeModel
from agent.models.gemini import GeminiModel
from agent.models.scripted import ScriptedModel, call, say
from agent.transcript import Transcript
from tools.registry import REGISTRY

CLAUDE_URL = "https://api.anthropic.com/v1/messages"
EXAMPLES = Path(__file__).parents[2] / "examples" / "data"


def sse(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def agent_for(model, ctx, interactive=False) -> tuple[Agent, io.StringIO]:  # noqa: ANN001
    transcript = Transcript.start(ctx.workspace, "(test)", model.name, REGISTRY.schema_hash(), "local")
    out = io.StringIO()
    return Agent(model, ctx, transcript, Console(out=out, color=False, can_ask=False),
                 interactive=interactive), out


def data(tmp_path: Path) -> str:
    return str(shutil.copy(EXAMPLES / "train.jsonl", tmp_path / "train.jsonl"))


def create_args(path: str) -> dict:
    return {"training_dataset_uri": path, "base_model": "gemma-3-270m", "epochs": 1, "backend": "local"}


def test_claude_cannot_start_a_job_the_user_ruled_out(ctx, tmp_path, httpx2_mock):
    train = data(tmp_path)
    route = httpx2_mock.post(CLAUDE_URL).mock(side_effect=[
        sse(anthropic_sse([{"type": "tool_use", "id": "toolu_01", "name": "validate_dataset",
                            "input": {"path": train}}], "tool_use")),
        sse(anthropic_sse([{"type": "tool_use", "id": "toolu_02", "name": "create_tuning_job",
                            "input": create_args(train)}], "tool_use")),
        sse(anthropic_sse([{"type": "text", "text": "Understood: the data is valid and I did not train."}],
                          "end_turn")),
    ])
    model = ClaudeModel("claude-sonnet-4-6", client=anthropic.Anthropic(api_key="sk-ant-test-key-000000"))
    agent, out = agent_for(model, ctx)
    criteria = agent.run(f"check {train} but don't train it")

    assert route.call_count == 3  # no nudge after the model stopped: the request's own criterion holds
    third = json.loads(route.calls[2].request.content)
    refusal = next(b for b in third["messages"][-1]["content"] if b["type"] == "tool_result")
    assert refusal["is_error"] is True and "don't train" in json.dumps(refusal)
    assert ctx.workspace.list_jobs() == []
    assert [c.key for c in criteria] == ["validate"] and criteria[0].met


@respx.mock
def test_gemini_cannot_upload_what_the_user_keeps_here(ctx, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", "httpx")
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaFAKEFAKEFAKEFAKEFAKEFAKE")
    ctx.settings.backend = "vertex"  # an upload would leave this machine
    train = data(tmp_path)
    route = respx.post(url__regex=r"https://generativelanguage\.googleapis\.com/.*:generateContent").mock(side_effect=[
        httpx.Response(200, json=gemini_response([{"functionCall": {"name": "upload_to_gcs", "args": {
            "path": train, "bucket": "somebody-elses-bucket", "backend": "vertex"}}}])),
        httpx.Response(200, json=gemini_response([{"functionCall": {"name": "estimate_cost", "args": {
            "base_model": "gemma-3-270m", "training_path": train, "epochs": 2}}}])),
        httpx.Response(200, json=gemini_response([{"text": "Estimated; nothing was uploaded."}])),
    ])
    agent, _ = agent_for(GeminiModel(), ctx)
    criteria = agent.run(f"estimate the cost of {train}, and don't upload anything")

    assert route.call_count == 3 and [c.key for c in criteria] == ["estimate"] and criteria[0].met
    second = json.loads(route.calls[1].request.content)
    answer = second["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert "don't upload anything" in json.dumps(answer) and "Not run" in json.dumps(answer)
    assert ctx.workspace.events(kind="tool:upload_to_gcs") == []


def test_a_scripted_model_that_insists_is_refused_every_time(ctx, tmp_path):
    train = data(tmp_path)
    model = ScriptedModel([call("create_tuning_job", create_args(train)), call("create_tuning_job", create_args(train)),
                           say("Stopping."), call("validate_dataset", {"path": train}), say("It is valid.")])
    agent, out = agent_for(model, ctx)
    agent.run(f"just check {train}")
    model.assert_complete()
    assert ctx.workspace.list_jobs() == []
    assert out.getvalue().count("Not run: the user said") == 2


def test_the_nudge_asks_only_for_the_requests_own_criteria(ctx, tmp_path):
    """A model that stops early on a check-only request is reminded of the check, never of tuning."""
    train = data(tmp_path)
    model = ScriptedModel([call("check_environment", {"backend": "local"}), say("Your setup is fine."),
                           call("validate_dataset", {"path": train}), say("Valid.")])
    agent, _ = agent_for(model, ctx)
    criteria = agent.run(f"is {train} valid? don't train")
    model.assert_complete()
    reminder = next(m["content"] for m in agent.messages if m["role"] == "user" and isinstance(m["content"], str)
                    and m["content"].startswith("Some success criteria"))
    assert "Dataset validated" in reminder and "Tuning job" not in reminder
    assert all(c.holds for c in criteria)


def test_no_nudge_for_a_request_that_was_not_understood(ctx):
    model = ScriptedModel([say("I can only help with tuning.")])
    agent, _ = agent_for(model, ctx)
    criteria = agent.run("make me a sandwich")
    model.assert_complete()
    assert not criteria[0].met and sum(1 for m in agent.messages if m["role"] == "user") == 1
