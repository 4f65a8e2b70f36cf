"""The recorded runs in transcripts/ stay true: every call they hold is valid against today's tools, the offline
planner still makes each recorded decision from the messages before it, and the success criteria recorded at the
end still follow from the recorded tool results. A change to a tool schema, the planner or the criteria that
would make a committed transcript a lie fails here."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from agent.criteria import evaluate
from agent.models.planner import PlannerModel
from agent.request import read_conversation
from agent.transcript import FORMAT, Transcript
from tools.registry import REGISTRY

CHAT = "(chat)"
RECORDED = sorted((Path(__file__).parents[2] / "transcripts").glob("*.jsonl"))


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _decisions(content: list[dict]) -> list[tuple]:
    """What an assistant turn decided: its words and its calls, without the call ids (which are per-process)."""
    return [(b["type"], b.get("text") or b.get("name"), b.get("input")) for b in content]


def test_there_are_recorded_runs() -> None:
    assert len(RECORDED) >= 5
    assert any(_records(p)[0]["goal"] == CHAT for p in RECORDED)  # a conversation with follow-ups


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recording_is_complete_and_well_formed(path: Path) -> None:
    records = _records(path)
    header, end = records[0], records[-1]
    assert header["type"] == "header" and header["format"] == FORMAT and header["model"] == "planner"
    assert end["type"] == "end" and end["status"] in ("succeeded", "incomplete", "limit", "interrupted", "error")
    messages = [r["message"] for r in records[1:-1]]
    if header["goal"] != CHAT:  # a chat's header has no goal: its messages are the requests
        assert messages[0] == {"role": "user", "content": header["goal"]}
    open_calls: set[str] = set()
    for message in messages:
        blocks = message["content"] if isinstance(message["content"], list) else []
        if message["role"] == "user":
            answered = {b["tool_use_id"] for b in blocks if b["type"] == "tool_result"}
            assert answered == open_calls, "every tool_use is answered in the next message, and only those"
            open_calls = set()
        else:
            assert not open_calls
            open_calls = {b["id"] for b in blocks if b["type"] == "tool_use"}


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_every_recorded_call_is_valid_against_todays_tools(path: Path) -> None:
    for message in Transcript.load(path).messages:
        for block in message["content"] if message["role"] == "assistant" else []:
            if block["type"] == "tool_use":
                tool = REGISTRY.get(block["name"])
                assert tool is not None, f"{block['name']} is no longer a tool"
                tool.input_model.model_validate(block["input"])


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_planner_still_makes_every_recorded_decision(path: Path) -> None:
    transcript = Transcript.load(path)
    planner = PlannerModel(backend=transcript.header["backend"], interactive=transcript.header["goal"] == CHAT)
    turns = 0
    for i, message in enumerate(transcript.messages):
        if message["role"] != "assistant":
            continue
        before = copy.deepcopy(transcript.messages[:i])
        turn = planner.complete("", before, REGISTRY.all())
        assert _decisions(turn.message["content"]) == _decisions(message["content"]), f"assistant turn {i}"
        turns += 1
    assert turns >= 1


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recorded_outcome_follows_from_the_tool_results(path: Path) -> None:
    transcript = Transcript.load(path)
    request = read_conversation(transcript.messages).current
    # A request's own criteria count the results that came after it (in a chat, after its message).
    last_said = max(i for i, m in enumerate(transcript.messages) if m["role"] == "user"
                    and isinstance(m["content"], str))
    before = {b["tool_use_id"] for m in transcript.messages[:last_said] if isinstance(m["content"], list)
              for b in m["content"] if b.get("type") == "tool_result"}
    since = sum(1 for r in transcript.evidence.records if r.call_id in before)
    criteria = evaluate(request, transcript.evidence, since)
    recorded = {c["key"]: c["met"] for c in _records(path)[-1]["summary"]["criteria"]}
    assert {c.key: c.met for c in criteria} == recorded
    end = _records(path)[-1]
    assert (end["status"] == "succeeded") == all(c.holds for c in criteria)
