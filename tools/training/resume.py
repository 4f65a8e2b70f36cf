"""resume_job: a local job whose trainer stopped early (killed, the machine restarted) continues from its last
checkpoint to the end, as a new job with the same data and settings for the epochs it had left."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.backends.base import JobInfo, JobState, TuningSpec
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import tool

STOPPED_EARLY = (JobState.FAILED, JobState.CANCELLED)


class ResumeJobInput(ToolInput):
    job_id: str = Field(description="the local job that stopped before its last epoch")


class ResumeJobOutput(BaseModel):
    job: JobInfo = Field(description="the job that continues it")
    resumed_from: str
    checkpoint_id: str = Field(description="the stopped job's last checkpoint, where training goes on from")
    epochs_left: int
    note: str


@tool
def resume_job(args: ResumeJobInput, ctx: ToolContext) -> ResumeJobOutput:
    """Continue a local tuning job that stopped early (its trainer was killed, or it was cancelled) from its last
    checkpoint to the end: a new job on the same data and settings for the epochs left, starting from that
    checkpoint's adapter. Asking twice gives the same job. Vertex AI keeps no partial state to resume from."""
    backend = ctx.backend_for_job(args.job_id)
    if backend.name != "local":
        raise ToolError(f"{args.job_id} is a {backend.name} job; only local jobs can be resumed.",
                        "Start a new Vertex AI job with create_tuning_job (retune_job reuses its settings).")
    job = backend.get_job(args.job_id)
    if job.state not in STOPPED_EARLY:
        raise ToolError(f"{job.job_id} is {job.state.value}: only a job that stopped early can be resumed.",
                        "poll_metrics watches a running job; a finished one's checkpoints are ready to use.")
    if not job.checkpoints:
        raise ToolError(f"{job.job_id} stopped before its first checkpoint: there is nothing to continue from.",
                        "Start it again with create_tuning_job (same arguments).")
    last = max(job.checkpoints, key=lambda c: (c.epoch or 0, c.step or 0))
    left = (job.epochs or 0) - (last.epoch or 0)
    if left < 1:
        raise ToolError(f"{job.job_id} finished every epoch before it stopped.",
                        f"Its last checkpoint ({last.checkpoint_id}) is complete: use it as it is.")
    spec = TuningSpec(
        base_model=job.base_model, training_dataset_uri=job.training_dataset_uri or "",
        validation_dataset_uri=job.validation_dataset_uri, epochs=left, adapter_size=job.adapter_size,
        learning_rate_multiplier=job.learning_rate_multiplier, method=job.method, beta=job.beta,
        source_model=job.job_id, source_checkpoint_id=last.checkpoint_id,
        display_name=f"{job.display_name or job.job_id} (resumed)", labels={**job.labels, "resumed_from": job.job_id},
        client_request_id=f"resume-{job.job_id}-{last.checkpoint_id}")
    ctx.report(f"Resuming {job.job_id} from checkpoint {last.checkpoint_id}: {left} epochs left")
    continued = backend.create_job(spec)
    ctx.workspace.record_job(continued)
    return ResumeJobOutput(
        job=continued, resumed_from=job.job_id, checkpoint_id=last.checkpoint_id, epochs_left=left,
        note="The learning rate decays over the epochs left, so the result is close to, not bit-identical with, an "
             "uninterrupted run. poll_metrics watches it.")
