"""Everything that waits or spends has a bound: Vertex is not polled faster than every 5 s, compare_models caps the
tokens it asks for, the brain clients time out, and fix_dataset writes only to fresh temporary files."""

from __future__ import annotations

import json
import os

from monitor_fake_backend import FakeBackend, decay, points

from tools.backends.base import TRAIN_LOSS, JobState
from tools.backends.vertex import VertexBackend
from tools.evaluation.comparison import MAX_OUTPUT_TOKENS
from tools.registry import dispatch

JOB = "projects/p/locations/l/tuningJobs/7"


def test_vertex_is_polled_at_most_every_5_seconds(ctx) -> None:
    assert VertexBackend.min_poll_interval_s == 5.0
    vertex = FakeBackend(name="vertex")
    vertex.min_poll_interval_s = 5.0
    ctx._backends["vertex"] = vertex
    vertex.add_job(JOB, [JobState.SUCCEEDED], {TRAIN_LOSS: points(decay(5))})
    refused = dispatch("poll_metrics", {"job_id": JOB, "poll_interval_s": 0.5}, ctx)
    assert refused.is_error and "at least 5 s" in refused.content
    assert not dispatch("poll_metrics", {"job_id": JOB, "poll_interval_s": 5}, ctx).is_error


def test_compare_models_caps_output_tokens(ctx) -> None:
    too_many = dispatch("compare_models", {"job_id": "local-x", "max_output_tokens": MAX_OUTPUT_TOKENS + 1}, ctx)
    assert too_many.is_error and "max_output_tokens" in too_many.content


def test_the_gemini_brain_times_out(monkeypatch) -> None:
    from agent.models.gemini import GeminiModel

    monkeypatch.setenv("GEMINI_API_KEY", "test-key-not-real")
    model = GeminiModel()
    assert model.client._api_client._http_options.timeout == 300_000


def test_fix_dataset_never_writes_through_a_guessable_temporary_name(ctx, tmp_path) -> None:
    source = tmp_path / "d.jsonl"
    source.write_text(json.dumps({"contents": [{"role": "user", "parts": [{"text": "q"}]},
                                               {"role": "model", "parts": [{"text": "a"}]}]}) + "\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "d.fixed.jsonl"
    # the name the old code used for its temporary file, planted as a link to someone else's file
    (tmp_path / f"d.fixed.jsonl.tmp{os.getpid()}").symlink_to(victim)
    result = dispatch("fix_dataset", {"path": str(source), "output_path": str(out)}, ctx)
    assert not result.is_error, result.content
    assert victim.read_text() == "keep me" and out.read_text().count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _vertex_comparison(ctx, tmp_path, rows: int, reference_chars: int) -> FakeBackend:
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    val = tmp_path / "val.jsonl"
    val.write_text("".join(json.dumps({"contents": [{"role": "user", "parts": [{"text": f"Question {i}?"}]},
                                                    {"role": "model", "parts": [{"text": "r" * reference_chars}]}]})
                           + "\n" for i in range(rows)))
    vertex.add_job(JOB, [JobState.SUCCEEDED], base_model="gemini-2.5-flash", validation_dataset_uri=str(val),
                   endpoint="tuned-endpoint")
    vertex.answers["tuned-endpoint"] = {"*": "answer"}
    vertex.answers["base:gemini-2.5-flash"] = {"*": "answer"}
    return vertex


def test_a_vertex_comparison_over_a_cent_asks_first(ctx, tmp_path) -> None:
    from dataclasses import replace

    vertex = _vertex_comparison(ctx, tmp_path, rows=10, reference_chars=2000)  # 10 x 2 x 1,024 output tokens
    declined = dispatch("compare_models", {"job_id": JOB}, ctx)
    assert declined.is_error and declined.data["declined"] and "At most $" in declined.content
    assert vertex.generated == []  # nothing generated, nothing billed
    asked: list[str] = []
    approving = replace(ctx, approve=lambda tool, question: asked.append(question) or True)
    assert not dispatch("compare_models", {"job_id": JOB}, approving).is_error
    assert len(asked) == 1


def test_a_cheap_vertex_comparison_runs_without_asking(ctx, tmp_path) -> None:
    vertex = _vertex_comparison(ctx, tmp_path, rows=5, reference_chars=20)
    result = dispatch("compare_models", {"job_id": JOB}, ctx)  # ctx refuses every question: none is asked
    assert not result.is_error, result.content
    assert len(vertex.generated) == 10
