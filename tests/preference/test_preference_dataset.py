"""validate_dataset on preference data (Vertex's format, with line numbers) and convert_preference_dataset."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from preference_rows import estimated_tokens, pair, write_jsonl  # noqa: F401 (fixtures)
from tools.registry import dispatch


def validate(ctx, path: Path, **kw):
    result = dispatch("validate_dataset", {"path": str(path), **{k: str(v) for k, v in kw.items()}}, ctx)
    assert not result.is_error, result.content
    return result.output


def test_good_pairs_validate_as_preference_with_token_counts(ctx, write_jsonl):
    report = validate(ctx, write_jsonl("prefs.jsonl", [pair(i) for i in range(120)]))
    assert report.method == "preference" and report.ok
    assert report.train.examples == 120 and report.train.errors == 0
    tokens = report.train.tokens
    assert tokens.total > 0 and tokens.avg_input_tokens > 0 and tokens.avg_output_tokens > 0
    assert tokens.billable_per_epoch == tokens.total


def test_each_rule_names_its_line(ctx, write_jsonl):
    rows = [pair(i) for i in range(6)]
    bad_score = copy.deepcopy(rows[1]); bad_score["completions"][1]["score"] = 1
    ends_model = copy.deepcopy(rows[2]); ends_model["contents"].append(
        {"role": "model", "parts": [{"text": "hm"}]})
    one = copy.deepcopy(rows[3]); one["completions"] = one["completions"][:1]
    not_model = copy.deepcopy(rows[4]); not_model["completions"][0]["completion"]["role"] = "user"
    same = copy.deepcopy(rows[5]); same["completions"][1]["completion"] = same["completions"][0]["completion"]
    sft = {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}
    other = {"prompt": "q", "chosen": "a", "rejected": "b"}
    path = write_jsonl("prefs.jsonl", [rows[0], bad_score, ends_model, one, not_model, same, sft, other, "{oops"])
    report = validate(ctx, path, method="preference")
    errors = {k: [e.line for e in v.examples] for k, v in report.train.errors_by_kind.items()}
    assert errors["invalid_score"] == [2]
    assert errors["prompt_not_ending_with_user"] == [3]
    assert errors["invalid_completions"] == [4]
    assert errors["invalid_completion"] == [5]
    assert errors["missing_completions"] == [7]
    assert errors["other_preference_format"] == [8]
    assert errors["invalid_json"] == [9]
    assert [e.line for e in report.train.warnings_by_kind["identical_completions"].examples] == [6]
    assert not report.ok and report.train.valid_examples == 2


def test_duplicates_and_leakage_across_files(ctx, write_jsonl):
    train = write_jsonl("t.jsonl", [pair(i) for i in range(5)] + [pair(0)])
    reordered = {k: pair(3)[k] for k in ("completions", "contents", "system_instruction")}  # same example, new order
    val = write_jsonl("v.jsonl", [reordered, pair(50)])
    report = validate(ctx, train, validation_path=val)
    assert [e.line for e in report.train.warnings_by_kind["duplicate"].examples] == [6]
    assert report.leakage_count == 1
    assert report.validation.warnings_by_kind["leakage"].examples[0].message == "line 1: also in the training file at line 4"


def test_token_limit_is_prompt_plus_longer_completion(ctx, write_jsonl):
    long = pair(1)
    long["completions"][0]["completion"]["parts"][0]["text"] = "x " * 70_000  # ~35k tokens: under 131,072
    longer = pair(2)
    longer["completions"][1]["completion"]["parts"][0]["text"] = "y" * 600_000  # ~150k tokens
    report = validate(ctx, write_jsonl("p.jsonl", [long, longer]))
    assert [e.line for e in report.train.errors_by_kind["tokens_over_limit"].examples] == [2]


def test_supervised_files_still_validate_as_before(ctx, write_jsonl):
    sft = {"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}
    report = validate(ctx, write_jsonl("s.jsonl", [sft]))
    assert report.method == "supervised" and report.train.errors == 0


def test_convert_reads_three_formats_and_repairs_safely(ctx, write_jsonl, tmp_path):
    repaired = pair(7)
    repaired["completions"][0]["score"] = "1"
    repaired["completions"][1]["score"] = False
    repaired["completions"][1]["completion"]["role"] = "assistant"
    rows = [
        {"prompt": "What is 1 plus 1?", "chosen": "2.", "rejected": "Two, I think!", "system": "Answer briefly."},
        {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello."}],
         "rejected": [{"role": "assistant", "content": "What?"}]},
        {"input": {"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]},
         "preferred_output": [{"role": "assistant", "content": "Hello."}],
         "non_preferred_output": [{"role": "assistant", "content": "Hello there, friend!"}]},
        repaired,
        pair(8),
        {"prompt": "q", "chosen": ["a", "b"], "rejected": "c"},
    ]
    source = write_jsonl("mixed.jsonl", rows)
    result = dispatch("convert_preference_dataset", {"path": str(source)}, ctx)
    assert not result.is_error, result.content
    out = result.output
    assert (out.examples, out.converted, out.rejected) == (5, 4, 1)
    assert out.changes["converted_prompt_chosen_rejected"] == 2 and out.changes["converted_openai_preference"] == 1
    assert out.changes["fixed_score"] == 2 and out.changes["fixed_role"] == 1
    assert json.loads(Path(out.rejected_path).read_text())["line"] == 6
    lines = [json.loads(x) for x in Path(out.output_path).read_text().splitlines()]
    assert lines[0]["system_instruction"] == {"parts": [{"text": "Answer briefly."}]}
    assert lines[0]["completions"][1] == {"score": 0, "completion": {"role": "model", "parts": [{"text": "Two, I think!"}]}}
    assert lines[2]["system_instruction"]["parts"][0]["text"] == "Be terse."
    assert lines[4] == pair(8)
    assert validate(ctx, Path(out.output_path)).train.errors == 0


def test_cost_estimate_revalidates_preference_data_as_preference(ctx, write_jsonl):
    path = write_jsonl("prefs.jsonl", [pair(i) for i in range(10)])
    result = dispatch("estimate_cost", {"training_path": str(path), "base_model": "gemini-3.5-flash-lite",
                                        "epochs": 2}, ctx)
    assert not result.is_error, result.content
    assert ctx.workspace.dataset(str(path.resolve()))["method"] == "preference"
