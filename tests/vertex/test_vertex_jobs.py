"""Tuning jobs end to end through the registry, the real google-genai and google-cloud-aiplatform clients, a fake
Vertex AI server and the Cloud Storage emulator: lifecycle, metrics, checkpoints, failures, cancel, faults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from vertex_fakes import Approvals
from vertex_fakes import FakeVertex

from tools.backends.base import METRIC_NAMES, GenerateRequest
from tools.backends.vertex import VertexBackend
from tools.context import ToolContext
from tools.registry import dispatch

CREATE = r"tuningJobs$"


def upload(ctx: ToolContext, path: Path, **stats: Any) -> str:
    ctx.workspace.record_dataset(str(path.resolve()), stats)
    result = dispatch("upload_to_gcs", {"path": str(path)}, ctx)
    assert not result.is_error, result.content
    return result.data["uri"]


def job_args(train: str, val: str | None = None, **extra: Any) -> dict[str, Any]:
    args = {"training_dataset_uri": train, "base_model": "gemini-3.5-flash-lite", "epochs": 3, "adapter_size": 4,
            "labels": {"team": "search"}, **extra}
    if val:
        args["validation_dataset_uri"] = val
    return args


@pytest.fixture
def uris(vctx: ToolContext, gcs: str, train_file: Path, tmp_path: Path) -> tuple[str, str]:
    val = tmp_path / "val.jsonl"
    val.write_text("\n".join(train_file.read_text().splitlines()[:5]) + "\n")
    return upload(vctx, train_file, tokens=4000, examples=40), upload(vctx, val, examples=5)


def test_lifecycle_pending_running_succeeded_with_metrics_checkpoints_and_endpoint(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, approvals: Approvals,
        uris: tuple[str, str]) -> None:
    created = dispatch("create_tuning_job", job_args(*uris), vctx)
    assert not created.is_error, created.content
    job = created.data["job"]
    assert job["state"] == "PENDING" and not created.data["reused"]
    assert [tool for tool, _ in approvals.questions] == ["create_tuning_job"]
    assert created.data["estimated_cost"]["summary"] in approvals.questions[0][1]
    body = fake.calls("POST", CREATE)[0][2]
    assert body["supervisedTuningSpec"]["hyperParameters"] == {"epochCount": 3, "adapterSize": "ADAPTER_SIZE_FOUR"}
    assert body["supervisedTuningSpec"]["validationDatasetUri"] == uris[1]
    assert body["labels"] == {"team": "search", "gto_request_id": job["client_request_id"]}

    states, seen_steps = [job["state"]], []
    while states[-1] != "SUCCEEDED":
        got = dispatch("get_job", {"job_id": job["job_id"]}, vctx)
        assert not got.is_error, got.content
        states.append(got.data["job"]["state"])
        curves = backend.get_metrics(job["job_id"])
        assert set(curves) == set(METRIC_NAMES)
        seen_steps.append(len(curves["/train_total_loss"]))
    assert states == ["PENDING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert seen_steps == [0, 10, 20, 30]  # the curves grow with training, one epoch (10 steps) per poll

    done = got.data["job"]
    assert done["endpoint"].endswith("/endpoints/10003") and "/models/" not in done["endpoint"]
    assert [(c["epoch"], c["step"], c["is_default"]) for c in done["checkpoints"]] == [
        (1, 10, False), (2, 20, False), (3, 30, True)]
    assert done["data_stats"]["total_billable_token_count"] == 12000
    assert done["data_stats"]["dropped_example_reasons"] == ["example 7 exceeds the token limit"]
    assert got.data["actual_cost"] is not None
    assert vctx.workspace.get_job(job["job_id"]).state.value == "SUCCEEDED"

    exports = len(fake.calls("POST", "exportTensorboardTimeSeries"))
    curves = backend.get_metrics(job["job_id"], since_step=25)
    assert len(fake.calls("POST", "exportTensorboardTimeSeries")) == exports  # an ended job is read from the cache
    assert [p.step for p in curves["/eval_total_loss"]] == [30]
    assert curves["/train_total_loss"][-1].epoch == 3.0

    chosen = backend.set_default_checkpoint(job["job_id"], "2")
    assert fake.calls("PATCH", r"models/m1000@1$")[0][2] == {"defaultCheckpointId": "2"}
    assert chosen.endpoint.endswith("/endpoints/10002")
    assert [c.is_default for c in chosen.checkpoints] == [False, True, False]
    assert dispatch("get_job", {"job_id": job["job_id"]}, vctx).data["job"]["endpoint"] == chosen.endpoint

    answer = backend.generate(chosen.tuned_model, GenerateRequest(contents=[
        {"role": "user", "parts": [{"text": "Extract: Bo, 7"}]}]))
    assert answer.text == "10002:Extract: Bo, 7" and answer.output_tokens == 3
    call = fake.calls("POST", "generateContent")[-1]
    assert call[1].endswith("endpoints/10002:generateContent")  # the endpoint, never the model name
    assert call[2]["generationConfig"]["thinkingConfig"] == {"thinking_level": "MINIMAL"}  # the catalog's lowest


def test_same_call_again_reuses_the_job_without_asking(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, approvals: Approvals,
        uris: tuple[str, str]) -> None:
    first = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    again = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert again.data["reused"] and again.data["job"]["job_id"] == first.data["job"]["job_id"]
    assert len(fake.calls("POST", CREATE)) == 1 and len(approvals.questions) == 1


def test_failed_job_reports_the_error_and_does_not_block_a_new_try(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, approvals: Approvals,
        uris: tuple[str, str]) -> None:
    fake.next_outcome = "fail"
    first = dispatch("create_tuning_job", job_args(uris[0]), vctx).data["job"]
    state = None
    while state != "FAILED":
        got = dispatch("get_job", {"job_id": first["job_id"]}, vctx).data["job"]
        state = got["state"]
    assert "line 12" in got["error"] and got["endpoint"] is None
    fake.next_outcome = "succeed"
    retry = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not retry.is_error and not retry.data["reused"]
    assert retry.data["job"]["job_id"] != first["job_id"]
    assert retry.data["job"]["client_request_id"] == first["client_request_id"] + "-2"
    assert len(fake.calls("POST", CREATE)) == 2 and len(approvals.questions) == 2


def test_cancel(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    job = dispatch("create_tuning_job", job_args(uris[0]), vctx).data["job"]
    dispatch("get_job", {"job_id": job["job_id"]}, vctx)
    cancelled = dispatch("cancel_job", {"job_id": job["job_id"]}, vctx)
    assert not cancelled.is_error, cancelled.content
    assert cancelled.data["job"]["state"] == "CANCELLED"
    assert len(fake.calls("POST", r":cancel$")) == 1
    again = dispatch("cancel_job", {"job_id": job["job_id"]}, vctx)
    assert again.data["job"]["state"] == "CANCELLED" and len(fake.calls("POST", r":cancel$")) == 1
    listed = dispatch("list_jobs", {}, vctx).data["jobs"]
    assert [j["state"] for j in listed] == ["CANCELLED"]


def test_consent_refused_sends_nothing(fake: FakeVertex, backend: VertexBackend, vctx: ToolContext,
                                       approvals: Approvals, uris: tuple[str, str]) -> None:
    approvals.answer = False
    refused = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert refused.is_error and refused.data["declined"]
    assert fake.requests == [] and vctx.workspace.list_jobs() == []


def test_answer_lost_after_the_job_was_made_is_not_a_second_job(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults = ["drop"]  # the service stores the job, but its answer never arrives
    created = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not created.is_error, created.content
    assert len(fake.calls("POST", CREATE)) == 1 and len(fake.jobs) == 1
    assert created.data["job"]["job_id"] == next(iter(fake.jobs))
    assert fake.calls("GET", CREATE)  # it looked for its own job by label before trying again


def test_lost_answer_listed_only_later_is_waited_for_not_posted_again(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults, fake.list_lag = ["drop"], 3  # the service lists the job three looks after the create
    created = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not created.is_error, created.content
    assert len(fake.calls("POST", CREATE)) == 1 and len(fake.jobs) == 1
    assert created.data["job"]["job_id"] == next(iter(fake.jobs))
    posted = fake.requests.index(fake.calls("POST", CREATE)[0])
    assert len([r for r in fake.requests[posted:] if r[0] == "GET" and r[1].endswith("tuningJobs")]) >= 4


def test_lost_answer_never_listed_is_not_posted_again_and_a_repeat_finds_the_job(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults, fake.list_lag = ["drop"], 10_000
    failed = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert failed.is_error and "no second job is billed" in failed.content
    assert "call create_tuning_job again with the same arguments" in failed.content
    assert len(fake.calls("POST", CREATE)) == 1 and len(fake.jobs) == 1 and vctx.workspace.list_jobs() == []
    next(iter(fake.jobs.values())).unlisted_for = 0  # the service has finished saving it
    again = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not again.is_error, again.content
    assert again.data["reused"] and again.data["job"]["job_id"] == next(iter(fake.jobs))
    assert len(fake.calls("POST", CREATE)) == 1


def test_server_error_after_the_job_was_saved_is_not_a_second_job(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults, fake.list_lag = ["saved500"], 2
    created = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not created.is_error, created.content
    assert len(fake.calls("POST", CREATE)) == 1 and len(fake.jobs) == 1
    assert created.data["job"]["job_id"] == next(iter(fake.jobs))


def test_lost_answer_is_found_even_where_the_label_filter_is_refused(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake._create("us-central1", {"baseModel": "gemini-2.5-pro", "labels": {"gto_request_id": "someone-else"}})
    fake.create_faults, fake.label_filter = ["drop"], False
    created = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not created.is_error, created.content
    assert len(fake.calls("POST", CREATE)) == 1 and len(fake.jobs) == 2
    assert created.data["job"]["labels"]["team"] == "search"
    assert fake.list_filters[-1] == "" and fake.list_filters[-2].startswith("labels.gto_request_id=")


def test_server_error_then_success_creates_one_job(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults = ["503"]  # UNAVAILABLE: the request was not acted on, so it is sent again
    created = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert not created.is_error, created.content
    assert len(fake.calls("POST", CREATE)) == 2 and len(fake.jobs) == 1
    methods = [r[0] for r in fake.requests if re.search(CREATE, r[1])]
    assert methods[-3:] == ["POST", "GET", "POST"]  # it looked for the job right before sending it again


def test_quota_exhausted_names_the_quota_after_the_last_try(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults = ["quota"] * 3
    failed = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert failed.is_error
    assert "Global concurrent tuning jobs" in failed.content and "3 tries" in failed.content
    assert "console.cloud.google.com/iam-admin/quotas?project=my-proj" in failed.content
    assert len(fake.calls("POST", CREATE)) == 3 and fake.jobs == {} and vctx.workspace.list_jobs() == []


def test_permission_denied_names_role_member_and_command(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    fake.create_faults = ["denied"]
    failed = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert failed.is_error and len(fake.calls("POST", CREATE)) == 1
    assert "aiplatform.tuningJobs.create" in failed.content and "roles/aiplatform.user" in failed.content
    assert ('gcloud projects add-iam-policy-binding my-proj --member="user:$(gcloud config get-value account)" '
            "--role=roles/aiplatform.user") in failed.content
    assert "fake-token-for-tests" not in failed.content


def test_api_disabled_and_bad_dataset_are_explained(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str],
        train_file: Path) -> None:
    fake.create_faults = ["disabled", "invalid"]
    disabled = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert "gcloud services enable aiplatform.googleapis.com --project=my-proj" in disabled.content
    invalid = dispatch("create_tuning_job", job_args(uris[0]), vctx)
    assert "should be a GCS object of type JSONL" in invalid.content
    assert f"validate_dataset on {train_file.resolve()}" in invalid.content


def test_list_jobs_merges_workspace_and_service(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    mine = dispatch("create_tuning_job", job_args(uris[0]), vctx).data["job"]["job_id"]
    fake._create("us-central1", {"baseModel": "gemini-2.5-pro", "labels": {}})  # made elsewhere, e.g. the console
    listed = dispatch("list_jobs", {"limit": 10}, vctx).data
    ids = {j["job_id"] for j in listed["jobs"]}
    assert mine in ids and len(ids) == 2 and listed["warnings"] == []
    assert len(vctx.workspace.list_jobs("vertex")) == 2


def test_metrics_of_a_second_job_with_the_same_request_label_are_read_and_cached(
        fake: FakeVertex, backend: VertexBackend, vctx: ToolContext, uris: tuple[str, str]) -> None:
    mine = dispatch("create_tuning_job", job_args(uris[0]), vctx).data["job"]
    status, other, _ = fake._create("us-central1", {  # the same idempotency label, e.g. made from another workspace
        "baseModel": "gemini-3.5-flash-lite", "labels": {"gto_request_id": mine["client_request_id"]},
        "supervisedTuningSpec": {"trainingDatasetUri": uris[0]}})
    fake.job(other["name"].rsplit("/", 1)[1]).phase = 1  # running: it has an experiment with points
    curves = backend.get_metrics(other["name"])
    assert status == 200 and len(curves["/train_total_loss"]) == 10
    assert vctx.workspace.get_job(other["name"]).client_request_id is None
    assert vctx.workspace.find_job_by_request(mine["client_request_id"]).job_id == mine["job_id"]
