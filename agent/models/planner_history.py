"""What the offline planner reads from a conversation: the person's own words and each tool call with its typed
output, with their positions, so it can tell what was said after a result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from agent.goal import from_user
from agent.models import Message
from tools.registry import REGISTRY
from tools.results import ToolRecord


@dataclass
class Seen:
    """One tool call from the history and what came back."""

    name: str
    input: dict[str, Any]
    output: BaseModel | None  # the tool's own output model; None for an error or a result that cannot be read
    is_error: bool
    text: str
    at: int = 0  # position in the conversation, to tell what the user said after it

    @property
    def ok(self) -> bool:
        """A success the planner can read."""
        return not self.is_error and self.output is not None

    @property
    def declined(self) -> bool:
        return self.is_error and self.text.startswith("The user declined")


def recommended(advice: BaseModel) -> dict[str, int | float | None]:
    """recommend_hyperparameters' values by the name a goal and create_tuning_job give them."""
    choices = (("epochs", advice.epochs), ("adapter_size", advice.adapter_size),
               ("learning_rate_multiplier", advice.learning_rate_multiplier))
    return {name: choice.value if choice is not None else None for name, choice in choices}


def read_history(messages: list[Message], typed: dict[str, ToolRecord] | None = None,
                 ) -> tuple[list[tuple[int, str]], list[Seen]]:
    """The user's own words and the tool calls with their results, each with its position in the conversation."""
    calls: dict[str, dict[str, Any]] = {}
    said: list[tuple[int, str]] = []
    seen: list[Seen] = []
    at = 0
    for m in messages:
        blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
        for block in blocks:
            at += 1
            if block.get("type") == "text" and m["role"] == "user":
                if from_user(block["text"]):
                    said.append((at, block["text"]))
            elif block.get("type") == "tool_use":
                calls[block["id"]] = block
            elif block.get("type") == "tool_result" and block["tool_use_id"] in calls:
                call = calls[block["tool_use_id"]]
                text = block["content"] if isinstance(block["content"], str) else json.dumps(block["content"])
                record = (typed or {}).get(block["tool_use_id"])
                is_error = bool(block.get("is_error"))
                output = None if is_error else record.output if record is not None else _from_text(call["name"], text)
                seen.append(Seen(call["name"], call.get("input") or {}, output, is_error, text, at))
    return said, seen


def _from_text(tool: str, text: str) -> BaseModel | None:
    """A result read from the text the model saw, for a PlannerModel given messages without its agent's typed
    records (a replayed transcript, a test). Only the tool's whole output reads: text cut short, not JSON, or
    lacking a required field (the text leaves out each None) is unreadable, as an error is."""
    spec = REGISTRY.get(tool)
    if spec is None:
        return None
    try:
        return spec.output_model.model_validate_json(text)
    except ValidationError:
        return None
