"""The two types every tool module shares: the base of tool inputs and the error a caller can act on. A leaf: it
imports nothing of ours, so any module may raise ToolError without pulling in the registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ToolInput(BaseModel):
    """Base for tool input models: unknown arguments are an error the model must see, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ToolError(Exception):
    """A failure the caller can act on; `hint` says what to do next. Becomes an is_error result."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class FrontEndInterrupt(Exception):
    """Raised by a front end's callback (consent, progress) through a running tool to the front end itself, such as
    the MCP server putting a question to the user in a later round: dispatch lets it pass, never reports it."""
