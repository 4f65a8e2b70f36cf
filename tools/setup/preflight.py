"""check_environment: is everything a tuning job needs in place? Backend-agnostic; each backend knows its checks."""

from __future__ import annotations

from pydantic import Field

from tools.backends.base import PreflightReport
from tools.context import ToolContext
from tools.errors import ToolInput
from tools.registry import tool


class CheckEnvironmentInput(ToolInput):
    backend: str | None = Field(
        None, description="vertex or local; default: the configured backend (vertex when a project or bucket is given)")
    project: str | None = Field(None, description="Google Cloud project id; default GOOGLE_CLOUD_PROJECT or gcloud's")
    region: str | None = Field(None, description="tuning region; default GOOGLE_CLOUD_LOCATION, else us-central1")
    bucket: str | None = Field(None, description="Cloud Storage bucket for the datasets; default GTO_BUCKET")


@tool
def check_environment(args: CheckEnvironmentInput, ctx: ToolContext) -> PreflightReport:
    """Check that everything a tuning job needs is in place before anything is spent: credentials and project,
    region, Vertex AI API, your permissions and the bucket. Each failed check carries the exact command that fixes it.

    Costs nothing and changes nothing. Run it first on a new machine or project."""
    name = args.backend or ("vertex" if args.project or args.bucket else None)
    return ctx.backend(name).check_environment(args.project, args.region, args.bucket)
