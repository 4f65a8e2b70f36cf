"""A scripted TuningBackend for the monitoring, evaluation and report tests: jobs walk through given states one
get_job call at a time, revealing their metric series as they go; generation answers from a table; the serving
variant runs a real HTTP server speaking Gemini generateContent."""

from __future__ import annotations

import json
import math
import random
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tools.backends.base import (
    Checkpoint, GenerateRequest, GenerateResult, JobInfo, JobState, MetricPoint, PreflightReport, TuningSpec,
    UploadResult,
)
from tools.errors import ToolError


@dataclass
class ScriptedJob:
    info: JobInfo
    states: list[JobState]
    metrics: dict[str, list[MetricPoint]]
    reveal: list[int]
    tick: int = -1


@dataclass
class FakeBackend:
    name: str = "local"
    poll_interval_s: float = 0.01
    supports_default: bool = True
    jobs: dict[str, ScriptedJob] = field(default_factory=dict)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    latency_s: float = 0.02
    generated: list[tuple[str, str]] = field(default_factory=list)
    fail_polls: int = 0

    def add_job(self, job_id: str, states: list[JobState], metrics: dict[str, list[MetricPoint]] | None = None,
                reveal: list[int] | None = None, **info: object) -> JobInfo:
        metrics = metrics or {}
        last = max((p.step for pts in metrics.values() for p in pts), default=0)
        reveal = reveal or [math.ceil(last * (t + 1) / len(states)) for t in range(len(states))]
        defaults = {"backend": self.name, "base_model": "gemma-3-270m", "state": states[0]}
        job = JobInfo(job_id=job_id, **{**defaults, **info})
        self.jobs[job_id] = ScriptedJob(job, states, metrics, reveal)
        return job

    def _job(self, job_id: str) -> ScriptedJob:
        if job_id not in self.jobs:
            raise ToolError(f"No job {job_id}.", "Use list_jobs.")
        return self.jobs[job_id]

    def get_job(self, job_id: str) -> JobInfo:
        if self.fail_polls:
            self.fail_polls -= 1
            raise ConnectionResetError("connection reset by peer")
        job = self._job(job_id)
        job.tick = min(job.tick + 1, len(job.states) - 1)
        state = job.states[job.tick]
        step = job.reveal[job.tick]
        job.info = job.info.model_copy(update={"state": state, "completed_steps": step})
        return job.info

    def get_metrics(self, job_id: str, since_step: int = -1) -> dict[str, list[MetricPoint]]:
        job = self._job(job_id)
        upto = job.reveal[max(job.tick, 0)] if job.tick >= 0 else job.reveal[-1]
        shown = {name: [p for p in pts if since_step < p.step <= upto] for name, pts in job.metrics.items()}
        return {name: pts for name, pts in shown.items() if pts}

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        return [j.info for j in self.jobs.values()][:limit]

    def cancel_job(self, job_id: str) -> JobInfo:
        job = self._job(job_id)
        job.states, job.tick = [JobState.CANCELLED], -1
        return self.get_job(job_id)

    def set_default_checkpoint(self, job_id: str, checkpoint_id: str) -> JobInfo:
        if not self.supports_default:
            raise NotImplementedError("this backend cannot change the default checkpoint")
        job = self._job(job_id)
        checkpoints = [c.model_copy(update={"is_default": c.checkpoint_id == checkpoint_id})
                       for c in job.info.checkpoints]
        endpoint = next(c.endpoint for c in checkpoints if c.is_default)
        job.info = job.info.model_copy(update={"checkpoints": checkpoints, "endpoint": endpoint})
        return job.info

    def generate(self, target: str, request: GenerateRequest) -> GenerateResult:
        prompt = "".join(p.get("text", "") for p in request.contents[-1]["parts"])
        self.generated.append((target, prompt))
        table = self.answers.get(target)
        if table is None:
            raise ToolError(f"Endpoint {target} is not serving.", "Deploy it first.")
        return GenerateResult(text=table.get(prompt, table.get("*", "")), latency_s=self.latency_s)

    def base_target(self, base_model: str) -> str:
        return f"base:{base_model}"

    def check_environment(self, project: str | None, region: str | None, bucket: str | None) -> PreflightReport:
        return PreflightReport(backend=self.name, ok=True, checks=[])

    def upload(self, path: Path, destination: str | None, create_bucket: bool = False) -> UploadResult:
        return UploadResult(uri=str(path), bytes=path.stat().st_size)

    def create_job(self, spec: TuningSpec) -> JobInfo:
        return self.add_job(f"local-{len(self.jobs) + 1}", [JobState.SUCCEEDED], base_model=spec.base_model)


class ServingFakeBackend(FakeBackend):
    """Also serves any target over HTTP in the Gemini generateContent shape, like the local backend's `gto serve`."""

    requests: list[dict]

    @contextmanager
    def serve_endpoint(self, target: str) -> Iterator[str]:
        backend = self
        backend.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                match = re.fullmatch(r"/v1beta/models/(.+):generateContent", self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                backend.requests.append({"path": self.path, "body": body})
                if not match:
                    return self._send(404, {"error": {"code": 404, "message": f"no route {self.path}",
                                                      "status": "NOT_FOUND"}})
                try:
                    result = backend.generate(match.group(1), GenerateRequest(contents=body["contents"]))
                except ToolError as exc:
                    return self._send(503, {"error": {"code": 503, "message": str(exc), "status": "UNAVAILABLE"}})
                self._send(200, {"candidates": [{"content": {"role": "model", "parts": [{"text": result.text}]},
                                                 "finishReason": "STOP"}],
                                 "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2,
                                                   "totalTokenCount": 5}})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def points(values: list[float], steps_per_epoch: float | None = None, start: int = 1, every: int = 1
           ) -> list[MetricPoint]:
    """A metric series: value i at step start + i*every, with its epoch when steps_per_epoch is given."""
    return [MetricPoint(step=start + i * every, value=v,
                        epoch=round((start + i * every) / steps_per_epoch, 3) if steps_per_epoch else None)
            for i, v in enumerate(values)]


def noisy(values: list[float], noise: float, seed: int) -> list[float]:
    """Multiplicative log-normal noise, the shape per-batch loss noise has."""
    rng = random.Random(seed)
    return [v * math.exp(rng.gauss(0, noise)) for v in values]


def decay(n: int, start: float = 2.5, end: float = 0.3, rate: float = 5.0) -> list[float]:
    return [end + (start - end) * math.exp(-rate * i / n) for i in range(n)]


def checkpoints(job_id: str, steps: list[int], default: int = -1) -> list[Checkpoint]:
    default_step = steps[default]
    return [Checkpoint(checkpoint_id=str(i + 1), epoch=i + 1, step=s, endpoint=f"{job_id}/checkpoint-{i + 1}",
                       is_default=s == default_step) for i, s in enumerate(steps)]
