"""Preference tuning and continuing from a tuned model on Vertex AI: the request google-genai sends (Vertex's real
REST shapes: preferenceOptimizationSpec, preTunedModel), read back through the fake service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vertex_fakes import FakeVertex

from tools.catalog import default_tuning_model
from tools.context import ToolContext
from tools.registry import dispatch

CREATE = r"tuningJobs$"


def pair(i: int) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": f"What is {i} plus {i}?"}]}],
            "completions": [{"score": 1, "completion": {"role": "model", "parts": [{"text": f"{2 * i}."}]}},
                            {"score": 0, "completion": {"role": "model", "parts": [{"text": f"Maybe {i}?"}]}}]}


@pytest.fixture
def prefs(vctx: ToolContext, backend: object, gcs: str, tmp_path: Path) -> str:
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(pair(i)) + "\n" for i in range(30)))
    report = dispatch("validate_dataset", {"path": str(path)}, vctx)
    assert not report.is_error and report.data["method"] == "preference", report.content
    uploaded = dispatch("upload_to_gcs", {"path": str(path)}, vctx)
    assert not uploaded.is_error, uploaded.content
    return uploaded.data["uri"]


def test_preference_job_sends_preference_spec_with_beta(fake: FakeVertex, vctx: ToolContext, prefs: str) -> None:
    created = dispatch("create_tuning_job", {"training_dataset_uri": prefs, "method": "preference", "beta": 0.1,
                                             "epochs": 2, "adapter_size": 4}, vctx)
    assert not created.is_error, created.content
    body = fake.calls("POST", CREATE)[0][2]
    assert "supervisedTuningSpec" not in body and body["baseModel"] == default_tuning_model()
    assert body["preferenceOptimizationSpec"] == {
        "trainingDatasetUri": prefs,
        "hyperParameters": {"epochCount": 2, "adapterSize": "ADAPTER_SIZE_FOUR", "beta": 0.1}}
    job = created.data["job"]
    assert job["method"] == "preference" and job["beta"] == 0.1 and job["training_dataset_uri"] == prefs
    while job["state"] != "SUCCEEDED":
        job = dispatch("get_job", {"job_id": job["job_id"]}, vctx).data["job"]
    assert job["data_stats"]["total_billable_token_count"] == 12000 and job["checkpoints"]


def test_continue_from_a_tuned_jobs_checkpoint(fake: FakeVertex, vctx: ToolContext, prefs: str,
                                               train_file: Path) -> None:
    sft_uri = dispatch("upload_to_gcs", {"path": str(train_file)}, vctx).data["uri"]
    first = dispatch("create_tuning_job", {"training_dataset_uri": sft_uri, "epochs": 2}, vctx).data["job"]
    while first["state"] != "SUCCEEDED":
        first = dispatch("get_job", {"job_id": first["job_id"]}, vctx).data["job"]
    created = dispatch("create_tuning_job", {"training_dataset_uri": prefs, "method": "preference",
                                             "source_model": first["job_id"], "source_checkpoint_id": "1"}, vctx)
    assert not created.is_error, created.content
    body = fake.calls("POST", CREATE)[-1][2]
    assert "baseModel" not in body
    # google-genai 2.34 writes PreTunedModel with its proto (snake_case) field names; the API's JSON mapping reads
    # both spellings
    assert body["preTunedModel"] == {"tuned_model_name": first["tuned_model"], "checkpoint_id": "1"}
    assert body["preferenceOptimizationSpec"]["trainingDatasetUri"] == prefs
    job = created.data["job"]
    assert (job["source_model"], job["source_checkpoint_id"]) == (first["tuned_model"], "1")
    assert job["base_model"] == default_tuning_model()


def test_supervised_continuation_by_model_name(fake: FakeVertex, vctx: ToolContext, backend: object, gcs: str,
                                               train_file: Path) -> None:
    uri = dispatch("upload_to_gcs", {"path": str(train_file)}, vctx).data["uri"]
    model = "projects/p/locations/us-central1/models/123@2"
    created = dispatch("create_tuning_job", {"training_dataset_uri": uri, "source_model": model}, vctx)
    assert not created.is_error, created.content
    body = fake.calls("POST", CREATE)[-1][2]
    assert body["preTunedModel"] == {"tuned_model_name": model} and "supervisedTuningSpec" in body


def test_refusals_before_anything_is_sent(fake: FakeVertex, vctx: ToolContext, prefs: str, train_file: Path) -> None:
    def refused(**args):
        result = dispatch("create_tuning_job", {"training_dataset_uri": prefs, **args}, vctx)
        assert result.is_error
        return result.content

    assert "validated as preference data" in refused()
    assert "beta applies to preference tuning only" in refused(method="supervised", beta=0.1)
    assert "needs source_model" in refused(method="preference", source_checkpoint_id="1")
    assert "was not found" in refused(method="preference", source_model="projects/p/locations/us-central1/"
                                                                        "tuningJobs/999")
    assert not fake.calls("POST", CREATE)


def test_run_preference_job_converts_validates_uploads_and_creates(
        fake: FakeVertex, vctx: ToolContext, backend: object, gcs: str, approvals, tmp_path: Path) -> None:  # noqa: ANN001
    rows = [{"prompt": f"What is {i} plus {i}?", "chosen": f"{2 * i}.", "rejected": f"Maybe {i}?"} for i in range(30)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = dispatch("run_preference_job", {"path": str(path), "beta": 0.2, "epochs": 1}, vctx)
    assert not result.is_error, result.content
    out = result.output
    assert out.conversions[0].converted == 30 and out.validation.method == "preference" and out.validation.ok
    assert out.created.job.method == "preference" and out.uploaded[0].startswith("gs://")
    body = fake.calls("POST", CREATE)[0][2]
    assert body["preferenceOptimizationSpec"]["hyperParameters"]["beta"] == 0.2
    assert [tool for tool, _ in approvals.questions] == ["create_tuning_job"]
    assert "preference tuning job" in approvals.questions[0][1]


def test_run_preference_job_stops_on_invalid_data(fake: FakeVertex, vctx: ToolContext, backend: object, gcs: str,
                                                  tmp_path: Path) -> None:
    bad = pair(1)
    bad["completions"][1]["score"] = 1
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    result = dispatch("run_preference_job", {"path": str(path)}, vctx)
    assert result.is_error and "not ready" in result.content
    assert not fake.calls("POST", CREATE)
