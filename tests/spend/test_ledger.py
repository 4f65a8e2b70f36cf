"""The ledger across runs, `gto spend`, and a run stopped mid-way when the actual cost passes the budget."""

from __future__ import annotations

import pytest

import io
import json

from typer.testing import CliRunner

from agent.cli import app
from agent.console import Console
from agent.models import Usage
from agent.models.scripted import ScriptedModel, call, say
from agent.runs import drive, open_agent
from tools.backends.base import DataStats
from tools.spend import ledger

# Prices: Gemini 2.5 has published tuning prices and no Gemini 3 row has one yet, so the budget arithmetic runs
# on a day when 2.5 was still tunable (tests/spend/test_prices.py covers a current model priced by the user).
pytestmark = pytest.mark.usefixtures("before_2_5_retired")

TRAIN_URI = "gs://bucket/train.jsonl"
JOB = {"training_dataset_uri": TRAIN_URI, "base_model": "gemini-2.5-flash", "epochs": 3, "backend": "vertex"}


def agent_for(ctx, fake, steps, budget=None, cost_per_call=0.0):
    console = Console(out=io.StringIO(), color=False, can_ask=False)
    model = ScriptedModel(steps, usage=Usage(input_tokens=100, output_tokens=20, cost_usd=cost_per_call))
    agent = open_agent(model=model, backend="vertex", yes=True, console=console, workspace=ctx.workspace,
                       budget=budget, goal="tune")
    agent.ctx._backends["vertex"] = fake
    return agent, console


def created_job(messages) -> str:
    for m in reversed(messages):
        for block in m["content"] if isinstance(m["content"], list) else []:
            if block.get("type") == "tool_result" and "job_id" in block["content"]:
                return json.loads(block["content"])["job"]["job_id"]
    raise AssertionError("no job was created")


def test_a_run_is_stopped_when_the_actual_cost_passes_the_budget(ctx, vertex):
    def billed(messages):
        job_id = created_job(messages)
        # Vertex counted twice the tokens the estimate assumed: 2M x 3 epochs x $5/1M = $30.
        job = vertex.jobs[job_id]
        stats = DataStats(total_billable_token_count=2_000_000)
        job.info = job.info.model_copy(update={"epochs": 3, "data_stats": stats})
        return call("get_job", {"job_id": job_id})

    agent, console = agent_for(ctx, vertex, [call("create_tuning_job", JOB), billed, say("never reached")], budget=20)
    result = drive(agent, "Tune gemini-2.5-flash on gs://bucket/train.jsonl, 3 epochs", console)
    assert result.status == "limit"
    assert "spent $30.00" in result.message and "budget of $20.00" in result.message
    assert "gto cancel" in result.message
    [row] = ledger.entries(ctx.workspace)
    assert (row.estimate_usd, row.actual_usd) == (15.0, 30.0)


def test_the_ledger_after_two_runs_and_gto_spend(ctx, vertex):
    runs = []
    for epochs in (3, 2):
        agent, console = agent_for(ctx, vertex, [call("create_tuning_job", {**JOB, "epochs": epochs}), say("Started.")],
                                   budget=50, cost_per_call=0.25)
        runs.append(drive(agent, f"Tune gemini-2.5-flash on {TRAIN_URI}, {epochs} epochs", console).run_id)
    totals = ledger.totals(ctx.workspace)
    assert totals.by_run == {runs[0]: 15.5, runs[1]: 10.5}  # tuning estimate + two model calls at $0.25
    assert sorted(totals.by_job.values()) == [10.0, 15.0] and totals.by_model == {"gemini-2.5-flash": 25.0}
    assert totals.by_action == {"tuning": 25.0, "llm": 1.0} and totals.total_usd == 26.0

    cli = CliRunner()
    shown = cli.invoke(app, ["spend", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["totals"]["total_usd"] == 26.0 and data["totals"]["estimated_usd"] == 25.0
    table = cli.invoke(app, ["spend"])
    assert "$26.00 in 4 billable actions" in table.stdout and runs[0] in table.stdout
    assert cli.invoke(app, ["spend", "--since", "2999-01-01", "--json"]).stdout.count('"entries": 0') == 1
    assert cli.invoke(app, ["spend", "--since", "yesterday"]).exit_code == 1


def test_gto_spend_sets_the_monthly_cap(ctx):
    result = CliRunner().invoke(app, ["spend", "--set-monthly", "40"])
    assert result.exit_code == 0 and "Monthly cap set: $40.00" in result.stdout
    assert ledger.monthly_cap(ctx.workspace) == 40.0
    CliRunner().invoke(app, ["spend", "--clear-monthly"])
    assert ledger.monthly_cap(ctx.workspace) is None


def test_a_one_shot_run_refused_by_the_budget_ends_unfinished_with_the_numbers(ctx, vertex):
    asked = say("That is over your budget: shall I use fewer epochs?")
    agent, console = agent_for(ctx, vertex, [call("create_tuning_job", JOB), asked], budget=5)
    result = drive(agent, f"Tune gemini-2.5-flash on {TRAIN_URI}, 3 epochs", console)
    assert not result.ok and result.status == "incomplete", result.message  # `gto run` exits 1
    refused = [b for m in agent.messages if isinstance(m["content"], list) for b in m["content"]
               if b.get("type") == "tool_result"][0]
    assert refused["is_error"] and "$15.00" in refused["content"] and "budget of $5.00" in refused["content"]
    assert not vertex.jobs and ledger.entries(ctx.workspace) == []


def test_in_chat_the_person_raises_the_budget_and_the_job_runs(ctx, vertex):
    out = io.StringIO()
    console = Console(out=out, input=io.StringIO("y\ny\n"), color=False, can_ask=True)
    model = ScriptedModel([call("create_tuning_job", JOB), say("Started.")])
    agent = open_agent(model=model, backend="vertex", yes=False, console=console, workspace=ctx.workspace,
                       budget=10, interactive=True, goal="(chat)")
    agent.ctx._backends["vertex"] = vertex
    agent.run(f"Tune gemini-2.5-flash on {TRAIN_URI}, 3 epochs")
    shown = out.getvalue()
    assert "over the budget of $10.00. Raise the budget to $15.00?" in shown
    assert shown.count("Raise the budget") == 1 and shown.count("Start a Vertex AI tuning job") == 1  # each once
    assert vertex.jobs and agent.ctx.spend.limit_usd == 15.0


def test_chat_slash_spend_says_what_was_spent(ctx):
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from agent.repl import Repl

    ledger.record(ctx.workspace, "tuning", estimate=3.0, actual=2.5, run_id="earlier", model="gemini-2.5-flash")
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model=ScriptedModel([]), console=console, workspace=ctx.workspace, interactive=True,
                       goal="(chat)", budget=4)
    with create_pipe_input() as pipe:
        pipe.send_text("/spend\r/exit\r")
        assert Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput())).loop() == 0
    assert "$2.50 in 1 billable actions; this request $0.00 of its budget $4.00." in out.getvalue()


def test_in_chat_a_person_who_keeps_the_budget_is_asked_once_and_nothing_runs(ctx, vertex):
    out = io.StringIO()
    console = Console(out=out, input=io.StringIO("n\n"), color=False, can_ask=True)
    model = ScriptedModel([call("create_tuning_job", JOB), say("Kept within budget.")])
    agent = open_agent(model=model, backend="vertex", console=console, workspace=ctx.workspace, budget=10,
                       interactive=True, goal="(chat)")
    agent.ctx._backends["vertex"] = vertex
    agent.run(f"Tune gemini-2.5-flash on {TRAIN_URI}, 3 epochs")
    shown = out.getvalue()
    assert shown.count("Raise the budget") == 1 and "Start a Vertex AI tuning job" not in shown
    assert not vertex.jobs and agent.ctx.spend.limit_usd == 10.0
