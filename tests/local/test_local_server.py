"""The local endpoint with the real google-genai client pointed at it by base URL, and bad requests answered in
Google's error shape while the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from tiny_gemma import ANSWER, SYSTEM
from google import genai
from google.genai import errors, types

from tools.backends.local import LocalBackend
from tools.settings import Settings
from tools.workspace import Workspace

ORDER = "Please send 2 vests to Oslo."


@pytest.fixture(scope="module")
def served(trained) -> Iterator[tuple[str, str, LocalBackend]]:  # noqa: ANN001
    """(base URL, the job's endpoint string, backend) with the tuned default checkpoint served."""
    root, info = trained
    backend = LocalBackend(Workspace(root), Settings())
    with backend.serve_endpoint(info.endpoint) as url:
        yield url, info.endpoint, backend


def client(url: str) -> genai.Client:
    """Keep the returned client in a variable: google-genai closes its HTTP client when the object is collected."""
    return genai.Client(api_key="local", http_options={"base_url": url})


def config(**fields: object) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(system_instruction=SYSTEM, **fields)


def test_google_genai_generates_from_the_endpoint(served) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    local = client(url)
    reply = local.models.generate_content(model=endpoint, contents=ORDER, config=config(temperature=0))
    assert reply.text == ANSWER
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    assert reply.candidates[0].content.role == "model"
    usage = reply.usage_metadata
    assert usage.candidates_token_count == 6 and usage.prompt_token_count > 10
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert reply.model_version == endpoint


def test_model_names_the_server_answers_to(served, tiny_model) -> None:  # noqa: ANN001
    url, endpoint, backend = served
    job_id = endpoint.split("/")[2]
    local = client(url)
    models = local.models
    for name in ("default", job_id, f"{job_id}@3", f"models/{endpoint}"):
        assert models.generate_content(model=name, contents=ORDER, config=config()).text == ANSWER
    base = models.generate_content(model=backend.base_target(str(tiny_model)), contents=ORDER,
                                   config=config(max_output_tokens=8))
    assert base.text != ANSWER and base.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert base.usage_metadata.candidates_token_count == 8


def test_vertex_mode_client_reaches_the_endpoint_path(served) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    job_id = endpoint.split("/")[2]
    vertex = genai.Client(vertexai=True, project="p", location="us-central1",
                          credentials=_anonymous(), http_options={"base_url": url})
    name = f"projects/p/locations/us-central1/endpoints/{job_id}"
    assert vertex.models.generate_content(model=name, contents=ORDER, config=config()).text == ANSWER


def _anonymous():  # noqa: ANN202 - google.auth credentials holding a token that never needs refreshing
    from google.oauth2.credentials import Credentials

    return Credentials(token="local")


def test_stream_and_count_tokens(served) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    local = client(url)
    models = local.models
    chunks = list(models.generate_content_stream(model=endpoint, contents=ORDER, config=config()))
    assert "".join(c.text for c in chunks) == ANSWER
    count = models.count_tokens(model=endpoint, contents=ORDER)
    reply = models.generate_content(model=endpoint, contents=ORDER)
    assert count.total_tokens == reply.usage_metadata.prompt_token_count


def test_stop_sequences_cut_the_reply(served) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    local = client(url)
    reply = local.models.generate_content(model=endpoint, contents=ORDER, config=config(stop_sequences=["true"]))
    assert reply.text == '{"ok": ' and reply.candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize(("fields", "message"), [
    ({"temperature": 5}, "temperature must be between 0 and 2"),
    ({"candidate_count": 2}, "candidateCount must be 1"),
    ({"max_output_tokens": 0}, "maxOutputTokens must be between 1"),
])
def test_bad_generation_config_is_a_client_error(served, fields: dict[str, object],  # noqa: ANN001
                                                message: str) -> None:
    url, endpoint, _ = served
    local = client(url)
    with pytest.raises(errors.ClientError) as caught:
        local.models.generate_content(model=endpoint, contents=ORDER, config=config(**fields))
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert message in caught.value.message


def test_unknown_model_is_not_found(served) -> None:  # noqa: ANN001
    url, _, _ = served
    local = client(url)
    with pytest.raises(errors.ClientError) as caught:
        local.models.generate_content(model="gemini-2.5-flash", contents=ORDER)
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert "not served here" in caught.value.message


@pytest.mark.parametrize(("path", "body", "code", "status", "message"), [
    ("/v1beta/models/default:generateContent", b"{not json", 400, "INVALID_ARGUMENT", "Invalid JSON payload"),
    ("/v1beta/models/default:generateContent", b"[]", 400, "INVALID_ARGUMENT", "must be a JSON object"),
    ("/v1beta/models/default:generateContent", b"{}", 400, "INVALID_ARGUMENT", "contents is not specified"),
    ("/v1beta/models/default:generateContent",
     json.dumps({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}).encode(), 400, "INVALID_ARGUMENT",
     "role must be 'user' or 'model'"),
    ("/v1beta/models/default:generateContent",
     json.dumps({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": ""}}]}]}).encode(), 400,
     "INVALID_ARGUMENT", "only text parts"),
    ("/v1beta/models/default:generateContent",
     json.dumps({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"topP": "high"}}).encode(), 400,
     "INVALID_ARGUMENT", "topP must be a number"),
    ("/v1beta/models/default:embedContent", b"{}", 404, "NOT_FOUND", "Method 'embedContent' is not served"),
    ("/v1beta/nothing", b"{}", 404, "NOT_FOUND", "No route"),
])
def test_bad_requests_get_google_errors_and_the_server_keeps_serving(
        served, path: str, body: bytes, code: int, status: str, message: str) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    answer = httpx.post(url + path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == code
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (code, status) and message in error["message"]
    local = client(url)
    assert local.models.generate_content(model=endpoint, contents=ORDER, config=config()).text == ANSWER


def test_get_describes_the_server(served) -> None:  # noqa: ANN001
    url, endpoint, _ = served
    assert httpx.get(url).json()["model"] == endpoint
    assert httpx.get(url + "/v1beta/models/default:generateContent").status_code == 405
