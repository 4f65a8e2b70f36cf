"""Facts the report adds for issue 15: the ledger's rows for the job, and the prompted base model measured before
it (measure_base), laid next to the tuned model's numbers."""

from __future__ import annotations

from tools.context import ToolContext
from tools.evaluation.baseline import MeasureBaseOutput
from tools.evaluation.heldout import local_path
from tools.errors import ToolError
from tools.reporting.facts import JobFacts
from tools.results import typed
from tools.spend import ledger
from tools.spend.budget import usd

BASE = "measure_base"


def attach(ctx: ToolContext, f: JobFacts) -> None:
    """Put the job's ledger rows into f.spend, and the latest measure_base of its base model and data into
    f.results."""
    f.spend = ledger.for_job(ctx.workspace, f.job.job_id)
    base = _measured(ctx, f)
    if base is not None:
        f.results[BASE] = base


def _measured(ctx: ToolContext, f: JobFacts) -> MeasureBaseOutput | None:
    created = f.job.created_at.timestamp() if f.job.created_at else None
    training = _local(ctx, f.job.training_dataset_uri)
    for event in reversed(ctx.workspace.events(kind=f"tool:{BASE}")):
        if created is not None and event["ts"] > created + 1:
            continue
        base = typed(BASE, event["data"])
        if not isinstance(base, MeasureBaseOutput) or base.base_model != f.job.base_model:
            continue
        if training and base.training_path and _local(ctx, base.training_path) != training:
            continue
        return base
    return None


def _local(ctx: ToolContext, uri: str | None) -> str | None:
    if not uri:
        return None
    try:
        return str(local_path(ctx, uri).resolve())
    except ToolError:
        return None


def baseline_lines(f: JobFacts) -> list[str]:
    """The prompted base model against the tuned one, metric by metric: what tuning added over a good prompt."""
    base = f.base_measured
    if not base:
        return []
    tuned = {name: m.tuned for name, m in f.compared.metrics.items()} if f.compared else {}
    lines = ["", f"**Base model with a prompt** ({base.prompt}, n={base.n}, measured before tuning with "
                 "measure_base): what tuning adds over prompting alone.", "",
             "| metric | base with prompt | tuned |", "|---|---|---|"]
    for name, score in base.metrics.items():
        t = tuned.get(name)
        lines.append(f"| {name} | {score:.3f} | {'n/a' if t is None else f'{t:.3f}'} |")
    lines += ["", f"{base.verdict}"]
    return lines


def ledger_lines(f: JobFacts) -> list[str]:
    if not f.spend:
        return []
    total = round(sum(row.usd for row in f.spend), 6)
    lines = ["", f"Ledger (`gto spend`): {usd(total)} recorded for this job."]
    for row in f.spend:
        actual = "not yet known" if row.actual_usd is None else usd(row.actual_usd)
        estimate = "unknown" if row.estimate_usd is None else usd(row.estimate_usd)
        lines.append(f"- {row.action}: estimate {estimate}, actual {actual}"
                     + (f" ({row.price_source})" if row.price_source else ""))
    return lines
