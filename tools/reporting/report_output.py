"""What write_report returns, in a module of its own so that the job's facts can read a written report back
without importing the report writer, which builds on them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReportOutput(BaseModel):
    path: str = Field(description="the Markdown report")
    plots: list[str]
    sections: list[str]
    missing: list[str] = Field(default_factory=list, description="sections written without their facts, and why")
