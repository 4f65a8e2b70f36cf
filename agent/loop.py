"""The conversation loop: ask the model, run the tools it calls, feed the results back, until every success
criterion holds, the user stops, or a limit hits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.criteria import Criterion, all_hold, evaluate
from agent.goal import place
from agent.models import Message, Model, Usage
from agent.request import Request, read_conversation
from agent.transcript import Transcript
from prompts import render
from tools.context import ToolContext
from tools.registry import REGISTRY, ToolResult, dispatch
from tools.results import job_of


class UI(Protocol):
    def assistant_text(self, text: str) -> None: ...
    def end_text(self) -> None: ...
    def tool_call(self, name: str, arguments: dict[str, Any]) -> None: ...
    def tool_result(self, result: ToolResult) -> None: ...
    def notice(self, text: str) -> None: ...


@dataclass
class Limits:
    """Budgets for one request: a one-shot run, or one message in chat."""

    max_model_calls: int = 40
    max_tokens: int = 2_000_000
    max_cost_usd: float = 5.0  # the brain's usage, when no budget (ctx.spend: --budget, GTO_BUDGET) covers it all
    max_seconds: float = 6 * 3600


class LimitReached(Exception):
    """A budget ran out; the message says which and how to raise it."""


class Interrupted(Exception):
    """The user pressed Ctrl-C; the conversation is consistent and saved."""


@dataclass
class Totals:
    model_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    tool_calls: int = 0
    tool_result_tokens: int = 0
    largest_tool_result_tokens: int = 0


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class Agent:
    def __init__(self, model: Model, ctx: ToolContext, transcript: Transcript, ui: UI,
                 limits: Limits | None = None, interactive: bool = False, nudges: int = 2,
                 pinned: frozenset[str] = frozenset()):
        self.model, self.ctx, self.transcript, self.ui = model, ctx, transcript, ui
        self.limits = limits or Limits()
        self.interactive = interactive
        self.nudges = nudges
        # Settings the user gave as flags (--project, --region, --bucket): a message naming others does not move them.
        self.pinned = pinned
        self.tools = REGISTRY.all()
        # What the user asked, message by message: the criteria, the constraints and the planner all read it.
        self.conversation = read_conversation(transcript.messages)
        if self.conversation.latest_job is None:  # a new conversation: "it" is the workspace's latest job
            self.conversation.assume(ctx.workspace.list_jobs(ctx.backend_name()))
        self._since = len(transcript.evidence.records)
        if hasattr(model, "attach"):
            model.attach(self)
        self.totals = Totals()
        self._spent = Totals()  # the totals when the current request began: limits count from there
        self.refused = False  # the model's last turn declined the request
        self._nudged = False  # the last message is the loop's reminder
        self.started = time.monotonic()
        latest = self.conversation.latest_job
        self.system = render("system", backend=ctx.backend_name(), workspace=str(ctx.workspace.root),
                             latest_job=f"now {latest}" if latest else "none yet",
                             date=time.strftime("%Y-%m-%d"), mode="interactive" if interactive else "one-shot")

    @property
    def messages(self) -> list[Message]:
        return self.transcript.messages

    @property
    def request(self) -> Request | None:
        return self.conversation.current

    def criteria(self) -> list[Criterion]:
        return evaluate(self.request, self.transcript.evidence, self._since, self.ctx.workspace)

    def run(self, goal: str) -> list[Criterion]:
        """Send one user message and work until the model has nothing more to do for it."""
        answering = "?" in self._last_text()
        self.transcript.append({"role": "user", "content": goal})
        request = self.conversation.read(goal, answering=answering)
        if self.conversation.assumption:  # "write the report" with no job named: which job, said before it runs
            self.ui.notice(self.conversation.assumption)
        self._since = len(self.transcript.evidence.records)
        self._follow_place(request)
        if request.target is not None:  # "target exact match 0.9": measure_base reads it
            self.ctx.settings.target = request.target
        t = self.totals
        self._spent = Totals(model_calls=t.model_calls, usage=Usage(**vars(t.usage)))
        self.ctx.spend.begin(self.transcript.run_id)
        self.started = time.monotonic()
        nudges, worked = self.nudges, False
        while True:
            self._check_limits()
            if self.step():
                worked = True
                continue
            criteria = self.criteria()
            # A model that ran no tool since the last message is waiting for the user (a question, a refusal):
            # nudging it again only repeats the question. A refusal is final for this request, and a request that
            # was not understood is answered by saying so: the nudge never pushes past what was asked.
            asked = self._last_text().rstrip().endswith("?")
            if (all_hold(criteria) or self.interactive or nudges == 0 or not worked or self.refused or asked
                    or not request.understood):
                return criteria
            nudges, worked = nudges - 1, False
            missing = "; ".join(f"{c.label} ({c.detail})" for c in criteria if not c.holds)
            self.transcript.append({"role": "user", "content": render("nudge", missing=missing)})
            self._nudged = True

    def step(self) -> bool:
        """One model call and the tool calls it asked for. True when tools ran and the model should go on."""
        # After a reminder the model often restates what it said: held back, and shown only if it is new.
        said_before = self._last_text(-2) if self._nudged else None
        held: list[str] = []
        on_text = held.append if said_before is not None else self.ui.assistant_text
        try:
            turn = self.model.complete(self.system, self.messages, self.tools, on_text=on_text)
        except KeyboardInterrupt:
            raise Interrupted() from None
        finally:
            if held and "".join(held).strip() != said_before.strip():
                self.ui.assistant_text("".join(held))
            self.ui.end_text()
            self._nudged = False
        self.refused = turn.stop_reason == "refusal"
        self.totals.model_calls += 1
        for key in ("input_tokens", "output_tokens", "cost_usd"):
            setattr(self.totals.usage, key, getattr(self.totals.usage, key) + getattr(turn.usage, key))
        self.ctx.spend.llm_usd += turn.usage.cost_usd
        self.transcript.append(turn.message)
        if not turn.tool_calls:
            return False
        results: list[dict[str, Any]] = []
        data: dict[str, Any] = {}
        try:
            for call in turn.tool_calls:
                result = self._execute(call)
                results.append({"type": "tool_result", "tool_use_id": call["id"], "content": result.content,
                                "is_error": result.is_error})
                data[call["id"]] = result.data
        except BaseException as exc:
            # Every tool_use needs its tool_result, or the next request (after --resume too) is invalid: close the
            # ones left open, whatever stopped them, then let the stop go on.
            if isinstance(exc, KeyboardInterrupt):
                why = "Interrupted by the user before this finished; ask before running it again."
            else:
                why = (f"Stopped by an unexpected error ({type(exc).__name__}: {exc}) before this finished; "
                       "ask before running it again.")
            done = {r["tool_use_id"] for r in results}
            results += [{"type": "tool_result", "tool_use_id": c["id"], "is_error": True, "content": why}
                        for c in turn.tool_calls if c["id"] not in done]
            self.transcript.append({"role": "user", "content": results}, data)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted() from None
            raise
        self.transcript.append({"role": "user", "content": results}, data)
        return True

    def _last_text(self, at: int = -1) -> str:
        """The text of the message at `at` when it is the assistant's, else ""."""
        last = self.messages[at] if len(self.messages) >= -at else {}
        if last.get("role") != "assistant":
            return ""
        return "".join(b.get("text", "") for b in last["content"] if b.get("type") == "text")

    def _follow_place(self, request: Request) -> None:
        """Use the project, region and bucket a message names for every tool, so check_environment and
        create_tuning_job never disagree; one given as a flag stays, said plainly."""
        for key, value in place(request.names).items():
            current = getattr(self.ctx.settings, key)
            if value == current:
                continue
            if key in self.pinned:
                self.ui.notice(f"Your message names {key} {value}, but --{key} {current} was given: using {current}.")
            else:
                setattr(self.ctx.settings, key, value)
                self.ui.notice(f"Using {key} {value} (from your message) for every step.")

    def _execute(self, call: dict[str, Any]) -> ToolResult:
        self.ui.tool_call(call["name"], call.get("input") or {})
        refusal = self._ruled_out(call["name"])
        result = refusal or dispatch(call["name"], call.get("input"), self.ctx)
        self.ui.tool_result(result)
        if not result.is_error and result.output is not None:
            self.transcript.evidence.add_output(call["name"], call.get("input") or {}, result.output, call["id"])
        if (job := job_of(result.output)) is not None:
            self.conversation.latest_job = job.job_id
        tokens = approx_tokens(result.content)
        self.totals.tool_calls += 1
        self.totals.tool_result_tokens += tokens
        self.totals.largest_tool_result_tokens = max(self.totals.largest_tool_result_tokens, tokens)
        return result

    def _ruled_out(self, tool: str) -> ToolResult | None:
        """A call the user's own words rule out is not run, whichever brain asked for it."""
        said = self.request.forbidding(tool, self.ctx.backend_name()) if self.request else None
        if said is None:
            return None
        message = (f"Not run: the user said \"{said.words}\", which rules out {tool}. Do what they asked without it, "
                   "or ask them whether they have changed their mind.")
        return ToolResult(tool=tool, is_error=True, content=message, data={"error": message, "refused": said.key})

    def _check_limits(self) -> None:
        t, s, lim = self.totals, self._spent, self.limits
        calls = t.model_calls - s.model_calls
        tokens = t.usage.input_tokens + t.usage.output_tokens - s.usage.input_tokens - s.usage.output_tokens
        cost = t.usage.cost_usd - s.usage.cost_usd
        if calls >= lim.max_model_calls:
            raise LimitReached(f"Stopped after {calls} model calls (limit {lim.max_model_calls}; "
                               "raise it with --max-calls).")
        if tokens >= lim.max_tokens:
            raise LimitReached(f"Stopped at {tokens:,} model tokens (limit {lim.max_tokens:,}; raise it with "
                               "--max-tokens).")
        if (why := self.ctx.spend.over()) is not None:
            raise LimitReached(why)
        if self.ctx.spend.limit_usd is None and cost >= lim.max_cost_usd:
            raise LimitReached(f"Stopped at ${cost:.2f} of model usage (budget ${lim.max_cost_usd:.2f}; "
                               "raise it with --budget).")
        if time.monotonic() - self.started >= lim.max_seconds:
            raise LimitReached(f"Stopped after {lim.max_seconds / 60:.0f} minutes (raise it with --timeout).")
