"""Render a tool's output compactly for a model: counts and the first few of each list, never more than about
2,000 tokens; the whole result goes to a file in the workspace, and the model gets its path."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from tools.context import ToolContext

MAX_CHARS = 7000  # about 2,000 tokens at ~3.5 characters a token for JSON
_LIST_LIMITS = (8, 4, 2, 1)
_STRING_LIMITS = (600, 300, 160, 80)


def render_for_model(tool: str, output: BaseModel, ctx: ToolContext | None) -> str:
    data = output.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    text = _dumps(data)
    if len(text) <= MAX_CHARS:
        return text
    full_path = None
    if ctx is not None:
        path = ctx.workspace.dir("results") / f"{tool}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        full_path = str(path)
    for list_limit, string_limit in zip(_LIST_LIMITS, _STRING_LIMITS):
        shrunk = _shrink(data, list_limit, string_limit)
        if full_path:
            shrunk = {"full_result_path": full_path, **shrunk}
        text = _dumps(shrunk)
        if len(text) <= MAX_CHARS:
            return text
    return text[: MAX_CHARS - 40] + f'..." (truncated; full result: {full_path})'


def _shrink(node: Any, list_limit: int, string_limit: int) -> Any:
    if isinstance(node, dict):
        return {k: _shrink(v, list_limit, string_limit) for k, v in node.items()}
    if isinstance(node, list):
        head = [_shrink(v, list_limit, string_limit) for v in node[:list_limit]]
        if len(node) > list_limit:
            head.append(f"... {len(node) - list_limit} more")
        return head
    if isinstance(node, str) and len(node) > string_limit:
        return node[:string_limit] + f"... ({len(node)} chars)"
    return node


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
