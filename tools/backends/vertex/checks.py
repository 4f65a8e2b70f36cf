"""Pre-flight for Vertex AI tuning: everything a job needs, each failure with the exact command that fixes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.backends.base import PreflightCheck, PreflightReport
from tools.backends.vertex.client import API_KEY_FIX, DEFAULT_REGION, VertexConnection, api_key_only
from tools.backends.vertex.errors import (
    ADC_LOGIN,
    RestError,
    enable_command,
    grant_command,
    guidance,
    role_for,
)
from tools.backends.vertex.gcs import CloudStorage
from tools.backends.vertex.rest import GoogleRest
from tools.catalog import catalog
from tools.errors import ToolError

AIPLATFORM = "aiplatform.googleapis.com"
STORAGE = "storage.googleapis.com"
# Reference §8.2: tuning, testing the tuned endpoint, reading metrics from Vertex AI Experiments.
PROJECT_PERMISSIONS = [
    "aiplatform.tuningJobs.create", "aiplatform.tuningJobs.get", "aiplatform.tuningJobs.list",
    "aiplatform.tuningJobs.cancel", "aiplatform.endpoints.predict", "aiplatform.metadataStores.get",
    "aiplatform.contexts.get", "aiplatform.contexts.list", "aiplatform.artifacts.get",
    "aiplatform.tensorboardTimeSeries.read",
]
BUCKET_PERMISSIONS = ["storage.objects.create", "storage.objects.get", "storage.buckets.get"]
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}


def agent(number: str, kind: str = "aiplatform") -> str:
    """A Vertex AI service agent: gcp-sa-aiplatform, or gcp-sa-vertex-tune (exists after the first tuning job)."""
    return f"serviceAccount:service-{number}@gcp-sa-{kind}.iam.gserviceaccount.com"


class Preflight:
    def __init__(self, conn: VertexConnection, rest: GoogleRest, gcs: CloudStorage):
        self.conn, self.rest, self.gcs = conn, rest, gcs
        self.checks: list[PreflightCheck] = []

    def add(self, name: str, ok: bool, detail: str, fix: str | None = None) -> bool:
        self.checks.append(PreflightCheck(name=name, ok=ok, detail=detail, fix=None if ok else fix))
        return ok

    def unverified(self, name: str, detail: str, how: str) -> None:
        """A check that could not be performed (403, an API disabled): said so with how to verify it; never blocks."""
        self.checks.append(PreflightCheck(name=name, ok=True, status="unverified", detail=detail, fix=how))

    def run(self, bucket: str | None) -> PreflightReport:
        project = self._identity()
        region = self.conn.region
        self._region(region)
        if project:
            self._api(project, AIPLATFORM)
            self._permissions(project)
            if bucket:
                self._api(project, STORAGE)
                self._bucket(project, bucket)
        return PreflightReport(backend="vertex", ok=all(c.ok for c in self.checks), project=project,
                               region=region, checks=self.checks)

    def _identity(self) -> str | None:
        reason = api_key_only(self.conn.settings)
        if reason:
            self.add("vertex_mode", False, reason, API_KEY_FIX)
            return None
        try:
            _ = self.conn.credentials
        except ToolError as exc:
            self.add("credentials", False, exc.message, ADC_LOGIN)
            return None
        who = self.conn.member().split(":", 1)[1] if "@" in self.conn.member() else "account not named"
        self.add("credentials", True, f"Google credentials found ({who})")
        try:
            project = self.conn.project
        except ToolError as exc:
            self.add("project", False, exc.message,
                     "gcloud config set project PROJECT_ID && export GOOGLE_CLOUD_PROJECT=PROJECT_ID")
            return None
        self.add("project", True, f"project {project}")
        return project

    def _region(self, region: str) -> None:
        cat = catalog()
        vertex_models = [m for m in cat.models if m.backend == "vertex" and cat.lifecycle(m).tunable]
        here = [m.id for m in vertex_models if region in cat.regions_for(m)]
        elsewhere = [f"{m.id} ({', '.join(cat.regions_for(m))})" for m in vertex_models if m.id not in here]
        detail = f"{region} tunes {', '.join(here) or 'no model'}"
        if elsewhere:
            detail += f"; not here: {'; '.join(elsewhere)}"
        self.add("region", bool(here), detail, f"export GOOGLE_CLOUD_LOCATION={DEFAULT_REGION}")
        if here and region not in ("us", "eu") and any(m.tuning_locations for m in vertex_models if m.id in here):
            self.checks[-1].detail += ("; the newest SFT docs create Gemini 3 tuning jobs at the us and eu "
                                       "multi-region endpoints: if a job is refused here, use GOOGLE_CLOUD_LOCATION=us")

    def _api(self, project: str, service: str) -> None:
        name = "vertex_ai_api" if service == AIPLATFORM else "storage_api"
        outcome = self._try(name, f"read the state of {service}", lambda: self.rest.service_state(project, service))
        if isinstance(outcome, RestError):
            self.unverified(name, f"{service}: could not be checked ({outcome.failure.message}); creating a job "
                            "will tell", f"gcloud services list --enabled --project={project} | grep {service}")
        elif outcome is not None:
            self.add(name, outcome == "ENABLED", f"{service} is {outcome}", enable_command(service, project))

    def _permissions(self, project: str) -> None:
        granted = self._try("permissions", "test your permissions",
                            lambda: self.rest.granted(project, PROJECT_PERMISSIONS))
        if isinstance(granted, RestError):
            hint = guidance(granted, self.conn.situation("test permissions")).hint
            self.unverified("permissions", f"could not test permissions: {granted.failure.message}",
                            f"gcloud projects get-iam-policy {project} --flatten=bindings[].members "
                            f"--filter=bindings.members:{self.conn.member()}" + (f" (or: {hint})" if hint else ""))
            return
        if granted is None:
            return
        missing = [p for p in PROJECT_PERMISSIONS if p not in granted]
        member = self.conn.member()
        fixes = sorted({grant_command(p, member, project) for p in missing})
        detail = "all tuning, endpoint and metrics permissions held" if not missing else (
            f"missing {', '.join(missing)} (role {', '.join(sorted({role_for(p) for p in missing}))})")
        self.add("permissions", not missing, detail, " && ".join(fixes))

    def _bucket(self, project: str, bucket: str) -> None:
        facts = self._try("bucket", f"read bucket gs://{bucket}", lambda: self.gcs.bucket_facts(bucket))
        if facts is None and self.checks[-1].name == "bucket":
            return
        if not isinstance(facts, dict):
            self.add("bucket", False, f"gs://{bucket} does not exist",
                     f"gcloud storage buckets create gs://{bucket} --project={project} "
                     f"--location={self.conn.region} --uniform-bucket-level-access")
            return
        self.add("bucket", True, f"gs://{bucket} exists (location {facts.get('location')})")
        held = self._try("bucket_access", "test your bucket permissions",
                         lambda: self.gcs.bucket_permissions(bucket, BUCKET_PERMISSIONS))
        if isinstance(held, set):
            missing = [p for p in BUCKET_PERMISSIONS if p not in held]
            fixes = sorted({grant_command(p, self.conn.member(), project, bucket) for p in missing})
            self.add("bucket_access", not missing, f"gs://{bucket}: you can upload and read" if not missing
                     else f"gs://{bucket}: missing {', '.join(missing)}", " && ".join(fixes))
        self._agent_can_read(project, bucket, facts)

    def _agent_can_read(self, project: str, bucket: str, facts: dict[str, Any]) -> None:
        number = self._try("service_agent_access", "read the project number",
                           lambda: self.rest.project_number(project))
        if number is None and self.checks[-1].name == "service_agent_access":
            return
        if not isinstance(number, str) or not number:
            # A 403 or a disabled Resource Manager API says nothing about the bucket: unverified, not failed.
            why = number.failure.message if isinstance(number, RestError) else "no number in the answer"
            self.unverified("service_agent_access", f"could not read the number of project {project} ({why}), so "
                            f"whether the Vertex AI service agent may read gs://{bucket} is unverified",
                            f"gcloud projects describe {project} --format='value(projectNumber)', then "
                            f"gcloud storage buckets get-iam-policy gs://{bucket} and look for "
                            "service-NUMBER@gcp-sa-aiplatform.iam.gserviceaccount.com (or grant it "
                            "roles/storage.objectViewer)")
            return
        agents = {agent(number), agent(number, "vertex-tune")}
        readers = facts.get("readers") or set()
        fix = (f"gcloud storage buckets add-iam-policy-binding gs://{bucket} --member={agent(number)} "
               "--role=roles/storage.objectViewer")
        if readers & (agents | PUBLIC_MEMBERS):
            self.add("service_agent_access", True, f"the Vertex AI service agent may read gs://{bucket}")
        elif facts.get("project_number") == number:
            self.add("service_agent_access", True, f"gs://{bucket} is in project {project}; the Vertex AI service "
                                                   "agent reads it through its project role")
        elif facts.get("readers") is None:
            self.unverified("service_agent_access", f"gs://{bucket} belongs to another project and its policy "
                            f"could not be read ({facts.get('policy_error', 'unknown')}); grant read access to be "
                            "sure", fix)
        else:
            self.add("service_agent_access", False, f"gs://{bucket} belongs to project number "
                     f"{facts.get('project_number')}, and the Vertex AI service agent of {project} may not read it",
                     fix)

    def _try(self, name: str, action: str, fn: Callable[[], Any]) -> Any:
        """The call's result; a RestError as a value; a failed check named `name` (and None) for other failures."""
        try:
            return fn()
        except RestError as exc:
            return exc
        except ToolError as exc:
            self.add(name, False, exc.message, exc.hint)
        except Exception as exc:
            err = guidance(exc, self.conn.situation(action))
            self.add(name, False, err.message, err.hint)
        return None
