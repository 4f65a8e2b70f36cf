"""run_preference_job: one preference-tuning job end to end with the existing tools, in their order: convert the data
to Vertex's preference format when it is in another, validate both files, upload them, create the job (asking before
spending, as create_tuning_job does) and, if asked, wait for it with poll_metrics' watcher."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from tools.backends.base import JobInfo
from tools.catalog import default_tuning_model
from tools.context import ToolContext
from tools.dataset.gemini_format import BOM, parse_line
from tools.dataset.paths import local_file
from tools.dataset.preference import ConvertPreferenceInput, ConvertPreferenceOutput, convert_preference_dataset
from tools.dataset.preference_format import is_preference
from tools.dataset.upload import UploadInput, upload_to_gcs
from tools.dataset.validation import ValidationReport, validate
from tools.errors import ToolError, ToolInput
from tools.monitoring.monitor import PollMetricsOutput, follow, reported_before
from tools.registry import tool
from tools.training.jobs import CreateTuningJobInput, CreateTuningJobOutput, create_tuning_job


class RunPreferenceJobInput(ToolInput):
    path: str = Field(description="local preference JSONL: Vertex's format, {prompt, chosen, rejected} or OpenAI's")
    validation_path: str | None = Field(None, description="local validation file, in any of those formats")
    base_model: str = Field(default_factory=default_tuning_model,
                            description="model to tune (default: the catalog's); gemma-3-270m on the local backend")
    source_model: str | None = Field(
        None, description="continue from this tuned model or tuning job (the usual recipe: the supervised job on the "
                          "preferred answers first)")
    source_checkpoint_id: str | None = Field(None, description="the source's checkpoint; default its default one")
    epochs: int | None = Field(None, ge=1, le=100)
    beta: float | None = Field(None, gt=0, description="KL weight; None lets the service choose")
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = Field(None, gt=0, le=100)
    backend: str | None = Field(None, description="vertex or local; default the configured backend")
    wait: bool = Field(False, description="wait for the job to end (up to timeout_s) and return its last metrics")
    timeout_s: float = Field(3600, gt=0)


class RunPreferenceJobOutput(BaseModel):
    job: JobInfo = Field(description="the preference job as last seen (after watching, when wait=true)")
    conversions: list[ConvertPreferenceOutput] = Field(default_factory=list, description="files converted first")
    validation: ValidationReport
    uploaded: list[str] = Field(description="the training (then validation) URI the job reads")
    created: CreateTuningJobOutput
    watched: PollMetricsOutput | None = None
    next_step: str


@tool
def run_preference_job(args: RunPreferenceJobInput, ctx: ToolContext) -> RunPreferenceJobOutput:
    """Run one preference-tuning job end to end: convert the files to Vertex's preference format if needed,
    validate them, upload them, create the job (optionally continuing from a tuned model or job checkpoint; asks
    before spending) and, with wait=true, follow it to its end. Stops at the first step that fails, saying why."""
    conversions, files = [], []
    for given in (args.path, args.validation_path):
        if given is None:
            continue
        path = local_file(given, "preference dataset", ctx)
        if _needs_conversion(path):
            target = ctx.workspace.dir("datasets") / f"{path.stem}.vertex.jsonl"
            converted = convert_preference_dataset(ConvertPreferenceInput(path=str(path), output_path=str(target)),
                                                   ctx)
            conversions.append(converted)
            path = target
        files.append(path)
    report = validate(str(files[0]), str(files[1]) if len(files) > 1 else None, args.base_model, ctx,
                      method="preference")
    if not report.ok:
        raise ToolError(f"The preference data is not ready: {report.summary}",
                        f"See {report.report_path}; fix the lines named there and run this again.")
    backend = args.backend or ctx.backend_name()
    uris = [upload_to_gcs(UploadInput(path=str(p), backend=backend), ctx).uri for p in files]
    created = create_tuning_job(CreateTuningJobInput(
        training_dataset_uri=uris[0], validation_dataset_uri=uris[1] if len(uris) > 1 else None,
        base_model=args.base_model, method="preference", beta=args.beta, source_model=args.source_model,
        source_checkpoint_id=args.source_checkpoint_id, epochs=args.epochs, adapter_size=args.adapter_size,
        learning_rate_multiplier=args.learning_rate_multiplier, backend=backend), ctx)
    job_id = created.job.job_id
    watched = None
    if args.wait:
        watched = follow(ctx, job_id, timeout_s=args.timeout_s, poll_interval_s=None, return_on_anomaly=False,
                         already_reported=reported_before(ctx, job_id))
        step = watched.next_step
    else:
        step = f"poll_metrics(job_id='{job_id}') waits for it without spending tokens."
    return RunPreferenceJobOutput(job=watched.job if watched else created.job, conversions=conversions, validation=report, uploaded=uris, created=created,
                                  watched=watched, next_step=step)


def _needs_conversion(path: Path) -> bool:
    """Whether the first line is preference data in a format other than Vertex's."""
    with path.open("rb") as stream:
        for raw in stream:
            if raw.strip():
                obj, problem = parse_line(raw.removeprefix(BOM).strip())
                return problem is None and is_preference(obj) and "completions" not in obj
    return False
