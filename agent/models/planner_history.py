"""What the offline planner reads from a conversation: the person's own words and each tool call with its result,
with their positions, so it can tell what was said after a result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent.goal import from_user
from agent.models import Message


@dataclass
class Seen:
    """One tool call from the history and what came back."""

    name: str
    input: dict[str, Any]
    result: dict[str, Any]
    is_error: bool
    text: str
    at: int = 0  # position in the conversation, to tell what the user said after it


def read_history(messages: list[Message], typed: dict[str, Any] | None = None) -> tuple[list[tuple[int, str]], list[Seen]]:
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
                try:
                    result = record.output.model_dump(mode="json") if record is not None else json.loads(text)
                except ValueError:
                    result = {}
                if block.get("is_error"):
                    result = {"error": text, "declined": text.startswith("The user declined")}
                seen.append(Seen(call["name"], call.get("input") or {}, result if isinstance(result, dict) else {},
                                 bool(block.get("is_error")), text, at))
    return said, seen
