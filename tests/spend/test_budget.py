"""One budget for tuning and evaluation: checked before anything billable runs, with the numbers and the way to
raise it; an unknown price is never guessed; the monthly cap holds across runs."""

from __future__ import annotations

import pytest

from tools.registry import dispatch
from tools.spend import ledger

# Prices: Gemini 2.5 has published tuning prices and no Gemini 3 row has one yet, so the budget arithmetic runs
# on a day when 2.5 was still tunable (tests/spend/test_prices.py covers a current model priced by the user).
pytestmark = pytest.mark.usefixtures("before_2_5_retired")

TRAIN_URI = "gs://bucket/train.jsonl"  # the vertex fixture records its tokens
JOB = {"training_dataset_uri": TRAIN_URI, "base_model": "gemini-2.5-flash", "epochs": 3}  # 3M tokens x $5/1M = $15


def test_a_job_over_the_budget_is_not_run_and_the_message_names_the_numbers(ctx, vertex):
    asked = []
    ctx.approve = lambda tool, question: asked.append(question) or True
    ctx.spend.limit_usd = 10.0
    result = dispatch("create_tuning_job", JOB, ctx)
    assert result.is_error
    assert "$15.00" in result.content and "over the budget of $10.00" in result.content
    assert "--budget 15.00" in result.content and "GTO_BUDGET" in result.content
    assert not vertex.jobs and not asked  # nothing created, and nobody asked to approve what cannot run
    assert ledger.entries(ctx.workspace) == []


def test_a_job_within_the_budget_runs_and_its_estimate_goes_to_the_ledger(ctx, vertex):
    ctx.spend.limit_usd = 20.0
    result = dispatch("create_tuning_job", JOB, ctx)
    assert not result.is_error, result.content
    [row] = ledger.entries(ctx.workspace)
    assert (row.action, row.model, row.estimate_usd, row.actual_usd) == ("tuning", "gemini-2.5-flash", 15.0, None)
    assert row.job_id == result.output.job.job_id and ctx.spend.total_usd == 15.0


def test_what_was_spent_before_counts_against_the_rest_of_the_budget(ctx, vertex):
    ctx.spend.limit_usd = 20.0
    ctx.spend.llm_usd = 6.0  # the brain's tokens so far in this request
    result = dispatch("create_tuning_job", JOB, ctx)
    assert result.is_error and "$6.00 already spent" in result.content and "$21.00" in result.content


def test_in_chat_the_user_is_asked_to_raise_the_budget(ctx, vertex):
    questions = []
    ctx.spend.limit_usd = 10.0
    ctx.spend.ask_raise = lambda question: questions.append(question) or True
    result = dispatch("create_tuning_job", JOB, ctx)
    assert not result.is_error, result.content
    assert "Raise the budget to $15.00?" in questions[0] and ctx.spend.limit_usd == 15.0


def test_an_unknown_price_is_never_guessed_under_a_budget(ctx, vertex):
    ctx.spend.limit_usd = 100.0
    result = dispatch("create_tuning_job", {**JOB, "base_model": "gemini-3.5-flash"}, ctx)
    assert result.is_error and not vertex.jobs
    assert "tuning price of gemini-3.5-flash is unknown" in result.content
    assert "GTO_PRICES" in result.content and 'id = "gemini-3.5-flash"' in result.content


def test_without_a_budget_an_unknown_price_is_left_to_consent(ctx, vertex):
    result = dispatch("create_tuning_job", {**JOB, "base_model": "gemini-3.5-flash"}, ctx)
    assert not result.is_error, result.content
    [row] = ledger.entries(ctx.workspace)
    assert row.estimate_usd is None


def test_epochs_left_to_the_service_cannot_be_priced_under_a_budget(ctx, vertex):
    ctx.spend.limit_usd = 100.0
    result = dispatch("create_tuning_job", {**JOB, "epochs": None}, ctx)
    assert result.is_error and "pass epochs" in result.content


def test_local_tuning_is_free_under_any_budget(ctx, local, tmp_path):
    ctx.spend.limit_usd = 0.0
    ctx.workspace.record_dataset("local://train.jsonl", {"billable_tokens_per_epoch": 1000})
    result = dispatch("create_tuning_job", {"training_dataset_uri": "local://train.jsonl",
                                            "base_model": "gemma-3-270m", "backend": "local"}, ctx)
    assert not result.is_error, result.content
    assert [r.estimate_usd for r in ledger.entries(ctx.workspace)] == [0.0]


def test_the_monthly_cap_holds_across_runs(ctx, vertex):
    ledger.set_monthly_cap(ctx.workspace, 20.0)
    ledger.record(ctx.workspace, "tuning", estimate=15.0, actual=12.0, run_id="earlier-run", model="gemini-2.5-flash")
    result = dispatch("create_tuning_job", JOB, ctx)  # no run budget: the cap alone refuses
    assert result.is_error and not vertex.jobs
    assert "$12.00 spent in this workspace" in result.content and "monthly cap of $20.00" in result.content
    assert "gto spend --set-monthly" in result.content
    ledger.set_monthly_cap(ctx.workspace, 30.0)
    assert not dispatch("create_tuning_job", JOB, ctx).is_error


def test_compare_models_on_vertex_is_checked_against_the_budget(ctx, vertex, tmp_path, write_examples):
    from tools.backends.base import JobState

    val = write_examples(tmp_path / "val.jsonl", [(f"question {i} " * 50, "an answer " * 20) for i in range(10)])
    vertex.add_job("projects/p/locations/us-central1/tuningJobs/1", [JobState.SUCCEEDED], base_model="gemini-2.5-pro",
                   endpoint="projects/p/locations/us-central1/endpoints/9", validation_dataset_uri=str(val))
    ctx.workspace.record_job(vertex.jobs["projects/p/locations/us-central1/tuningJobs/1"].info)
    ctx.spend.limit_usd = 0.001
    result = dispatch("compare_models", {"job_id": "projects/p/locations/us-central1/tuningJobs/1"}, ctx)
    assert result.is_error and "compare_models (20 requests to gemini-2.5-pro)" in result.content
    assert "over the budget of $0.0010" in result.content and not vertex.generated


def test_a_bad_gto_budget_is_named(monkeypatch):
    from tools.errors import ToolError
    from tools.spend.budget import Spend

    monkeypatch.setenv("GTO_BUDGET", "ten dollars")
    with pytest.raises(ToolError, match="GTO_BUDGET='ten dollars' is not a number"):
        Spend.from_env()
    monkeypatch.setenv("GTO_BUDGET", "12.5")
    assert Spend.from_env().limit_usd == 12.5


def test_the_mcp_server_reads_gto_budget_and_every_call_shares_it(monkeypatch):
    """The server builds one ToolContext.default() and copies it per call (dataclasses.replace): one Spend."""
    from dataclasses import replace

    from tools.context import ToolContext

    monkeypatch.setenv("GTO_BUDGET", "2.5")
    base = ToolContext.default()
    per_call = replace(base, approve=lambda tool, question: True)
    per_call.spend.counted[1] = 2.0
    assert base.spend.limit_usd == 2.5 and base.spend.total_usd == 2.0 and base.spend.source == "GTO_BUDGET"
