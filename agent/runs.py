"""Assemble a run: workspace, settings, brain, backend, consent and transcript around the loop; then summarise it.
Every front end (the one-shot CLI, the REPL, embedding code) starts runs through here."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.approvals import Approver
from agent.console import Console
from agent.criteria import Criterion, all_hold
from agent.goal import Goal, place
from agent.loop import Agent, Interrupted, Limits, LimitReached, Totals
from agent.models import Model, ModelError, load_model
from agent.request import Request, read_conversation, read_request
from agent.transcript import Transcript
from tools.context import ToolContext
from tools.settings import Settings
from tools.registry import REGISTRY
from tools.results import job_of
from tools.workspace import Workspace

CONTINUE = "Continue where you stopped."


@dataclass
class RunResult:
    run_id: str
    transcript: Path
    status: str
    criteria: list[Criterion]
    totals: Totals
    job_id: str | None = None
    message: str = ""
    summary: str = ""
    final_text: str = ""
    request: Request | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "ok": self.ok, "status": self.status, "message": self.message,
            "job_id": self.job_id, "transcript": str(self.transcript),
            "request": {"parts": sorted(self.request.parts), "job_ids": list(self.request.job_ids),
                        "ruled_out": [{"key": c.key, "words": c.words} for c in self.request.constraints],
                        "understood": self.request.understood} if self.request else None,
            "criteria": [{"key": c.key, "label": c.label, "met": c.met, "applicable": c.applicable,
                          "detail": c.detail} for c in self.criteria],
            "model_calls": self.totals.model_calls, "tool_calls": self.totals.tool_calls,
            "tool_result_tokens": self.totals.tool_result_tokens,
            "largest_tool_result_tokens": self.totals.largest_tool_result_tokens,
            "model_usage": vars(self.totals.usage), "final_text": self.final_text, "summary": self.summary,
        }


def open_agent(*, model: str | Model | None = None, backend: str | None = None, yes: bool = False,
                 console: Console | None = None, workspace: Workspace | None = None, limits: Limits | None = None,
                 interactive: bool = False, resume: str | None = None, goal: str = "",
                 project: str | None = None, region: str | None = None, bucket: str | None = None,
                 budget: float | None = None, target: str | None = None) -> Agent:
    """An Agent ready to run, with a new transcript or a resumed one."""
    console = console or Console()
    workspace = workspace or Workspace.default()
    resumed = None
    if resume:
        resumed = Transcript.load(Transcript.find(workspace, None if resume == "latest" else resume), resume=True)
        for notice in resumed.notices:
            console.notice(notice)
    flags = {k: v for k, v in (("project", project), ("region", region), ("bucket", bucket)) if v}
    # A project, region or bucket the goal names is used by every tool (the flags win), so the job is billed where
    # the pre-flight checks looked.
    earlier = read_conversation(resumed.messages).requests if resumed else []
    said = read_request(goal, earlier).names if goal else (earlier[-1].names if earlier else Goal())
    from_goal = {k: v for k, v in place(said).items() if k not in flags}
    settings = Settings.from_env(backend=backend, target=target, **from_goal, **flags)
    ctx = ToolContext(workspace=workspace, settings=settings, approve=Approver(console, yes=yes),
                      progress=console.progress)
    budgeted(ctx, budget, console if interactive else None)
    backend_name = ctx.backend_name()
    backend_why = _backend_reason(backend, settings, backend_name)
    ctx.settings.backend = backend_name
    if isinstance(model, str) or model is None:
        brain, why = load_model(model, backend=backend_name, interactive=interactive, project=settings.project,
                                region=settings.region, bucket=settings.bucket, settings=settings)
    else:
        brain, why = model, "given by the caller"
    named = "".join(f" {k.capitalize()}: {v} (from the goal)." for k, v in from_goal.items())
    console.notice(f"Brain: {brain.name} ({why}). Backend: {backend_name} ({backend_why}).{named} "
                   f"Workspace: {workspace.root}")
    if resumed:
        transcript = resumed
        console.notice(f"Resuming run {transcript.run_id} ({len(transcript.messages)} messages).")
    else:
        transcript = Transcript.start(workspace, goal, brain.name, REGISTRY.load().schema_hash(), backend_name)
    return Agent(brain, ctx, transcript, console, limits=limits, interactive=interactive, pinned=frozenset(flags))


def budgeted(ctx: ToolContext, budget: float | None, asker: Console | None) -> None:
    """--budget wins over GTO_BUDGET; in chat a person is asked to raise it (never by --yes), elsewhere it holds."""
    if budget is not None:
        ctx.spend.limit_usd, ctx.spend.source = budget, "--budget"
    if asker is not None and asker.can_ask:
        ctx.spend.ask_raise = asker.confirm


def run_goal(goal: str, **options: Any) -> RunResult:
    """Run one goal to the end and return what happened; the embedding API."""
    console: Console = options.setdefault("console", Console())
    agent = open_agent(goal=goal, **options)
    return drive(agent, goal or CONTINUE, console)


SAVED = "The run is saved: continue it with `gto run --resume` once that is fixed."


@dataclass
class Outcome:
    """How one message ended: succeeded, incomplete, limit, interrupted or error, and what to tell the person."""

    status: str
    note: str = ""
    trace: str | None = None


def attempt(agent: Agent, message: str, again: str) -> Outcome:
    """Send one message and work until done; every way it can end becomes an Outcome (the one exception policy of
    `gto run`, `gto chat` and embedding). `again` says how to go on after a stop."""
    outcome = Outcome("interrupted", f"Interrupted. {again}")
    try:
        criteria = agent.run(message)
        outcome = Outcome("succeeded" if all_hold(criteria) else "incomplete")
    except LimitReached as exc:
        outcome = Outcome("limit", str(exc))
    except Interrupted:
        pass
    except ModelError as exc:
        outcome = Outcome("error", f"{exc} {again}")
    except Exception as exc:  # a bug (a tool raising past dispatch): say it, keep the run, leave the trace to read
        outcome = Outcome("error", f"Unexpected error, a bug in gto: {type(exc).__name__}: {exc}. The traceback is "
                          f"in the transcript {agent.transcript.path}. {again}", traceback.format_exc())
    finally:
        agent.ctx.spend.close(agent.ctx.workspace)  # the brain's usage of this message goes to the ledger
    return outcome


def drive(agent: Agent, message: str, console: Console) -> RunResult:
    """Send one message, run until done, then record and summarise the outcome (the transcript is kept either way).
    A model call that fails ends the run with status "error" and says what to do."""
    outcome = Outcome("interrupted", f"Interrupted. {SAVED}")
    try:
        outcome = attempt(agent, message, SAVED)
    finally:
        result = finish(agent, outcome)
    show(console, outcome)
    return result


def show(console: Console, outcome: Outcome) -> None:
    if outcome.status == "error":
        console.error(outcome.note)
    elif outcome.note:
        console.notice(outcome.note)


def finish(agent: Agent, outcome: Outcome) -> RunResult:
    """The run's outcome, written to the transcript and the runs table (one shape for run, chat and embedding)."""
    status, note, trace = outcome.status, outcome.note, outcome.trace
    result = RunResult(run_id=agent.transcript.run_id, transcript=agent.transcript.path, status=status,
                       criteria=agent.criteria(), totals=agent.totals, message=note, final_text=_final_text(agent),
                       job_id=_job_id(agent), request=agent.request)
    try:
        result.summary = summarise(agent.ctx, result)
    except Exception as exc:  # the outcome must be recorded even when the summary cannot be made
        result.summary = f"(no summary: {type(exc).__name__}: {exc})"
    summary = result.as_dict() | ({"traceback": trace} if trace else {})
    agent.transcript.finish(agent.ctx.workspace, status, summary)
    return result


def summarise(ctx: ToolContext, result: RunResult) -> str:
    """The closing summary in the seed agent's shape, from real numbers; or the checklist when no job exists."""
    if result.job_id:
        from tools.reporting.report import render_summary

        return render_summary(ctx, result.job_id)
    lines = ["=== Gemini Tuning Orchestrator - Summary ===", ""]
    lines += [f"{'✓' if c.met else '✗'} {c.label}: {c.detail}" for c in result.criteria if c.applicable]
    return "\n".join(lines)


def _job_id(agent: Agent) -> str | None:
    """The job the request is about: the one it created, else the one it named."""
    created = agent.transcript.evidence.latest("create_tuning_job")
    job = job_of(created.output) if created else None
    if job is not None:
        return job.job_id
    return agent.request.job_id if agent.request and agent.request.whole else None


def _final_text(agent: Agent) -> str:
    for message in reversed(agent.messages):
        if message["role"] == "assistant":
            return "".join(b.get("text", "") for b in message["content"] if b.get("type") == "text")
    return ""


def _backend_reason(requested: str | None, settings: Settings, chosen: str) -> str:
    if requested:
        return "named with --backend"
    if settings.backend:
        return "GTO_BACKEND is set"
    return ("Google credentials and a project are configured" if chosen == "vertex"
            else "no Google credentials and project: everything runs on this machine")
