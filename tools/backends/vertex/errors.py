"""Google API failures turned into guidance a person can act on: what failed, for whom, the command that fixes it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.errors import ToolError
from tools.secrets import redact

TRANSIENT_HTTP = (408, 429, 500, 502, 503, 504)
ADC_LOGIN = "gcloud auth application-default login"
USER_MEMBER = '"user:$(gcloud config get-value account)"'
QUOTA_NAME = "Global concurrent tuning jobs"

# The narrowest predefined role holding each permission we ask for (Vertex AI and Cloud Storage IAM docs).
_ROLE_BY_PREFIX = (
    ("aiplatform.", "roles/aiplatform.user"),
    ("storage.objects.get", "roles/storage.objectViewer"),
    ("storage.objects.list", "roles/storage.objectViewer"),
    ("storage.objects.", "roles/storage.objectAdmin"),
    ("storage.buckets.get", "roles/storage.legacyBucketReader"),
    ("storage.buckets.", "roles/storage.admin"),
    ("serviceusage.", "roles/serviceusage.serviceUsageConsumer"),
    ("resourcemanager.projects.get", "roles/browser"),
    ("iam.serviceAccounts.actAs", "roles/iam.serviceAccountUser"),
)


@dataclass
class ApiFailure:
    """The parts of a Google error every mapping needs, whichever SDK raised it."""

    code: int | None
    status: str | None
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def detail(self, type_suffix: str) -> dict[str, Any] | None:
        return next((d for d in self.details if str(d.get("@type", "")).endswith(type_suffix)), None)


@dataclass
class Situation:
    """Where a failure happened, so the guidance can name the project, the bucket and the local files."""

    action: str
    project: str | None = None
    region: str | None = None
    member: str = USER_MEMBER
    bucket: str | None = None
    # REST field (e.g. training_dataset_uri) -> (gs:// URI, local file it came from or None)
    datasets: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def role_for(permission: str) -> str:
    return next((role for prefix, role in _ROLE_BY_PREFIX if permission.startswith(prefix)), "roles/aiplatform.user")


def grant_command(permission: str, member: str, project: str | None, bucket: str | None = None) -> str:
    """The gcloud command granting the narrowest role that holds `permission` to `member`."""
    role = role_for(permission)
    if bucket and (permission.startswith("storage.objects.") or permission == "storage.buckets.get"):
        return f"gcloud storage buckets add-iam-policy-binding gs://{bucket} --member={member} --role={role}"
    return f"gcloud projects add-iam-policy-binding {project or 'PROJECT_ID'} --member={member} --role={role}"


def enable_command(service: str, project: str | None) -> str:
    return f"gcloud services enable {service} --project={project or 'PROJECT_ID'}"


def failure_of(exc: BaseException) -> ApiFailure | None:
    """Read code, status, message and details from a google-genai, google-api-core or raw REST error."""
    from google.api_core import exceptions as core
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        body = exc.details if isinstance(exc.details, dict) else {}
        inner = body.get("error", body) if isinstance(body, dict) else {}
        details = inner.get("details") if isinstance(inner, dict) else None
        return ApiFailure(exc.code, exc.status, str(exc.message or exc), list(details or []))
    if isinstance(exc, core.GoogleAPICallError):
        details = [d for d in (exc.details or []) if isinstance(d, dict)]
        status = getattr(exc.grpc_status_code, "name", None) if exc.grpc_status_code is not None else None
        if exc.reason:
            details.append({"@type": "google.rpc.ErrorInfo", "reason": exc.reason, "metadata": exc.metadata or {}})
        return ApiFailure(int(exc.code) if exc.code else None, status or _status_for(exc.code), exc.message, details)
    if isinstance(exc, RestError):
        return exc.failure
    return None


class RestError(Exception):
    """A non-2xx answer from a Google REST API we call without a client library (Service Usage, Resource Manager)."""

    def __init__(self, url: str, code: int, body: Any):
        inner = body.get("error", {}) if isinstance(body, dict) else {}
        message = inner.get("message") if isinstance(inner, dict) else None
        self.failure = ApiFailure(code, inner.get("status") if isinstance(inner, dict) else None,
                                  message or redact(str(body))[:300], list(inner.get("details") or []) if inner else [])
        super().__init__(f"{code} from {url}: {self.failure.message}")


def _status_for(code: Any) -> str | None:
    return {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(
        int(code) if code else 0)


def is_transient(exc: BaseException) -> bool:
    """Worth another try: 408/429/5xx, timeouts and dropped connections."""
    import httpx
    import requests
    from google.auth import exceptions as auth_errors

    failure = failure_of(exc)
    if failure is not None:
        return failure.code in TRANSIENT_HTTP
    transient: tuple[type[BaseException], ...] = (
        httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError,
        requests.exceptions.Timeout, requests.exceptions.ConnectionError, auth_errors.TransportError, TimeoutError,
    )
    try:
        import httpx2

        transient += (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)
    except ImportError:
        pass
    return isinstance(exc, transient)


def may_have_acted(exc: BaseException) -> bool:
    """For a transient failure of a create: whether the service may have taken the request in anyway (no answer
    came back, or a 500/502/504 came after it), so that sending it again could make a second job. A refused
    connection, 408, 429 and 503 say the request was not acted on."""
    import httpx
    import requests
    from google.auth import exceptions as auth_errors

    failure = failure_of(exc)
    if failure is not None:
        return failure.code in (500, 502, 504)
    never_sent: tuple[type[BaseException], ...] = (
        httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, requests.exceptions.ConnectTimeout,
        auth_errors.TransportError,  # the token refresh before the request
    )
    try:
        import httpx2

        never_sent += (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
    except ImportError:
        pass
    return is_transient(exc) and not isinstance(exc, never_sent)


def what_failed(exc: BaseException) -> str:
    """A short name for a failure: its HTTP code, or the exception of a call that got no answer."""
    failure = failure_of(exc)
    return f"HTTP {failure.code}" if failure is not None else f"no answer: {type(exc).__name__}"


def guidance(exc: BaseException, where: Situation, tries: int = 1) -> ToolError:
    """The ToolError for any failure of a Google call; secrets are masked."""
    from google.auth import exceptions as auth_errors

    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, auth_errors.DefaultCredentialsError):
        return _error("No Google application-default credentials were found.",
                      f"Run: {ADC_LOGIN} (or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file), "
                      "then try again.")
    if isinstance(exc, auth_errors.RefreshError):
        return _error("The Google credentials could not be refreshed (expired or revoked).", f"Run: {ADC_LOGIN}")
    failure = failure_of(exc)
    if failure is None:
        if is_transient(exc):
            after = f" after {tries} tries" if tries > 1 else ""
            again = (" A repeated create_tuning_job call reuses the job this one may have made." if "create" in
                     where.action else "")
            return _error(f"Google Cloud did not answer while trying to {where.action}{after} "
                          f"({type(exc).__name__}).", f"Check the network or proxy, then try again.{again}")
        return _error(f"Could not {where.action}: {type(exc).__name__}: {exc}", None)
    return _guidance_for(failure, where, tries)


def _guidance_for(f: ApiFailure, where: Situation, tries: int) -> ToolError:
    info = f.detail("ErrorInfo") or {}
    reason = info.get("reason", "")
    status = f.status or _status_for(f.code) or ""
    head = f"Could not {where.action}: {f.message}"
    if reason == "SERVICE_DISABLED" or "has not been used in project" in f.message or "is disabled" in f.message:
        service = (info.get("metadata") or {}).get("service") or _service_in(f.message) or "aiplatform.googleapis.com"
        return _error(f"Could not {where.action}: the {service} API is not enabled in project {where.project}.",
                      f"Run: {enable_command(service, where.project)} (takes a minute), then try again.")
    if status == "PERMISSION_DENIED" or f.code == 403:
        return _permission(f, where, head, info)
    if status == "UNAUTHENTICATED" or f.code == 401:
        return _error(head, f"Sign in again: {ADC_LOGIN}")
    if status == "RESOURCE_EXHAUSTED" or f.code == 429:
        return _quota(f, where, head, tries)
    if status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION") or f.code == 400:
        return _invalid(f, where, head)
    publisher = _PUBLISHER_MODEL.search(f.message)
    if publisher and (status == "NOT_FOUND" or f.code == 404 or "not found" in f.message.lower()):
        return _publisher_model(publisher.group(1), publisher.group(2), head)
    if status == "NOT_FOUND" or f.code == 404:
        return _error(head, f"Check the name and the region: tuning jobs and endpoints live in the region they were "
                            f"created in (this call used project {where.project}, region {where.region}). "
                            "list_jobs shows the jobs this workspace knows.")
    if f.code in TRANSIENT_HTTP:
        return _error(f"{head} (HTTP {f.code}, after {tries} tries).",
                      "The service is having trouble; wait a few minutes and try the same call again. Nothing is lost.")
    return _error(head, None)


def _permission(f: ApiFailure, where: Situation, head: str, info: dict[str, Any]) -> ToolError:
    permission = (info.get("metadata") or {}).get("permission") or _permission_in(f.message)
    principal = _principal_in(f.message)
    member = f"serviceAccount:{principal}" if principal and "gserviceaccount.com" in principal else (
        f"user:{principal}" if principal else where.member)
    if permission is None:
        return _error(head, f"Grant the Vertex AI User role: "
                            f"{grant_command('aiplatform.tuningJobs.create', member, where.project)}")
    who = member.split(":", 1)[1] if "@" in member and "$(" not in member else "your account"
    return _error(f"{head} ({who} lacks {permission}, which {role_for(permission)} holds)",
                  f"Run: {grant_command(permission, member, where.project, where.bucket)}")


def _quota(f: ApiFailure, where: Situation, head: str, tries: int) -> ToolError:
    project = where.project or "PROJECT_ID"
    if "tuning" in where.action or "tuning" in f.message.lower():
        return _error(f"{head} (quota '{QUOTA_NAME}' is used up; {tries} tries).",
                      f"That quota is global across regions and models and starts at one running job per project. "
                      f"Wait for a running job to end (list_jobs), cancel one (cancel_job), or request more at "
                      f"https://console.cloud.google.com/iam-admin/quotas?project={project} (filter: {QUOTA_NAME}).")
    return _error(f"{head} (rate or quota limit; {tries} tries).",
                  f"Wait a minute and try again, or request more at "
                  f"https://console.cloud.google.com/iam-admin/quotas?project={project}.")


def _invalid(f: ApiFailure, where: Situation, head: str) -> ToolError:
    violations = (f.detail("BadRequest") or {}).get("fieldViolations") or []
    lines = [f"{v.get('field', '?')}: {v.get('description', '')}" for v in violations]
    text = head + ("" if not lines else " [" + "; ".join(lines) + "]")
    fields = " ".join([f.message, *lines]).lower()
    for rest_field, (uri, local) in where.datasets.items():
        if rest_field.lower() in fields or (uri and uri.lower() in fields) or (
                "dataset" in fields and len(where.datasets) == 1):
            target = local or uri
            return _error(text, f"The dataset {uri} was refused. Run validate_dataset on {target} to find the lines "
                                "to fix, fix them (fix_dataset), upload the fixed file and create the job again.")
    if "dataset" in fields:
        files = ", ".join(local or uri for uri, local in where.datasets.values()) or "the dataset files"
        return _error(text, f"Run validate_dataset on {files} to find the lines to fix, then upload again.")
    return _error(text, "Fix the argument named above and try again.")


# Vertex's 404 for a base model it does not serve (seen verbatim in googlecodelabs/feedback#1881, genkit-ai/genkit#4688,
# gemini-cli#27696; research notes 2026-12-07): "Publisher Model `projects/P/locations/L/publishers/google/models/M`
# was not found or your project does not have access to it." An older variant ends "... not found."
_PUBLISHER_MODEL = re.compile(r"Publisher Model `[^`]*?/locations/([^/`]+)/[^`]*?/models/([^`/@]+)[^`]*`")


def _publisher_model(location: str, model_id: str, head: str) -> ToolError:
    """A retired model (its successor named), or a live one asked for where it is not served."""
    from tools.catalog import catalog

    cat = catalog()
    model = cat.find(model_id)
    if model is None:
        return _error(head, f"{model_id} is not a model Vertex AI serves to this project in {location}. "
                            "`gto models` lists the models tunable today.")
    life = cat.lifecycle(model)
    if not life.tunable:
        use = f"Use {life.successor} instead (base_model='{life.successor}')" if life.successor else "Use another model"
        return _error(f"{head} ({life.message})", f"{use}; `gto models` lists the models tunable today.")
    served = model.serving_locations or ["global"]
    return _error(head, f"{model.id} is not retired (catalog as of {model.as_of}); Vertex AI serves it in "
                        f"{', '.join(served)}, not necessarily in {location}: export GOOGLE_CLOUD_LOCATION={served[0]} "
                        "and check that the project may use it.")


def _permission_in(message: str) -> str | None:
    m = re.search(r"[Pp]ermission '?\"?([a-z]+\.[A-Za-z]+\.[A-Za-z]+)", message) or re.search(
        r"does not have ([a-z]+\.[A-Za-z]+\.[A-Za-z]+) access", message)
    return m.group(1) if m else None


def _principal_in(message: str) -> str | None:
    m = re.search(r"([\w.+-]+@[\w.-]+) does not have", message)
    return m.group(1) if m else None


def _service_in(message: str) -> str | None:
    m = re.search(r"([a-z0-9-]+\.googleapis\.com)", message)
    return m.group(1) if m else None


def _error(message: str, hint: str | None) -> ToolError:
    return ToolError(redact(message), redact(hint) if hint else None)
