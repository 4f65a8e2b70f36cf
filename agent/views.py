"""How tool results look to a person at the terminal: a few purpose-built views, and a readable default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.console import Console, headline
from tools.registry import ToolResult


def show_result(console: Console, result: ToolResult) -> None:
    data = result.data or {}
    VIEWS.get(result.tool, show_generic)(console, data)


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


def show_validation(console: Console, data: dict[str, Any]) -> None:
    for role in ("train", "validation"):
        report = data.get(role)
        if not report:
            continue
        tokens = report.get("tokens") or {}
        console.print(f"{role}: {report.get('path')} — {report.get('examples')} examples, {report.get('errors')} "
                      f"errors, {report.get('warnings')} warnings, {tokens.get('total')} tokens"
                      f"{' (estimated)' if tokens.get('estimated') else ''}", style="bold")
        for title, groups, style in (("error", report.get("errors_by_kind") or {}, "red"),
                                     ("warning", report.get("warnings_by_kind") or {}, "yellow")):
            for kind, group in groups.items():
                console.print(f"  {title} {kind} ×{group.get('count')}", style=style)
                for example in (group.get("examples") or [])[:3]:
                    console.print(f"    {example.get('message')}", style=style)
    for warning in data.get("warnings") or []:  # about the base model, e.g. its coming retirement
        console.print(f"note: {warning}", style="yellow")
    if data.get("leakage_count"):
        console.print(f"leakage: {data['leakage_count']} validation examples also appear in training", style="yellow")
    console.print("✓ the data can be tuned on" if data.get("ok") else "✗ the data has errors: fix them first "
                  "(gto fix writes a repaired copy)", style="green" if data.get("ok") else "red")
    if data.get("report_path"):
        console.print(f"Full report: {data['report_path']}", style="dim")


def show_preflight(console: Console, data: dict[str, Any]) -> None:
    for check in data.get("checks", []):
        mark, style = (("?", "yellow") if check.get("status") == "unverified" else
                       ("✓", "green") if check.get("ok") else ("✗", "red"))
        console.print(f"{mark} {check.get('name')}: {check.get('detail')}", style=style)
        if check.get("fix"):
            console.print(f"    {'verify' if check.get('status') == 'unverified' else 'fix'}: {check['fix']}")
    console.print("Ready to tune." if data.get("ok") else "Not ready: fix the checks above.",
                  style="bold green" if data.get("ok") else "bold red")


def show_jobs(console: Console, data: dict[str, Any]) -> None:
    rows = []
    for job in data.get("jobs", []):
        rows.append([job.get("job_id"), job.get("backend"), job.get("state"), job.get("base_model"),
                     f"{job.get('completed_epochs') or 0}/{job.get('epochs') or '?'}", job.get("endpoint") or ""])
    console.table("Tuning jobs", ["job", "backend", "state", "base model", "epochs", "endpoint"], rows)


VIEWS: dict[str, Callable[[Console, dict[str, Any]], None]] = {
    "validate_dataset": show_validation,
    "check_environment": show_preflight,
    "list_jobs": show_jobs,
}
