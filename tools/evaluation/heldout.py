"""Held-out examples for evaluation: Gemini SFT JSONL read into prompts (every turn before the last model turn) and
reference answers (that last model turn), from a local file or the local source of an uploaded gs:// URI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tools.dataset.paths import confined
from tools.errors import ToolError
from tools.secrets import redact

if TYPE_CHECKING:
    from tools.backends.base import JobInfo
    from tools.context import ToolContext


class Example(BaseModel):
    line: int
    contents: list[dict[str, Any]]
    system_instruction: str | None = None
    reference: str = ""

    @property
    def prompt_text(self) -> str:
        """The last user turn: what a person would type."""
        users = [c for c in self.contents if c.get("role", "user") == "user"]
        return parts_text(users[-1] if users else self.contents[-1])


def parts_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return ""
    return "".join(p.get("text", "") for p in content.get("parts", []) if isinstance(p, dict))


def truncate(text: str, limit: int = 200) -> str:
    text = redact(text)  # before the cut: half a secret no longer looks like one
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_examples(path: Path, limit: int, need_reference: bool = True) -> list[Example]:
    """The first `limit` examples of a Gemini JSONL file (with a reference answer when `need_reference`); a
    malformed line is an error naming it."""
    examples: list[Example] = []
    offset = 0
    with path.open("rb") as lines:  # bytes, so that a bad byte can be named by line and offset
        for number, data in enumerate(lines, 1):
            raw = _decode(path, number, offset, data)
            offset += len(data)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ToolError(f"{path} line {number} is not valid JSON ({exc.msg}).",
                                "Fix it (validate_dataset shows every problem), or pass another prompts_path.") from exc
            contents = record.get("contents") if isinstance(record, dict) else None
            if not isinstance(contents, list) or not contents:
                raise ToolError(f"{path} line {number} has no 'contents' list.",
                                'Each line must be a Gemini example: {"contents": [{"role": ..., "parts": ...}]}.')
            reference = ""
            if isinstance(contents[-1], dict) and contents[-1].get("role") == "model":
                reference, contents = parts_text(contents[-1]), contents[:-1]
            if not contents or (need_reference and not reference):
                continue
            system = parts_text(record.get("systemInstruction") or record.get("system_instruction"))
            examples.append(Example(line=number, contents=contents, reference=reference,
                                    system_instruction=system or None))
            if len(examples) >= limit:
                break
    return examples


def _decode(path: Path, number: int, offset: int, data: bytes) -> str:
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the first line's JSON.
        return data.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        at = offset + exc.start + (3 if number == 1 and data.startswith(b"\xef\xbb\xbf") else 0)
        raise ToolError(f"{path} line {number} is not valid UTF-8 (byte 0x{data[at - offset]:02x} at byte offset "
                        f"{at:,} of the file).",
                        "Re-save the file as UTF-8, or pass another prompts_path.") from exc


def local_path(ctx: ToolContext, uri: str) -> Path:
    """A local file for a path or an uploaded URI (the workspace remembers where each upload came from)."""
    if uri.startswith("local://"):  # the local backend's staged copy: exactly what the job saw
        staged = ctx.workspace.root / "local" / uri.removeprefix("local://")
        if staged.is_file():
            return staged
    uri = uri.removeprefix("file://")
    if "://" in uri:
        source = (ctx.workspace.dataset(uri) or {}).get("source")
        if not source:
            raise ToolError(f"No local copy of {uri} is known.",
                            "Pass prompts_path: a local JSONL file of held-out Gemini examples.")
        uri = source
    path = confined(uri, ctx, "dataset")  # under `gto mcp`, only the project's files and the workspace's
    if not path.is_file():
        raise ToolError(f"Prompt file {path} does not exist.", "Pass prompts_path with an existing JSONL file.")
    return path


def held_out_examples(ctx: ToolContext, job: JobInfo, prompts_path: str | None, limit: int,
                      training_fallback: bool = False) -> tuple[str, list[Example]]:
    """(source, examples with a reference answer): prompts_path, else the job's validation set."""
    uri = prompts_path or job.validation_dataset_uri or (job.training_dataset_uri if training_fallback else None)
    if not uri:
        raise ToolError(f"Job {job.job_id} has no validation set to take held-out prompts from.",
                        "Pass prompts_path: a JSONL of Gemini examples the model was not trained on.")
    if prompts_path:  # a file the caller names (the job's own datasets were checked when it was created)
        confined(prompts_path.removeprefix("file://"), ctx, "prompt file")
    path = local_path(ctx, uri)
    examples = read_examples(path, limit, need_reference=not training_fallback)
    if not examples:
        raise ToolError(f"{path} has no example ending with a model turn to compare against.",
                        "Each held-out example needs a final {\"role\": \"model\"} turn as the reference answer.")
    return str(path), examples
