"""What this workspace has spent, from the ledger (tools/spend/ledger.py): totals by day, run, job, model and
action, with the budget of the current request and the monthly cap."""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import tool
from tools.spend import ledger
from tools.spend.budget import usd


class SpendSummaryInput(ToolInput):
    since: str | None = Field(None, description="only spending from this day on (YYYY-MM-DD, UTC)")


class SpendSummary(BaseModel):
    totals: ledger.SpendTotals
    budget_usd: float | None = Field(None, description="this request's budget; None when none is set")
    spent_this_request_usd: float
    summary: str


def since_timestamp(day: str | None) -> float | None:
    if not day:
        return None
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise ToolError(f"{day!r} is not a date.", "Give the day as YYYY-MM-DD, e.g. 2026-12-01.") from None


@tool
def spend_summary(args: SpendSummaryInput, ctx: ToolContext) -> SpendSummary:
    """What this workspace has spent on the brain, tuning, evaluation and endpoint calls: totals by day, run, job
    and model from the spend ledger (actual costs where the service reported them, else the estimates), with the
    current budget and the monthly cap."""
    totals = ledger.totals(ctx.workspace, since_timestamp(args.since))
    text = f"{usd(totals.total_usd)} in {totals.entries} billable actions"
    text += f" since {totals.since}" if totals.since else ""
    if totals.estimated_usd:
        text += f" ({usd(totals.estimated_usd)} of it estimates not yet settled by an actual cost)"
    if totals.monthly_cap_usd is not None:
        text += f"; this month {usd(totals.month_to_date_usd)} of the monthly cap {usd(totals.monthly_cap_usd)}"
    if ctx.spend.limit_usd is not None:
        text += f"; this request {usd(ctx.spend.total_usd)} of its budget {usd(ctx.spend.limit_usd)}"
    return SpendSummary(totals=totals, budget_usd=ctx.spend.limit_usd, spent_this_request_usd=ctx.spend.total_usd,
                        summary=text + ".")
