"""A run's transcript: the message list as append-only JSONL (a header, then one record per message), secrets
redacted, written as it goes so a crash loses nothing; plus the run's row in the workspace database."""

from __future__ import annotations

import json
import logging
import os
import platform
import secrets
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from agent.criteria import Evidence
from tools.secrets import redact_obj
from tools.workspace import Workspace, open_private

log = logging.getLogger("gto.transcript")
FORMAT = 1
# fsync each record (GTO_TRANSCRIPT_FSYNC=0 turns it off, for slow disks): a power cut then loses nothing written.
SYNC = os.environ.get("GTO_TRANSCRIPT_FSYNC", "1") != "0"
# The answer recorded for a tool call whose process died before it finished: Claude rejects a conversation with an
# unanswered tool_use, and the model must not assume the call did (or did not) happen.
UNFINISHED = "Interrupted before this finished (the process stopped); ask before running it again."


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("gemini-tuning-orchestrator", "anthropic", "google-genai", "google-cloud-storage", "mcp"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


@dataclass
class Transcript:
    path: Path
    run_id: str
    header: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)
    notices: list[str] = field(default_factory=list)  # what load() repaired, for the front end to say

    @classmethod
    def start(cls, workspace: Workspace, goal: str, model: str, schema_hash: str, backend: str | None) -> Transcript:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        path = workspace.dir("transcripts") / f"{run_id}.jsonl"
        header = {
            "type": "header", "format": FORMAT, "run_id": run_id, "goal": goal, "model": model,
            "backend": backend, "tool_schema_hash": schema_hash, "versions": versions(), "started_at": time.time(),
        }
        transcript = cls(path=path, run_id=run_id, header=header)
        transcript._write(header)
        with workspace.connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, goal, model, backend, transcript, status, started_at) VALUES (?,?,?,?,?,?,?)",
                (run_id, redact_obj(goal), model, backend, str(path), "running", header["started_at"]),
            )
        return transcript

    @classmethod
    def load(cls, path: Path, resume: bool = False) -> Transcript:
        """Read a transcript back: the messages, and the tool results the success criteria are computed from.

        Tool calls left unanswered (the process died while they ran) are closed with an error result, so the
        conversation can be sent again; with resume=True that closing is also written to the file."""
        records, torn = _read_records(path, repair=resume)
        if not records or records[0].get("type") != "header":
            raise ValueError(f"{path} is not a gto transcript (no header line)")
        transcript = cls(path=path, run_id=records[0]["run_id"], header=records[0])
        if torn:
            transcript.notices.append(f"The last line of {path.name} was cut off (the process stopped while writing "
                                      f"it) and was dropped: {torn} bytes.")
            log.warning(transcript.notices[-1])
        calls: dict[str, tuple[str, dict[str, Any]]] = {}
        waiting: list[str] = []  # tool_use ids of the last assistant message that no result has answered yet
        for record in records[1:]:
            if record.get("type") != "message":
                continue
            message = record["message"]
            blocks = message["content"] if isinstance(message["content"], list) else []
            answered = {b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"}
            if unanswered := [i for i in waiting if i not in answered]:
                # An older file where a message followed them; the file keeps its order, the conversation is fixed.
                transcript.messages.append(_closing(unanswered))
            waiting = [b["id"] for b in blocks if b.get("type") == "tool_use"] if message["role"] == "assistant" else []
            transcript.messages.append(message)
            for block in message["content"] if isinstance(message["content"], list) else []:
                if block.get("type") == "tool_use":
                    calls[block["id"]] = (block["name"], block.get("input") or {})
                elif block.get("type") == "tool_result" and block["tool_use_id"] in calls:
                    name, args = calls[block["tool_use_id"]]
                    data = record.get("tool_data", {}).get(block["tool_use_id"])
                    transcript.evidence.add(name, args, data, bool(block.get("is_error")), block["tool_use_id"])
        if waiting:
            if resume:
                transcript.append(_closing(waiting))
            else:
                transcript.messages.append(_closing(waiting))
        return transcript

    @classmethod
    def find(cls, workspace: Workspace, run: str | None) -> Path:
        """A run id, a transcript path, or None for the latest run in this workspace."""
        if run and Path(run).exists():
            return Path(run)
        with workspace.connect() as db:
            if run:
                row = db.execute("SELECT transcript FROM runs WHERE run_id = ?", (run,)).fetchone()
            else:
                row = db.execute("SELECT transcript FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
        if row is None:
            raise FileNotFoundError(f"no saved run {run!r} in {workspace.root}" if run else
                                    f"no saved run in {workspace.root}")
        return Path(row["transcript"])

    def append(self, message: dict[str, Any], tool_data: dict[str, Any] | None = None) -> None:
        self.messages.append(message)
        record: dict[str, Any] = {"type": "message", "message": message}
        if tool_data:
            record["tool_data"] = tool_data
        self._write(record)

    def finish(self, workspace: Workspace, status: str, summary: dict[str, Any]) -> None:
        self._write({"type": "end", "status": status, "summary": summary, "ended_at": time.time()})
        with workspace.connect() as db:
            db.execute(
                "UPDATE runs SET status = ?, ended_at = ?, summary = ? WHERE run_id = ?",
                (status, time.time(), json.dumps(redact_obj(summary)), self.run_id),
            )

    def _write(self, record: dict[str, Any]) -> None:
        # One write of one whole line, flushed and synced before the run goes on: a crash loses at most the line
        # being written, which load() then drops. Owner-only, like the rest of the workspace.
        with open_private(self.path, "a") as f:
            f.write(json.dumps(redact_obj(record), ensure_ascii=False) + "\n")
            f.flush()
            if SYNC:
                os.fsync(f.fileno())


def _read_records(path: Path, repair: bool) -> tuple[list[dict[str, Any]], int]:
    """The records of a transcript and how many bytes of a torn last line were dropped. Only the last line may be
    torn (a crash mid-write); with repair, the file is cut back to its last whole line so appends start clean."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    torn = 0
    offset = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                if any(rest.strip() for rest in lines[number:]):
                    raise ValueError(f"{path} line {number} is not JSON; the transcript is damaged") from None
                torn = len(raw) - offset
                break
        offset += len(line) + 1
    if torn and repair:
        with open(path, "r+b") as f:
            f.truncate(offset)
    return records, torn


def _closing(tool_use_ids: list[str]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": i, "is_error": True,
                                         "content": UNFINISHED} for i in tool_use_ids]}
