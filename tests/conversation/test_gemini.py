"""The Gemini adapter over canned generateContent traffic: function declarations and responses on the wire."""

from __future__ import annotations

import io
import json
import re

import httpx
import pytest
import respx
from test_loop import CountInput, CountOutput  # noqa: F401 - shared tool models
from wire import gemini_response

from agent.console import Console
from agent.loop import Agent
from agent.models.gemini import GeminiModel
from agent.transcript import Transcript
from tools.registry import REGISTRY, tool

from tools.catalog import default_brain_model

# The brain defaults to the catalog's choice (gemini-3.8-flash as of 2026-12-07), never a retired model.
URL = f"https://generativelanguage.googleapis.com/v1beta/models/{default_brain_model()}:generateContent"


@pytest.fixture
def double_tool(monkeypatch, scratch_registry):
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", "httpx")  # google-genai 3.x defaults to httpx2
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaFAKEFAKEFAKEFAKEFAKEFAKE")
    @tool
    def test_double(args: CountInput) -> CountOutput:
        """Double a number."""
        return CountOutput(doubled=args.n * 2)

    yield REGISTRY.get("test_double")


@respx.mock
def test_function_calling_round_trip(ctx, double_tool):
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(200, json=gemini_response([{"functionCall": {"name": "test_double", "args": {"n": 21}},
                                                   "thoughtSignature": "c2lnbmF0dXJl"}])),
        httpx.Response(200, json=gemini_response([{"text": "It is 42."}])),
    ])
    model = GeminiModel()
    transcript = Transcript.start(ctx.workspace, "double", model.name, REGISTRY.schema_hash(), "local")
    agent = Agent(model, ctx, transcript, Console(out=io.StringIO(), color=False, can_ask=False), interactive=True)
    agent.run("double 21")

    assert route.call_count == 2
    first = json.loads(route.calls[0].request.content)
    declarations = first["tools"][0]["functionDeclarations"]
    sent = next(d for d in declarations if d["name"] == "test_double")
    # google-genai passes the schema through under its own field name; the API accepts either spelling.
    assert (sent.get("parametersJsonSchema") or sent.get("parameters_json_schema")) == double_tool.input_schema
    assert first["systemInstruction"]["parts"][0]["text"].startswith("You are gemini-tuning-orchestrator")
    assert first["contents"] == [{"role": "user", "parts": [{"text": "double 21"}]}]
    # Quick agent turns at the catalog's brain level: 3.8 Flash rejects MINIMAL, so LOW.
    thinking = first["generationConfig"]["thinkingConfig"]
    assert (thinking.get("thinkingLevel") or thinking.get("thinking_level")) == "LOW"  # either spelling, as above

    second = json.loads(route.calls[1].request.content)
    call_part = second["contents"][1]["parts"][0]
    assert call_part["functionCall"]["name"] == "test_double"
    assert call_part["thoughtSignature"] == "c2lnbmF0dXJl"  # echoed back, as Gemini 3 requires
    response_part = second["contents"][2]["parts"][0]["functionResponse"]
    assert response_part["name"] == "test_double" and response_part["response"] == {"doubled": 42}
    assert agent.transcript.messages[-1]["content"][0]["text"] == "It is 42."
    assert agent.totals.usage.input_tokens == 1800


@respx.mock
def test_tool_errors_reach_gemini_as_error_responses(ctx, double_tool):
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(200, json=gemini_response([{"functionCall": {"name": "test_double", "args": {"n": "x"}}}])),
        httpx.Response(200, json=gemini_response([{"text": "Sorry."}])),
    ])
    model = GeminiModel()
    transcript = Transcript.start(ctx.workspace, "double", model.name, REGISTRY.schema_hash(), "local")
    Agent(model, ctx, transcript, Console(out=io.StringIO(), color=False, can_ask=False), interactive=True).run("go")
    second = json.loads(route.calls[1].request.content)
    error = second["contents"][2]["parts"][0]["functionResponse"]["response"]["error"]
    assert "field 'n'" in error


@respx.mock
@pytest.mark.parametrize("status, says", [(403, "GEMINI_API_KEY"), (400, "rejected the request (400: bad turn order)")])
def test_api_errors_become_a_model_error_that_says_what_to_do(double_tool, status, says):
    from agent.models import ModelError

    respx.post(URL).mock(return_value=httpx.Response(status, json={"error": {
        "code": status, "message": "bad turn order" if status == 400 else "API key not valid",
        "status": "INVALID_ARGUMENT" if status == 400 else "PERMISSION_DENIED"}}))
    with pytest.raises(ModelError, match=re.escape(says)):
        GeminiModel().complete("system", [{"role": "user", "content": "hi"}], [double_tool])


@respx.mock
def test_an_unreachable_api_is_a_model_error(double_tool):
    from agent.models import ModelError

    from google import genai
    from google.genai import types

    respx.post(URL).mock(side_effect=httpx.ConnectError("connection refused"))
    once = types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))  # the default retries take seconds
    model = GeminiModel(client=genai.Client(api_key="AIzaFAKEFAKEFAKEFAKEFAKEFAKE", http_options=once))
    with pytest.raises(ModelError, match="Could not reach Gemini"):
        model.complete("system", [{"role": "user", "content": "hi"}], [double_tool])


def test_call_ids_without_one_from_gemini_are_unique_across_processes():
    import importlib

    import agent.models.gemini as gemini
    from google.genai import types

    response = types.GenerateContentResponse(candidates=[types.Candidate(content=types.Content(
        role="model", parts=[types.Part(function_call=types.FunctionCall(name="test_double", args={"n": 1}))]))])
    ids = [importlib.reload(gemini).from_response(response)[0]["id"] for _ in range(2)]  # each a new process
    assert ids[0] != ids[1] and ids[0].startswith("toolu_gemini_")
