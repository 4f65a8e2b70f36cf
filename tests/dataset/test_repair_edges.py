"""fix_dataset at the edges: whatever it keeps or changes, validate_dataset accepts; lines the validator accepts are
not rejected; repairs the log used to miss are logged; and it writes over no file it did not write itself."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest


def user(text: str = "q") -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def model(text: str = "a") -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


CALL = {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]}
RESPONSE_PART = {"functionResponse": {"name": "weather", "response": {"sky": "clear"}}}

SYSTEMS: list[Any] = [
    None, {"parts": []}, {"parts": [{"text": "S"}]}, {"parts": [{"text": "S"}], "extra": 1},
    {"role": "system", "parts": [{"text": "S"}]}, "S", {"parts": [{"text": "  "}]}, {}, {"parts": "S"},
    {"parts": [{"text": " S "}], "name": "x"}, {"role": "system", "parts": []}, {"role": 5, "parts": [{"text": "S"}]},
]


def user_turns(t: str) -> list[Any]:
    return [user(t), {"role": "User", "parts": [{"text": t}]}, {"role": "human", "parts": t},
            {"parts": [RESPONSE_PART]}, {"role": "", "parts": [RESPONSE_PART]}, {"role": "user", "parts": [
                {"text": f" {t} "}], "name": "bob"}, {"role": "user", "parts": [{"text": t, "type": "text"}]}]


def model_turns(t: str) -> list[Any]:
    return [model(t), {"role": "assistant", "parts": t}, CALL, {"role": "model", "parts": [{"text": t}, {"text": " "}]}]


def hostile_turns(t: str) -> list[Any]:
    return [{"role": "", "parts": [{"text": t}]}, {"parts": [{"text": t}]}, {"role": "user", "parts": []},
            {"role": "model", "parts": [{"text": " "}]}, {"role": "system", "parts": [{"text": t}]},
            {"role": "bot", "parts": [{"text": t}]}, {"role": "user", "parts": [{"thought": True}]}, "hi"]


def messy_lines(seed: int = 7, n: int = 400) -> list[dict[str, Any]]:
    """Every systemInstruction variant under both spellings, then conversations of assorted turn spellings, some
    with a hostile turn, an odd systemInstruction or an unknown key."""
    rng = random.Random(seed)
    lines = []
    for k, (system, key) in enumerate(itertools.product(SYSTEMS, ("systemInstruction", "system_instruction"))):
        lines.append({key: system, "contents": [user(f"s{k}"), model()]})
    for i in range(n):
        contents: list[Any] = []
        for j in range(rng.randint(1, 3)):
            contents += [rng.choice(user_turns(f"q{i}.{j}")), rng.choice(model_turns(f"a{i}.{j}"))]
        if rng.random() < 0.3:
            contents.insert(rng.randint(0, len(contents)), rng.choice(hostile_turns(f"h{i}")))
        line: dict[str, Any] = {"contents": contents}
        if rng.random() < 0.4:
            line[rng.choice(("systemInstruction", "system_instruction"))] = rng.choice(SYSTEMS)
        if rng.random() < 0.1:
            line["id"] = i
        lines.append(line)
    return lines


def changelog(result) -> list[dict[str, Any]]:
    return [json.loads(x) for x in Path(result.output.changelog_path).read_bytes().splitlines()]


def test_whatever_is_kept_or_changed_passes_validation(write_jsonl, good_rows, call):
    rows = good_rows(5) + messy_lines()
    source = write_jsonl("train.jsonl", rows)
    result = call("fix_dataset", path=source)
    assert not result.is_error, result.content
    fixed = result.output
    assert fixed.kept > 5 and fixed.changed > 100 and fixed.rejected > 50  # the mix exercises every outcome
    assert "normalised" not in fixed.changes  # every repair is named by its own kind
    report = call("validate_dataset", path=fixed.output_path).output
    assert report.train.errors == 0, report.train.errors_by_kind
    output = Path(fixed.output_path).read_bytes().splitlines()
    inputs = source.read_bytes().splitlines()
    for entry in changelog(result):
        if entry["action"] == "kept":  # kept means: the very bytes that were read
            assert output[entry["output_line"] - 1] == inputs[entry["line"] - 1].strip()
        elif entry["action"] == "changed":
            assert entry["changes"]


@pytest.mark.parametrize(("system", "change"), [
    (None, "dropped_empty_system_instruction"),
    ({"parts": []}, "dropped_empty_system_instruction"),
    ({"parts": [{"text": "S"}], "extra": 1}, "dropped_unknown_key"),
])
def test_system_instruction_repairs_are_logged_and_written(system, change, write_jsonl, call):
    source = write_jsonl("t.jsonl", [{"systemInstruction": system, "contents": [user(), model()]}])
    result = call("fix_dataset", path=source)
    entry = changelog(result)[0]
    assert entry["action"] == "changed"
    assert [c.split(":")[0] for c in entry["changes"]] == [change]
    assert result.output.changes == {change: 1}
    assert call("validate_dataset", path=result.output.output_path).output.train.errors == 0


def test_a_system_role_is_kept_as_the_validator_allows_it(write_jsonl, call):
    line = {"systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]}, "contents": [user(), model()]}
    snake = {"system_instruction": line["systemInstruction"], "contents": [user("2"), model()]}
    result = call("fix_dataset", path=write_jsonl("t.jsonl", [line, snake]))
    assert [e["action"] for e in changelog(result)] == ["kept", "changed"]
    written = [json.loads(x) for x in Path(result.output.output_path).read_bytes().splitlines()]
    assert written == [line, {**line, "contents": [user("2"), model()]}]


def test_role_less_function_response_turn_is_accepted_as_the_validator_does(write_jsonl, call):
    line = {"contents": [user("Weather in Paris?"), CALL, {"parts": [RESPONSE_PART]}, model("Clear skies.")]}
    source = write_jsonl("t.jsonl", [line])
    assert call("validate_dataset", path=source).output.train.errors == 0
    result = call("fix_dataset", path=source)
    assert (result.output.changed, result.output.rejected) == (1, 0)
    assert changelog(result)[0]["changes"] == ["added_role: contents[2] functionResponse turn -> 'user'"]
    written = json.loads(Path(result.output.output_path).read_bytes())
    assert written["contents"][2] == {"role": "user", "parts": [RESPONSE_PART]}
    assert call("validate_dataset", path=result.output.output_path).output.train.errors == 0


def test_an_empty_role_is_rejected_not_kept(write_jsonl, call):
    source = write_jsonl("t.jsonl", [{"contents": [{"role": "", "parts": [{"text": "hi"}]}, model()]}])
    result = call("fix_dataset", path=source)
    assert result.output.rejected == 1
    assert changelog(result)[0]["reasons"][0].startswith("missing_role")


def test_an_existing_file_it_did_not_write_is_refused(write_jsonl, good_rows, call, tmp_path):
    source = write_jsonl("train.jsonl", good_rows(3))
    validation = write_jsonl("val.jsonl", good_rows(2, start=50))
    before = validation.read_bytes()
    refused = call("fix_dataset", path=source, output_path=validation)
    assert refused.is_error and "val.jsonl" in refused.content and "not written by fix_dataset" in refused.content
    assert validation.read_bytes() == before

    notes = tmp_path / "out.changelog.jsonl"  # a sibling the tool would write, but the user's own file
    notes.write_text("my notes\n")
    refused = call("fix_dataset", path=source, output_path=tmp_path / "out.jsonl")
    assert refused.is_error and "out.changelog.jsonl" in refused.content
    assert notes.read_text() == "my notes\n" and not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("explicit", [False, True])
def test_its_own_earlier_output_is_replaced(explicit, write_jsonl, good_rows, call, tmp_path):
    source = write_jsonl("train.jsonl", good_rows(3))
    target = tmp_path / "clean.jsonl" if explicit else None
    first = call("fix_dataset", path=source, output_path=target)
    assert not first.is_error, first.content
    source.write_bytes(source.read_bytes() + json.dumps(good_rows(1, start=9)[0]).encode() + b"\n")
    again = call("fix_dataset", path=source, output_path=target)
    assert not again.is_error, again.content
    assert again.output.output_path == first.output.output_path and again.output.kept == 4
    assert len(Path(again.output.output_path).read_bytes().splitlines()) == 4


def test_an_empty_input_can_be_fixed_twice(write_jsonl, call):
    source = write_jsonl("empty.jsonl", [])
    assert not call("fix_dataset", path=source).is_error
    again = call("fix_dataset", path=source)
    assert not again.is_error and again.output.input_lines == 0
