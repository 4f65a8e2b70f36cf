"""Watching a tuning job without spending tokens: one blocking call that polls the backend, shows progress to the
person, checks the curves for anomalies and returns to the model only when something needs a decision."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

from tools.monitoring.anomalies import Anomaly, Health, anomaly_key, assess_health, detect_anomalies, latest_values
from tools.monitoring.experiments import missing_metrics
from tools.backends.base import EVAL_LOSS, TRAIN_LOSS, JobInfo, JobState, MetricPoint, TuningBackend
from tools.context import ToolContext

from tools.errors import ToolError, ToolInput
from tools.training.tuning_spend import settle_job
from tools.registry import tool

Reason = Literal["completed", "failed", "cancelled", "anomaly", "time_limit"]
MAX_ANOMALIES = 8  # the model needs the worst few, not every recovered blip
POLL_RETRIES = 3  # consecutive failed polls tolerated before giving up (a multi-hour watch outlives network blips)


class PollMetricsInput(ToolInput):
    job_id: str = Field(description="the job to watch, as create_tuning_job returned it")
    timeout_s: float = Field(3600, gt=0, description="return with returned_because='time_limit' after this long")
    poll_interval_s: float | None = Field(
        None, gt=0, description="seconds between polls; default the backend's (60 for Vertex, a few locally)")
    return_on_anomaly: bool = Field(True, description="return as soon as a new warning or critical anomaly appears")


class PollMetricsOutput(BaseModel):
    job: JobInfo
    returned_because: Reason
    latest: dict[str, float] = Field(description="the last value of each metric")
    anomalies: list[Anomaly] = Field(description="worst first; new=true for those this call found first")
    health: Health
    points: int = Field(description="metric points seen so far, all metrics together")
    polls: int
    elapsed_s: float
    next_step: str


@tool
def poll_metrics(args: PollMetricsInput, ctx: ToolContext) -> PollMetricsOutput:
    """Block while a tuning job runs and return when it completes, fails, is cancelled, shows a new anomaly or
    reaches the time limit: waiting costs no tokens.

    The person sees live progress meanwhile; you see nothing until it returns, so a long job costs a handful of
    calls. Returns the job, the last metric values, anomalies with recommended actions and a
    health verdict. An anomaly already returned once does not interrupt the next call."""
    return follow(ctx, args.job_id, timeout_s=args.timeout_s, poll_interval_s=args.poll_interval_s,
                  return_on_anomaly=args.return_on_anomaly, already_reported=reported_before(ctx, args.job_id))


def watch(ctx: ToolContext, job_id: str, timeout_s: float | None = None, poll_interval_s: float | None = None,
          stop_on_anomaly: bool = False) -> PollMetricsOutput:
    """`gto watch JOB`: follow a job to its end (or the time limit), with progress and anomalies on ctx.progress."""
    return follow(ctx, job_id, timeout_s=timeout_s or math.inf, poll_interval_s=poll_interval_s,
                  return_on_anomaly=stop_on_anomaly, already_reported=reported_before(ctx, job_id))


def reported_before(ctx: ToolContext, job_id: str) -> set[str]:
    """Anomalies earlier poll_metrics calls already returned, so the same one does not wake the model twice."""
    keys = set()
    for event in ctx.workspace.events(job_id, "tool:poll_metrics"):
        for a in (event["data"] or {}).get("anomalies", []):
            keys.add(anomaly_key(a.get("kind", ""), a.get("step"), a.get("severity", "")))
    return keys


def follow(ctx: ToolContext, job_id: str, *, timeout_s: float, poll_interval_s: float | None,
           return_on_anomaly: bool, already_reported: set[str] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> PollMetricsOutput:
    """The polling loop behind poll_metrics and watch."""
    backend = ctx.backend_for_job(job_id)
    least = getattr(backend, "min_poll_interval_s", 0.0)
    if poll_interval_s is not None and poll_interval_s < least:
        raise ToolError(f"poll_interval_s={poll_interval_s:g} is too short for {backend.name}: at least {least:g} s.",
                        f"Leave it out (the default is {backend.poll_interval_s:g} s) or pass {least:g} or more.")
    interval = poll_interval_s or backend.poll_interval_s
    started = time.monotonic()
    reported = set(already_reported or ())
    series: dict[str, dict[int, MetricPoint]] = {}
    polls = failures = 0
    while True:
        try:
            job = backend.get_job(job_id)
            fresh = fetch_new(backend, job, series)
            failures = 0
        except (ToolError, OSError) as exc:
            failures += 1
            if failures > POLL_RETRIES or polls == 0:
                raise
            ctx.report(f"poll failed ({exc}); retrying in {interval:g} s")
            sleep(interval)
            continue
        polls += 1
        ctx.workspace.record_job(job)
        settle_job(ctx, job)
        if backend.name != "local":  # the local trainer writes its metrics to this same workspace itself
            for name, points in fresh.items():
                ctx.workspace.add_metrics(job_id, name, points)
        data = {name: [by_step[s] for s in sorted(by_step)] for name, by_step in series.items()}
        final = job.state.ended or job.state == JobState.PARTIALLY_SUCCEEDED
        spe = steps_per_epoch(job)
        anomalies = detect_anomalies(data, checkpoints=job.checkpoints, final=final, progress=progress(job, data),
                                     steps_per_epoch=spe)
        new = [a for a in anomalies if a.severity != "info" and a.key not in reported]
        show_progress(ctx, job, data, spe, new)
        reported |= {a.key for a in new}
        elapsed = time.monotonic() - started
        reason: Reason | None = ending_reason(job.state)
        if reason is None and new and return_on_anomaly:
            reason = "anomaly"
        if reason is None and elapsed >= timeout_s:
            reason = "time_limit"
        if reason is not None:
            for a in anomalies:  # new to the caller: not returned by an earlier call
                a.new = a.severity != "info" and a.key not in (already_reported or ())
            health = assess_health(data, anomalies, final=final, steps_per_epoch=spe,
                                   missing=missing_metrics(job, data))
            return PollMetricsOutput(
                job=job, returned_because=reason, latest=latest_values(data), anomalies=worst_first(anomalies),
                health=health, points=sum(len(v) for v in data.values()), polls=polls, elapsed_s=round(elapsed, 1),
                next_step=advice(reason, job, anomalies))
        sleep(max(0.0, min(interval, timeout_s - elapsed)))


def fetch_new(backend: TuningBackend, job: JobInfo, series: dict[str, dict[int, MetricPoint]]
              ) -> dict[str, list[MetricPoint]]:
    """Points not seen before. Metrics may arrive at different paces (eval after the train steps around it), so
    ask from the slowest metric's last step, and from the start until every expected metric has appeared."""
    expected = [TRAIN_LOSS] + ([EVAL_LOSS] if job.validation_dataset_uri else [])
    since = -1
    if all(series.get(name) for name in expected):
        since = min(max(by_step) for by_step in series.values() if by_step)
    fresh: dict[str, list[MetricPoint]] = {}
    for name, points in backend.get_metrics(job.job_id, since_step=since).items():
        known = series.setdefault(name, {})
        new = [p for p in points if known.get(p.step) != p]
        known.update({p.step: p for p in new})
        if new:
            fresh[name] = new
    return fresh


def steps_per_epoch(job: JobInfo) -> float | None:
    total = job.total_steps or (job.data_stats.tuning_step_count if job.data_stats else None)
    return total / job.epochs if total and job.epochs else None


def progress(job: JobInfo, data: dict[str, list[MetricPoint]]) -> float | None:
    if not job.total_steps:
        return None
    step = job.completed_steps or max((pts[-1].step for pts in data.values() if pts), default=0)
    return min(1.0, step / job.total_steps)


def ending_reason(state: JobState) -> Reason | None:
    if state in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED):
        return "completed"
    if state in (JobState.FAILED, JobState.EXPIRED):
        return "failed"
    return "cancelled" if state == JobState.CANCELLED else None


def worst_first(anomalies: list[Anomaly]) -> list[Anomaly]:
    rank = {"critical": 0, "warning": 1, "info": 2}
    return sorted(anomalies, key=lambda a: (rank[a.severity], not a.new, a.step or 0))[:MAX_ANOMALIES]


def show_progress(ctx: ToolContext, job: JobInfo, data: dict[str, list[MetricPoint]], spe: float | None,
                  new: list[Anomaly]) -> None:
    train, evals = data.get(TRAIN_LOSS, []), data.get(EVAL_LOSS, [])
    step = job.completed_steps or (train[-1].step if train else None)
    last = train[-1] if train else None
    epoch = last.epoch if last and last.epoch is not None else (round(step / spe, 2) if step and spe else None)
    parts = [job.state.value.lower()]
    if epoch is not None:
        parts.append(f"epoch {epoch:g}" + (f"/{job.epochs}" if job.epochs else ""))
    if step is not None:
        parts.append(f"step {step}" + (f"/{job.total_steps}" if job.total_steps else ""))
    if train:
        parts.append(f"train loss {train[-1].value:.4g}")
    if evals:
        parts.append(f"eval loss {evals[-1].value:.4g}")
    ctx.report(" · ".join(parts), step, job.total_steps, state=job.state.value, epoch=epoch, step=step,
               train_loss=train[-1].value if train else None, eval_loss=evals[-1].value if evals else None)
    for a in new:
        ctx.report(f"{a.severity}: {a.message} {a.recommended_action}", step, job.total_steps, anomaly=a.kind,
                   severity=a.severity)


def advice(reason: Reason, job: JobInfo, anomalies: list[Anomaly]) -> str:
    if reason == "completed":
        return "Training finished. Next: choose_checkpoint, then compare_models and test_endpoint."
    if reason == "failed":
        return (f"The job ended {job.state.value}: {job.error or 'no error message'}. Fix the cause (data, quota or "
                "hyperparameters) before creating a new job.")
    if reason == "cancelled":
        return "The job was cancelled. Its checkpoints, if any, remain listed by list_checkpoints."
    if reason == "time_limit":
        return "The job is still running. Call poll_metrics again to keep watching."
    worst = worst_first([a for a in anomalies if a.new])[0]
    if worst.severity == "critical":
        return f"{worst.message} Recommended: {worst.recommended_action}"
    return (f"{worst.message} Recommended: {worst.recommended_action} Calling poll_metrics again keeps watching; "
            "this anomaly will not interrupt it again.")
