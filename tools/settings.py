"""Where Google work goes (project, region, bucket, backend), read from the environment the SDKs themselves read."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

BACKENDS = ("local", "vertex")


class Settings(BaseModel):
    """Where Google work goes. Read from the environment the SDKs themselves read, overridable per run."""

    project: str | None = None
    region: str | None = None
    bucket: str | None = None
    backend: str | None = None
    target: str | None = None  # what the base model must reach to make tuning unnecessary (tools/evaluation/)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = {
            "project": os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT"),
            "region": os.environ.get("GOOGLE_CLOUD_LOCATION") or os.environ.get("GOOGLE_CLOUD_REGION"),
            "bucket": os.environ.get("GTO_BUCKET"),
            "backend": os.environ.get("GTO_BACKEND"),
            "target": os.environ.get("GTO_TARGET"),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)


# google-genai's switch to Vertex AI, renamed Gemini Enterprise Agent Platform: GOOGLE_GENAI_USE_ENTERPRISE since
# google-genai 1.74.0 (2026-04-29, commit 693fd9a), the legacy GOOGLE_GENAI_USE_VERTEXAI before; the SDK lets
# ENTERPRISE win a conflict, and so do we (python-genai _api_client.py, read 2026-12-07).
VERTEX_MODE_VARS = ("GOOGLE_GENAI_USE_ENTERPRISE", "GOOGLE_GENAI_USE_VERTEXAI")


def vertex_mode_requested() -> bool | None:
    """True/False when the environment turns google-genai's Vertex AI (Enterprise) mode on/off; None when unset."""
    for var in VERTEX_MODE_VARS:
        value = os.environ.get(var, "").strip().lower()
        if value:
            return value in ("1", "true")
    return None


def google_credentials_configured() -> bool:
    """Cheap, offline test for application-default credentials (the real check is check_environment)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.expanduser("~/.config/gcloud")
    return os.path.exists(os.path.join(config, "application_default_credentials.json"))
