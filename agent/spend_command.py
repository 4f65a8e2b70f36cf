"""`gto spend`: the ledger's totals for a person (or --json for scripts), and the workspace's monthly cap."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from agent.console import Console
from agent.tool_commands import JsonFlag, tool_context


def spend(since: Annotated[str | None, typer.Option(help="Only from this day on (YYYY-MM-DD, UTC).")] = None,
          set_monthly: Annotated[float | None, typer.Option(
              "--set-monthly", min=0, help="Cap what all runs in this workspace spend in a calendar month (USD).")]
          = None,
          clear_monthly: Annotated[bool, typer.Option("--clear-monthly", help="Remove the monthly cap.")] = False,
          as_json: JsonFlag = False) -> None:
    """What this workspace has spent (brain, tuning, evaluation, endpoint calls) by day, run, job and model."""
    from tools.registry import dispatch
    from tools.spend import ledger
    from tools.spend.budget import usd

    ctx = tool_context()
    console = Console(out=sys.stderr if as_json else sys.stdout)
    if set_monthly is not None or clear_monthly:
        ledger.set_monthly_cap(ctx.workspace, None if clear_monthly else set_monthly)
        console.notice("Monthly cap removed." if clear_monthly else
                       f"Monthly cap set: {usd(set_monthly)} a calendar month (UTC) for this workspace.")
    result = dispatch("spend_summary", {"since": since}, ctx)
    if result.is_error:
        console.error(result.content)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(result.data, indent=2, ensure_ascii=False))
        return
    totals = result.output.totals
    console.print(result.output.summary, style="bold")
    for title, sums in (("day", totals.by_day), ("run", totals.by_run), ("job", totals.by_job),
                        ("model", totals.by_model), ("action", totals.by_action)):
        if sums:
            console.table(f"Spend by {title}", [title, "USD"], [[key, usd(value)] for key, value in sums.items()])
