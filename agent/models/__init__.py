"""The brains the loop can use, behind one Protocol, chosen by name and imported lazily.

Messages are Anthropic Messages API shapes throughout (text, tool_use and tool_result blocks); adapters for other
providers translate at their edge."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.registry import Tool

Message = dict[str, Any]


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Turn:
    """One assistant message and what producing it cost."""

    message: Message
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = "end_turn"

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [b for b in self.message["content"] if b.get("type") == "tool_use"]

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.message["content"] if b.get("type") == "text")


class Model(Protocol):
    name: str

    def complete(
        self,
        system: str,
        messages: list[Message],
        tools: list[Tool],
        on_text: Callable[[str], None] | None = None,
    ) -> Turn: ...


class ModelError(Exception):
    """A model call failed after the SDK's own retries (network, credentials, a rejected request); the message says
    what went wrong and what to do. Front ends show it and keep the run saved."""


class ModelUnavailable(ModelError):
    """The named model cannot be used here (no key, missing package); the message says what to do."""


_KINDS = {
    "claude": ("agent.models.anthropic", "ClaudeModel"),
    "gemini": ("agent.models.gemini", "GeminiModel"),
    "planner": ("agent.models.planner", "PlannerModel"),
}


def default_base_models() -> dict[str, str]:
    """The base model to tune when a request names none, per backend (the catalog decides; never a retired one)."""
    from tools.catalog import default_tuning_model

    return {backend: default_tuning_model(backend) for backend in ("local", "vertex")}


def retired_notice(model_id: str) -> str | None:
    """For a model that can no longer be tuned: the sentence saying so and the successor to propose; else None."""
    from tools.catalog import catalog

    if catalog().find(model_id) is None:
        return None
    life = catalog().lifecycle(model_id)
    return None if life.tunable else (f"{life.message} Shall I use {life.successor}? Say \"use {life.successor}\"."
                                      if life.successor else life.message)


def default_model_name() -> tuple[str, str]:
    """Which brain to use when none is named, and why (the run prints both)."""
    if os.environ.get("GTO_MODEL"):
        return os.environ["GTO_MODEL"], "GTO_MODEL is set"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "claude", "ANTHROPIC_API_KEY is set"
    if os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"):
        return "gemini", "a Gemini API key is set"
    from tools.settings import vertex_mode_requested

    if vertex_mode_requested() and os.environ.get("GOOGLE_CLOUD_PROJECT"):
        return "gemini", ("GOOGLE_GENAI_USE_ENTERPRISE (or GOOGLE_GENAI_USE_VERTEXAI) and GOOGLE_CLOUD_PROJECT are "
                          "set: Gemini on Vertex AI (Gemini Enterprise Agent Platform)")
    return "planner", "no ANTHROPIC_API_KEY or Gemini credentials: using the offline planner"


def load_model(name: str | None = None, **options: Any) -> tuple[Model, str]:
    """`claude`, `claude:MODEL_ID`, `gemini[:MODEL_ID]`, `planner`, or a bare `claude-...`/`gemini-...` id."""
    reason = "named with --model"
    if not name:
        name, reason = default_model_name()
    kind, _, model_id = name.partition(":")
    if kind.startswith("claude-"):
        kind, model_id = "claude", name
    elif kind.startswith("gemini-"):
        kind, model_id = "gemini", name
    if kind not in _KINDS:
        raise ModelUnavailable(f"Unknown model {name!r}. Use claude[:MODEL], gemini[:MODEL] or planner.")
    module_name, class_name = _KINDS[kind]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(model_id or None, **options), reason
