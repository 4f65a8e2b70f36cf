"""The conversation loop: ask the model, run the tools it calls, feed the results back, until every success
criterion holds, the user stops, or a limit hits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.criteria import Criterion, all_hold, evaluate
from agent.models import Message, Model, Usage
from agent.session import Transcript
from prompts import render
from tools.context import ToolContext
from tools.registry import REGISTRY, ToolResult, dispatch


class UI(Protocol):
    def assistant_text(self, text: str) -> None: ...
    def tool_call(self, name: str, arguments: dict[str, Any]) -> None: ...
    def tool_result(self, result: ToolResult) -> None: ...
    def notice(self, text: str) -> None: ...


@dataclass
class Limits:
    max_model_calls: int = 40
    max_tokens: int = 2_000_000
    max_cost_usd: float = 5.0
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
                 limits: Limits | None = None, interactive: bool = False, nudges: int = 2):
        self.model, self.ctx, self.transcript, self.ui = model, ctx, transcript, ui
        self.limits = limits or Limits()
        self.interactive = interactive
        self.nudges = nudges
        self.tools = REGISTRY.all()
        self.totals = Totals()
        self.started = time.monotonic()
        self.system = render("system", backend=ctx.backend_name(), workspace=str(ctx.workspace.root),
                             date=time.strftime("%Y-%m-%d"), mode="interactive" if interactive else "one-shot")

    @property
    def messages(self) -> list[Message]:
        return self.transcript.messages

    def criteria(self) -> list[Criterion]:
        return evaluate(self.transcript.evidence)

    def run(self, goal: str) -> list[Criterion]:
        """Send one user message and work until the model has nothing more to do for it."""
        self.transcript.append({"role": "user", "content": goal})
        nudges = self.nudges
        while True:
            self._check_limits()
            if self.step():
                continue
            criteria = self.criteria()
            if all_hold(criteria) or self.interactive or nudges == 0:
                return criteria
            nudges -= 1
            missing = "; ".join(f"{c.label} ({c.detail})" for c in criteria if not c.holds)
            self.transcript.append({"role": "user", "content": render("nudge", missing=missing)})

    def step(self) -> bool:
        """One model call and the tool calls it asked for. True when tools ran and the model should go on."""
        try:
            turn = self.model.complete(self.system, self.messages, self.tools, on_text=self.ui.assistant_text)
        except KeyboardInterrupt:
            raise Interrupted() from None
        self.totals.model_calls += 1
        for key in ("input_tokens", "output_tokens", "cost_usd"):
            setattr(self.totals.usage, key, getattr(self.totals.usage, key) + getattr(turn.usage, key))
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
        except KeyboardInterrupt:
            # Every tool_use needs its tool_result, or the next request is invalid: close the ones left open.
            done = {r["tool_use_id"] for r in results}
            results += [{"type": "tool_result", "tool_use_id": c["id"], "is_error": True,
                         "content": "Interrupted by the user before this finished; ask before running it again."}
                        for c in turn.tool_calls if c["id"] not in done]
            self.transcript.append({"role": "user", "content": results}, data)
            raise Interrupted() from None
        self.transcript.append({"role": "user", "content": results}, data)
        return True

    def _execute(self, call: dict[str, Any]) -> ToolResult:
        self.ui.tool_call(call["name"], call.get("input") or {})
        result = dispatch(call["name"], call.get("input"), self.ctx)
        self.ui.tool_result(result)
        self.transcript.evidence.add(call["name"], call.get("input") or {}, result.data, result.is_error)
        tokens = approx_tokens(result.content)
        self.totals.tool_calls += 1
        self.totals.tool_result_tokens += tokens
        self.totals.largest_tool_result_tokens = max(self.totals.largest_tool_result_tokens, tokens)
        return result

    def _check_limits(self) -> None:
        t, lim = self.totals, self.limits
        if t.model_calls >= lim.max_model_calls:
            raise LimitReached(f"Stopped after {t.model_calls} model calls (limit {lim.max_model_calls}; "
                               "raise it with --max-calls).")
        if t.usage.input_tokens + t.usage.output_tokens >= lim.max_tokens:
            raise LimitReached(f"Stopped at {t.usage.input_tokens + t.usage.output_tokens:,} model tokens "
                               f"(limit {lim.max_tokens:,}; raise it with --max-tokens).")
        if t.usage.cost_usd >= lim.max_cost_usd:
            raise LimitReached(f"Stopped at ${t.usage.cost_usd:.2f} of model usage (budget ${lim.max_cost_usd:.2f}; "
                               "raise it with --budget).")
        if time.monotonic() - self.started >= lim.max_seconds:
            raise LimitReached(f"Stopped after {lim.max_seconds / 60:.0f} minutes (raise it with --timeout).")
