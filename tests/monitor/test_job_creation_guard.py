"""create_tuning_job's guards: identical calls at once make one job, a paid job never starts without a question,
the question prices what estimate_cost prices, and a region Google did not confirm warns instead of passing silently."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest
from monitor_fake_backend import FakeBackend

from tools.training import job_requests
from tools.backends.base import JobInfo, JobState, TuningSpec
from tools.training.job_requests import request_key
from tools.training.jobs import CreateTuningJobInput
from tools.errors import ToolError
from tools.registry import dispatch

@pytest.fixture(autouse=True)
def _gemini_2_5_tunable(before_2_5_retired):
    """These tests price jobs and walk the 2.x region list: both need 2.5 Flash tunable (see before_2_5_retired)."""


LOCAL_ARGS = {"training_dataset_uri": "local://train.jsonl", "base_model": "gemma-3-270m", "backend": "local"}
VERTEX_ARGS = {"training_dataset_uri": "gs://bkt/train.jsonl", "base_model": "gemini-2.5-flash", "epochs": 3,
               "backend": "vertex"}


@dataclass
class CountingBackend(FakeBackend):
    """Counts create_job calls; each takes `delay` seconds, as a real create's round trips do."""

    region: str = "us-central1"
    delay: float = 0.0
    down: int = 0  # get_job calls that fail as an unreachable service does
    creates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_job(self, spec: TuningSpec) -> JobInfo:
        with self.lock:
            self.creates += 1
            number = self.creates
        time.sleep(self.delay)
        return self.add_job(f"{self.name}-job-{number}", [JobState.RUNNING], base_model=spec.base_model,
                            client_request_id=spec.client_request_id)

    def get_job(self, job_id: str) -> JobInfo:
        if self.down:
            self.down -= 1
            raise ToolError("Vertex AI did not answer (503 UNAVAILABLE).", "Try again in a minute.")
        return super().get_job(job_id)


class Questions:
    def __init__(self, answer: bool):
        self.answer, self.asked = answer, []

    def __call__(self, tool: str, question: str) -> bool:
        self.asked.append(question)
        return self.answer


@pytest.fixture
def vertex(ctx):
    backend = CountingBackend(name="vertex")
    ctx._backends["vertex"] = backend
    return backend


def test_two_identical_calls_at_once_create_one_job(ctx):
    backend = CountingBackend(delay=0.5)
    ctx._backends["local"] = backend
    start, results = threading.Barrier(2), []

    def call() -> None:
        start.wait()
        results.append(dispatch("create_tuning_job", LOCAL_ARGS, ctx))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert backend.creates == 1
    assert [r.is_error for r in results] == [False, False], [r.content for r in results]
    assert len({r.data["job"]["job_id"] for r in results}) == 1
    assert sorted(r.data["reused"] for r in results) == [False, True]


def test_a_call_that_finds_its_job_still_being_created_says_so_after_waiting(ctx, monkeypatch):
    backend = CountingBackend()
    ctx._backends["local"] = backend
    monkeypatch.setattr(job_requests, "CLAIM_WAIT_S", 0.3)
    rid = request_key(CreateTuningJobInput(**LOCAL_ARGS), "local", ctx)
    token = ctx.workspace.claim_request(rid)  # another call of this process is creating it right now
    result = dispatch("create_tuning_job", LOCAL_ARGS, ctx)
    assert result.is_error and "already being created by another call" in result.content
    assert backend.creates == 0
    ctx.workspace.release_request(rid, token)
    assert not dispatch("create_tuning_job", LOCAL_ARGS, ctx).is_error and backend.creates == 1


def test_a_claim_left_by_a_dead_process_does_not_block_the_job(ctx):
    backend = CountingBackend()
    ctx._backends["local"] = backend
    rid = request_key(CreateTuningJobInput(**LOCAL_ARGS), "local", ctx)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with ctx.workspace.connect() as db:
        db.execute("INSERT INTO request_claims VALUES (?, ?, ?, ?, ?)",
                   (rid, "crashed", dead.pid, socket.gethostname(), time.time()))
    result = dispatch("create_tuning_job", LOCAL_ARGS, ctx)
    assert not result.is_error, result.content
    assert backend.creates == 1


def stale_running_record(ctx, vertex, states):
    """The workspace remembers this call's job as RUNNING; the service holds it in `states`."""
    rid = request_key(CreateTuningJobInput(**VERTEX_ARGS), "vertex", ctx)
    job = vertex.add_job("projects/p/locations/us-central1/tuningJobs/7", states, base_model="gemini-2.5-flash",
                         client_request_id=rid)
    ctx.workspace.save_job(job.model_copy(update={"state": JobState.RUNNING}))
    return rid


def test_a_stale_record_of_a_live_job_is_no_reason_to_skip_the_question(ctx, vertex):
    stale_running_record(ctx, vertex, [JobState.FAILED])
    vertex.down = 1  # the consent check cannot reach the service; the tool then sees the job FAILED
    ctx.approve = Questions(answer=False)
    result = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert len(ctx.approve.asked) == 1 and result.is_error and result.data["declined"]
    assert vertex.creates == 0


def test_a_stale_record_with_consent_creates_the_retry_once(ctx, vertex):
    rid = stale_running_record(ctx, vertex, [JobState.FAILED])
    vertex.down = 1
    ctx.approve = Questions(answer=True)
    result = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert not result.is_error, result.content
    assert len(ctx.approve.asked) == 1 and vertex.creates == 1
    assert result.data["job"]["client_request_id"] == f"{rid}-2"


def test_a_live_job_that_ends_between_question_and_creation_is_asked_about(ctx, vertex):
    stale_running_record(ctx, vertex, [JobState.RUNNING, JobState.FAILED])  # live when asked, failed just after
    ctx.approve = Questions(answer=False)
    result = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert result.is_error and "declined" in result.content
    assert len(ctx.approve.asked) == 1 and "Start a Vertex AI tuning job" in ctx.approve.asked[0]
    assert vertex.creates == 0


def test_a_confirmed_live_job_is_reused_without_a_question(ctx, vertex):
    stale_running_record(ctx, vertex, [JobState.RUNNING])
    ctx.approve = Questions(answer=False)
    result = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert not result.is_error and result.data["reused"]
    assert ctx.approve.asked == [] and vertex.creates == 0


def test_the_question_prices_what_estimate_cost_prices(ctx, vertex):
    # 1,200 examples over the limit are counted in `tokens` but not billed: both must price the billable count.
    ctx.workspace.record_dataset("gs://bkt/train.jsonl", {
        "examples": 500, "valid_examples": 500, "tokens": 900_000, "billable_tokens_per_epoch": 400_000,
        "tokens_estimated": False, "avg_tokens": 1800.0})
    ctx.approve = Questions(answer=False)
    dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    estimate = dispatch("estimate_cost", {"base_model": "gemini-2.5-flash", "training_path": "gs://bkt/train.jsonl",
                                          "epochs": 3}, ctx).data
    assert estimate["billable_training_tokens"] == 1_200_000
    (question,) = ctx.approve.asked
    assert estimate["summary"] in question
    assert re.search(r"\$[\d.,]+", question).group(0) == f"${estimate['training_cost_usd']:,.2f}"


def test_an_unconfirmed_region_warns_and_lets_vertex_decide(ctx, vertex):
    vertex.region = "us-east1"
    ctx.approve = Questions(answer=True)
    result = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert not result.is_error, result.content
    assert "us-east1 is not confirmed as a Gemini tuning region" in ctx.approve.asked[0]
    assert any("us-east1 is not confirmed" in w for w in result.data["warnings"]) and vertex.creates == 1


def test_confirmed_and_unknown_regions_are_unchanged(ctx, vertex):
    ctx.approve = Questions(answer=True)
    confirmed = dispatch("create_tuning_job", VERTEX_ARGS, ctx)
    assert not confirmed.is_error and confirmed.data["warnings"] == []
    assert "not confirmed" not in ctx.approve.asked[0]
    vertex.region = "antarctica-south1"
    refused = dispatch("create_tuning_job", {**VERTEX_ARGS, "epochs": 4}, ctx)
    assert refused.is_error and "cannot be tuned in antarctica-south1" in refused.content
    vertex.region = "us-east1"
    gemini3 = dispatch("create_tuning_job", {**VERTEX_ARGS, "base_model": "gemini-3.5-flash"}, ctx)
    assert gemini3.is_error and "cannot be tuned in us-east1" in gemini3.content
    assert vertex.creates == 1
