"""FakeVertex: a local HTTP server speaking the Vertex AI REST shapes that google-genai (tuning jobs, models,
endpoints) and google-cloud-aiplatform (Experiments metadata, TensorBoard) call, reached through the SDKs' own
base-URL settings. Jobs advance one phase per read, so a test walks PENDING -> RUNNING -> SUCCEEDED by polling."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tools.catalog import default_tuning_model

PROJECT, REGION, BUCKET = "my-proj", "us-central1", "gto-test-data"


class Approvals:
    """ctx.approve that records every question and answers as told."""

    def __init__(self, answer: bool = True):
        self.answer = answer
        self.questions: list[tuple[str, str]] = []

    def __call__(self, tool: str, question: str) -> bool:
        self.questions.append((tool, question))
        return self.answer


NUMBER = "123456789"  # the service answers with project numbers, not ids
STEPS_PER_EPOCH = 10
NO_ANSWER = 0  # a status that stands for closing the connection without sending any


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeJob:
    body: dict[str, Any]
    name: str
    outcome: str = "succeed"  # succeed | fail
    phase: int = 0
    cancelled: bool = False
    created: str = field(default_factory=now)
    unlisted_for: int = 0  # list calls still to leave it out of, like a create the service is still saving

    @property
    def epochs(self) -> int:
        return int(self.body.get(self.spec_key, {}).get("hyperParameters", {}).get("epochCount", 3))

    @property
    def spec_key(self) -> str:
        return "preferenceOptimizationSpec" if "preferenceOptimizationSpec" in self.body else "supervisedTuningSpec"

    @property
    def location(self) -> str:
        return self.name.split("/locations/")[1].split("/")[0]

    def prefix(self) -> str:
        return f"projects/{NUMBER}/locations/{self.location}"

    def visible_step(self) -> int:
        """Steps trained so far: none while pending, one epoch per running phase."""
        return min(self.phase - 1, self.epochs) * STEPS_PER_EPOCH if self.phase > 0 else 0

    def state(self) -> str:
        if self.cancelled:
            return "JOB_STATE_CANCELLED" if self.phase > 0 else "JOB_STATE_CANCELLING"
        if self.phase == 0:
            return "JOB_STATE_PENDING"
        if self.phase <= self.epochs:
            return "JOB_STATE_RUNNING"
        return "JOB_STATE_SUCCEEDED" if self.outcome == "succeed" else "JOB_STATE_FAILED"

    def checkpoints(self) -> list[dict[str, Any]]:
        done = self.visible_step() // STEPS_PER_EPOCH
        return [{"checkpointId": str(e), "epoch": str(e), "step": str(e * STEPS_PER_EPOCH),
                 "endpoint": f"{self.prefix()}/endpoints/{self.job_number()}{e}"} for e in range(1, done + 1)]

    def job_number(self) -> str:
        return self.name.rsplit("/", 1)[1]

    def to_json(self) -> dict[str, Any]:
        """A TuningJob in the documented REST shape (int64 fields as strings, as the service sends them)."""
        state, spec = self.state(), dict(self.body.get(self.spec_key, {}))
        job: dict[str, Any] = {
            "name": self.name, "state": state, "createTime": self.created, "updateTime": now(),
            "baseModel": self.body.get("baseModel"), self.spec_key: spec,
            "labels": self.body.get("labels", {}), "tunedModelDisplayName": self.body.get("tunedModelDisplayName"),
        }
        if "preTunedModel" in self.body:  # continuous tuning: the service fills in the base model (output only)
            # google-genai 2.34 sends its fields in snake_case (proto names, which the JSON mapping accepts);
            # the service answers in lowerCamelCase
            sent = self.body["preTunedModel"]
            job["preTunedModel"] = {"tunedModelName": sent.get("tunedModelName", sent.get("tuned_model_name")),
                                    "baseModel": default_tuning_model()}  # what the tests' first jobs tune
            if sent.get("checkpointId", sent.get("checkpoint_id")):
                job["preTunedModel"]["checkpointId"] = sent.get("checkpointId", sent.get("checkpoint_id"))
            del job["baseModel"]
        if self.phase > 0:
            job["startTime"] = self.created
            job["experiment"] = f"{self.prefix()}/metadataStores/default/contexts/tuning-experiment-{self.job_number()}"
            stats_key = ("preferenceOptimizationDataStats" if self.spec_key == "preferenceOptimizationSpec"
                         else "supervisedTuningDataStats")
            stats = {
                "tuningDatasetExampleCount": "40", "totalBillableTokenCount": "12000",
                "totalTuningCharacterCount": "48000", "tuningStepCount": str(self.epochs * STEPS_PER_EPOCH),
                "totalTruncatedExampleCount": "1", "truncatedExampleIndices": ["7"],
                "droppedExampleReasons": ["example 7 exceeds the token limit"],
                "userInputTokenDistribution": {"sum": "8000", "mean": 200.0},
                "userOutputTokenDistribution": {"sum": "4000", "mean": 100.0}}
            if stats_key == "preferenceOptimizationDataStats":  # it has no character or truncation counts
                for key in ("totalTuningCharacterCount", "totalTruncatedExampleCount", "truncatedExampleIndices"):
                    del stats[key]
            job["tuningDataStats"] = {stats_key: stats}
            job["tuningJobMetadata"] = {"completedEpochCount": str(self.visible_step() // STEPS_PER_EPOCH),
                                        "completedStepCount": str(self.visible_step())}
        if self.checkpoints() and not self.cancelled and state != "JOB_STATE_FAILED":
            last = self.checkpoints()[-1]
            job["tunedModel"] = {"model": f"{self.prefix()}/models/m{self.job_number()}@1",
                                 "endpoint": last["endpoint"], "checkpoints": self.checkpoints()}
        if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            job["endTime"] = now()
        if state == "JOB_STATE_FAILED":
            job["error"] = {"code": 3, "message": "Dataset line 12: contents[1].role must be 'model'."}
        if state == "JOB_STATE_CANCELLED":
            job["error"] = {"code": 1, "message": "CANCELED"}
        return job

    def metric(self, name: str) -> list[dict[str, Any]]:
        """Points of one series so far: loss falls and accuracy rises with the step; eval every 5 steps."""
        every = 5 if name.startswith("/eval") else 1
        points = []
        for step in range(every, self.visible_step() + 1, every):
            value = 2.0 / (1 + step / 10) if name.endswith("loss") else 0.5 + step / 100
            points.append({"step": str(step), "wallTime": now(), "scalar": {"value": value}})
        return points


class FakeVertex:
    def __init__(self) -> None:
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[tuple[str, str, Any]] = []
        # per create: "drop" (store the job, close the connection unanswered), "saved500" (store the job, answer
        # 500), "503", "quota", or a CANNED_ERRORS key
        self.create_faults: list[str] = []
        self.list_lag = 0  # a new job appears in job lists only this many list calls after its create
        self.next_outcome = "succeed"
        self.label_filter = True  # False: answer a label filter with 400, as a service without that filter would
        self.list_filters: list[str] = []
        self.default_checkpoints: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> FakeVertex:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, method: str, pattern: str) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[0] == method and re.search(pattern, r[1])]

    def job(self, number: str) -> FakeJob:
        return next(j for j in self.jobs.values() if j.job_number() == number)

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, float]:
        path = re.sub(r"^/v1(beta1)?/", "", path)
        with self._lock:
            self.requests.append((method, path, body))
            return self._route(method, path, query, body)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, float]:
        if m := re.fullmatch(r"projects/([^/]+)/locations/([^/]+)/tuningJobs", path):
            return self._create(m.group(2), body) if method == "POST" else self._list(query)
        if m := re.fullmatch(r"projects/[^/]+/locations/[^/]+/tuningJobs/(\d+)(:cancel)?", path):
            job = next((j for j in self.jobs.values() if j.job_number() == m.group(1)), None)
            if job is None:
                return 404, _error(404, "NOT_FOUND", f"TuningJob {m.group(1)} not found."), 0
            if m.group(2):
                job.cancelled = True
                return 200, {}, 0
            if not job.cancelled or job.phase == 0:
                job.phase += 1 if not job.state().endswith(("SUCCEEDED", "FAILED")) else 0
            return 200, job.to_json(), 0
        if m := re.fullmatch(r"projects/[^/]+/locations/[^/]+/models/([^/]+)", path):
            self.default_checkpoints[m.group(1)] = body.get("defaultCheckpointId")
            return 200, {"name": path.split("@")[0], "versionId": "1",
                         "defaultCheckpointId": body.get("defaultCheckpointId")}, 0
        if m := re.fullmatch(r"projects/[^/]+/locations/[^/]+/endpoints/(\w+):generateContent", path):
            text = body["contents"][-1]["parts"][0]["text"]
            return 200, {"candidates": [{"content": {"role": "model", "parts": [{"text": f"{m.group(1)}:{text}"}]},
                                         "finishReason": "STOP"}],
                         "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3}}, 0
        return self._experiments(method, path)

    def _create(self, location: str, body: dict[str, Any]) -> tuple[int, Any, float]:
        fault = self.create_faults.pop(0) if self.create_faults else "ok"
        if fault == "quota":
            return 429, _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
                                                         "global_concurrent_tuning_jobs."), 0
        if fault == "503":
            return 503, _error(503, "UNAVAILABLE", "The service is currently unavailable."), 0
        if fault in CANNED_ERRORS:
            return CANNED_ERRORS[fault]["error"]["code"], CANNED_ERRORS[fault], 0
        number = str(1000 + len(self.jobs))
        name = f"projects/{NUMBER}/locations/{location}/tuningJobs/{number}"
        self.jobs[name] = FakeJob(body=body, name=name, outcome=self.next_outcome, unlisted_for=self.list_lag)
        if fault == "saved500":
            return 500, _error(500, "INTERNAL", "Internal error encountered."), 0
        return (NO_ANSWER if fault == "drop" else 200), self.jobs[name].to_json(), 0

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any, float]:
        jobs = [j for j in self.jobs.values() if j.unlisted_for == 0]
        for job in self.jobs.values():
            job.unlisted_for = max(0, job.unlisted_for - 1)
        self.list_filters.append(query.get("filter", [""])[0])
        if flt := self.list_filters[-1]:
            m = re.fullmatch(r'labels\.([a-z0-9_-]+)="([^"]*)"', flt)
            if m is None or not self.label_filter:
                return 400, _error(400, "INVALID_ARGUMENT", f"Unsupported filter {flt}"), 0
            jobs = [j for j in jobs if j.body.get("labels", {}).get(m.group(1)) == m.group(2)]
        size, start = int(query.get("pageSize", ["50"])[0]), int(query.get("pageToken", ["0"])[0])
        page = {"tuningJobs": [j.to_json() for j in jobs[start:start + size]]}
        if start + size < len(jobs):
            page["nextPageToken"] = str(start + size)
        return 200, page, 0

    def _experiments(self, method: str, path: str) -> tuple[int, Any, float]:
        m = re.fullmatch(r"projects/([^/]+)/locations/([^/]+)/(.+)", path)
        if not m:
            return 404, _error(404, "NOT_FOUND", path), 0
        prefix, rest = f"projects/{m.group(1)}/locations/{m.group(2)}", m.group(3)
        if c := re.fullmatch(r"metadataStores/default/contexts/tuning-experiment-(\d+)", rest):
            return 200, {"name": path, "displayName": f"tuning-experiment-{c.group(1)}",
                         "schemaTitle": "system.Experiment", "schemaVersion": "0.0.1",
                         "metadata": {"backing_tensorboard_resource": f"{prefix}/tensorboards/77",
                                      "experiment_deleted": False}}, 0
        if rest == "tensorboards/77":
            return 200, {"name": path, "displayName": "tuning"}, 0
        if r := re.fullmatch(r"tensorboards/77/experiments/tuning-experiment-(\d+)/runs", rest):
            return 200, {"tensorboardRuns": [{"name": f"{path}/run-{r.group(1)}", "displayName": "run"}]}, 0
        if r := re.fullmatch(r"tensorboards/77/experiments/[^/]+/runs/run-(\d+)/timeSeries", rest):
            job = self.job(r.group(1))
            names = ["/train_total_loss", "/train_fraction_of_correct_next_step_preds"]
            if job.body.get("supervisedTuningSpec", {}).get("validationDatasetUri"):
                names += ["/eval_total_loss", "/eval_fraction_of_correct_next_step_preds"]
            return 200, {"tensorboardTimeSeries": [
                {"name": f"{path}/{i}", "displayName": n, "valueType": "SCALAR"} for i, n in enumerate(names)]}, 0
        if r := re.fullmatch(r"tensorboards/77/experiments/[^/]+/runs/run-(\d+)/timeSeries/(\d):"
                             r"exportTensorboardTimeSeries", rest):
            names = ["/train_total_loss", "/train_fraction_of_correct_next_step_preds", "/eval_total_loss",
                     "/eval_fraction_of_correct_next_step_preds"]
            return 200, {"timeSeriesDataPoints": self.job(r.group(1)).metric(names[int(r.group(2))])}, 0
        return 404, _error(404, "NOT_FOUND", f"{path} not found"), 0

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                status, payload, delay = fake.route(method, url.path, parse_qs(url.query), body)
                time.sleep(delay)
                if status == NO_ANSWER:
                    # the answer is lost on the way back, deterministically (a slow answer that outlasts the
                    # client's timeout would depend on how loaded the test machine is)
                    self.close_connection = True
                    return
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: exactly the case a dropped answer simulates

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        return Handler


def _error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": details or []}}


# Documented google.rpc error shapes (reference §8.4, GitHub issue GoogleCloudPlatform/generative-ai#2081).
CANNED_ERRORS = {
    "denied": _error(403, "PERMISSION_DENIED", "Permission 'aiplatform.tuningJobs.create' denied on resource "
                     "'//aiplatform.googleapis.com/projects/my-proj/locations/us-central1' (or it may not exist).",
                     [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED",
                       "domain": "aiplatform.googleapis.com",
                       "metadata": {"permission": "aiplatform.tuningJobs.create",
                                    "resource": "projects/my-proj/locations/us-central1"}}]),
    "disabled": _error(403, "PERMISSION_DENIED", "Vertex AI API has not been used in project my-proj before or it "
                       "is disabled.",
                       [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                         "domain": "googleapis.com",
                         "metadata": {"service": "aiplatform.googleapis.com", "consumer": "projects/123456789"}}]),
    "invalid": _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.",
                      [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                          {"field": "tuning_job.supervised_tuning_spec.training_dataset_uri",
                           "description": "Training dataset uri should be a GCS object of type JSONL."}]}]),
}
