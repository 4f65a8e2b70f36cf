"""Where a Vertex tuning job's metrics live (its Vertex AI Experiments run), and what to say when they are missing:
a job that has ended without a single metric is a fact to report with the console link, not "too early to judge"."""

from __future__ import annotations

import re

from tools.backends.base import JobInfo, JobState

CONSOLE = "https://console.cloud.google.com/vertex-ai"


def console_link(job: JobInfo) -> str | None:
    """The Cloud console page of the job's experiment runs, else of the job itself; None for a local job."""
    found = re.match(r"projects/([^/]+)/locations/([^/]+)/metadataStores/[^/]+/contexts/([^/]+)$", job.experiment or "")
    if found:
        project, location, name = found.groups()
        return f"{CONSOLE}/experiments/locations/{location}/experiments/{name}/runs?project={project}"
    found = re.match(r"projects/([^/]+)/locations/([^/]+)/tuningJobs/([^/]+)$", job.job_id)
    if found:
        project, location, number = found.groups()
        return f"{CONSOLE}/generative/language/locations/{location}/tuning/tuningJob/{number}?project={project}"
    return None


def missing_metrics(job: JobInfo, series: dict[str, list]) -> str | None:
    """The sentence for a job that ended well but whose metrics cannot be read; None while some metric exists."""
    if job.state not in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED) or any(series.values()):
        return None
    if job.backend == "local":
        return f"the job {job.state.value} but recorded no metrics in this workspace"
    where = f"its experiment {job.experiment}" if job.experiment else "its Vertex AI Experiments run (none named)"
    link = console_link(job)
    return (f"the job {job.state.value} but {where} could not be found or holds no metrics, so convergence and "
            "generalization cannot be judged" + (f"; look in the console: {link}" if link else ""))
