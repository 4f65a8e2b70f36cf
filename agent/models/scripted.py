"""A model that replays scripted assistant turns, for tests and for replaying recorded transcripts."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from agent.models import Message, Turn, Usage
from tools.registry import Tool

Step = Message | Callable[[list[Message]], Message]


def _id() -> str:
    return f"toolu_scripted_{secrets.token_hex(8)}"


def say(text: str) -> Message:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def call(name: str, arguments: dict[str, Any] | None = None, text: str | None = None) -> Message:
    """An assistant turn that calls one tool, after optional text (`calls` makes a turn with several)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": _id(), "name": name, "input": arguments or {}})
    return {"role": "assistant", "content": content}


def calls(*pairs: tuple[str, dict[str, Any]]) -> Message:
    """An assistant turn with several tool calls at once."""
    return {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": _id(), "name": n, "input": a} for n, a in pairs
        ],
    }


class ScriptedModel:
    name = "scripted"

    def __init__(self, steps: list[Step] | None = None, usage: Usage | None = None):
        self.steps = list(steps or [])
        self.position = 0
        self.seen: list[list[Message]] = []
        self.usage = usage or Usage(input_tokens=100, output_tokens=20)

    def complete(
        self,
        system: str,
        messages: list[Message],
        tools: list[Tool],
        on_text: Callable[[str], None] | None = None,
    ) -> Turn:
        self.seen.append([dict(m) for m in messages])
        if self.position >= len(self.steps):
            raise AssertionError(f"the scripted model ran out of turns after {self.position}")
        step = self.steps[self.position]
        self.position += 1
        message = step(messages) if callable(step) else step
        turn = Turn(message=message, usage=Usage(**vars(self.usage)),
                    stop_reason="tool_use" if any(b["type"] == "tool_use" for b in message["content"]) else "end_turn")
        if on_text and turn.text:
            on_text(turn.text)
        return turn

    def assert_complete(self) -> None:
        """Fail a test whose workflow stopped before the script was used up."""
        if self.position != len(self.steps):
            raise AssertionError(f"only {self.position} of {len(self.steps)} scripted turns were used")
