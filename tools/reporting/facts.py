"""Everything known about a job, gathered once for the report, the terminal summary and job comparisons: the job,
its curves and checkpoints from the backend (or the workspace when the backend cannot answer), and the results of
the tool calls made around it, which dispatch logged as workspace events, read back as each tool's typed output."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from tools.monitoring.anomalies import Anomaly, Health, assess_health, detect_anomalies
from tools.monitoring.experiments import missing_metrics
from tools.backends.base import JobInfo, JobState, MetricPoint, PreflightReport, TuningBackend
from tools.context import ToolContext
from tools.dataset.validation import ValidationReport
from tools.evaluation.baseline import MeasureBaseOutput
from tools.evaluation.checkpoints import CheckpointRow, checkpoint_rows, job_metrics, pick
from tools.evaluation.comparison import ChosenCheckpoint, CompareModelsOutput, TestEndpointOutput
from tools.evaluation.retune_comparison import CompareRetunedOutput
from tools.monitoring.monitor import steps_per_epoch
from tools.reporting.report_output import ReportOutput
from tools.errors import ToolError
from tools.results import BEFORE_JOB, about_job, record, typed
from tools.spend.ledger import Entry
from tools.training.cost import CostEstimate
from tools.training.hyperparams import HyperparameterAdvice
from tools.training.jobs import CreateTuningJobOutput, GetJobOutput

M = TypeVar("M", bound=BaseModel)


@dataclass
class JobFacts:
    job: JobInfo
    series: dict[str, list[MetricPoint]]
    rows: list[CheckpointRow]
    anomalies: list[Anomaly]
    health: Health
    results: dict[str, BaseModel] = field(default_factory=dict)  # tool name -> its latest typed output
    train_stats: dict[str, Any] = field(default_factory=dict)
    validation_stats: dict[str, Any] = field(default_factory=dict)
    spend: list[Entry] = field(default_factory=list)  # the ledger's rows for this job (the report adds them)
    live: bool = True  # the backend answered; False: the workspace's last record

    def output(self, tool: str, model: type[M]) -> M | None:
        """The latest result of a tool about this job as its output model; None when none was recorded."""
        found = self.results.get(tool)
        return found if isinstance(found, model) else None

    @property
    def preflight(self) -> PreflightReport | None:
        return self.output("check_environment", PreflightReport)

    @property
    def validated(self) -> ValidationReport | None:
        return self.output("validate_dataset", ValidationReport)

    @property
    def recommended(self) -> HyperparameterAdvice | None:
        return self.output("recommend_hyperparameters", HyperparameterAdvice)

    @property
    def estimated(self) -> CostEstimate | None:
        return self.output("estimate_cost", CostEstimate)

    @property
    def created(self) -> CreateTuningJobOutput | None:
        return self.output("create_tuning_job", CreateTuningJobOutput)

    @property
    def polled(self) -> GetJobOutput | None:
        return self.output("get_job", GetJobOutput)

    @property
    def choice(self) -> ChosenCheckpoint | None:
        return self.output("choose_checkpoint", ChosenCheckpoint)

    @property
    def compared(self) -> CompareModelsOutput | None:
        return self.output("compare_models", CompareModelsOutput)

    @property
    def tested(self) -> TestEndpointOutput | None:
        return self.output("test_endpoint", TestEndpointOutput)

    @property
    def base_measured(self) -> MeasureBaseOutput | None:
        return self.output("measure_base", MeasureBaseOutput)

    @property
    def reported(self) -> ReportOutput | None:
        return self.output("write_report", ReportOutput)

    @property
    def finished(self) -> bool:
        return self.job.state.ended or self.job.state == JobState.PARTIALLY_SUCCEEDED

    @property
    def chosen(self) -> tuple[CheckpointRow | None, str | None, bool]:
        """(checkpoint, reason, whether choose_checkpoint chose it). Computed here when it was never called, or
        when it chose before the last checkpoints existed and the best one has changed since."""
        if not self.rows:
            return None, None, False
        row, why = pick(self.rows)
        done = self.choice
        if done and done.checkpoint.checkpoint_id == row.checkpoint_id:
            return row, done.reason, True
        if done:
            why += (f" (choose_checkpoint had picked checkpoint {done.checkpoint.checkpoint_id} before the "
                    "later checkpoints existed)")
        return row, why, False

    @property
    def duration_s(self) -> float | None:
        if self.job.started_at and self.job.ended_at:
            return (self.job.ended_at - self.job.started_at).total_seconds()
        return None


def gather(ctx: ToolContext, job_id: str) -> JobFacts:
    """Collect a job's facts; a job neither the backend nor the workspace knows is an error naming it."""
    backend: TuningBackend | None = None
    live = True
    try:
        backend = ctx.backend_for_job(job_id)
        job = backend.get_job(job_id)
    except (ToolError, OSError) as exc:
        recorded = ctx.workspace.get_job(job_id)
        if recorded is None:
            raise ToolError(f"No job {job_id!r} is known ({exc}).", "List the jobs with list_jobs or `gto jobs`.")
        job, live = recorded, False
    series = job_metrics(ctx, backend if live else None, job_id)
    spe = steps_per_epoch(job)
    final = job.state.ended or job.state == JobState.PARTIALLY_SUCCEEDED
    anomalies = detect_anomalies(series, checkpoints=job.checkpoints, final=final, steps_per_epoch=spe)
    facts = JobFacts(job=job, series=series, rows=checkpoint_rows(job, series), anomalies=anomalies,
                     health=assess_health(series, anomalies, final=final, steps_per_epoch=spe,
                                          missing=missing_metrics(job, series)), live=live)
    facts.results = tool_results(ctx, job_id, job)
    facts.train_stats = dataset_facts(ctx, job.training_dataset_uri)
    facts.validation_stats = dataset_facts(ctx, job.validation_dataset_uri)
    return facts


def tool_results(ctx: ToolContext, job_id: str, job: JobInfo | None = None) -> dict[str, BaseModel]:
    """The latest result of each tool about this job, and of each pre-job tool called before it was created (about
    the job's own dataset, model and project when the job is given), by the one rule in tools.results. A result that
    no longer matches its tool's output model is skipped."""
    own = ctx.workspace.events(job_id)
    created = min((e["ts"] for e in own), default=None)
    results: dict[str, BaseModel] = {}
    for event in own:
        name = event["kind"].removeprefix("tool:")
        output = typed(name, event["data"]) if event["kind"].startswith("tool:") else None
        if output is not None:
            results[name] = output
    if created is None:
        return results
    for name in BEFORE_JOB:
        if name in results:
            continue
        for event in reversed(ctx.workspace.events(kind=f"tool:{name}")):
            r = record(name, {}, event["data"]) if event["ts"] <= created else None
            if r is not None and (job is None or about_job(r, job, ctx.workspace)):
                results[name] = r.output
                break
    return results


def latest_output(ctx: ToolContext, tool: str, model: type[M]) -> M | None:
    """The workspace's latest result of a tool, whatever job it was about, that still matches its output model."""
    for event in reversed(ctx.workspace.events(kind=f"tool:{tool}")):
        output = typed(tool, event["data"])
        if isinstance(output, model):
            return output
    return None


def retune_compared(ctx: ToolContext, job_id: str, previous_id: str | None = None) -> CompareRetunedOutput | None:
    """The latest compare_retuned result of re-tuned job_id against previous_id, or against any previous job."""
    for event in reversed(ctx.workspace.events(job_id, "tool:compare_retuned")):
        output = typed("compare_retuned", event["data"])
        if isinstance(output, CompareRetunedOutput) and previous_id in (None, output.previous_job_id):
            return output
    return None


def dataset_facts(ctx: ToolContext, uri: str | None) -> dict[str, Any]:
    """Recorded statistics of a dataset by its URI, or by the local file an upload came from."""
    if not uri:
        return {}
    stats = ctx.workspace.dataset(uri) or {}
    if "examples" not in stats and "://" not in uri:  # validate_dataset keys stats by the resolved path
        stats = ctx.workspace.dataset(str(Path(uri).expanduser().resolve())) or stats
    return stats


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f}s"
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M %Z")
