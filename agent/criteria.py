"""A request's success checklist, computed from typed tool results alone, never from what a model says: the seed
agent's seven for the whole workflow, and what each part promises for a request that asks for less."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from agent.request import PARTS, Request
from tools.backends.base import JobInfo, JobState
from tools.results import ToolRecord, about_job, job_of, latest, record
from tools.workspace import Workspace

# The seed agent's success criteria, in its order and wording.
CRITERIA = (
    ("dataset", "Dataset validated and uploaded"),
    ("job", "Tuning job created and completed successfully"),
    ("convergence", "Training metrics show healthy convergence"),
    ("generalization", "Validation metrics indicate good generalization"),
    ("endpoint", "Tuned model endpoint is accessible and tested"),
    ("documentation", "Documentation generated for deployment"),
    ("inference", "User can make inference requests to tuned model"),
)


@dataclass
class Criterion:
    key: str
    label: str
    met: bool
    detail: str
    applicable: bool = True

    @property
    def holds(self) -> bool:
        return self.met or not self.applicable


@dataclass
class Evidence:
    """The run's tool results, typed, in the order they came back (errors are not evidence)."""

    records: list[ToolRecord] = field(default_factory=list)

    def add(self, tool: str, arguments: dict[str, Any], data: dict[str, Any] | None, is_error: bool,
            call_id: str | None = None) -> None:
        if not is_error and (r := record(tool, arguments, data, call_id)) is not None:
            self.records.append(r)

    def add_output(self, tool: str, arguments: dict[str, Any], output: BaseModel, call_id: str | None = None) -> None:
        """A result the loop holds already typed."""
        self.records.append(ToolRecord(tool, arguments, output, call_id))

    def by_call(self) -> dict[str, ToolRecord]:
        return {r.call_id: r for r in self.records if r.call_id}

    def latest(self, tool: str, where: Callable[[ToolRecord], bool] | None = None) -> ToolRecord | None:
        return latest(self.records, tool, where)


def evaluate(request: Request | None, evidence: Evidence, since: int = 0,
             workspace: Workspace | None = None) -> list[Criterion]:
    """The request's criteria. Results from before the request (`since`) count for the whole workflow (a chat builds
    on what is done), not for a part: "what's the status?" needs a fresh answer."""
    if request is None or request.whole:
        criteria = workflow(evidence.records, workspace)
        if request is not None and "preference" in request.parts:
            criteria.append(_preferred(request, evidence.records))
        return criteria
    if not request.understood:
        return [Criterion("understood", "Request understood", False, "no part of the workflow matched the words")]
    fresh = evidence.records[since:]
    criteria: list[Criterion] = []
    for part in PARTS:
        if part in request.parts and part in _PARTS:
            # A job re-tuned earlier in the conversation is the answer to asking again, not a second paid job.
            criteria.append(_PARTS[part](request, evidence.records if part == "retune" else fresh))
    return criteria


def all_hold(criteria: list[Criterion]) -> bool:
    return all(c.holds for c in criteria)


def workflow(records: list[ToolRecord], workspace: Workspace | None = None) -> list[Criterion]:
    """The seed's seven, about the latest job the run created; or, when the prompted base model already met the
    user's target and nothing was tuned after, the answer that tuning is not needed."""
    created = latest(records, "create_tuning_job", lambda r: job_of(r.output) is not None)
    enough = latest(records, "measure_base", lambda r: bool(r.output.meets_target))
    if enough is not None and (created is None or records.index(created) < records.index(enough)):
        return _untuned(records, enough)
    job = _as_known(job_of(created.output), records) if created else None
    validated = latest(records, "validate_dataset", lambda r: r.output.ok and (job is None or about_job(r, job,
                                                                                                        workspace)))
    # The training file's upload, once a job names it; before that, any upload.
    uploaded = latest(records, "upload_to_gcs", lambda r: job is None or r.output.uri == job.training_dataset_uri)
    about = [r for r in records if job is not None and r.tool != "create_tuning_job" and about_job(r, job, workspace)]
    states = [j.state for r in about if (j := job_of(r.output)) is not None]
    state = states[-1] if states else (job.state if job else None)
    polled = latest(about, "poll_metrics")
    health = polled.output.health if polled else None
    has_validation = bool(job and job.validation_dataset_uri)
    tested = latest(about, "test_endpoint", lambda r: r.output.ok)
    report = latest(about, "write_report", lambda r: bool(r.output.path))
    succeeded = state == JobState.SUCCEEDED
    return [
        Criterion("dataset", CRITERIA[0][1], bool(validated and uploaded),
                  _detail(validated and "validated", uploaded and f"uploaded to {uploaded.output.uri}")),
        Criterion("job", CRITERIA[1][1], succeeded,
                  f"{job.job_id}: {state.value if state else '?'}" if job else "no tuning job created"),
        Criterion("convergence", CRITERIA[2][1], bool(health and health.convergence_ok),
                  (health.summary if health else None) or "metrics not checked after training"),
        Criterion("generalization", CRITERIA[3][1], bool(health and health.generalization_ok),
                  "no validation set" if not has_validation else ((health.summary if health else None)
                                                                  or "not checked"),
                  applicable=has_validation),
        Criterion("endpoint", CRITERIA[4][1], tested is not None,
                  f"{tested.output.endpoint} answered" if tested else "endpoint not tested"),
        Criterion("documentation", CRITERIA[5][1], report is not None,
                  report.output.path if report else "no report written"),
        Criterion("inference", CRITERIA[6][1], bool(tested and report and succeeded),
                  "endpoint answered and the report has the code to call it" if tested and report
                  else "needs a tested endpoint and a report with code examples"),
    ]


def _untuned(records: list[ToolRecord], enough: ToolRecord) -> list[Criterion]:
    """Tuning would buy nothing the base model does not already do: the data was checked and the base measured
    against the target; the job and the six checks of its tuned model do not apply (until the user says "tune
    anyway"), and stand as one line rather than six that say the same."""
    validated = latest(records[:records.index(enough)], "validate_dataset", lambda r: r.output.ok)
    skipped = f"not needed: {enough.output.base_model} already meets {enough.output.target}"
    return [
        Criterion("dataset", "Dataset validated", validated is not None,
                  "validated" if validated else "not validated"),
        Criterion("baseline", "Base model measured against the target", True, enough.output.verdict),
        Criterion("job", "Tuning job and the tuned model's checks", False, skipped, applicable=False),
    ]


def _as_known(job: JobInfo | None, records: list[ToolRecord]) -> JobInfo | None:
    """The job with every endpoint and checkpoint its later results named (a test of any of them is a test of it)."""
    if job is None:
        return None
    views = [j for r in records if (j := job_of(r.output)) is not None and j.job_id == job.job_id]
    checkpoints = {c.checkpoint_id: c for j in views for c in j.checkpoints}
    endpoint = next((j.endpoint for j in reversed(views) if j.endpoint), job.endpoint)
    return job.model_copy(update={"endpoint": endpoint, "checkpoints": list(checkpoints.values())})


def _detail(*parts: Any) -> str:
    done = [p for p in parts if p]
    return ", ".join(done) if done else "not done"


def _for_job(request: Request, r: ToolRecord) -> bool:
    """A result about the job the request names (any job when it names none): the job it carries, or names in its
    arguments (resume_job carries the new job, named by the old one)."""
    if not request.job_id:
        return True
    job = job_of(r.output)
    ids = {job.job_id if job else None, r.arguments.get("job_id"), getattr(r.output, "job_id", None),
           *(r.arguments.get("job_ids") or [])}
    return request.job_id in ids


def _ran(key: str, label: str, tool: str | tuple[str, ...], describe: Callable[[ToolRecord], str],
         job: bool = False) -> Callable[[Request, list[ToolRecord]], Criterion]:
    tools = (tool,) if isinstance(tool, str) else tool

    def check(request: Request, records: list[ToolRecord]) -> Criterion:
        found = None
        for r in records:
            if r.tool in tools and (not job or _for_job(request, r)):
                found = r
        subject = f" {request.job_id}" if job and request.job_id else ""
        return Criterion(key, label.format(job=subject), found is not None,
                         describe(found) if found else "not done")

    return check


def _verdict(r: ToolRecord) -> str:
    out = r.output
    return (f"{out.summary} Every problem with its line: {out.report_path}" if out.report_path and not out.ok
            else out.summary)


def _cost(r: ToolRecord) -> str:
    usd = r.output.training_cost_usd
    return (f"${usd:,.2f} for {r.output.epochs} epochs of {r.output.base_model}" if usd is not None and usd >= 0
            else f"price of {r.output.base_model} unknown; {r.output.billable_training_tokens:,} billable tokens")


def _state(r: ToolRecord) -> str:
    job = job_of(r.output)
    return f"{job.job_id}: {job.state.value}" if job else "answered"


def _preferred(request: Request, records: list[ToolRecord]) -> Criterion:
    """A preference job ran to success (and, chained after tuning, was compared with its base)."""
    found = latest(records, "run_preference_job")
    job = job_of(found.output) if found else None
    if job is None:
        return Criterion("preference", "Preference tuning job succeeded", False, "no preference job run")
    compared = latest(records, "compare_models", lambda r: getattr(r.output, "job_id", None) == job.job_id)
    met = job.state == JobState.SUCCEEDED and (compared is not None or not request.whole)
    start = f" from {job.source_model}" if job.source_model else ""
    return Criterion("preference", "Preference tuning job succeeded", met,
                     f"{job.job_id}{start}: {job.state.value}" + ("" if compared or not request.whole
                                                                 else "; not yet compared with its base"))


def _retuned(request: Request, records: list[ToolRecord]) -> Criterion:
    """The job was tuned again on a new base model; unless the user would not wait, the new job succeeded and was
    compared with the old tuned model and the new base."""
    made = latest(records, "retune_job", lambda r: _for_job(request, r))
    label = f"Job{' ' + request.job_id if request.job_id else ''} re-tuned"
    if made is None:
        return Criterion("retune", label, False, "retune_job not run" if request.job_id else "no job named")
    new = made.output.job
    states = [j.state for r in records if (j := job_of(r.output)) is not None and j.job_id == new.job_id]
    compared = latest(records, "compare_retuned", lambda r: r.output.job_id == new.job_id)
    if any(c.key == "stop_after_create" for c in request.constraints):
        return Criterion("retune", label, True, f"{new.job_id} on {made.output.base_model}: {states[-1].value}")
    met = states[-1] == JobState.SUCCEEDED and compared is not None
    return Criterion("retune", label, met, compared.output.verdict if compared else
                     f"{new.job_id} on {made.output.base_model}: {states[-1].value}; not yet compared")


def _cancelled(request: Request, records: list[ToolRecord]) -> Criterion:
    found = latest(records, "cancel_job", lambda r: _for_job(request, r))
    job = job_of(found.output) if found else None
    label = f"Job{' ' + request.job_id if request.job_id else ''} cancelled"
    if job is None:
        return Criterion("cancel", label, False, "cancel_job not run" if request.job_id else "no job named")
    ended = job.state in (JobState.CANCELLED, JobState.CANCELLING) or job.state.ended
    return Criterion("cancel", label, ended, f"state {job.state.value}")


_PARTS: dict[str, Callable[[Request, list[ToolRecord]], Criterion]] = {
    "models": _ran("models", "Models listed", "list_models", lambda r: r.output.summary),
    "spent": _ran("spent", "Spending reported", "spend_summary", lambda r: r.output.summary),
    "environment": _ran("environment", "Environment checked", "check_environment",
                        lambda r: "ready to tune" if r.output.ok else "not ready: "
                        + "; ".join(f"{c.name}: {c.fix or c.detail}" for c in r.output.checks if not c.ok)),
    "validate": _ran("validate", "Dataset validated", "validate_dataset", _verdict),
    "fix": _ran("fix", "Dataset repaired", "fix_dataset", lambda r: f"repaired copy {r.output.output_path}"),
    "split": _ran("split", "Validation set held out", "split_dataset",
                  lambda r: f"{r.output.train_path} + {r.output.validation_path}"),
    "recommend": _ran("recommend", "Hyperparameters recommended", "recommend_hyperparameters",
                      lambda r: f"{r.output.epochs.value} epochs, adapter {r.output.adapter_size.value}, "
                      f"learning-rate multiplier {r.output.learning_rate_multiplier.value}"),
    "estimate": _ran("estimate", "Cost estimated", "estimate_cost", _cost),
    "upload": _ran("upload", "Dataset uploaded", "upload_to_gcs", lambda r: r.output.uri),
    "start_job": _ran("start_job", "Tuning job created", "create_tuning_job", _state),
    "status": _ran("status", "Status of job{job} reported", ("get_job", "poll_metrics"), _state, job=True),
    "watch": _ran("watch", "Job{job} watched", "poll_metrics",
                  lambda r: f"{_state(r)} ({r.output.returned_because})", job=True),
    "health": _ran("health", "Training health of job{job} checked", "poll_metrics",
                   lambda r: r.output.health.summary, job=True),
    "cancel": _cancelled,
    "resume": _ran("resume", "Job{job} resumed", "resume_job",
                   lambda r: f"{r.output.job.job_id} goes on from checkpoint {r.output.checkpoint_id}", job=True),
    "retune": _retuned,
    "preference": _preferred,
    "checkpoints": _ran("checkpoints", "Checkpoints of job{job} listed", ("list_checkpoints", "choose_checkpoint"),
                        lambda r: f"{len(r.output.checkpoints)} checkpoints" if r.tool == "list_checkpoints"
                        else f"checkpoint {r.output.checkpoint.checkpoint_id} chosen", job=True),
    "compare": _ran("compare", "Job{job} compared with its base model", "compare_models",
                    lambda r: r.output.verdict, job=True),
    "endpoint": _ran("endpoint", "Endpoint of job{job} tested", "test_endpoint",
                     lambda r: f"{r.output.endpoint} {'answered' if r.output.ok else 'failed'}", job=True),
    "report": _ran("report", "Report of job{job} written", "write_report", lambda r: r.output.path, job=True),
    "compare_jobs": _ran("compare_jobs", "Jobs compared", "compare_jobs",
                         lambda r: f"best: {r.output.best_job_id}" if r.output.best_job_id else "compared"),
    "list_jobs": _ran("list_jobs", "Jobs listed", "list_jobs",
                      lambda r: f"{len(r.output.jobs)} job{'s' if len(r.output.jobs) != 1 else ''}"),
}
