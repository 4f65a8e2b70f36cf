"""Held-out prompt files with a byte-order mark or bytes that are not UTF-8: read, or refused naming the line and
byte, never a traceback."""

from __future__ import annotations

import json

import pytest
from monitor_fake_backend import checkpoints

from tools.backends.base import JobState
from tools.evaluation.heldout import read_examples
from tools.errors import ToolError
from tools.registry import dispatch

PAIRS = [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima")]


def line(country: str, city: str) -> bytes:
    return json.dumps({"contents": [{"role": "user", "parts": [{"text": f"Capital of {country}?"}]},
                                    {"role": "model", "parts": [{"text": city}]}]}).encode()


@pytest.fixture
def job(tmp_path, fake):
    info = fake.add_job("local-h", [JobState.SUCCEEDED], {}, endpoint="local-h/checkpoint-1",
                        checkpoints=checkpoints("local-h", [10]))
    answers = {f"Capital of {c}?": city for c, city in PAIRS}
    fake.answers["local-h/checkpoint-1"] = answers
    fake.answers["base:gemma-3-270m"] = answers
    return info


def test_a_byte_order_mark_on_line_one_is_not_an_error(ctx, fake, job, tmp_path):
    prompts = tmp_path / "bom.jsonl"
    prompts.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(line(*p) for p in PAIRS) + b"\r\n")
    examples = read_examples(prompts, 10)
    assert [e.line for e in examples] == [1, 2, 3] and examples[0].reference == "Paris"
    result = dispatch("compare_models", {"job_id": "local-h", "prompts_path": str(prompts)}, ctx)
    assert not result.is_error, result.content
    assert result.data["n"] == 3


def test_bytes_that_are_not_utf8_name_the_line_and_byte(ctx, fake, job, tmp_path):
    prompts = tmp_path / "latin1.jsonl"
    first = line(*PAIRS[0]) + b"\n"
    bad = line("Peru", "Lima").replace(b"Peru", b"Per\xfa")  # Latin-1, as a spreadsheet export writes it
    prompts.write_bytes(first + bad + b"\n" + line(*PAIRS[1]) + b"\n")
    offset = len(first) + bad.index(b"\xfa")
    with pytest.raises(ToolError) as raised:
        read_examples(prompts, 10)
    assert f"{prompts} line 2 is not valid UTF-8" in str(raised.value)
    assert f"byte 0xfa at byte offset {offset:,}" in str(raised.value)
    result = dispatch("compare_models", {"job_id": "local-h", "prompts_path": str(prompts)}, ctx)
    assert result.is_error and "line 2 is not valid UTF-8" in result.content and "UTF-8" in result.content


def test_a_bad_byte_after_a_byte_order_mark_is_counted_from_the_start_of_the_file(tmp_path):
    prompts = tmp_path / "bom-latin1.jsonl"
    data = b"\xef\xbb\xbf" + line("Peru", "Lima").replace(b"Lima", b"L\xedma") + b"\n"
    prompts.write_bytes(data)
    with pytest.raises(ToolError) as raised:
        read_examples(prompts, 10)
    offset = data.index(b"\xed")
    assert f"line 1 is not valid UTF-8 (byte 0xed at byte offset {offset:,} of the file)" in str(raised.value)
