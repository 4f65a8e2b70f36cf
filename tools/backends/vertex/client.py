"""The connection to Vertex AI: project, region and credentials, the google-genai client in Vertex mode, and retries.

Project and location are always passed to genai.Client explicitly: google-genai sends requests to the bare base URL
when they come only from the environment and a base-URL override (GOOGLE_VERTEX_BASE_URL) is set.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from google import genai
from google.genai import types

from tools.backends.vertex.errors import ADC_LOGIN, TRANSIENT_HTTP, USER_MEMBER, Situation, guidance, is_transient
from tools.errors import ToolError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from tools.settings import Settings

DEFAULT_REGION = "us-central1"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
API_KEY_VARS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Backoff for 408, 429, 5xx and timeouts; `attempts` counts the first try. `settle_s`: how long a create whose
    answer was lost is looked for before giving up (the service may still be saving it)."""

    attempts: int = 4
    initial_delay: float = 1.0
    max_delay: float = 30.0
    timeout_s: float = 120.0
    settle_s: float = 60.0

    def delays(self) -> Iterator[float]:
        delay = self.initial_delay
        for _ in range(self.attempts - 1):
            yield min(self.max_delay, delay) * (0.5 + random.random() / 2)
            delay *= 2

    def settle_delays(self) -> Iterator[float]:
        """Backoff delays adding up to about settle_s: the pauses between looks for a job whose create got no
        answer."""
        delay, total = self.initial_delay, 0.0
        while total < self.settle_s:
            pause = min(self.max_delay, delay) * (0.5 + random.random() / 2)
            total += pause
            yield pause
            delay *= 2

    def http_options(self, attempts: int | None = None) -> types.HttpOptions:
        """google-genai's own retry settings; attempts=1 turns its retries off for calls we retry ourselves."""
        return types.HttpOptions(
            timeout=int(self.timeout_s * 1000),
            retry_options=types.HttpRetryOptions(
                attempts=attempts or self.attempts, initial_delay=self.initial_delay, max_delay=self.max_delay,
                exp_base=2, jitter=self.initial_delay / 2, http_status_codes=list(TRANSIENT_HTTP)),
        )


def with_retries(call: Callable[[], T], policy: RetryPolicy, where: Situation, raw: bool = False) -> T:
    """Run an idempotent call, retrying transient failures with backoff; a ToolError with guidance after the last
    (or the original exception when `raw`, for callers that judge the failure themselves)."""
    delays = policy.delays()
    tries = 0
    while True:
        tries += 1
        try:
            return call()
        except ToolError:
            raise
        except Exception as exc:
            delay = next(delays, None) if is_transient(exc) else None
            if delay is None:
                if raw:
                    raise
                raise guidance(exc, where, tries) from exc
            time.sleep(delay)


def api_key_only(settings: Settings) -> str | None:
    """The reason tuning cannot work when only a Gemini Developer API key is configured, else None.

    An API key set beside a Vertex project (from the settings or application-default credentials) is harmless: the
    project is passed to genai.Client explicitly, which then ignores the key."""
    from tools.settings import google_credentials_configured, vertex_mode_requested

    key_var = next((v for v in API_KEY_VARS if os.environ.get(v)), None)
    vertex_flag = vertex_mode_requested()
    has_project = settings.project or google_credentials_configured()
    if key_var is None or (has_project and vertex_flag is not False):
        return None
    return (f"Only a Gemini Developer API key is configured ({key_var}), not Vertex AI. Tuning jobs read their "
            "datasets from Cloud Storage, which the Developer API refuses ('gcs_uri is not supported'); tuning, "
            "checkpoints and tuned endpoints exist only on Vertex AI (Gemini Enterprise Agent Platform).")


API_KEY_FIX = (f"{ADC_LOGIN} && export GOOGLE_GENAI_USE_ENTERPRISE=true GOOGLE_CLOUD_PROJECT=PROJECT_ID "
               f"GOOGLE_CLOUD_LOCATION={DEFAULT_REGION}")


class VertexConnection:
    """Credentials, project and region for every Vertex AI call; one genai client per location, kept alive."""

    def __init__(self, settings: Settings, credentials: Credentials | None = None, retry: RetryPolicy | None = None):
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self._credentials = credentials
        self._adc_project: str | None = None
        self._clients: dict[str, genai.Client] = {}

    @property
    def region(self) -> str:
        return self.settings.region or DEFAULT_REGION

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            import google.auth

            try:
                self._credentials, self._adc_project = google.auth.default(scopes=SCOPES)
            except Exception as exc:
                raise guidance(exc, self.situation("load Google credentials")) from exc
        return self._credentials

    @property
    def given_credentials(self) -> Credentials | None:
        """Credentials injected or already loaded; None rather than a lookup (the storage emulator needs none)."""
        return self._credentials

    @property
    def project(self) -> str:
        if self.settings.project:
            return self.settings.project
        reason = api_key_only(self.settings)
        if reason:
            raise ToolError(reason, f"Use Vertex AI instead: {API_KEY_FIX}")
        _ = self.credentials
        if self._adc_project:
            return self._adc_project
        raise ToolError("No Google Cloud project is configured.",
                        "Set one: export GOOGLE_CLOUD_PROJECT=PROJECT_ID (or gcloud config set project PROJECT_ID).")

    def situation(self, action: str, **extra: Any) -> Situation:
        project = self.settings.project or self._adc_project
        return Situation(action=action, project=project, region=self.region, member=self.member(), **extra)

    def member(self) -> str:
        """The caller as an IAM member, for grant commands; a shell expression when the account is unknown."""
        creds = self._credentials
        email = getattr(creds, "service_account_email", None)
        if isinstance(email, str) and "@" in email:
            return f"serviceAccount:{email}"
        account = getattr(creds, "account", None)
        if isinstance(account, str) and "@" in account:
            return f"user:{account}"
        return USER_MEMBER

    def genai(self, location: str | None = None) -> genai.Client:
        """The google-genai client in Vertex mode for a location (the region, or us/eu for multi-region serving)."""
        location = location or self.region
        if location not in self._clients:
            project, credentials = self.project, self.credentials
            self._clients[location] = genai.Client(
                enterprise=True, project=project, location=location, credentials=credentials,
                http_options=self.retry.http_options())
        return self._clients[location]

    def call(self, action: str, fn: Callable[[], T], **extra: Any) -> T:
        """Run one SDK call whose retries google-genai already did; map what is left to guidance."""
        try:
            return fn()
        except ToolError:
            raise
        except Exception as exc:
            raise guidance(exc, self.situation(action, **extra), self.retry.attempts) from exc

    def base_url_override(self) -> str | None:
        """The Vertex base URL google-genai honours from the environment, so every client points at the same fake."""
        url = os.environ.get("GOOGLE_VERTEX_BASE_URL")
        return url.rstrip("/") if url else None

    def access_headers(self) -> dict[str, str]:
        """Authorization headers for the REST calls we make without a client library."""
        creds = self.credentials
        if not creds.valid:
            from google.auth.transport.requests import Request

            try:
                creds.refresh(Request())
            except Exception as exc:
                raise guidance(exc, self.situation("refresh Google credentials")) from exc
        headers: dict[str, str] = {}
        creds.apply(headers)
        quota_project = getattr(creds, "quota_project_id", None)
        if quota_project:
            headers["x-goog-user-project"] = quota_project
        return headers
