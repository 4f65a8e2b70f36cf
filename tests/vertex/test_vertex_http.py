"""The real google-genai client against respx on Vertex AI's own hosts: retries with backoff, the error after the
last try, and generate_content with thinking off or at its minimum per model family."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tools.backends.base import GenerateRequest, JobInfo, JobState
from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.errors import ToolError
from tools.registry import dispatch

HOST = "https://us-central1-aiplatform.googleapis.com/v1beta1"
JOB = "projects/123456789/locations/us-central1/tuningJobs/42"
ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
          "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1}}


@pytest.fixture
def google() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def running_job() -> dict[str, Any]:
    return {"name": JOB, "state": "JOB_STATE_RUNNING", "baseModel": "gemini-2.5-flash",
            "createTime": "2026-11-26T10:00:00Z", "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl"}}


def test_reads_retry_transient_failures(backend: VertexBackend, google: respx.MockRouter) -> None:
    route = google.get(f"{HOST}/projects/my-proj/locations/us-central1/tuningJobs/42").mock(side_effect=[
        httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE", "message": "try later"}}),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=running_job()),
    ])
    assert backend.get_job("42").state is JobState.RUNNING
    assert route.call_count == 3
    assert route.calls[0].request.headers["authorization"] == "Bearer fake-token-for-tests"


@pytest.mark.parametrize(("failure", "expected"), [
    (httpx.Response(503, json={"error": {"code": 503, "status": "UNAVAILABLE", "message": "try later"}}),
     "HTTP 503, after 3 tries"),
    (httpx.ConnectTimeout("no answer"), "did not answer while trying to read tuning job"),
])
def test_clear_error_after_the_last_try(backend: VertexBackend, vctx: ToolContext, google: respx.MockRouter,
                                        failure: Any, expected: str) -> None:
    route = google.get(f"{HOST}/{JOB}").mock(side_effect=[failure] * 3)
    result = dispatch("get_job", {"job_id": JOB}, vctx)
    assert result.is_error and expected in result.content and route.call_count == 3
    assert "fake-token-for-tests" not in result.content


def generated(google: respx.MockRouter, url: str, backend: VertexBackend, target: str) -> dict[str, Any]:
    route = google.post(url).mock(return_value=httpx.Response(200, json=ANSWER))
    before = route.call_count
    result = backend.generate(target, GenerateRequest(contents=[{"role": "user", "parts": [{"text": "hi"}]}],
                                                      temperature=0.0))
    assert result.text == "ok" and route.call_count == before + 1
    return json.loads(route.calls[-1].request.content)


def test_thinking_at_its_minimum_per_family(backend: VertexBackend, vctx: ToolContext,
                                            google: respx.MockRouter) -> None:
    models = f"{HOST}/projects/my-proj/locations/us-central1/publishers/google/models"
    pro = generated(google, f"{models}/gemini-2.5-pro:generateContent", backend, backend.base_target("gemini-2.5-pro"))
    assert pro["generationConfig"] == {"temperature": 0.0, "thinkingConfig": {"thinking_budget": 128}}
    old = generated(google, f"{models}/gemini-2.0-flash-001:generateContent", backend,
                    backend.base_target("gemini-2.0-flash"))
    assert "thinkingConfig" not in old["generationConfig"]

    # A tuned Gemini 3 model is served from the multi-region "us" endpoint its resource name names.
    endpoint = "projects/123456789/locations/us/endpoints/555"
    vctx.workspace.save_job(JobInfo(job_id=JOB, backend="vertex", state=JobState.SUCCEEDED,
                                    base_model="gemini-3.5-flash", endpoint=endpoint,
                                    tuned_model="projects/123456789/locations/us-central1/models/9@1"))
    tuned = generated(google, f"https://aiplatform.us.rep.googleapis.com/v1beta1/{endpoint}:generateContent",
                      backend, endpoint)
    assert tuned["generationConfig"]["thinkingConfig"] == {"thinking_level": "MINIMAL"}
    # The model's resource name is not callable: the backend calls its endpoint instead.
    again = generated(google, f"https://aiplatform.us.rep.googleapis.com/v1beta1/{endpoint}:generateContent",
                      backend, "projects/123456789/locations/us-central1/models/9")
    assert again == tuned


def test_unknown_model_name_and_local_model_are_refused(backend: VertexBackend) -> None:
    with pytest.raises(ToolError, match="called through its endpoint"):
        backend.generate("projects/1/locations/us-central1/models/77@1", GenerateRequest(contents=[]))
    with pytest.raises(ToolError, match="not served by Vertex AI"):
        backend.base_target("gemma-3-270m")
