"""What the offline planner reads from a conversation: the person's own words and each tool call with its typed
output, with their positions, so it can tell what was said after a result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

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
    """A result read from the text the model saw, when no loop kept the typed record (a replay, a test)."""
    spec = REGISTRY.get(tool)
    try:
        data = json.loads(text)
    except ValueError:  # cut short past ~2,000 tokens, or not JSON at all
        return None
    if spec is None or not isinstance(data, dict):
        return None
    try:
        return spec.output_model.model_validate(data)
    except ValidationError:
        # The text leaves out every field that is None, and a required one such as test_endpoint's p50_latency_s
        # then fails validation: what the text does not say is read as None, not the whole result refused.
        return _partial(spec.output_model, data)


def _partial(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """The model with each field the data has, validated on its own, and each it lacks at its default, else None."""
    values = {name: _value(field.annotation, data[name]) if name in data else
              None if field.is_required() else field.get_default(call_default_factory=True)
              for name, field in model.model_fields.items()}
    return model.model_construct(**values)


def _value(annotation: Any, value: Any) -> Any:
    try:
        return _adapter(annotation).validate_python(value)
    except ValidationError:
        pass
    nested = [a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
    if nested and isinstance(value, dict):
        return _partial(nested[0], value)
    if get_origin(annotation) is list and isinstance(value, list):
        return [_value(get_args(annotation)[0], item) for item in value]
    return value


@lru_cache(maxsize=None)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)
