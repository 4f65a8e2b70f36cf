"""retune_job against the fake Vertex AI server: a job tuned on a retired model is tuned again on its successor with
the same data and mapped settings, asked for with the estimate, and refused before anything for a retired target."""

from __future__ import annotations

from datetime import UTC, datetime

from vertex_fakes import Approvals
from vertex_fakes import FakeVertex

from tools.backends.base import JobInfo, JobState
from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.registry import dispatch

CREATE = r"/tuningJobs$"
OLD = "projects/my-proj/locations/us-central1/tuningJobs/4242"


def old_job(vctx: ToolContext, base_model: str = "gemini-2.5-pro", adapter_size: int = 8) -> JobInfo:
    job = JobInfo(job_id=OLD, backend="vertex", state=JobState.SUCCEEDED, base_model=base_model,
                  created_at=datetime(2026, 5, 1, tzinfo=UTC), display_name="invoices",
                  training_dataset_uri="gs://gto-test-data/train.jsonl",
                  validation_dataset_uri="gs://gto-test-data/val.jsonl", epochs=4, adapter_size=adapter_size,
                  learning_rate_multiplier=0.5, labels={"team": "search", "gto_request_id": "old-request"})
    vctx.workspace.record_job(job)
    return job


def test_a_retired_job_is_retuned_on_its_successor(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                  approvals: Approvals) -> None:
    old_job(vctx)
    vctx.settings.region = "us"  # gemini-3.8-flash (2.5 Pro's successor) tunes at the us/eu multi-regions
    result = dispatch("retune_job", {"job_id": OLD}, vctx)
    assert not result.is_error, result.content
    out = result.data
    assert out["base_model"] == "gemini-3.8-flash" and "successor of gemini-2.5-pro" in out["why_this_model"]
    (tool, question), = approvals.questions
    assert tool == "retune_job" and question.startswith(f"Re-tune {OLD} (gemini-2.5-pro) on gemini-3.8-flash")
    assert "Start a Vertex AI tuning job: gemini-3.8-flash" in question  # create_tuning_job's own question
    body = fake.calls("POST", CREATE)[0][2]
    assert body["baseModel"] == "gemini-3.8-flash"
    spec = body["supervisedTuningSpec"]
    assert spec["trainingDatasetUri"] == "gs://gto-test-data/train.jsonl"
    assert spec["validationDatasetUri"] == "gs://gto-test-data/val.jsonl"
    assert spec["hyperParameters"] == {"epochCount": 4, "adapterSize": "ADAPTER_SIZE_EIGHT",
                                       "learningRateMultiplier": 0.5}
    assert body["labels"]["gto_retune_of"] == "4242" and body["labels"]["team"] == "search"
    assert f"write_report(job_ids=['{OLD}'" in out["next_step"]
    again = dispatch("retune_job", {"job_id": OLD}, vctx)
    assert again.data["reused"] and len(fake.calls("POST", CREATE)) == 1  # a retried call is the same job


def test_a_retired_target_is_refused_before_anything(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                                     approvals: Approvals) -> None:
    old_job(vctx, base_model="gemini-2.5-flash")
    result = dispatch("retune_job", {"job_id": OLD, "base_model": "gemini-2.0-flash-001"}, vctx)
    assert result.is_error and "was retired on 2026-02-05" in result.content
    assert fake.requests == [] and approvals.questions == []


def test_adapter_sizes_the_new_model_lacks_are_mapped_down(fake: FakeVertex, backend: VertexBackend,
                                                            vctx: ToolContext, approvals: Approvals,
                                                            monkeypatch) -> None:
    import tools.catalog

    old_job(vctx, base_model="gemini-2.5-flash", adapter_size=16)
    pro = tools.catalog.catalog().get("gemini-3.5-flash-lite")
    monkeypatch.setattr(pro, "adapter_sizes", [1, 2, 4, 8])  # a successor that takes fewer sizes
    out = dispatch("retune_job", {"job_id": OLD}, vctx).data
    assert out["base_model"] == "gemini-3.5-flash-lite"
    assert "adapter size: 16 -> 8" in " ".join(out["carried_over"])
    assert fake.calls("POST", CREATE)[0][2]["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] == \
        "ADAPTER_SIZE_EIGHT"


def test_tuned_models_of_the_project_are_listed_with_their_base_status(fake: FakeVertex, backend: VertexBackend,
                                                                      vctx: ToolContext) -> None:
    _, made, _ = fake._create("us-central1", {"baseModel": "gemini-2.5-flash", "labels": {}})  # e.g. the console
    fake.job(made["name"].rsplit("/", 1)[1]).phase = 9  # long finished
    out = dispatch("list_models", {"tuned": True}, vctx).data
    (row,) = out["tuned_models"]
    assert row["base_model"] == "gemini-2.5-flash" and row["base_status"] == "retired"
    assert row["successor"] == "gemini-3.5-flash-lite" and "retune_job" in row["note"] and out["warnings"] == []
