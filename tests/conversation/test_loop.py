"""The loop with a scripted model, through the real registry: corrections, consent, limits, interruption, resume."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import BaseModel

from agent.console import Console
from agent.loop import Agent, Interrupted, LimitReached, Limits
from agent.models.scripted import ScriptedModel, call, calls, say
from agent.runs import drive, open_agent
from agent.transcript import Transcript
from tools.context import ToolContext
from tools.errors import ToolInput
from tools.registry import REGISTRY, tool


class CountInput(ToolInput):
    n: int


class CountOutput(BaseModel):
    doubled: int


@pytest.fixture
def loop_tools(scratch_registry):
    @tool
    def test_double(args: CountInput) -> CountOutput:
        """Double a number."""
        return CountOutput(doubled=args.n * 2)

    @tool(consent=lambda a, ctx: f"This costs ${a.n}.")
    def test_spend(args: CountInput) -> CountOutput:
        """Spend money."""
        return CountOutput(doubled=args.n * 2)

    @tool
    def test_hang(args: CountInput) -> CountOutput:
        """Stand in for a long tool the user interrupts."""
        raise KeyboardInterrupt

    yield


def make_agent(ctx: ToolContext, model: ScriptedModel, out: io.StringIO | None = None, **kw) -> Agent:
    transcript = Transcript.start(ctx.workspace, "goal", model.name, REGISTRY.schema_hash(), "local")
    return Agent(model, ctx, transcript, Console(out=out or io.StringIO(), color=False, can_ask=False), **kw)


def tool_results(messages):
    return [b for m in messages if isinstance(m["content"], list) for b in m["content"] if b["type"] == "tool_result"]


def test_invalid_arguments_go_back_and_the_model_corrects_itself(ctx, loop_tools):
    model = ScriptedModel([call("test_double", {"n": "seven"}), call("test_double", {"n": 7}), say("Doubled: 14.")])
    agent = make_agent(ctx, model, interactive=True)
    agent.run("double seven")
    model.assert_complete()
    first, second = tool_results(agent.messages)
    assert first["is_error"] and "field 'n'" in first["content"] and "'seven'" in first["content"]
    assert not second["is_error"] and json.loads(second["content"]) == {"doubled": 14}
    # the model saw its error before correcting
    assert model.seen[1][-1]["content"][0]["is_error"] is True
    assert agent.totals.tool_calls == 2 and agent.totals.model_calls == 3


def test_denied_consent_is_a_tool_result_and_nothing_runs(ctx, loop_tools):
    model = ScriptedModel([call("test_spend", {"n": 45}), say("Understood, nothing was spent.")])
    agent = make_agent(ctx, model, interactive=True)
    agent.run("spend")
    model.assert_complete()
    (result,) = tool_results(agent.messages)
    assert result["is_error"] and result["content"].startswith("The user declined: This costs $45.")
    assert ctx.workspace.events(kind="tool:test_spend") == []


def test_approved_consent_runs(ctx, loop_tools):
    ctx.approve = lambda tool, question: True
    model = ScriptedModel([call("test_spend", {"n": 1}), say("ok")])
    agent = make_agent(ctx, model, interactive=True)
    agent.run("spend")
    assert not tool_results(agent.messages)[0]["is_error"]


def test_parallel_calls_each_get_a_result(ctx, loop_tools):
    model = ScriptedModel([calls(("test_double", {"n": 1}), ("test_double", {"n": 2})), say("3 and 4")])
    agent = make_agent(ctx, model, interactive=True)
    agent.run("go")
    results = tool_results(agent.messages)
    uses = [b for b in agent.messages[1]["content"] if b["type"] == "tool_use"]
    assert [r["tool_use_id"] for r in results] == [u["id"] for u in uses]


def test_model_call_limit_stops_the_run(ctx, loop_tools):
    model = ScriptedModel([call("test_double", {"n": i}) for i in range(10)])
    agent = make_agent(ctx, model, limits=Limits(max_model_calls=3))
    with pytest.raises(LimitReached, match="3 model calls"):
        agent.run("loop forever")
    assert agent.totals.model_calls == 3


def test_cost_budget_stops_the_run(ctx, loop_tools):
    from agent.models import Usage

    model = ScriptedModel([call("test_double", {"n": i}) for i in range(10)], usage=Usage(10, 10, cost_usd=0.4))
    agent = make_agent(ctx, model, limits=Limits(max_cost_usd=1.0))
    with pytest.raises(LimitReached, match=r"\$1.20 of model usage \(budget \$1.00"):
        agent.run("spend tokens")


def test_interruption_closes_open_tool_calls_and_keeps_the_transcript(ctx, loop_tools):
    model = ScriptedModel([calls(("test_double", {"n": 1}), ("test_hang", {"n": 2}), ("test_double", {"n": 3}))])
    agent = make_agent(ctx, model)
    with pytest.raises(Interrupted):
        agent.run("go")
    results = tool_results(agent.messages)
    assert [r["is_error"] for r in results] == [False, True, True]
    assert "Interrupted by the user" in results[1]["content"]
    reloaded = Transcript.load(agent.transcript.path)
    assert reloaded.messages == agent.messages


def test_one_shot_nudges_when_criteria_are_unmet_then_stops(ctx, loop_tools):
    model = ScriptedModel([call("test_double", {"n": 1}), say("I am done."), call("test_double", {"n": 2}),
                           say("Still done."), call("test_double", {"n": 3}), say("Really done.")])
    agent = make_agent(ctx, model, nudges=2)
    criteria = agent.run("tune something")
    model.assert_complete()
    nudges = [m for m in agent.messages if m["role"] == "user" and "not met yet" in str(m["content"])]
    assert len(nudges) == 2
    assert not any(c.met for c in criteria if c.applicable)


def test_a_model_waiting_for_the_user_is_not_nudged(ctx, loop_tools):
    model = ScriptedModel([say("Which dataset should I use?")])
    agent = make_agent(ctx, model, nudges=2)
    agent.run("tune something")
    model.assert_complete()
    assert [m["role"] for m in agent.messages] == ["user", "assistant"]


def test_transcript_is_redacted_and_resumable(ctx, loop_tools, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-abcdefghijklmnop")
    model = ScriptedModel([call("test_double", {"n": 2}), say("my key is sk-ant-api03-abcdefghijklmnop")])
    agent = make_agent(ctx, model, interactive=True)
    agent.run("go")
    text = agent.transcript.path.read_text()
    assert "abcdefghijklmnop" not in text and "[REDACTED]" in text
    header = json.loads(text.splitlines()[0])
    assert header["type"] == "header" and header["tool_schema_hash"] == REGISTRY.schema_hash()
    assert "python" in header["versions"]
    reloaded = Transcript.load(agent.transcript.path)
    assert [m["role"] for m in reloaded.messages] == ["user", "assistant", "user", "assistant"]
    assert reloaded.evidence.latest("test_double").output.doubled == 4


def test_drive_records_the_run_and_resume_continues_it(ctx, loop_tools, workspace):
    console = Console(out=io.StringIO(), color=False, can_ask=False)
    first = ScriptedModel([call("test_double", {"n": 2}), say("paused")])
    agent = open_agent(model=first, console=console, workspace=workspace, goal="go", interactive=True)
    result = drive(agent, "go", console)
    assert result.status == "incomplete" and result.totals.model_calls == 2
    second = ScriptedModel([say("picked up")])
    resumed = open_agent(model=second, console=console, workspace=workspace, resume="latest", interactive=True)
    assert resumed.transcript.run_id == result.run_id
    assert len(resumed.messages) == 4
    drive(resumed, "continue", console)
    assert second.seen[0][-1] == {"role": "user", "content": "continue"}
    with workspace.connect() as db:
        row = db.execute("SELECT status FROM runs WHERE run_id = ?", (result.run_id,)).fetchone()
    assert row["status"] == "incomplete"


def test_a_project_region_and_bucket_in_the_goal_are_used_by_every_tool(workspace, monkeypatch):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    goal = "Tune on data/t.jsonl for project acme-prod in europe-west4, bucket gs://acme-data/tuning"
    agent = open_agent(model=ScriptedModel([say("ok")]), console=console, workspace=workspace, goal=goal,
                         backend="local")
    s = agent.ctx.settings
    assert (s.project, s.region, s.bucket) == ("acme-prod", "europe-west4", "acme-data")
    assert "Project: acme-prod (from the goal)" in out.getvalue()

    flagged = open_agent(model=ScriptedModel([say("ok")]), console=console, workspace=workspace, goal=goal,
                           backend="local", project="flag-project")
    assert flagged.ctx.settings.project == "flag-project"
    flagged.run(goal)
    assert "names project acme-prod, but --project flag-project was given" in out.getvalue()


def test_a_project_named_later_in_chat_is_used_from_then_on(workspace, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    out = io.StringIO()
    agent = open_agent(model=ScriptedModel([say("ok"), say("ok")]), console=Console(out=out, color=False),
                         workspace=workspace, goal="(chat)", interactive=True, backend="local")
    agent.run("hello")
    assert agent.ctx.settings.project is None
    agent.run("use the project called acme-prod")
    assert agent.ctx.settings.project == "acme-prod" and "Using project acme-prod" in out.getvalue()


class Refuses:
    """A model that works one step, then refuses (Claude's stop_reason "refusal")."""

    name = "refuses"

    def __init__(self):
        self.calls = 0

    def complete(self, system, messages, tools, on_text=None):  # noqa: ANN001, ANN201
        from agent.models import Turn

        self.calls += 1
        if self.calls == 1:
            return Turn({"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_r1", "name": "test_double", "input": {"n": 1}}]},
                stop_reason="tool_use")
        return Turn({"role": "assistant", "content": [{"type": "text", "text": "I can't help with that."}]},
                    stop_reason="refusal")


def test_a_refusal_is_not_nudged(ctx, loop_tools):
    model = Refuses()
    agent = make_agent(ctx, model, nudges=2)  # type: ignore[arg-type]
    agent.run("tune something")
    assert model.calls == 2
    assert not [m for m in agent.messages if m["role"] == "user" and "not met yet" in str(m["content"])]


def test_a_tool_that_crashes_leaves_every_call_answered(ctx, loop_tools, scratch_registry):
    @tool
    def test_broken(args: CountInput) -> CountOutput:
        """Stand in for a tool with a bug."""
        raise RuntimeError("a bug")  # an OSError is the world's failure: dispatch answers it like a ToolError

    model = ScriptedModel([calls(("test_double", {"n": 1}), ("test_broken", {"n": 2}), ("test_double", {"n": 3}))])
    agent = make_agent(ctx, model)
    with pytest.raises(RuntimeError):
        agent.run("go")
    results = tool_results(agent.messages)
    assert [r["is_error"] for r in results] == [False, True, True]
    assert "RuntimeError: a bug" in results[1]["content"]
    assert Transcript.load(agent.transcript.path).messages == agent.messages
