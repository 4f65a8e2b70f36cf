"""fix_dataset: bad lines first; every repair, the rejects file, a change log that accounts for every input line,
the original never touched, and output that validate_dataset accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def lines_of(path: str | Path) -> list[bytes]:
    return Path(path).read_bytes().splitlines()


def changelog(result) -> list[dict]:
    return [json.loads(x) for x in lines_of(result.output.changelog_path)]


def user(text: str) -> dict:
    return {"role": "user", "parts": [{"text": text}]}


def model(text: str) -> dict:
    return {"role": "model", "parts": [{"text": text}]}


MESSY = [
    b"\xef\xbb\xbf" + json.dumps({"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hi there  "},
        {"role": "assistant", "content": "Hello!"}]}).encode(),                                         # 1 changed
    {"contents": [user("a"), user("b"), model("c")], "id": 5},                                           # 2 changed
    b'{"broken',                                                                                         # 3 rejected
    b"",                                                                                                 # 4 dropped
    {"contents": [user("a"), user("b"), model("c")], "id": 6},                                           # 5 dropped
    {"contents": [model("first"), user("b")]},                                                           # 6 rejected
    {"contents": [user("  "), model("")]},                                                               # 7 dropped
    b"\xff\xfe not text",                                                                                # 8 rejected
    json.dumps({"contents": [user("q"), model("ans")]}).encode() + b"\r",                                # 9 kept
    {"contents": [user("q2"), model("ans2"), user("thanks!")]},                                          # 10 changed
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
                  {"role": "assistant", "content": "a cat"}]},                                          # 11 rejected
]


def test_every_input_line_is_accounted_for(write_jsonl, call):
    source = write_jsonl("train.jsonl", MESSY)
    result = call("fix_dataset", path=source)
    assert not result.is_error, result.content
    out = result.output
    assert (out.input_lines, out.kept, out.changed, out.dropped, out.rejected) == (11, 1, 3, 3, 4)
    log = changelog(result)
    assert [entry["line"] for entry in log] == list(range(1, 12))
    actions = {entry["line"]: entry["action"] for entry in log}
    assert actions == {1: "changed", 2: "changed", 3: "rejected", 4: "dropped", 5: "dropped", 6: "rejected",
                       7: "dropped", 8: "rejected", 9: "kept", 10: "changed", 11: "rejected"}
    reasons = {entry["line"]: entry.get("reason") or entry.get("reasons") for entry in log}
    assert reasons[4] == "blank line"
    assert reasons[5] == "exact duplicate of line 2"
    assert reasons[7] == "empty example (no text left)"
    assert reasons[6] == ["first_turn_not_user: contents[0] is a model turn"]
    assert reasons[8][0].startswith("invalid_utf8")
    assert "image_url" in reasons[11][0]
    assert out.source_format == "mixed"
    assert out.changes["converted_openai_messages"] == 1 and out.changes["merged_consecutive_turns"] == 1
    assert out.changes["stripped_bom"] == 1 and out.changes["dropped_unknown_key"] == 1
    assert out.changes["dropped_trailing_user_turn"] == 1


def test_rejects_keep_the_original_lines_and_output_keeps_order(write_jsonl, call):
    result = call("fix_dataset", path=write_jsonl("train.jsonl", MESSY))
    rejects = lines_of(result.output.rejects_path)
    assert rejects[0] == b'{"broken' and rejects[2] == b"\xff\xfe not text"
    assert json.loads(rejects[1]) == MESSY[5]
    fixed = [json.loads(x) for x in lines_of(result.output.output_path)]
    assert fixed[0] == {"systemInstruction": {"parts": [{"text": "Be brief."}]},
                        "contents": [user("Hi there"), model("Hello!")]}
    assert fixed[1] == {"contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}, model("c")]}
    assert fixed[2] == {"contents": [user("q"), model("ans")]}
    assert fixed[3] == {"contents": [user("q2"), model("ans2")]}
    assert lines_of(result.output.output_path)[2] == MESSY[8].rstrip(b"\r")  # unchanged: its exact bytes
    entries = {e["line"]: e for e in changelog(result)}
    assert [entries[n]["output_line"] for n in (1, 2, 9, 10)] == [1, 2, 3, 4]


def test_the_original_is_never_touched(write_jsonl, call):
    source = write_jsonl("train.jsonl", MESSY)
    before = (source.read_bytes(), source.stat().st_mtime_ns)
    call("fix_dataset", path=source)
    assert (source.read_bytes(), source.stat().st_mtime_ns) == before
    refused = call("fix_dataset", path=source, output_path=source)
    assert refused.is_error and "will not write over its input" in refused.content
    assert (source.read_bytes(), source.stat().st_mtime_ns) == before


def test_output_passes_validation(write_jsonl, call):
    fixed = call("fix_dataset", path=write_jsonl("train.jsonl", MESSY)).output
    assert Path(fixed.output_path).name == "train.fixed.jsonl"
    assert Path(fixed.changelog_path).name == "train.fixed.changelog.jsonl"
    report = call("validate_dataset", path=fixed.output_path).output
    assert report.train.errors == 0 and report.ok is True


def test_openai_chat_with_tool_calls_becomes_function_calling(write_jsonl, call):
    chat = {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"sky": "clear"}'},
        {"role": "assistant", "content": [{"type": "text", "text": "Clear skies."}]}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}]}
    result = call("fix_dataset", path=write_jsonl("chat.jsonl", [chat]), output_path=None)
    assert result.output.source_format == "openai_messages"
    example = json.loads(lines_of(result.output.output_path)[0])
    assert example["contents"] == [
        user("Weather in Paris?"),
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"sky": "clear"}}}]},
        model("Clear skies.")]
    assert example["tools"] == [{"functionDeclarations": [{"name": "weather", "parameters": {
        "type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]
    assert call("validate_dataset", path=result.output.output_path).output.train.errors == 0


def test_roles_and_system_turns_in_contents_are_repaired(write_jsonl, call):
    rows = [{"contents": [{"role": "system", "parts": [{"text": "Be kind."}]}, {"role": "User", "parts": "hi"},
                          {"role": "assistant", "parts": [{"text": "hello"}]}],
             "system_instruction": {"parts": [{"text": "Be brief."}]}}]
    result = call("fix_dataset", path=write_jsonl("t.jsonl", rows))
    example = json.loads(lines_of(result.output.output_path)[0])
    assert example == {"systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
                       "contents": [user("hi"), model("hello")]}
    kinds = {c.split(":")[0] for c in changelog(result)[0]["changes"]}
    assert kinds == {"renamed_key", "moved_system_turn", "renamed_role", "wrapped_text"}


@pytest.mark.parametrize("name", ["train.fixed.jsonl", "sub/out.jsonl"])
def test_explicit_output_paths(name, write_jsonl, call, tmp_path):
    source = write_jsonl("train.jsonl", [{"contents": [user("q"), model("a")]}])
    target = tmp_path / name
    result = call("fix_dataset", path=source, output_path=target)
    if target.parent.exists():
        assert result.output.output_path == str(target) and target.exists()
    else:
        assert result.is_error and "does not exist" in result.content


def test_missing_input_is_a_tool_error(call):
    result = call("fix_dataset", path="/nowhere/train.jsonl")
    assert result.is_error and "No dataset at /nowhere/train.jsonl" in result.content
