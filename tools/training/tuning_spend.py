"""Tuning against the budget: the estimate is checked before a job is created, written to the ledger when it is,
and settled with the actual cost once the service has counted the billable tokens."""

from __future__ import annotations

from tools.backends.base import JobInfo
from tools.context import ToolContext
from tools.errors import ToolError
from tools.spend import ledger
from tools.spend.budget import usd
from tools.training.cost import CostEstimate, actual_cost

ACTION = "tuning"


def unknown_part(cost: CostEstimate) -> str | None:
    """What keeps the estimate from being a number, in words; None when it is one."""
    if cost.training_cost_usd is not None:
        return None
    if cost.price_per_m_training_tokens is None:
        return f"the tuning price of {cost.base_model} is unknown ({cost.price_source or 'not in the catalog'})"
    if cost.tokens_per_epoch is None:
        return "the dataset's token count is unknown: validate it first"
    return "the epochs are left to the service: pass epochs"


def check_tuning(ctx: ToolContext, backend: str, cost: CostEstimate, ask: bool = True) -> None:
    """Refuse a job the budget or the monthly cap cannot hold; local training is free and always passes."""
    if backend == "local":
        return
    ctx.spend.check(ctx.workspace, f"Tuning {cost.base_model}", cost.training_cost_usd, unknown_part(cost),
                    cost.base_model, ask=ask)


def budget_note(ctx: ToolContext, cost: CostEstimate) -> str:
    """" Budget: ..." for the consent question when a budget is set; "" otherwise."""
    spend = ctx.spend
    if spend.limit_usd is None or cost.training_cost_usd is None:
        return ""
    after = spend.total_usd + cost.training_cost_usd
    return (f" Budget: {usd(after)} of {usd(spend.limit_usd)} after this job ({usd(spend.total_usd)} spent in this "
            "run so far).")


def refusal(ctx: ToolContext, backend: str, cost: CostEstimate) -> ToolError | None:
    """Why the budget refuses this job, without asking anyone (the tool itself asks, once, when it runs)."""
    try:
        check_tuning(ctx, backend, cost, ask=False)
    except ToolError as exc:
        return exc
    return None


def record_tuning(ctx: ToolContext, info: JobInfo, cost: CostEstimate, backend: str) -> None:
    estimate = 0.0 if backend == "local" else cost.training_cost_usd
    ctx.spend.charge(ctx.workspace, ACTION, estimate, model=cost.base_model, job_id=info.job_id,
                     price_source=cost.price_source or None)


def settle_job(ctx: ToolContext, info: JobInfo) -> float | None:
    """Put the actual training cost of a job this workspace started into the ledger, once Vertex has counted the
    billable tokens; returns it (None while unknown)."""
    stats = info.data_stats
    if info.backend == "local" or not stats or not stats.total_billable_token_count:
        return None
    rows = ledger.for_job(ctx.workspace, info.job_id, ACTION)
    if not rows:
        return None
    actual = actual_cost(info.base_model, stats.total_billable_token_count, info.epochs).training_cost_usd
    if actual is not None and rows[-1].actual_usd != actual:
        ctx.spend.settle(ctx.workspace, rows[-1].id, actual)
    return actual
