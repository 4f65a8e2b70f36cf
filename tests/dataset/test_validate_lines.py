"""validate_dataset, one bad line at a time: every per-line rule of the Gemini SFT format, named by kind, each
problem naming its line, and the verdict (errors block tuning, warnings do not)."""

from __future__ import annotations

from typing import Any

import pytest

from tools.dataset.problems import ERROR, KINDS

BAD_LINE = 57  # 120 good lines around one bad line: the fast path is warm, the numbering must still be right


def user(text: Any = "hi") -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def model(text: Any = "hello") -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


CASES: list[tuple[str, Any, str]] = [
    ("truncated JSON", b'{"contents": [{"role": "user"', "invalid_json"),
    ("trailing comma", b'{"contents": [],}', "invalid_json"),
    ("NaN literal", b'{"contents": NaN}', "invalid_json"),
    ("invalid UTF-8 bytes", b'{"contents": [{"role": "user", "parts": [{"text": "caf\xe9"}]}]}', "invalid_utf8"),
    ("an array", b"[1, 2, 3]", "not_an_object"),
    ("a string", b'"contents"', "not_an_object"),
    ("chat format", {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
     "legacy_messages_format"),
    ("no contents", {"systemInstruction": {"parts": [{"text": "be nice"}]}}, "missing_contents"),
    ("empty contents", {"contents": []}, "invalid_contents"),
    ("contents not a list", {"contents": {"role": "user"}}, "invalid_contents"),
    ("turn not an object", {"contents": ["hi", model()]}, "invalid_turn"),
    ("turn without role", {"contents": [{"parts": [{"text": "hi"}]}, model()]}, "missing_role"),
    ("empty role", {"contents": [{"role": "", "parts": [{"text": "hi"}]}, model()]}, "missing_role"),
    ("only an empty-role turn", {"contents": [{"role": "", "parts": [{"text": "hi"}]}]}, "last_turn_not_model"),
    ("ends on a role-less turn", {"contents": [user(), model(), {"parts": [{"text": "and?"}]}]},
     "last_turn_not_model"),
    ("assistant role", {"contents": [user(), {"role": "assistant", "parts": [{"text": "x"}]}]}, "invalid_role"),
    ("system role in contents", {"contents": [{"role": "system", "parts": [{"text": "x"}]}, user(), model()]},
     "invalid_role"),
    ("role not a string", {"contents": [{"role": 1, "parts": [{"text": "x"}]}, model()]}, "invalid_role"),
    ("model speaks first", {"contents": [model(), user(), model()]}, "first_turn_not_user"),
    ("two user turns", {"contents": [user("a"), user("b"), model()]}, "consecutive_roles"),
    ("ends on user", {"contents": [user(), model(), user("and?")]}, "last_turn_not_model"),
    ("only a user turn", {"contents": [user()]}, "last_turn_not_model"),
    ("empty parts", {"contents": [{"role": "user", "parts": []}, model()]}, "invalid_parts"),
    ("parts missing", {"contents": [{"role": "user"}, model()]}, "invalid_parts"),
    ("parts a string", {"contents": [{"role": "user", "parts": "hi"}, model()]}, "invalid_parts"),
    ("part not an object", {"contents": [{"role": "user", "parts": ["hi"]}, model()]}, "invalid_part"),
    ("part with two kinds", {"contents": [{"role": "user", "parts": [
        {"text": "x", "fileData": {"mimeType": "image/png", "fileUri": "gs://b/x.png"}}]}, model()]}, "invalid_part"),
    ("part with no data", {"contents": [{"role": "user", "parts": [{"thought": True}]}, model()]}, "invalid_part"),
    ("empty text", {"contents": [user(""), model()]}, "empty_text"),
    ("blank text", {"contents": [user(), model(" \n\t ")]}, "empty_text"),
    ("text a number", {"contents": [user(42), model()]}, "text_not_string"),
    ("fileData without mimeType", {"contents": [{"role": "user", "parts": [
        {"fileData": {"fileUri": "gs://bucket/a.png"}}]}, model()]}, "invalid_file_data"),
    ("fileData local path", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "image/png", "fileUri": "/home/me/a.png"}}]}, model()]}, "file_uri_not_gcs"),
    ("fileData bucket only", {"contents": [{"role": "user", "parts": [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket"}}]}, model()]}, "file_uri_not_gcs"),
    ("inlineData without data", {"contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png"}}]}, model()]}, "invalid_inline_data"),
    ("functionCall without name", {"contents": [user(), {"role": "model", "parts": [
        {"functionCall": {"args": {"city": "Paris"}}}]}]}, "invalid_function_call"),
    ("functionResponse not an object", {"contents": [user(), {"role": "model", "parts": [
        {"functionCall": {"name": "f", "args": {}}}]}, {"role": "user", "parts": [
            {"functionResponse": {"name": "f", "response": "sunny"}}]}, model()]}, "invalid_function_response"),
    ("systemInstruction a string", {"systemInstruction": "be nice", "contents": [user(), model()]},
     "invalid_system_instruction"),
    ("systemInstruction with a file", {"systemInstruction": {"parts": [
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}}]}, "contents": [user(), model()]},
     "invalid_system_instruction"),
    ("both system spellings", {"systemInstruction": {"parts": [{"text": "a"}]},
                               "system_instruction": {"parts": [{"text": "b"}]}, "contents": [user(), model()]},
     "invalid_system_instruction"),
    ("systemInstruction null", {"systemInstruction": None, "contents": [user(), model()]},
     "invalid_system_instruction"),
    ("tools not a list", {"tools": "search", "contents": [user(), model()]}, "invalid_tools"),
    ("unknown top-level key", {"id": 7, "contents": [user(), model()]}, "unknown_key"),
    ("unknown turn key", {"contents": [{"role": "user", "parts": [{"text": "x"}], "name": "bob"}, model()]},
     "unknown_key"),
    ("unknown part key", {"contents": [{"role": "user", "parts": [{"text": "x", "type": "text"}]}, model()]},
     "unknown_key"),
]


@pytest.mark.parametrize(("line", "kind"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_is_an_error_named_by_kind_and_line(line, kind, write_jsonl, good_rows, call):
    rows = good_rows(BAD_LINE - 1) + [line] + good_rows(120 - BAD_LINE, start=1000)
    result = call("validate_dataset", path=write_jsonl("train.jsonl", rows))
    assert not result.is_error, result.content
    report = result.output
    assert KINDS[kind][0] == ERROR
    assert report.ok is False
    found = report.train.errors_by_kind[kind]
    assert found.count == 1
    assert found.examples[0].line == BAD_LINE
    assert found.examples[0].message.startswith(f"line {BAD_LINE}: ")
    assert report.train.valid_examples == 119
    assert report.train.examples == 120


def test_http_file_uri_is_only_a_warning(write_jsonl, good_rows, call):
    line = {"contents": [{"role": "user", "parts": [{"fileData": {"mimeType": "image/png",
                                                                   "fileUri": "https://example.com/a.png"}}]}, model()]}
    report = call("validate_dataset", path=write_jsonl("t.jsonl", good_rows(100) + [line])).output
    assert report.ok is True
    assert report.train.warnings_by_kind["file_uri_http"].examples[0].line == 101
    assert "media_tokens_not_counted" in report.train.warnings_by_kind


def test_valid_shapes_beyond_the_common_one_pass(write_jsonl, good_rows, call):
    function_calling = {
        "tools": [{"functionDeclarations": [{"name": "weather", "parameters": {"type": "OBJECT"}}]}],
        "contents": [
            user("Weather in Paris?"),
            {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
            {"parts": [{"functionResponse": {"name": "weather", "response": {"sky": "clear"}}}]},  # Google's example
            model("Clear skies."),
        ],
    }
    snake_case = {"system_instruction": {"role": "system", "parts": [{"text": "Be brief."}]},
                  "contents": [user(), {"role": "model", "parts": [{"text": "a"}, {"text": "b"}]}]}
    media = {"contents": [{"role": "user", "parts": [{"text": "What is this?"}, {"file_data": {
        "mime_type": "image/jpeg", "file_uri": "gs://bucket/cat.jpg"}}]}, model("A cat.")]}
    rows = good_rows(100) + [function_calling, snake_case, media]
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output
    assert report.train.errors == 0, report.train.errors_by_kind
    assert report.ok is True
    assert report.train.warnings_by_kind["media_tokens_not_counted"].examples[0].message.startswith("1 media part")


def test_over_the_token_limit_is_an_error_for_that_model(write_jsonl, good_rows, call):
    # gemma-3-270m takes 32,768 tokens an example; 140,000 characters is about 35,000 by the estimate.
    long = {"contents": [user("x " * 70_000), model()]}
    path = write_jsonl("t.jsonl", good_rows(100) + [long])
    small = call("validate_dataset", path=path, base_model="gemma-3-270m").output
    assert small.train.errors_by_kind["tokens_over_limit"].examples[0].line == 101
    assert small.train.tokens.over_limit == 1
    assert small.ok is False
    big = call("validate_dataset", path=path, base_model="gemini-3.5-flash-lite").output
    assert big.ok is True and big.max_tokens_per_example == 131072


def test_problems_per_kind_keep_a_few_examples_and_the_report_keeps_all(write_jsonl, good_rows, call):
    rows = []
    for i in range(300):
        rows.append({"contents": [user(f"q{i}"), user("again"), model()]} if i % 3 == 0 else good_rows(1, start=i)[0])
    result = call("validate_dataset", path=write_jsonl("t.jsonl", rows))
    found = result.output.train.errors_by_kind["consecutive_roles"]
    assert found.count == 100
    assert [e.line for e in found.examples] == [1, 4, 7]
    import json

    records = [json.loads(line) for line in open(result.output.report_path)]
    lines = [r["line"] for r in records if r["kind"] == "consecutive_roles"]
    assert lines == list(range(1, 301, 3))
    assert all(r["message"].startswith(f"line {r['line']}: ") for r in records if r["line"])
    assert len(result.content) < 8000  # what the model sees stays small


def test_unknown_base_model_is_a_tool_error(write_jsonl, good_rows, call):
    result = call("validate_dataset", path=write_jsonl("t.jsonl", good_rows(3)), base_model="gpt-4")
    assert result.is_error and "gemini-3.5-flash-lite" in result.content  # the models tunable today are named
