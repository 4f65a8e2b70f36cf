"""fix_dataset's repairs: OpenAI/`messages` chat format to Gemini `contents`, role names, consecutive turns merged,
BOM, line ends and stray whitespace, empty and duplicate examples dropped, unparseable or unfixable lines moved to
a rejects file. The input is never written, nor any file fix_dataset did not write itself; a change log accounts for
every input line."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.dataset.problems import ERROR, KINDS
from tools.dataset.scan import line_blocks
from tools.dataset.gemini_format import (
    BOM, CONTENT_KEYS, DATA_KEYS, META_KEYS, SYSTEM_KEYS, TOP_KEYS, check_example, parse_line,
)
from tools.dataset.openai_chat import from_messages
from tools.dataset.paths import confined, local_file
from tools.errors import ToolError, ToolInput
from tools.registry import tool


class FixResult(BaseModel):
    output_path: str
    rejects_path: str
    changelog_path: str = Field(description="one JSON object per input line: kept, changed (how), dropped or "
                                "rejected (why)")
    input_lines: int
    kept: int
    changed: int
    dropped: int
    rejected: int
    source_format: Literal["gemini", "openai_messages", "mixed"]
    changes: dict[str, int] = Field(default_factory=dict, description="how many times each repair was made")
    summary: str


def repair(path: str, output_path: str | None, ctx: ToolContext) -> FixResult:
    """Write the repaired copy, the rejects and the change log; the input file is only read."""
    source = local_file(path, "dataset", ctx)
    out = confined(output_path, ctx, "output path") if output_path else source.with_name(f"{_stem(source)}.fixed.jsonl")
    rejects = out.with_name(f"{_stem(out)}.rejects.jsonl")
    changelog = out.with_name(f"{_stem(out)}.changelog.jsonl")
    for target in (out, rejects, changelog):
        if target.resolve() == source.resolve():
            raise ToolError(f"fix_dataset will not write over its input ({path}).",
                            "Pass another output_path; the original always stays as it was.")
    if not out.parent.is_dir():
        raise ToolError(f"The folder for {out} does not exist.", "Create it or pass another output_path.")
    _refuse_foreign(out, rejects, changelog)
    # mkstemp: a fresh name, created exclusively (never through a link someone left at a guessable name).
    made = [tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp") for p in (out, rejects, changelog)]
    temps = [Path(name) for _, name in made]
    try:
        with source.open("rb") as stream, os.fdopen(made[0][0], "wb") as good, os.fdopen(made[1][0], "wb") as bad, \
                os.fdopen(made[2][0], "wb") as log:
            tally = _Tally(good, bad, log)
            tally.bom = stream.read(3) == BOM
            stream.seek(0)
            for first, lines, too_long in line_blocks(stream):
                if lines is None:
                    tally.reject(first, None, [f"the line is {too_long:,} bytes; too long to read (not copied)"])
                    continue
                for offset, raw in enumerate(lines):
                    _repair_line(first + offset, raw, tally)
        for temp, final in zip(temps, (out, rejects, changelog)):
            os.replace(temp, final)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    if tally.bom:
        tally.count("stripped_bom")
    return tally.result(out, rejects, changelog)


class _Tally:
    def __init__(self, good: Any, bad: Any, log: Any):
        self.good, self.bad, self.log = good, bad, log
        self.lines = self.kept = self.changed = self.dropped = self.rejected = self.written = 0
        self.changes: dict[str, int] = {}
        self.formats: dict[str, int] = {}
        self.seen: dict[int, int] = {}  # hash of an output example -> its input line (for "duplicate of line N")
        self.bom = False

    def count(self, change: str, n: int = 1) -> None:
        self.changes[change] = self.changes.get(change, 0) + n

    def entry(self, line: int, action: str, **fields: Any) -> None:
        self.lines += 1
        setattr(self, action, getattr(self, action) + 1)
        self.log.write(orjson.dumps({"line": line, "action": action, **fields}) + b"\n")

    def reject(self, line: int, raw: bytes | None, reasons: list[str]) -> None:
        if raw is not None:
            self.bad.write(raw.rstrip(b"\r\n") + b"\n")
        self.entry(line, "rejected", reasons=reasons)

    def result(self, out: Path, rejects: Path, changelog: Path) -> FixResult:
        g, m = self.formats.get("gemini", 0), self.formats.get("openai_messages", 0)
        source: Literal["gemini", "openai_messages", "mixed"] = "mixed" if g and m else (
            "openai_messages" if m else "gemini")
        summary = (f"{self.lines:,} lines: {self.kept:,} kept, {self.changed:,} changed, {self.dropped:,} dropped, "
                   f"{self.rejected:,} rejected. Wrote {self.written:,} examples to {out.name}.")
        return FixResult(output_path=str(out), rejects_path=str(rejects), changelog_path=str(changelog),
                         input_lines=self.lines, kept=self.kept, changed=self.changed, dropped=self.dropped,
                         rejected=self.rejected, source_format=source, changes=dict(sorted(self.changes.items())),
                         summary=summary)


def _repair_line(line: int, raw: bytes, tally: _Tally) -> None:
    if not raw.strip():
        tally.count("dropped_blank_line")
        tally.entry(line, "dropped", reason="blank line")
        return
    body = raw.strip()
    if raw.endswith(b"\r"):
        tally.count("crlf_line_end")
    if body.startswith(BOM):  # the first line's BOM is gone already; this one came from concatenated files
        body = body[3:]
        tally.count("stripped_bom")
    obj, problem = parse_line(body)
    if problem is not None:
        tally.reject(line, raw, [f"{problem.kind}: {problem.message}"])
        return
    changes: list[str] = []
    example = normalise(obj, changes, tally.formats)
    if isinstance(example, str):
        tally.reject(line, raw, [example])
        return
    if not example["contents"]:
        tally.count("dropped_empty_example")
        tally.entry(line, "dropped", reason="empty example (no text left)", changes=changes)
        return
    problems = check_example(example)[0] or []
    errors = [f"{p.kind}: {p.message}" for p in problems if KINDS[p.kind][0] == ERROR]
    if errors:
        tally.reject(line, raw, errors)
        return
    try:
        encoded = orjson.dumps(example)
    except (TypeError, orjson.JSONEncodeError):
        tally.reject(line, raw, ["nesting_too_deep: too deep to write back"])
        return
    key = hash(encoded)
    if key in tally.seen:
        tally.count("dropped_duplicate")
        tally.entry(line, "dropped", reason=f"exact duplicate of line {tally.seen[key]}", changes=changes)
        return
    tally.seen[key] = line
    tally.written += 1
    if not changes and example != obj:  # "kept" promises the bytes that were read: an unnamed repair still counts
        changes.append("normalised: rewritten in the canonical shape")
    # An unchanged example keeps its exact bytes; only the line end is normalised.
    tally.good.write((encoded if changes else body) + b"\n")
    for change in changes:
        tally.count(change.split(":")[0])
    if changes:
        tally.entry(line, "changed", changes=changes, output_line=tally.written)
    else:
        tally.entry(line, "kept", output_line=tally.written)


def normalise(obj: Any, changes: list[str], formats: dict[str, int]) -> dict[str, Any] | str:
    """Repair one parsed line into a Gemini example; a string says why it cannot be repaired."""
    if type(obj) is not dict:
        return "not_an_object: the line is not a JSON object"
    if "contents" not in obj and "messages" in obj:
        formats["openai_messages"] = formats.get("openai_messages", 0) + 1
        converted = from_messages(obj, changes)
        if isinstance(converted, str):
            return converted
        obj = converted
    elif "contents" in obj:
        formats["gemini"] = formats.get("gemini", 0) + 1
    else:
        return "missing_contents: neither 'contents' nor 'messages'"
    example: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "system_instruction":
            changes.append("renamed_key: system_instruction -> systemInstruction")
            key = "systemInstruction"
        if key not in TOP_KEYS or (key in SYSTEM_KEYS and key in example):
            changes.append(f"dropped_unknown_key: {key}")
            continue
        example[key] = value
    contents = example.get("contents")
    if type(contents) is not list:
        return "invalid_contents: 'contents' is not a list"
    turns = [_turn(t, i, changes) for i, t in enumerate(contents)]
    bad = next((t for t in turns if isinstance(t, str)), None)
    if bad is not None:
        return bad
    system = _system_parts(example, changes)
    if isinstance(system, str):
        return system
    parts, role = system
    while turns and turns[0]["role"] == "system":  # type: ignore[index]
        changes.append("moved_system_turn: contents[0] -> systemInstruction")
        parts += turns.pop(0)["parts"]  # type: ignore[index]
    if parts:
        example["systemInstruction"] = {"role": role, "parts": parts} if role is not None else {"parts": parts}
    else:
        example.pop("systemInstruction", None)
    kept = [t for t in turns if t["parts"]]  # type: ignore[index]
    if len(kept) < len(turns):
        changes.append(f"dropped_empty_turn: {len(turns) - len(kept)} turn(s) with no parts left")
    example["contents"] = _merge_turns(kept, changes)
    while example["contents"] and example["contents"][-1]["role"] == "user" and any(
            t["role"] == "model" for t in example["contents"]):
        example["contents"].pop()
        changes.append("dropped_trailing_user_turn: the example ended without an answer")
    return example


ROLE_NAMES = {"user": "user", "human": "user", "model": "model", "assistant": "model", "system": "system"}


def _turn(turn: Any, i: int, changes: list[str]) -> dict[str, Any] | str:
    if type(turn) is not dict:
        return f"invalid_turn: contents[{i}] is not an object"
    for key in turn.keys() - CONTENT_KEYS:
        changes.append(f"dropped_unknown_key: contents[{i}].{key}")
    role, parts = turn.get("role"), turn.get("parts")
    if role is None or role == "":
        # As the validator does: Google's function-calling example leaves the role off a functionResponse turn.
        if type(parts) is not list or not parts or not all(
                type(p) is dict and ("functionResponse" in p or "function_response" in p) for p in parts):
            return f"missing_role: contents[{i}] has {'no' if role is None else 'an empty'} role"
        changes.append(f"added_role: contents[{i}] functionResponse turn -> 'user'")
        role = "user"
    if type(role) is not str or role.strip().lower() not in ROLE_NAMES:
        return f"invalid_role: contents[{i}].role {role!r} is not user or model"
    mapped = ROLE_NAMES[role.strip().lower()]
    if mapped != role:
        changes.append(f"renamed_role: contents[{i}] {role!r} -> {mapped!r}")
    parts = _clean_parts(parts, f"contents[{i}]", changes)
    return parts if isinstance(parts, str) else {"role": mapped, "parts": parts}


def _system_parts(example: dict[str, Any], changes: list[str]) -> tuple[list[dict[str, Any]], str | None] | str:
    """The systemInstruction's cleaned parts and its role (the validator allows one; Vertex ignores it)."""
    if "systemInstruction" not in example:
        return [], None
    system = example["systemInstruction"]
    if type(system) is str:
        changes.append("wrapped_system_text: systemInstruction string -> parts")
        system = {"parts": [{"text": system}]}
    if system is None or (type(system) is dict and system.get("parts") in (None, [])):
        changes.append("dropped_empty_system_instruction: it held no parts")
        return [], None
    if type(system) is not dict:
        return "invalid_system_instruction: not an object"
    for key in sorted(system.keys() - CONTENT_KEYS):
        changes.append(f"dropped_unknown_key: systemInstruction.{key}")
    role = system.get("role")
    if role is not None and type(role) is not str:
        changes.append("dropped_unknown_key: systemInstruction.role (not a string)")
        role = None
    parts = _clean_parts(system["parts"], "systemInstruction", changes)
    return parts if isinstance(parts, str) else (parts, role)


def _clean_parts(parts: Any, where: str, changes: list[str]) -> list[dict[str, Any]] | str:
    if type(parts) is str:
        changes.append(f"wrapped_text: {where}.parts string -> text part")
        parts = [{"text": parts}]
    if type(parts) is not list:
        return f"invalid_parts: {where}.parts is not a list"
    cleaned = []
    for j, part in enumerate(parts):
        if type(part) is str:
            changes.append(f"wrapped_text: {where}.parts[{j}] string -> text part")
            part = {"text": part}
        if type(part) is not dict:
            return f"invalid_part: {where}.parts[{j}] is not an object"
        extra = part.keys() - DATA_KEYS - META_KEYS
        if extra and part.keys() & DATA_KEYS:
            changes.append(f"dropped_unknown_key: {where}.parts[{j}].{','.join(sorted(extra))}")
            part = {k: v for k, v in part.items() if k not in extra}
        text = part.get("text")
        if type(text) is str:
            stripped = text.strip()
            if not stripped:
                changes.append(f"dropped_empty_part: {where}.parts[{j}]")
                continue
            if stripped != text:
                changes.append(f"stripped_whitespace: {where}.parts[{j}]")
                part = {**part, "text": stripped}
        cleaned.append(part)
    return cleaned


def _merge_turns(turns: list[dict[str, Any]], changes: list[str]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "parts": merged[-1]["parts"] + turn["parts"]}
            changes.append(f"merged_consecutive_turns: two {turn['role']} turns in a row")
        else:
            merged.append(turn)
    return merged


# What every change log fix_dataset writes starts with (orjson keeps the key order of _Tally.entry).
_OWN_CHANGELOG = re.compile(rb'\{"line":1,"action":"(kept|changed|dropped|rejected)"')


def _refuse_foreign(out: Path, rejects: Path, changelog: Path) -> None:
    """Replace only fix_dataset's own earlier output: files beside a change log it wrote (re-runs stay possible)."""
    existing = [t for t in (out, rejects, changelog) if t.exists() or t.is_symlink()]
    if not existing:
        return
    try:
        with changelog.open("rb") as stream:
            head = stream.read(64)
        # An empty input leaves three empty files; replacing empty files loses nothing.
        ours = all(t.is_file() for t in existing) and (
            _OWN_CHANGELOG.match(head) is not None or all(t.stat().st_size == 0 for t in existing))
    except OSError:
        ours = False
    if not ours:
        raise ToolError(f"Will not replace {', '.join(map(str, existing))}: not written by fix_dataset.",
                        "Pass an output_path that does not exist yet, or move the file away first.")


def _stem(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix else path.name


class FixDatasetInput(ToolInput):
    path: str = Field(description="Local JSONL file to repair; it is never modified")
    output_path: str | None = Field(None, description="Where to write the repaired copy (default: beside the "
                                    "input, NAME.fixed.jsonl); never the input itself")


@tool
def fix_dataset(args: FixDatasetInput, ctx: ToolContext) -> FixResult:
    """Write a repaired copy of a tuning dataset: converts OpenAI/messages chat format to Gemini 'contents', merges
    consecutive same-role turns, strips BOM and stray whitespace, drops empty and duplicate examples and moves
    unparseable lines to a rejects file. The original is never touched; a change log accounts for every line."""
    return repair(args.path, args.output_path, ctx)
