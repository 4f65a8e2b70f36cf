"""The success checklist of a tuning run, computed from tool results alone, never from what a model says."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """The latest structured result of each tool, as the loop saw them."""

    results: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def add(self, tool: str, arguments: dict[str, Any], data: dict[str, Any] | None, is_error: bool) -> None:
        if not is_error and data is not None:
            self.results.append((tool, arguments, data))

    def latest(self, tool: str, where: Any = None) -> dict[str, Any] | None:
        for name, args, data in reversed(self.results):
            if name == tool and (where is None or where(args, data)):
                return data
        return None


def _job_of(data: dict[str, Any]) -> dict[str, Any] | None:
    job = data.get("job")
    return job if isinstance(job, dict) else None


def evaluate(evidence: Evidence) -> list[Criterion]:
    validated = evidence.latest("validate_dataset", lambda a, d: d.get("ok") is True)
    created = evidence.latest("create_tuning_job", lambda a, d: _job_of(d) is not None)
    job_id = _job_of(created)["job_id"] if created else None
    trained_on = _job_of(created).get("training_dataset_uri") if created else None
    # The training file's upload, once a job names it; before that, any upload.
    uploaded = (trained_on and evidence.latest("upload_to_gcs", lambda a, d: d.get("uri") == trained_on)) or \
        evidence.latest("upload_to_gcs", lambda a, d: bool(d.get("uri")))

    def about_job(a: dict[str, Any], d: dict[str, Any]) -> bool:
        job = _job_of(d)
        return job is not None and job.get("job_id") == job_id

    states = [
        _job_of(d)["state"] for name, a, d in evidence.results if name != "create_tuning_job" and about_job(a, d)
    ]
    state = states[-1] if states else (_job_of(created)["state"] if created else None)
    polled = evidence.latest("poll_metrics", about_job)
    health = (polled or {}).get("health") or {}
    has_validation = bool(created and _job_of(created).get("validation_dataset_uri"))
    # The endpoint tested must be this job's: by job_id, or one of the endpoints the job's own results named.
    endpoints: set[str | None] = set()
    for _, a, d in evidence.results:
        if about_job(a, d):
            job = _job_of(d) or {}
            endpoints |= {job.get("endpoint"), *(c.get("endpoint") for c in job.get("checkpoints") or [])}
    endpoints.discard(None)
    tested = evidence.latest("test_endpoint", lambda a, d: d.get("ok") is True and job_id is not None and (
        a.get("job_id") == job_id if a.get("job_id") else d.get("endpoint") in endpoints))
    report = evidence.latest("write_report", lambda a, d: bool(d.get("path")) and (job_id in a.get("job_ids", [job_id])))

    return [
        Criterion("dataset", CRITERIA[0][1], bool(validated and uploaded),
                  _detail(validated and "validated", uploaded and f"uploaded to {uploaded['uri']}")),
        Criterion("job", CRITERIA[1][1], state == "SUCCEEDED",
                  f"{job_id}: {state}" if job_id else "no tuning job created"),
        Criterion("convergence", CRITERIA[2][1], health.get("convergence_ok") is True,
                  health.get("summary") or "metrics not checked after training"),
        Criterion("generalization", CRITERIA[3][1], health.get("generalization_ok") is True,
                  "no validation set" if not has_validation else (health.get("summary") or "not checked"),
                  applicable=has_validation),
        Criterion("endpoint", CRITERIA[4][1], tested is not None,
                  f"{tested['endpoint']} answered" if tested else "endpoint not tested"),
        Criterion("documentation", CRITERIA[5][1], report is not None,
                  report["path"] if report else "no report written"),
        Criterion("inference", CRITERIA[6][1], bool(tested and report and state == "SUCCEEDED"),
                  "endpoint answered and the report has the code to call it" if tested and report
                  else "needs a tested endpoint and a report with code examples"),
    ]


def all_hold(criteria: list[Criterion]) -> bool:
    return all(c.holds for c in criteria)


def _detail(*parts: Any) -> str:
    done = [p for p in parts if p]
    return ", ".join(done) if done else "not done"
