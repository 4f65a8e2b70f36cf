"""A tool result as the rest of gto reads it: the tool, its arguments and its typed pydantic output; and the one rule
for "is this result about this job", shared by the success criteria, the planner and the report, so the exit code
and the report never disagree about which results count."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.backends.base import JobInfo
from tools.catalog import catalog
from tools.workspace import Workspace

log = logging.getLogger("gto.results")

# Tools called before a job exists: their results carry no job id, so they are matched by the job's own dataset,
# base model, backend and project.
BEFORE_JOB = ("check_environment", "validate_dataset", "recommend_hyperparameters", "estimate_cost", "upload_to_gcs")


@dataclass(frozen=True)
class ToolRecord:
    tool: str
    arguments: dict[str, Any]
    output: BaseModel
    call_id: str | None = None
    ts: float = 0.0


def typed(tool: str, data: dict[str, Any] | None) -> BaseModel | None:
    """A stored result (JSON) as the tool's output model again; None when the tool or the shape is gone."""
    from tools.registry import REGISTRY

    spec = REGISTRY.get(tool)
    if spec is None or data is None:
        return None
    try:
        return spec.output_model.model_validate(data)
    except ValidationError as exc:  # written by an older gto: skipped, never guessed at
        log.info("result of %s no longer matches its model: %s", tool, exc.errors()[:1])
        return None


def record(tool: str, arguments: dict[str, Any], data: dict[str, Any] | None, call_id: str | None = None,
           ts: float = 0.0) -> ToolRecord | None:
    output = typed(tool, data)
    return ToolRecord(tool, arguments, output, call_id, ts) if output is not None else None


def job_of(output: BaseModel | None) -> JobInfo | None:
    job = getattr(output, "job", None)
    return job if isinstance(job, JobInfo) else None


def latest(records: Iterable[ToolRecord], tool: str,
           where: Callable[[ToolRecord], bool] | None = None) -> ToolRecord | None:
    found = None
    for r in records:
        if r.tool == tool and (where is None or where(r)):
            found = r
    return found


def about_job(r: ToolRecord, job: JobInfo, workspace: Workspace | None = None) -> bool:
    """Whether a result is about this job. A result that carries a job, or names one in its arguments, must name this
    one; a pre-job result must match the job's training file, base model, backend and project; what a result or the
    job does not say cannot rule it out."""
    own = job_of(r.output)
    if own is not None:
        return own.job_id == job.job_id
    named = r.arguments.get("job_id") or getattr(r.output, "job_id", None)
    if named:
        return named == job.job_id
    if r.tool in ("write_report", "compare_jobs"):
        return job.job_id in (r.arguments.get("job_ids") or [])
    if r.tool == "test_endpoint":
        endpoints = {job.endpoint, *(c.endpoint for c in job.checkpoints)} - {None}
        return getattr(r.output, "endpoint", None) in endpoints
    if r.tool == "validate_dataset":
        path = r.output.train.path if getattr(r.output, "train", None) else None
        files = _dataset_files(workspace, job.training_dataset_uri)
        return not path or files is None or _resolved(path) in files
    if r.tool == "upload_to_gcs":
        uri = getattr(r.output, "uri", None)
        return not uri or uri in (job.training_dataset_uri, job.validation_dataset_uri)
    if r.tool in ("recommend_hyperparameters", "estimate_cost"):
        model = getattr(r.output, "base_model", None)
        return not model or _model_id(model) == _model_id(job.base_model)
    if r.tool == "check_environment":
        project, region = _project_region(job.job_id)
        out = r.output
        return all(not want or not got or want == got for want, got in (
            (job.backend, getattr(out, "backend", None)), (region, getattr(out, "region", None)),
            # Vertex names jobs by project number; a project id cannot be compared with that.
            (None if project is None or project.isdigit() else project, getattr(out, "project", None))))
    return True


def _dataset_files(workspace: Workspace | None, uri: str | None) -> set[str] | None:
    """The local files a job's dataset is known as (its path, the file an upload came from); None when unknown."""
    if not uri:
        return None
    files = {_resolved(uri)} if "://" not in uri else set()
    source = (workspace.dataset(uri) or {}).get("source") if workspace else None
    if source:
        files.add(_resolved(source))
    return files or None


def _resolved(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _model_id(name: str) -> str:
    model = catalog().find(name)
    return model.id if model else name


def _project_region(job_id: str) -> tuple[str | None, str | None]:
    parts = job_id.split("/")
    if len(parts) > 3 and parts[0] == "projects" and parts[2] == "locations":
        return parts[1], parts[3]
    return None, None
