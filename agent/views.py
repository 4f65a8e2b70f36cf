"""How tool results look to a person at the terminal: a few purpose-built views, and a readable default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agent.console import Console, headline
from tools.backends.base import PreflightReport
from tools.context import ToolContext
from tools.dataset.validation import ValidationReport
from tools.registry import ToolResult


def show_result(console: Console, result: ToolResult) -> None:
    view = VIEWS.get(result.tool)
    if view is not None and result.output is not None:
        view(console, result.output)
    else:
        show_generic(console, result.data or {})


def show_generic(console: Console, data: dict[str, Any]) -> None:
    console.print(headline(data), style="bold")
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = [k for k, v in value[0].items() if not isinstance(v, (dict, list))][:7]
            console.table(key, columns, [[row.get(c) for c in columns] for row in value[:30]])
            if len(value) > 30:
                console.print(f"… {len(value) - 30} more", style="dim")
        elif isinstance(value, dict):
            flat = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
            if flat:
                console.print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in flat.items()))
        elif value is not None:
            console.print(f"{key}: {value}")


def show_validation(console: Console, report: ValidationReport) -> None:
    for role, file in (("train", report.train), ("validation", report.validation)):
        if file is None:
            continue
        console.print(f"{role}: {file.path} — {file.examples} examples, {file.errors} errors, {file.warnings} "
                      f"warnings, {file.tokens.total} tokens{' (estimated)' if file.tokens.estimated else ''}",
                      style="bold")
        for title, groups, style in (("error", file.errors_by_kind, "red"), ("warning", file.warnings_by_kind,
                                                                            "yellow")):
            for kind, group in groups.items():
                console.print(f"  {title} {kind} ×{group.count}", style=style)
                for example in group.examples[:3]:
                    console.print(f"    {example.message}", style=style)
    for warning in report.warnings:  # about the base model, e.g. its coming retirement
        console.print(f"note: {warning}", style="yellow")
    if report.leakage_count:
        console.print(f"leakage: {report.leakage_count} validation examples also appear in training", style="yellow")
    console.print("✓ the data can be tuned on" if report.ok else "✗ the data has errors: fix them first "
                  "(gto fix writes a repaired copy)", style="green" if report.ok else "red")
    if report.report_path:
        console.print(f"Full report: {report.report_path}", style="dim")


def show_preflight(console: Console, report: PreflightReport) -> None:
    for check in report.checks:
        unverified = check.status == "unverified"
        mark, style = ("?", "yellow") if unverified else ("✓", "green") if check.ok else ("✗", "red")
        console.print(f"{mark} {check.name}: {check.detail}", style=style)
        if check.fix and (unverified or not check.ok):
            console.print(f"    {'verify' if unverified else 'fix'}: {check.fix}")
    console.print("Ready to tune." if report.ok else "Not ready: fix the checks above.",
                  style="bold green" if report.ok else "bold red")


def show_jobs(console: Console, ctx: ToolContext, wide: bool = False) -> None:
    """The one jobs table (`gto jobs` and /jobs in chat): by default the columns that fit 80 characters with the job
    id whole; `wide` adds hyperparameters, losses and durations."""
    from tools.reporting.summary import jobs_overview

    rows = jobs_overview(ctx)
    if not rows:
        console.print("No tuning jobs in this workspace yet.")
        return
    if not wide:
        console.table("Tuning jobs", ["job", "state", "base model", "best eval loss"], [
            [r.job_id, r.state, r.base_model, _num(r.best_eval_loss)] for r in rows])
        console.print("More columns: gto jobs --wide", style="dim")
        return
    columns = ["job", "state", "backend", "base model", "epochs", "adapter", "LR x", "train loss", "best eval loss",
               "eval acc", "health", "duration"]
    console.table("Tuning jobs", columns, [
        [r.display_name or r.job_id, r.state, r.backend, r.base_model, r.epochs, r.adapter_size,
         r.learning_rate_multiplier, _num(r.final_train_loss), _num(r.best_eval_loss) +
         (f" (epoch {r.best_eval_epoch:g})" if r.best_eval_epoch is not None else ""),
         _num(r.final_eval_accuracy), r.health, r.duration] for r in rows])


def show_job_line(console: Console, output: BaseModel) -> None:
    """One line for a job's new state (cancel)."""
    job = output.job
    console.print(f"{job.job_id}: {job.state.value}" + (f" ({job.error})" if job.error else ""), style="bold")


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


VIEWS: dict[str, Callable[[Console, Any], None]] = {
    "validate_dataset": show_validation,
    "check_environment": show_preflight,
    "cancel_job": show_job_line,
    "resume_job": show_job_line,
}
