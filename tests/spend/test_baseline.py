"""Tune only when it pays: the prompted base model measured on held-out examples against the user's target."""

from __future__ import annotations

import io
import json

import pytest

from agent.console import Console
from agent.runs import drive, open_agent
from tools.evaluation.targets import parse_target, target_in_words
from tools.registry import dispatch

# Prices: Gemini 2.5 has published tuning prices and no Gemini 3 row has one yet, so the budget arithmetic runs
# on a day when 2.5 was still tunable (tests/spend/test_prices.py covers a current model priced by the user).
pytestmark = pytest.mark.usefixtures("before_2_5_retired")

PAIRS = [(f"Capital of country {i}?", f"City {i}") for i in range(12)]
SYSTEM = "Answer with the city name only."


@pytest.fixture
def files(tmp_path, write_examples):
    return (write_examples(tmp_path / "train.jsonl", PAIRS[:8], SYSTEM),
            write_examples(tmp_path / "val.jsonl", PAIRS[8:], SYSTEM))


def answer(local, right: int) -> None:
    """The base model answers the first `right` held-out prompts correctly and the rest wrongly."""
    local.answers["base:gemma-3-270m"] = {p: (a if i < right else "I am not sure.") for i, (p, a) in
                                          enumerate(PAIRS[8:])}


def test_base_meets_the_target(ctx, local, files):
    answer(local, 4)
    result = dispatch("measure_base", {"training_path": str(files[0]), "heldout_path": str(files[1]),
                                       "target": "exact_match>=0.9"}, ctx)
    out = result.output
    assert not result.is_error, result.content
    assert out.meets_target is True and out.tune is False and out.metrics["exact_match"] == 1.0 and out.n == 4
    assert out.prompt == "the dataset's system instruction" and out.system_instruction == SYSTEM
    assert "already meets the target exact_match>=0.9" in out.verdict and "n=4" in out.verdict
    assert "do not tune unless the user asks" in out.verdict


def test_base_falls_short_of_the_target(ctx, local, files):
    answer(local, 2)
    ctx.settings.target = "target exact match 0.9"  # --target, in words
    out = dispatch("measure_base", {"training_path": str(files[0]), "heldout_path": str(files[1])}, ctx).output
    assert out.meets_target is False and out.tune is True and out.metrics["exact_match"] == 0.5
    assert "reaches exact_match 0.50 on n=4" in out.verdict and "short of the target exact_match>=0.9" in out.verdict


def test_without_an_instruction_the_prompt_is_built_from_training_examples(ctx, local, tmp_path, write_examples):
    train = write_examples(tmp_path / "plain.jsonl", PAIRS)
    local.answers["base:gemma-3-270m"] = {"*": "City 0"}
    out = dispatch("measure_base", {"training_path": str(train), "max_examples": 4, "shots": 2}, ctx).output
    assert out.prompt == "a 2-shot prompt from training examples" and out.shots == 2 and out.n == 4
    assert out.meets_target is None and "No target was set" in out.verdict
    assert [prompt for _, prompt in local.generated] == [p for p, _ in PAIRS[8:]]  # held out: the file's last four


def test_measure_base_on_vertex_is_checked_against_the_budget(ctx, vertex, files):
    ctx.spend.limit_usd = 0.0
    result = dispatch("measure_base", {"training_path": str(files[0]), "heldout_path": str(files[1]),
                                       "backend": "vertex", "base_model": "gemini-2.5-flash"}, ctx)
    assert result.is_error and "measure_base (4 requests to gemini-2.5-flash)" in result.content
    assert not vertex.generated


@pytest.mark.parametrize("text, target", [
    ("exact_match>=0.9", "exact_match>=0.9"), ("Tune it, target exact match 0.9", "exact_match>=0.9"),
    ("target token F1 of 80%", "token_f1>=0.8"), ("rouge-l >= 0.5", "rouge_l>=0.5"),
])
def test_targets_are_read_from_flags_and_words(text, target):
    assert str(parse_target(text)) == target and str(target_in_words(text)) == target


def test_a_metric_merely_mentioned_is_no_target():
    assert target_in_words("What exact match did the last job reach?") is None


def test_the_planner_stops_before_tuning_when_the_base_meets_the_target(ctx, local, files):
    answer(local, 4)
    console = Console(out=io.StringIO(), color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=ctx.workspace,
                       goal="tune")
    agent.ctx._backends["local"] = local
    goal = f"Tune gemma-3-270m on {files[0]}, validate with {files[1]}, 3 epochs, target exact match 0.9"
    result = drive(agent, goal, console)
    names = [b["name"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    assert "measure_base" in names and "create_tuning_job" not in names and not local.jobs
    assert "already meets the target exact_match>=0.9" in result.final_text
    measured = next(json.loads(b["content"]) for m in agent.messages if isinstance(m["content"], list)
                    for b in m["content"] if b.get("type") == "tool_result" and '"meets_target"' in str(b["content"]))
    assert measured["metrics"]["exact_match"] == 1.0
    # the question was answered: no tuning needed is a success, not an incomplete run
    assert result.ok, [(c.key, c.detail) for c in result.criteria]
    baseline = next(c for c in result.criteria if c.key == "baseline")
    assert baseline.met and "already meets the target" in baseline.detail
    assert [c.key for c in result.criteria] == ["dataset", "baseline", "job"]
    assert not next(c for c in result.criteria if c.key == "job").applicable


def test_the_planner_tunes_when_the_base_falls_short(ctx, local, files):
    answer(local, 1)
    console = Console(out=io.StringIO(), color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=ctx.workspace,
                       goal="tune")
    agent.ctx._backends["local"] = local
    drive(agent, f"Tune gemma-3-270m on {files[0]}, validate with {files[1]}, 3 epochs, target exact match 0.9",
          console)
    names = [b["name"] for m in agent.messages if m["role"] == "assistant" for b in m["content"]
             if b["type"] == "tool_use"]
    assert names.index("measure_base") < names.index("create_tuning_job")


def test_the_report_shows_base_with_prompt_against_tuned_and_the_ledger(ctx, local, files):
    from pathlib import Path

    answer(local, 2)
    measured = dispatch("measure_base", {"training_path": str(files[0]), "heldout_path": str(files[1]),
                                         "target": "exact_match>=0.9"}, ctx)
    assert measured.output.tune
    created = dispatch("create_tuning_job", {"training_dataset_uri": str(files[0]), "validation_dataset_uri":
                                             str(files[1]), "base_model": "gemma-3-270m", "epochs": 1}, ctx)
    job_id = created.output.job.job_id
    job = local.jobs[job_id]
    job.info = job.info.model_copy(update={"endpoint": f"{job_id}/tuned", "training_dataset_uri": str(files[0]),
                                           "validation_dataset_uri": str(files[1])})
    local.answers[f"{job_id}/tuned"] = dict(PAIRS[8:])
    assert not dispatch("compare_models", {"job_id": job_id}, ctx).is_error
    report = Path(dispatch("write_report", {"job_ids": [job_id]}, ctx).output.path).read_text()
    assert "**Base model with a prompt** (the dataset's system instruction, n=4" in report
    assert "| exact_match | 0.500 | 1.000 |" in report
    assert "Ledger (`gto spend`): $0.00 recorded for this job." in report and "- tuning: estimate $0.00" in report


def test_in_chat_tune_anyway_goes_on_after_the_base_met_the_target(ctx, local, files):
    from agent.runs import attempt

    answer(local, 4)
    console = Console(out=io.StringIO(), color=False, can_ask=False)
    agent = open_agent(model="planner", backend="local", yes=True, console=console, workspace=ctx.workspace,
                       interactive=True, goal="(chat)")
    agent.ctx._backends["local"] = local
    attempt(agent, f"Tune gemma-3-270m on {files[0]}, validate with {files[1]}, 3 epochs, target exact match 0.9",
            "again")
    assert not local.jobs
    assert all(c.holds for c in agent.criteria())  # "no need to tune" answered the request
    attempt(agent, "Tune anyway.", "again")
    assert local.jobs  # the user asked: now it tunes
    assert next(c for c in agent.criteria() if c.key == "job").applicable  # and the tuned model is what counts now
