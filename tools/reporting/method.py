"""How a job was tuned, in one phrase for the report and the summary: the method and where it started."""

from __future__ import annotations

from tools.backends.base import JobInfo


def method_text(job: JobInfo) -> str:
    """E.g. 'preference tuning (beta 0.1), continued from M checkpoint 2' or 'supervised tuning of the base model'."""
    if job.method == "preference":
        kind = "preference tuning" + (f" (beta {job.beta:g})" if job.beta is not None else " (beta: service default)")
    else:
        kind = "supervised tuning"
    if not job.source_model:
        return f"{kind} of the base model {job.base_model}"
    checkpoint = f" checkpoint {job.source_checkpoint_id}" if job.source_checkpoint_id else " (its default checkpoint)"
    return f"{kind}, continued from {job.source_model}{checkpoint}"
