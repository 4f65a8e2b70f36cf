"""One budget for everything a request spends: the brain's tokens (added by the loop), tuning, evaluation and
endpoint calls (checked by each billable tool before it acts, with its own estimate). A request is a one-shot run
or one chat message; the workspace's monthly cap (ledger.py) is checked the same way across runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from tools.errors import ToolError
from tools.spend import ledger
from tools.workspace import Workspace

BUDGET_ENV = "GTO_BUDGET"
PRICES_HINT = ("Supply a price in a TOML file named by GTO_PRICES, one row per model: [[model]] id = \"{model}\", "
               "tuning_per_m = ..., input_per_m = ..., output_per_m = ... (USD per 1M tokens).")


def usd(value: float) -> str:
    """Dollars for people: cents from a dollar up, four decimals below (a small action still shows its cost)."""
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"


def budget_from_env() -> float | None:
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw.removeprefix("$"))
    except ValueError:
        raise ToolError(f"{BUDGET_ENV}={raw!r} is not a number of USD.", f"Set e.g. {BUDGET_ENV}=10.") from None
    if value < 0:
        raise ToolError(f"{BUDGET_ENV}={raw!r} is negative.", f"Set e.g. {BUDGET_ENV}=10.")
    return value


@dataclass
class Spend:
    """What the current request has spent and may spend. `limit_usd` None: no budget (consent still asks)."""

    limit_usd: float | None = None
    source: str = "--budget"
    run_id: str | None = None
    llm_usd: float = 0.0
    # Ledger rows written during this request and what each counts for now (the estimate, then the actual).
    counted: dict[int, float] = field(default_factory=dict)
    # Asked, in chat, whether to raise the budget to let an action run: (question) -> yes. None: never asked.
    ask_raise: Callable[[str], bool] | None = None

    @classmethod
    def from_env(cls) -> Spend:
        return cls(limit_usd=budget_from_env(), source=BUDGET_ENV)

    @property
    def total_usd(self) -> float:
        return self.llm_usd + sum(self.counted.values())

    def begin(self, run_id: str | None) -> None:
        """A new request: the budget counts from zero again."""
        self.run_id, self.llm_usd, self.counted = run_id, 0.0, {}

    def over(self) -> str | None:
        """Why the request must stop now (actual spend past the budget), or None."""
        # Strictly over: an action checked to fit exactly (total == budget) must not stop the run it was allowed in.
        if self.limit_usd is None or self.total_usd <= self.limit_usd:
            return None
        parts = f"model usage {usd(self.llm_usd)}, other actions {usd(sum(self.counted.values()))}"
        return (f"Stopped: this run has spent {usd(self.total_usd)} ({parts}), over the budget of "
                f"{usd(self.limit_usd)}. Raise it with --budget (or {BUDGET_ENV}); a job already started keeps "
                "running until you cancel it (gto cancel JOB).")

    def check(self, ws: Workspace, what: str, estimate: float | None, unknown: str | None = None,
              model: str | None = None, ask: bool = True) -> None:
        """Refuse, before it runs, an action whose projected total passes the budget or the monthly cap. An
        estimate of None (an unknown price or size) is refused under a budget: `unknown` says why, never a guess.
        In chat the person may raise the budget instead (`ask`: False for a look that must not ask)."""
        if estimate is None:
            if self.limit_usd is None and ledger.monthly_cap(ws) is None:
                return
            raise ToolError(f"Not run: {what} has no cost estimate ({unknown or 'unknown cost'}), and a budget is "
                            "set: an unknown price is never guessed.",
                            PRICES_HINT.format(model=model or "MODEL") if "price" in (unknown or "") else
                            "Give what is missing (e.g. epochs, or validate the dataset so its tokens are counted).")
        if self.limit_usd is not None and self.total_usd + estimate > self.limit_usd:
            projected = self.total_usd + estimate
            question = (f"{what} would cost about {usd(estimate)}; with {usd(self.total_usd)} spent in this run that "
                        f"is {usd(projected)}, over the budget of {usd(self.limit_usd)}. Raise the budget to "
                        f"{usd(projected)}?")
            if ask and self.ask_raise is not None and self.ask_raise(question):
                self.limit_usd = projected
            else:
                raise ToolError(f"Not run: {what} would cost about {usd(estimate)}; with {usd(self.total_usd)} "
                                f"already spent in this run the projected total is {usd(projected)}, over the budget "
                                f"of {usd(self.limit_usd)}.",
                                f"Ask the user to raise it (--budget {projected:.2f} or {BUDGET_ENV}), or choose a "
                                "cheaper configuration (fewer epochs, fewer examples, a smaller model).")
        cap = ledger.monthly_cap(ws)
        if cap is not None:
            month = ledger.month_to_date(ws)
            if month + estimate > cap:
                since = datetime.fromtimestamp(ledger.month_start(), timezone.utc).strftime("%Y-%m-%d")
                raise ToolError(f"Not run: {what} would cost about {usd(estimate)}; with {usd(month)} spent in this "
                                f"workspace since {since} that is {usd(month + estimate)}, over the monthly cap of "
                                f"{usd(cap)}.", "Ask the user to raise it: gto spend --set-monthly USD.")

    def charge(self, ws: Workspace, action: str, estimate: float | None, *, actual: float | None = None,
               model: str | None = None, job_id: str | None = None, price_source: str | None = None) -> int:
        """Write an action that ran to the ledger and count it against this request."""
        entry_id = ledger.record(ws, action, estimate=estimate, actual=actual, model=model, job_id=job_id,
                                 run_id=self.run_id, price_source=price_source)
        self.counted[entry_id] = actual if actual is not None else (estimate or 0.0)
        return entry_id

    def settle(self, ws: Workspace, entry_id: int, actual: float) -> None:
        """The actual cost of an action is known: the ledger keeps it, and this request counts it if it is its own."""
        before = ledger.settle(ws, entry_id, actual)
        if entry_id in self.counted:
            self.counted[entry_id] = actual
        elif before is not None and before.run_id == self.run_id and actual > before.usd:
            # Started by an earlier message of this chat: only what it costs beyond what was counted then is new.
            self.counted[entry_id] = actual - before.usd

    def close(self, ws: Workspace) -> None:
        """The request ended: the brain's usage goes to the ledger (once), and counting starts over."""
        if self.llm_usd > 0:
            ledger.record(ws, "llm", estimate=None, actual=round(self.llm_usd, 6), run_id=self.run_id,
                          price_source="agent/data/llm_prices.toml")
        self.llm_usd, self.counted = 0.0, {}
