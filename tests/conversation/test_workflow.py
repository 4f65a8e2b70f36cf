"""The whole workflow through the real loop, registry, tools and local backend (a tiny Gemma 3 trained for real in
the background process): with the offline planner, and with Claude over canned Messages API traffic."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from tiny_gemma import build_tiny_model, tiny_rows, write_jsonl
from wire import anthropic_sse

from agent import run_goal
from agent.console import Console
from tools.render import MAX_CHARS


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return (write_jsonl(tmp_path / "train.jsonl", tiny_rows(32)),
            write_jsonl(tmp_path / "val.jsonl", tiny_rows(8, start=100)))


def quiet() -> Console:
    return Console(out=io.StringIO(), color=False, can_ask=False)


def test_planner_runs_every_phase_and_meets_every_criterion(tiny_model, data, workspace):
    train, val = data
    goal = f"Tune on {train}, validate with {val}, base model {tiny_model}, 3 epochs, learning rate multiplier 5"
    result = run_goal(goal, model="planner", yes=True, workspace=workspace, backend="local", console=quiet())

    assert result.ok, [(c.label, c.detail) for c in result.criteria if not c.holds]
    names = [b["name"] for m in json.loads(json.dumps(_messages(result))) if m["role"] == "assistant"
             for b in m["content"] if b["type"] == "tool_use"]
    assert names[:2] == ["check_environment", "validate_dataset"]
    assert {"create_tuning_job", "poll_metrics", "choose_checkpoint", "compare_models", "test_endpoint",
            "write_report"} <= set(names)
    assert result.totals.model_calls <= 15
    assert result.totals.largest_tool_result_tokens <= 2000
    report = Path(next(c.detail for c in result.criteria if c.key == "documentation"))
    assert report.is_file() and "genai.Client" in report.read_text()  # working code to call the tuned model
    assert "Phase 5" in result.summary and result.job_id in result.summary


def test_claude_drives_the_same_workflow_over_the_wire(tiny_model, data, workspace, httpx2_mock):
    """Claude's turns are canned; the tools, the backend and the training are real."""
    import anthropic

    from agent.models.anthropic import ClaudeModel

    train, val = data
    script = iter([
        [("check_environment", {"backend": "local"}),
         ("validate_dataset", {"path": str(train), "validation_path": str(val), "base_model": str(tiny_model)})],
        [("upload_to_gcs", {"path": str(train), "backend": "local"}),
         ("upload_to_gcs", {"path": str(val), "backend": "local"})],
        "create", "poll", "choose", "compare", "report", "done",
    ])
    seen_results: list[dict] = []

    def reply(request):  # noqa: ANN001, ANN202 - respx request/response
        body = json.loads(request.content)
        last = body["messages"][-1]["content"]
        if isinstance(last, list):
            seen_results.extend(b for b in last if b["type"] == "tool_result")
        step = next(script)
        uploads = [json.loads(r["content"]) for r in seen_results if '"uri"' in r["content"]]
        job = next((json.loads(r["content"])["job"]["job_id"] for r in seen_results if '"reused"' in r["content"]),
                   None)
        calls = {
            "create": [("create_tuning_job", {"training_dataset_uri": uploads[0]["uri"],
                                              "validation_dataset_uri": uploads[1]["uri"],
                                              "base_model": str(tiny_model), "epochs": 3,
                                              "learning_rate_multiplier": 5.0, "backend": "local"})],
            "poll": [("poll_metrics", {"job_id": job})],
            "choose": [("choose_checkpoint", {"job_id": job})],
            "compare": [("compare_models", {"job_id": job, "max_examples": 4}), ("test_endpoint", {"job_id": job})],
            "report": [("write_report", {"job_ids": [job]})],
        }.get(step, step) if isinstance(step, str) else step
        if calls == "done":
            return _sse(anthropic_sse([{"type": "text", "text": "All done."}], "end_turn"))
        content = [{"type": "tool_use", "id": f"toolu_{len(seen_results)}_{i}", "name": n, "input": a}
                   for i, (n, a) in enumerate(calls)]
        return _sse(anthropic_sse(content, "tool_use"))

    route = httpx2_mock.post("https://api.anthropic.com/v1/messages").mock(side_effect=reply)
    model = ClaudeModel("claude-sonnet-4-6", client=anthropic.Anthropic(api_key="sk-ant-test-0000000000"))
    result = run_goal("Tune the tiny model on my data", model=model, yes=True, workspace=workspace, backend="local",
                      console=quiet())

    assert result.ok, [(c.label, c.detail) for c in result.criteria if not c.holds]
    assert route.call_count == result.totals.model_calls == 8
    assert all(not r["is_error"] for r in seen_results), [r["content"] for r in seen_results if r["is_error"]]
    assert all(len(r["content"]) <= MAX_CHARS for r in seen_results)


def _sse(body: bytes):  # noqa: ANN202 - an httpx.Response for respx
    import httpx

    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def _messages(result) -> list[dict]:  # noqa: ANN001
    lines = Path(result.transcript).read_text().splitlines()
    return [json.loads(line)["message"] for line in lines if json.loads(line)["type"] == "message"]
