"""validate_dataset on whole files: hostile lines, encodings and line ends, per-file rules (empty, few, duplicates,
validation size, leakage, 1 GB), bad paths, what it records, and that its speed-ups change no result."""

from __future__ import annotations

import json
import os

import pytest

import tools.dataset.gemini_format as gemini_format
import tools.dataset.scan as dataset_scan
from tools.dataset import scan_workers
from tools.dataset.validation import validate

DEEP = b'{"contents": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_hostile_lines_are_errors_for_their_line_only(write_jsonl, good_rows, call):
    deep_args = {"name": "f", "args": {}}
    node = deep_args["args"]
    for _ in range(400):  # parses (orjson allows 1,024 levels) but cannot be written back (orjson stops at 255)
        node["a"] = {}
        node = node["a"]
    rows = good_rows(50) + [
        DEEP,                                                         # 51: nested 100,000 deep
        b"\xff\xfe\x00garbage",                                       # 52: not UTF-8
        {"contents": [{"role": "user", "parts": [{"text": "x" * 5_000_000}]},
                      {"role": "model", "parts": [{"text": "ok"}]}]},  # 53: a 5 MB line
        {"contents": [{"role": "user", "parts": [{"text": "call"}]},
                      {"role": "model", "parts": [{"functionCall": deep_args}]}]},  # 54
        b"\x00\x00\x00",                                              # 55: NUL bytes
    ] + good_rows(50, start=100)
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows), base_model="gemma-3-270m").output
    errors = {kind: [e.line for e in s.examples] for kind, s in report.train.errors_by_kind.items()}
    assert errors == {"nesting_too_deep": [51, 54], "invalid_utf8": [52], "tokens_over_limit": [53],
                      "invalid_json": [55]}
    assert report.train.valid_examples == 100
    assert report.train.lines == 105


def test_a_line_longer_than_any_example_is_skipped_unread(write_jsonl, good_rows, call):
    huge = b'{"contents": [{"role": "user", "parts": [{"text": "' + b"y" * (dataset_scan.MAX_LINE_BYTES + 3_000_000)
    rows = good_rows(2) + [huge + b'"}]}]}'] + good_rows(2, start=10) + [{"contents": []}]
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output
    assert [e.line for e in report.train.errors_by_kind["line_too_long"].examples] == [3]
    assert [e.line for e in report.train.errors_by_kind["invalid_contents"].examples] == [6]  # numbering holds
    assert report.train.examples == 6


def test_stdlib_decoder_turns_deep_nesting_into_an_error(monkeypatch, write_jsonl, good_rows, call):
    with pytest.raises(RecursionError):
        gemini_format.stdlib_loads(DEEP)
    monkeypatch.setattr(gemini_format, "loads", gemini_format.stdlib_loads)
    monkeypatch.setattr(gemini_format, "typed_decode", None)
    rows = good_rows(3) + [DEEP, b'{"contents": NaN}', b"\xc3\x28"] + good_rows(3, start=9)
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output
    errors = {kind: [e.line for e in s.examples] for kind, s in report.train.errors_by_kind.items()}
    assert errors == {"nesting_too_deep": [4], "invalid_json": [5], "invalid_utf8": [6]}


def test_bom_crlf_and_blank_lines_are_accepted(write_jsonl, good_rows, call):
    rows = [b"\xef\xbb\xbf" + json.dumps(good_rows(1)[0]).encode()] + good_rows(60, start=1)
    rows[10:10] = [b"", b"   "]
    rows.append({"contents": [{"role": "model", "parts": [{"text": "x"}]}]})  # line 64, after the blank lines
    path = write_jsonl("t.jsonl", rows, newline=b"\r\n", final_newline=False)
    report = call("validate_dataset", path=path).output
    assert report.train.lines == 64 and report.train.examples == 62
    assert list(report.train.errors_by_kind) == ["first_turn_not_user"]
    assert report.train.errors_by_kind["first_turn_not_user"].examples[0].line == 64


def test_exact_duplicates_are_warnings_naming_both_lines(write_jsonl, good_rows, call):
    rows = good_rows(120)
    rows[29] = rows[4]
    rows[99] = rows[4]
    rows[50] = json.dumps(rows[7]).encode() + b"  \r"  # same example, stray whitespace and CR: still a duplicate
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output
    dup = report.train.warnings_by_kind["duplicate"]
    assert dup.count == 3
    assert [e.message for e in dup.examples] == ["line 30: exact duplicate of line 5",
                                                 "line 51: exact duplicate of line 8",
                                                 "line 100: exact duplicate of line 5"]
    assert report.ok is True


def test_leakage_from_training_into_validation(write_jsonl, good_rows, call):
    train = write_jsonl("train.jsonl", good_rows(150))
    val_rows = good_rows(20, start=500)
    val_rows[3], val_rows[12] = good_rows(1, start=42)[0], good_rows(1, start=7)[0]
    result = call("validate_dataset", path=train, validation_path=write_jsonl("val.jsonl", val_rows))
    report = result.output
    assert report.ok is True and report.leakage_count == 2
    leak = report.validation.warnings_by_kind["leakage"]
    assert [e.message for e in leak.examples] == ["line 4: also in the training file at line 43",
                                                  "line 13: also in the training file at line 8"]
    assert "leakage" not in report.train.warnings_by_kind


def test_more_than_5000_validation_rows_is_an_error(write_jsonl, good_rows, call):
    train = write_jsonl("train.jsonl", good_rows(100, start=100_000))
    val = write_jsonl("val.jsonl", good_rows(5001))
    report = call("validate_dataset", path=train, validation_path=val).output
    assert report.ok is False
    assert report.validation.errors_by_kind["too_many_validation_rows"].count == 1
    assert report.train.errors == 0
    assert "validation_share" in report.validation.warnings_by_kind  # over 1,000 rows and over 30% of training
    at_limit = call("validate_dataset", path=train, validation_path=write_jsonl("v2.jsonl", good_rows(5000))).output
    assert "too_many_validation_rows" not in at_limit.validation.errors_by_kind


def test_file_over_1_gb_is_an_error_without_writing_1_gb(tmp_path, good_rows, call):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good_rows(150)))
    with path.open("r+b") as f:  # a sparse tail: no disk blocks, one enormous line of NUL bytes
        f.truncate(1024**3 + 1)
    report = call("validate_dataset", path=path).output
    assert report.ok is False
    assert report.train.bytes == 1024**3 + 1
    assert "1 GB" in report.train.errors_by_kind["file_too_large"].examples[0].message
    assert [e.line for e in report.train.errors_by_kind["line_too_long"].examples] == [151]
    assert report.train.valid_examples == 150


def test_empty_and_blank_files_are_errors(write_jsonl, call):
    for rows in ([], [b"", b"  ", b"\t"]):
        report = call("validate_dataset", path=write_jsonl("e.jsonl", rows)).output
        assert report.ok is False and "empty_file" in report.train.errors_by_kind


def test_few_examples_and_mixed_system_instructions_are_warnings(write_jsonl, good_rows, call):
    rows = good_rows(30, system="Answer briefly.") + good_rows(10, start=30)
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output
    assert report.ok is True
    warnings = report.train.warnings_by_kind
    assert warnings["few_examples"].examples[0].message == "40 valid examples; at least 100 recommended"
    assert warnings["system_instruction_mixed"].examples[0].message.startswith(
        "10 of 40 examples have no systemInstruction (first: line 31, line 32, line 33)")


@pytest.mark.parametrize(("path", "says"), [
    ("gs://bucket/train.jsonl", "Cloud Storage"), ("/no/such/file.jsonl", "No training file"), (".", "not a file")])
def test_bad_paths_are_tool_errors(path, says, call):
    result = call("validate_dataset", path=path)
    assert result.is_error and says in result.content


def test_same_file_for_training_and_validation_is_refused(write_jsonl, good_rows, call):
    path = write_jsonl("t.jsonl", good_rows(3))
    assert call("validate_dataset", path=path, validation_path=path).is_error


def test_stats_are_recorded_for_each_file(write_jsonl, good_rows, call, ctx):
    train, val = write_jsonl("train.jsonl", good_rows(120)), write_jsonl("val.jsonl", good_rows(10, start=900))
    report = call("validate_dataset", path=train, validation_path=val).output
    stats = ctx.workspace.dataset(str(train.resolve()))
    assert stats["examples"] == 120 and stats["role"] == "train" and stats["ok"] is True
    assert stats["tokens"] == report.train.tokens.total > 0
    assert stats["billable_tokens_per_epoch"] == report.train.tokens.billable_per_epoch
    assert stats["tokens_estimated"] is True
    assert ctx.workspace.dataset(str(val.resolve()))["role"] == "validation"
    ctx.workspace.record_dataset("gs://b/train.jsonl", {"source": str(train.resolve())})
    assert ctx.workspace.dataset("gs://b/train.jsonl")["examples"] == 120  # what an upload's URI inherits


def test_token_statistics_follow_the_examples(write_jsonl, call):
    texts = ["a" * 40, "b" * 400, "c" * 4000]
    rows = [{"contents": [{"role": "user", "parts": [{"text": "q" * 8}]},
                          {"role": "model", "parts": [{"text": t}]}]} for t in texts]
    tokens = call("validate_dataset", path=write_jsonl("t.jsonl", rows)).output.train.tokens
    per_example = [(8 + len(t) + 3) // 4 for t in texts]  # about four characters a token, rounded up
    assert (tokens.total, tokens.min, tokens.max, tokens.p50) == (sum(per_example), 12, 1002, 102)
    assert tokens.avg_output_tokens == pytest.approx(sum(len(t) // 4 for t in texts) / 3, abs=1)
    assert tokens.estimated is True and "estimate" in tokens.tokenizer


def assorted_rows(good_rows):
    rows = good_rows(400, system="Be brief.") + good_rows(400, start=400)
    rows[13] = b"{broken"
    rows[250] = rows[17]
    rows[700] = rows[17]
    rows[333] = {"contents": [{"role": "user", "parts": [{"text": "a"}]}]}
    rows[444] = {"contents": [{"role": "", "parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]}
    rows[555] = {"contents": [{"role": "user", "parts": [{"text": "\u6570\u636e" * 40}]},
                              {"role": "model", "parts": [{"text": "caf\u00e9"}]}]}
    rows.insert(600, b"")
    return rows


def comparable(report):
    data = report.model_dump()
    data.pop("report_path")
    return data


def test_worker_processes_give_the_same_report(monkeypatch, write_jsonl, good_rows, ctx):
    path = write_jsonl("t.jsonl", assorted_rows(good_rows))
    serial = validate(str(path), None, "gemini-2.5-flash", ctx, workers=1)
    monkeypatch.setattr(scan_workers, "MIN_CHUNK_BYTES", 20_000)  # several byte ranges, lines cut across them
    assert len(scan_workers.byte_ranges(path, 20_000)) > 4
    parallel = validate(str(path), None, "gemini-2.5-flash", ctx, workers=2)
    assert comparable(parallel) == comparable(serial)
    lines = lambda r: [json.loads(x)["message"] for x in open(r.report_path)]  # noqa: E731
    assert lines(parallel) == lines(serial)


def test_fast_paths_accept_exactly_what_the_detailed_rules_accept(monkeypatch, write_jsonl, good_rows, ctx):
    pytest.importorskip("msgspec")
    path = write_jsonl("t.jsonl", assorted_rows(good_rows))
    typed = validate(str(path), None, "gemini-2.5-flash", ctx)
    monkeypatch.setattr(gemini_format, "typed_decode", None)
    plain = validate(str(path), None, "gemini-2.5-flash", ctx)
    monkeypatch.setattr(gemini_format, "dict_fast", lambda obj: None)
    detailed = validate(str(path), None, "gemini-2.5-flash", ctx)
    assert comparable(typed) == comparable(plain) == comparable(detailed)
    assert [e.line for e in typed.train.errors_by_kind["missing_role"].examples] == [445]  # the empty role


def test_memory_stays_flat(tmp_path, ctx):
    import tracemalloc

    path = tmp_path / "big.jsonl"
    with path.open("wb") as f:  # 10,000 lines of 3 KB: a 31 MB file; every 10th line broken
        for i in range(10_000):
            role = "usr" if i % 10 == 0 else "user"
            f.write(json.dumps({"contents": [{"role": role, "parts": [{"text": f"{i} " + "z" * 3000}]},
                                             {"role": "model", "parts": [{"text": "ok"}]}]}).encode() + b"\n")
    import numpy  # noqa: F401 - imported once anyway; its own allocations are not the validator's

    tracemalloc.start()
    report = validate(str(path), None, "gemini-2.5-flash", ctx, workers=1)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.train.errors == 1000 and os.path.getsize(report.report_path) > 1000 * 100
    # The read block and its lines (~1 MB each), 12 bytes an example, a few samples: not the file.
    assert peak < 8 * 2**20 and peak < path.stat().st_size / 4


def test_a_tokenizer_keeps_the_scan_in_one_process(monkeypatch, tmp_path, write_jsonl, good_rows, ctx):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(["question what is plus"], trainers.WordLevelTrainer(special_tokens=["<unk>"]))
    tok.save(str(tmp_path / "tokenizer.json"))
    monkeypatch.setenv("GTO_TOKENIZER", str(tmp_path / "tokenizer.json"))
    monkeypatch.setattr(scan_workers, "MIN_CHUNK_BYTES", 2_000)
    path = write_jsonl("t.jsonl", good_rows(100))
    asked = validate(str(path), None, "gemini-2.5-flash", ctx, workers=2)
    serial = validate(str(path), None, "gemini-2.5-flash", ctx, workers=1)
    assert asked.tokens_estimated is False and comparable(asked) == comparable(serial)
