"""What create_tuning_job checks for the method and the starting point: beta only for preference tuning, data
validated as the method it is sent with, and a source model that exists, has ended well and has that checkpoint.

A source named by its tuning job is resolved here, once: on Vertex AI to the tuned model's resource name (which
google-genai sends as preTunedModel), on the local backend kept as the job id (its checkpoint folders are local)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.backends.base import JobInfo, JobState
from tools.context import ToolContext
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend
    from tools.training.jobs import CreateTuningJobInput


def check_method(args: CreateTuningJobInput, backend: TuningBackend, ctx: ToolContext) -> None:
    """Refuse a mismatch of method, data and hyperparameters; resolve source_model (args are updated in place)."""
    if args.beta is not None and args.method != "preference":
        raise ToolError("beta applies to preference tuning only.", "Drop beta, or pass method='preference'.")
    for role, uri in (("training", args.training_dataset_uri), ("validation", args.validation_dataset_uri)):
        stats = ctx.workspace.dataset(uri) if uri else None
        recorded = (stats or {}).get("method")
        if recorded and recorded != args.method:
            name = (stats or {}).get("source") or uri
            raise ToolError(f"The {role} file {name} was validated as {recorded} data, but method='{args.method}'.",
                            f"Pass method='{recorded}', or the file made for {args.method} tuning.")
    if args.source_checkpoint_id and not args.source_model:
        raise ToolError("source_checkpoint_id needs source_model.", "Name the tuned model or job to continue from.")
    if args.source_model:
        _resolve_source(args, backend, ctx)


def _resolve_source(args: CreateTuningJobInput, backend: TuningBackend, ctx: ToolContext) -> None:
    source = args.source_model or ""
    if backend.name == "vertex" and "/models/" in source and "/tuningJobs/" not in source:
        return  # a tuned model's resource name: Vertex AI checks it and its checkpoint
    job = _source_job(source, backend, ctx)
    if job.state != JobState.SUCCEEDED or not job.checkpoints:
        raise ToolError(f"The source job {job.job_id} is {job.state.value}, with {len(job.checkpoints)} checkpoints.",
                        "Continue from a job that has succeeded (list_jobs shows them).")
    ids = [c.checkpoint_id for c in job.checkpoints]
    if args.source_checkpoint_id and args.source_checkpoint_id not in ids:
        raise ToolError(f"The source job {job.job_id} has no checkpoint {args.source_checkpoint_id!r}.",
                        f"Use one of {ids} (list_checkpoints), or none for its default checkpoint.")
    args.base_model = job.base_model
    if backend.name == "vertex":
        if not job.tuned_model:
            raise ToolError(f"The source job {job.job_id} names no tuned model.", "Wait for it to finish, then retry.")
        args.source_model = job.tuned_model
    else:
        args.source_model = job.job_id


def _source_job(source: str, backend: TuningBackend, ctx: ToolContext) -> JobInfo:
    known = ctx.workspace.get_job(source)
    if known is not None and known.backend != backend.name:
        raise ToolError(f"{source} is a {known.backend} job; this job runs on {backend.name}.",
                        f"Continue from a {backend.name} job, or pass backend='{known.backend}'.")
    try:
        return backend.get_job(source)
    except ToolError as exc:
        raise ToolError(f"The source model {source!r} was not found: {exc.message}",
                        "Pass a tuning job id from list_jobs, or on Vertex AI a tuned model's resource name.") from None
