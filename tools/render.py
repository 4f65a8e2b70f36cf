"""Render a tool's output compactly for a model: counts and the first few of each list, never more than about
2,000 tokens; the whole result goes to a file in the workspace, and the model gets its path."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tools.secrets import redact_obj
from tools.tokens import estimate_weight
from tools.workspace import open_private

if TYPE_CHECKING:
    from tools.context import ToolContext

# The budget in estimate_weight units, which are characters for ASCII and more for scripts that take more tokens a
# character (CJK weighs 2): about 2,000 tokens at ~3.5 a token for JSON, and never more than MAX_CHARS characters.
MAX_CHARS = 7000
_LIST_LIMITS = (8, 4, 2, 1)
_STRING_LIMITS = (600, 300, 160, 80)


def render_for_model(tool: str, output: BaseModel, ctx: ToolContext | None) -> str:
    # Redacted before anything is cut: half a secret no longer looks like one, and would pass.
    data = redact_obj(output.model_dump(mode="json", exclude_none=True, exclude_defaults=False))
    text = _dumps(data)
    if estimate_weight(text) <= MAX_CHARS:
        return text
    full_path = None
    if ctx is not None:
        path = ctx.workspace.dir("results") / f"{tool}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}.json"
        with open_private(path, "w") as full:
            full.write(json.dumps(data, indent=2, ensure_ascii=False))
        full_path = str(path)
    for list_limit, string_limit in zip(_LIST_LIMITS, _STRING_LIMITS):
        shrunk = _shrink(data, list_limit, string_limit)
        if full_path:
            shrunk = {"full_result_path": full_path, **shrunk}
        text = _dumps(shrunk)
        if estimate_weight(text) <= MAX_CHARS:
            return text
    tail = f'..." (truncated; full result: {full_path})'
    return _cut(text, MAX_CHARS - estimate_weight(tail)) + tail


def _cut(text: str, budget: int) -> str:
    """The longest prefix of text that weighs at most budget (a prefix never weighs more than a longer one)."""
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_weight(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


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
