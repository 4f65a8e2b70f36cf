"""What a tool call may use besides its arguments: the workspace, settings, consent, progress and the backends."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tools.workspace import Workspace

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend

BACKENDS = ("local", "vertex")


class Settings(BaseModel):
    """Where Google work goes. Read from the environment the SDKs themselves read, overridable per run."""

    project: str | None = None
    region: str | None = None
    bucket: str | None = None
    backend: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = {
            "project": os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT"),
            "region": os.environ.get("GOOGLE_CLOUD_LOCATION") or os.environ.get("GOOGLE_CLOUD_REGION"),
            "bucket": os.environ.get("GTO_BUCKET"),
            "backend": os.environ.get("GTO_BACKEND"),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)


@dataclass
class Progress:
    """One progress update from a long tool, for a person watching (never sent to the model)."""

    message: str
    done: float | None = None
    total: float | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def deny_all(tool: str, question: str) -> bool:
    return False


@dataclass
class ToolContext:
    workspace: Workspace
    settings: Settings = field(default_factory=Settings.from_env)
    # Asked before anything billable; the default refuses, so nothing costs money without a front end that asks.
    approve: Callable[[str, str], bool] = deny_all
    progress: Callable[[Progress], None] | None = None
    _backends: dict[str, TuningBackend] = field(default_factory=dict)

    @classmethod
    def default(cls) -> ToolContext:
        return cls(workspace=Workspace.default())

    def report(self, message: str, done: float | None = None, total: float | None = None, **fields: Any) -> None:
        if self.progress is not None:
            self.progress(Progress(message, done, total, fields))

    def backend_name(self, requested: str | None = None) -> str:
        """`requested`, else the settings, else Vertex when Google credentials and a project exist, else local."""
        name = requested or self.settings.backend
        if name is None:
            name = "vertex" if self.settings.project and google_credentials_configured() else "local"
        if name not in BACKENDS:
            from tools.registry import ToolError

            raise ToolError(f"Unknown backend {name!r}.", f"Use one of: {', '.join(BACKENDS)}.")
        return name

    def backend(self, requested: str | None = None) -> TuningBackend:
        name = self.backend_name(requested)
        if name not in self._backends:
            from tools.backends import load_backend

            self._backends[name] = load_backend(name, self)
        return self._backends[name]

    def backend_for_job(self, job_id: str) -> TuningBackend:
        """The backend that owns a job: recorded in the workspace, else told by the id's shape (a Vertex AI job is
        named projects/... or given by its number alone)."""
        record = self.workspace.get_job(job_id)
        if record is not None:
            return self.backend(record.backend)
        return self.backend("vertex" if job_id.startswith("projects/") or job_id.isdigit() else "local")


def google_credentials_configured() -> bool:
    """Cheap, offline test for application-default credentials (the real check is check_environment)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.expanduser("~/.config/gcloud")
    return os.path.exists(os.path.join(config, "application_default_credentials.json"))
