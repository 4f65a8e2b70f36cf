"""A tool of your own in one file: count_examples.

Point GTO_TOOLS at this file (or at a folder of such files; several paths are separated by ':' or ';' on Windows)
and the tool appears everywhere the built-in tools do, with no other edit:

    GTO_TOOLS=examples/custom_tool.py gto tools
    GTO_TOOLS=examples/custom_tool.py gto call count_examples '{"path": "examples/data/train.jsonl"}'
    GTO_TOOLS=examples/custom_tool.py gto mcp        # and so in the Claude Code plugin
    GTO_TOOLS=examples/custom_tool.py gto chat       # Claude and Gemini see it in their tool list

Moved into a folder of tools/ (say tools/dataset/count.py) it is found without GTO_TOOLS.

What makes it a tool: the first parameter is a pydantic model that subclasses ToolInput (unknown arguments are an
error the model sees), the return annotation is a pydantic model, and the docstring's first paragraph is the
description every model reads. The schemas are generated from these; a ToolError goes back to the model as an
is_error result with its hint.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from tools.errors import ToolError, ToolInput
from tools.registry import tool


class CountExamplesInput(ToolInput):
    path: str = Field(description="Local JSONL dataset, Gemini format (contents) or OpenAI chat format (messages)")


class ExampleCounts(BaseModel):
    path: str
    examples: int = Field(description="Lines holding a JSON object with a list of turns")
    turns: int = Field(description="Turns in all examples together")
    turns_by_role: dict[str, int] = Field(description="Turns per role, e.g. user, model, assistant")
    max_turns: int = Field(description="Turns in the longest example")
    skipped_lines: list[int] = Field(description="Line numbers that are not an example (validate_dataset says why)")


@tool
def count_examples(args: CountExamplesInput) -> ExampleCounts:
    """Count the examples and conversation turns in a JSONL dataset, by role, without validating it.

    Blank lines are ignored; a line that is not a JSON object with `contents` or `messages` is listed by number."""
    path = Path(args.path).expanduser()
    if not path.is_file():
        raise ToolError(f"No file at {args.path}.", "Check the path (relative paths start at the current folder).")
    roles: Counter[str] = Counter()
    examples, longest, skipped = 0, 0, []
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            turns = _turns(line)
            if turns is None:
                skipped.append(number)
                continue
            examples += 1
            longest = max(longest, len(turns))
            roles.update(str(turn.get("role", "?")) if isinstance(turn, dict) else "?" for turn in turns)
    return ExampleCounts(path=str(path), examples=examples, turns=sum(roles.values()), turns_by_role=dict(roles),
                         max_turns=longest, skipped_lines=skipped)


def _turns(line: str) -> list[object] | None:
    """The turns of one example (Gemini `contents` or OpenAI `messages`), or None when the line is not one."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    turns = record.get("contents", record.get("messages"))
    return turns if isinstance(turns, list) else None
