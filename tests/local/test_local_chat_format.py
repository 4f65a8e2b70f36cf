"""Gemini records -> Gemma chat template tokens and label masks, on the tiny test tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_gemma import record

from tools.backends.local.chat_format import IGNORE, ChatFormat, DataError, parse_record, read_jsonl


@pytest.fixture(scope="module")
def fmt(tiny_tokenizer) -> ChatFormat:  # noqa: ANN001
    return ChatFormat(tiny_tokenizer)


def labelled_text(fmt: ChatFormat, ids: list[int], labels: list[int]) -> str:
    return fmt.tokenizer.decode([i for i, lab in zip(ids, labels) if lab != IGNORE], skip_special_tokens=False)


def test_renders_gemma_template_with_system_in_first_user_turn(fmt: ChatFormat) -> None:
    encoded = fmt.encode_example(parse_record(record("Send 2 vests to Oslo.", "OK", system="Be brief.")), 512)
    text = fmt.tokenizer.decode(encoded.input_ids, skip_special_tokens=False)
    assert text == ("<bos><start_of_turn>user\nBe brief.\n\nSend 2 vests to Oslo.<end_of_turn>\n"
                    "<start_of_turn>model\nOK<end_of_turn>")
    assert encoded.input_ids[0] == fmt.bos_id


def test_labels_cover_model_turns_and_their_end_marker_only(fmt: ChatFormat) -> None:
    row = {"contents": [
        {"role": "user", "parts": [{"text": "first question"}]},
        {"role": "model", "parts": [{"text": "first answer"}]},
        {"role": "user", "parts": [{"text": "second question"}]},
        {"role": "model", "parts": [{"text": "second "}, {"text": "answer"}]},
    ]}
    encoded = fmt.encode_example(parse_record(row), 512)
    assert len(encoded.labels) == len(encoded.input_ids)
    assert labelled_text(fmt, encoded.input_ids, encoded.labels) == \
        "first answer<end_of_turn>second answer<end_of_turn>"
    assert encoded.output_tokens == encoded.label_count
    assert encoded.input_tokens == len(encoded.input_ids) - encoded.output_tokens
    # labels equal the ids wherever they are set: the model learns the text itself, shifted inside the loss
    assert all(lab in (IGNORE, i) for i, lab in zip(encoded.input_ids, encoded.labels))


def test_system_without_leading_user_turn_becomes_a_user_turn(fmt: ChatFormat) -> None:
    row = {"systemInstruction": {"parts": [{"text": "Rules."}]},
           "contents": [{"role": "model", "parts": [{"text": "Hello"}]}]}
    text = fmt.tokenizer.decode(fmt.encode_example(parse_record(row), 512).input_ids, skip_special_tokens=False)
    assert text == "<bos><start_of_turn>user\nRules.<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>"


def test_truncation_is_flagged_and_keeps_the_start(fmt: ChatFormat) -> None:
    full = fmt.encode_example(parse_record(record("a long order " * 20)), 4096)
    cut = fmt.encode_example(parse_record(record("a long order " * 20)), 10)
    assert cut.truncated and not full.truncated
    assert cut.input_ids == full.input_ids[:10] and cut.label_count == 0


def test_prompt_matches_training_prefix_and_ends_with_generation_prompt(fmt: ChatFormat) -> None:
    conversation = parse_record(record("Send 3 caps to Lima.", None))
    prompt = fmt.encode_prompt(conversation)
    trained = fmt.encode_example(parse_record(record("Send 3 caps to Lima.", "X")), 512).input_ids
    assert trained[: len(prompt)] == prompt
    text = fmt.tokenizer.decode(prompt, skip_special_tokens=False)
    assert text.endswith("Lima.<end_of_turn>\n<start_of_turn>model\n")


def test_decode_reply_stops_at_end_of_turn(fmt: ChatFormat) -> None:
    ids = fmt.encode("abc") + fmt.end_ids + fmt.encode("junk")
    assert fmt.decode_reply(ids) == ("abc", True)
    assert fmt.decode_reply(fmt.encode("abc")) == ("abc", False)


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "line 2: not valid JSON"),
    (json.dumps({"contents": []}), "line 2: expected an object with a non-empty 'contents' list"),
    (json.dumps({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}), "role must be 'user' or 'model'"),
    (json.dumps({"contents": [{"role": "user", "parts": [{"inlineData": {}}]}]}), "only text parts"),
])
def test_read_jsonl_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(record("ok")) + "\n" + line + "\n")
    with pytest.raises(DataError, match=message):
        read_jsonl(path)


def test_read_jsonl_skips_blank_lines_and_reads_the_examples(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(record("one")) + "\n\n" + json.dumps(record("two", system=None)) + "\n")
    conversations = read_jsonl(path)
    assert [c.turns[0][1] for c in conversations] == ["one", "two"]
    assert conversations[0].system and conversations[1].system is None
