"""What a tool call may use besides its arguments: the workspace, settings, consent, progress and the backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.errors import ToolError
from tools.settings import BACKENDS, Settings, google_credentials_configured
from tools.spend.budget import Spend
from tools.workspace import Workspace

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend


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
    # An optional LLM judge for compare_models: (prompt, reference, answer) -> score in [0, 1].
    judge: Callable[[str, str, str], float] | None = None
    # The request's budget and what it has spent: billable tools check it before acting (tools/spend/).
    spend: Spend = field(default_factory=Spend.from_env)
    # The folders a tool may read or write files in; None leaves paths unconfined (a person at the CLI). `gto mcp`
    # sets the project root and the workspace, so a model cannot read ~/.ssh or write over /etc through a tool.
    allowed_roots: tuple[Path, ...] | None = None
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
            raise ToolError(f"Unknown backend {name!r}.", f"Use one of: {', '.join(BACKENDS)}.")
        return name

    def backend(self, requested: str | None = None) -> TuningBackend:
        name = self.backend_name(requested)
        if name not in self._backends:
            from tools.backends import load_backend

            self._backends[name] = load_backend(name, self.workspace, self.settings)
        return self._backends[name]

    def backend_for_job(self, job_id: str) -> TuningBackend:
        """The backend that owns a job: recorded in the workspace, else told by the id's shape (a Vertex AI job is
        named projects/... or given by its number alone)."""
        record = self.workspace.get_job(job_id)
        if record is not None:
            return self.backend(record.backend)
        return self.backend("vertex" if job_id.startswith("projects/") or job_id.isdigit() else "local")
