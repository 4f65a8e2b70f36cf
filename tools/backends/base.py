"""The one interface every tuning backend implements, and the shapes it speaks (Vertex's meanings throughout)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, model_validator

# Metric names as Vertex AI reports them; the local trainer uses the same names with the same meaning.
TRAIN_LOSS = "/train_total_loss"
TRAIN_ACCURACY = "/train_fraction_of_correct_next_step_preds"
EVAL_LOSS = "/eval_total_loss"
EVAL_ACCURACY = "/eval_fraction_of_correct_next_step_preds"
METRIC_NAMES = (TRAIN_LOSS, TRAIN_ACCURACY, EVAL_LOSS, EVAL_ACCURACY)


class JobState(StrEnum):
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"
    EXPIRED = "EXPIRED"
    UPDATING = "UPDATING"
    PARTIALLY_SUCCEEDED = "PARTIALLY_SUCCEEDED"
    UNSPECIFIED = "UNSPECIFIED"

    @property
    def ended(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


TuningMethod = Literal["supervised", "preference"]


class TuningSpec(BaseModel):
    """Everything needed to create a supervised or preference tuning job, on any backend."""

    base_model: str
    training_dataset_uri: str
    validation_dataset_uri: str | None = None
    epochs: int | None = Field(None, description="None lets the service choose")
    adapter_size: int | None = Field(None, description="1, 2, 4, 8 or 16 as the model allows; LoRA rank locally")
    learning_rate_multiplier: float | None = None
    export_last_checkpoint_only: bool = False
    display_name: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    client_request_id: str = Field(description="idempotency key: a retry with the same id never creates a second job")
    evaluation_metrics: list[str] = Field(default_factory=list)
    evaluation_output_uri: str | None = None
    method: TuningMethod = "supervised"
    beta: float | None = Field(None, description="preference tuning: weight of the KL term keeping the model near "
                                                 "its starting point")
    source_model: str | None = Field(None, description="continue tuning from this tuned model (Vertex model name, "
                                                       "or a local job id) instead of base_model")
    source_checkpoint_id: str | None = Field(None, description="that model's checkpoint; default its default one")


class DataStats(BaseModel):
    """Like Vertex's supervisedTuningDataStats."""

    example_count: int | None = None
    total_billable_token_count: int | None = None
    total_tuning_character_count: int | None = None
    tuning_step_count: int | None = None
    truncated_example_count: int | None = None
    truncated_example_indices: list[int] = Field(default_factory=list)
    dropped_example_reasons: list[str] = Field(default_factory=list)
    input_tokens_mean: float | None = None
    output_tokens_mean: float | None = None


class Checkpoint(BaseModel):
    checkpoint_id: str
    epoch: int | None = None
    step: int | None = None
    endpoint: str | None = Field(None, description="what to call for inference with this checkpoint")
    is_default: bool = False


class JobInfo(BaseModel):
    job_id: str = Field(description="Vertex resource name, or local-... for the local backend")
    backend: str
    state: JobState
    base_model: str
    display_name: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    training_dataset_uri: str | None = None
    validation_dataset_uri: str | None = None
    epochs: int | None = None
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = None
    completed_epochs: int | None = None
    completed_steps: int | None = None
    total_steps: int | None = None
    error: str | None = None
    tuned_model: str | None = None
    endpoint: str | None = Field(None, description="the default checkpoint's endpoint: use this, not the model name")
    checkpoints: list[Checkpoint] = Field(default_factory=list)
    data_stats: DataStats | None = None
    experiment: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    client_request_id: str | None = None
    method: TuningMethod = "supervised"
    beta: float | None = None
    source_model: str | None = Field(None, description="the tuned model this job continued from, if any")
    source_checkpoint_id: str | None = None


class MetricPoint(BaseModel):
    step: int
    value: float
    epoch: float | None = None
    wall_time: float | None = None


class GenerateRequest(BaseModel):
    contents: list[dict[str, Any]] = Field(description="Gemini Content objects: {role, parts: [{text}]}")
    system_instruction: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None


class GenerateResult(BaseModel):
    text: str
    latency_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None


class PreflightCheck(BaseModel):
    name: str
    ok: bool = Field(description="false only for a definite failure, which blocks; an unverified check is ok")
    detail: str
    fix: str | None = Field(None, description="the exact command that fixes a failed check, or verifies an "
                            "unverified one")
    status: Literal["passed", "failed", "unverified"] | None = Field(
        None, description="unverified: the check could not be performed (e.g. 403 on an optional API)")

    @model_validator(mode="after")
    def _status_follows_ok(self) -> PreflightCheck:
        if self.status is None:
            self.status = "passed" if self.ok else "failed"
        elif self.status == "unverified":
            self.ok = True  # only a definite failure blocks
        return self


class PreflightReport(BaseModel):
    backend: str
    ok: bool
    project: str | None = None
    region: str | None = None
    checks: list[PreflightCheck]


class UploadResult(BaseModel):
    uri: str
    bytes: int
    skipped: bool = Field(False, description="an identical object was already there")
    md5: str | None = None
    bucket_created: bool = False


@runtime_checkable
class TuningBackend(Protocol):
    name: str
    poll_interval_s: float

    def check_environment(self, project: str | None, region: str | None, bucket: str | None) -> PreflightReport: ...

    def upload(self, path: Path, destination: str | None, create_bucket: bool = False) -> UploadResult: ...

    def create_job(self, spec: TuningSpec) -> JobInfo: ...

    def get_job(self, job_id: str) -> JobInfo: ...

    def list_jobs(self, limit: int = 50) -> list[JobInfo]: ...

    def cancel_job(self, job_id: str) -> JobInfo: ...

    def get_metrics(self, job_id: str, since_step: int = -1) -> dict[str, list[MetricPoint]]: ...

    def set_default_checkpoint(self, job_id: str, checkpoint_id: str) -> JobInfo: ...

    def generate(self, target: str, request: GenerateRequest) -> GenerateResult: ...

    def base_target(self, base_model: str) -> str: ...
