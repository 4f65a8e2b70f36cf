"""The tuning report: one Markdown file in the workspace with PNG curves, joining pre-flight, data, hyperparameters,
training health, checkpoints, evaluation, the endpoint with working code, cost and next steps. Real numbers only:
a section whose facts are missing says so."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS
from tools.catalog import catalog
from tools.context import ToolContext
from tools.dataset.paths import confined
from tools.reporting.deployment import cost_lines, endpoint_section
from tools.evaluation.retune_comparison import CompareRetunedOutput
from tools.evaluation.scoring import MetricComparison
from tools.reporting.facts import JobFacts, fmt_duration, gather, now_text, num, pct, retune_compared
from tools.reporting.method import method_text
from tools.reporting.plots import accuracy_plot, loss_plot, sweep_plot
from tools.reporting.report_output import ReportOutput
from tools.reporting.spend_facts import attach, baseline_lines
from tools.errors import ToolInput
from tools.registry import tool
from tools.secrets import redact
from tools.training.hyperparams import FloatChoice, IntChoice
from tools.workspace import open_private
from tools.reporting.summary import advice_markdown, compare_jobs, job_rows, render_summary, rows_table

__all__ = ["compare_jobs", "render_summary", "write_report"]

SECTIONS = ("pre-flight", "dataset statistics", "hyperparameters", "training summary and health", "checkpoints",
            "evaluation", "endpoint", "cost", "recommendations and next steps")


class WriteReportInput(ToolInput):
    job_ids: list[str] = Field(min_length=1, description="one job, or several to compare (a sweep)")
    output_dir: str | None = Field(None, description="default: the workspace's reports/<job> folder")


@tool
def write_report(args: WriteReportInput, ctx: ToolContext) -> ReportOutput:
    """Write the Markdown report of one job (or a sweep of several) with PNG training curves, and return its path.

    Covers pre-flight, dataset statistics, hyperparameters, training health, checkpoints, tuned-vs-base evaluation,
    the endpoint with Python and curl examples, cost, and recommendations."""
    all_facts = [gather(ctx, job_id) for job_id in args.job_ids]
    for facts in all_facts:
        attach(ctx, facts)  # the ledger's rows and the base model measured before tuning (issue 15)
    name = _safe(args.job_ids[0]) if len(args.job_ids) == 1 else f"sweep-{_safe(args.job_ids[0])}-{len(args.job_ids)}"
    out = confined(args.output_dir, ctx, "report folder") if args.output_dir else ctx.workspace.dir("reports", name)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    plots: list[Path] = []
    missing: list[str] = []
    sections = ["summary"]
    if len(all_facts) == 1:
        lines += [f"# Tuning report: {_title(all_facts[0])}", "", f"Written {now_text()}.", ""]
        lines += ["```text", render_summary(ctx, all_facts[0].job.job_id, facts=all_facts[0]), "```", ""]
        if cmp := retune_compared(ctx, all_facts[0].job.job_id):  # a re-tuned job reported alone
            lines += retuned(cmp)
            sections.append("re-tuned comparison")
        sections += list(SECTIONS)
        lines += job_sections(all_facts[0], out, "", plots, missing, level=2)
    else:
        lines += [f"# Tuning report: {len(all_facts)} jobs compared", "", f"Written {now_text()}.", ""]
        lines += ["## Comparison", "", *rows_table(job_rows(ctx, all_facts)), ""]
        sections.append("comparison")
        for new in args.job_ids:  # a re-tuned job and the one it came from, compared by compare_retuned
            for cmp in filter(None, (retune_compared(ctx, new, old) for old in args.job_ids if old != new)):
                lines += retuned(cmp)
                sections.append("re-tuned comparison")
        curves = {f.job.display_name or f.job.job_id: f.series for f in all_facts}
        for metric, label in ((EVAL_LOSS, "eval loss"), (TRAIN_LOSS, "train loss")):
            plot = sweep_plot(curves, metric, out / f"sweep-{label.replace(' ', '-')}.png", f"{label} by job")
            if plot:
                plots.append(plot)
                lines += [f"![{label} by job]({plot.name})", ""]
        for i, facts in enumerate(all_facts, 1):
            lines += [f"## Job {i}: {_title(facts)}", ""]
            lines += job_sections(facts, out, f"job{i}-", plots, missing, level=3)
        sections += list(SECTIONS)
    path = out / "report.md"
    # Facts come from logged results (already redacted) and the backend (error texts): redact once more on the way out.
    with open_private(path, "w") as report:
        report.write(redact("\n".join(lines).rstrip() + "\n"))
    return ReportOutput(path=str(path), plots=[str(p) for p in plots], sections=sections, missing=missing)


def job_sections(f: JobFacts, out: Path, prefix: str, plots: list[Path], missing: list[str], level: int
                 ) -> list[str]:
    h = "#" * level
    chosen, reason, by_tool = f.chosen
    lines: list[str] = []
    lifecycle = catalog().warning(f.job.base_model)  # a tuned model stops answering when its base model retires
    if lifecycle:
        lines += [f"> **Base model lifecycle:** {lifecycle}", ""]
    for title, body in (
        ("Pre-flight", preflight(f)), ("Dataset statistics", dataset(f)),
        ("Hyperparameters and why", hyperparameters(f)),
        ("Training summary and health", training(f, out, prefix, plots, chosen.checkpoint_id if chosen else None)),
        ("Checkpoints", checkpoints(f, chosen.checkpoint_id if chosen else None, reason, by_tool)),
        ("Evaluation", evaluation(f)), ("Endpoint and code examples", endpoint_section(f, chosen)),
        ("Cost", cost_lines(f)), ("Recommendations and next steps", advice_markdown(f)),
    ):
        if body and body[0].startswith("_Not available"):
            missing.append(f"{f.job.job_id}: {title.lower()}: {body[0].strip('_')}")
        lines += [f"{h} {title}", "", *body, ""]
    return lines


def preflight(f: JobFacts) -> list[str]:
    report = f.preflight
    if not report:
        return [f"_Not available: no check_environment result was recorded before this job._ Backend: "
                f"{f.job.backend}."]
    lines = [f"Backend **{report.backend}**, project `{report.project or 'n/a'}`, region "
             f"`{report.region or 'n/a'}`: {'all checks passed' if report.ok else 'some checks failed'}.",
             "", "| check | result | detail |", "|---|---|---|"]
    for c in report.checks:
        fix = f" Fix: `{c.fix}`" if c.fix and not c.ok else ""
        lines.append(f"| {c.name} | {'✓' if c.ok else '✗'} | {_cell(c.detail)}{fix} |")
    return lines


def dataset(f: JobFacts) -> list[str]:
    rows = [(label, uri, stats) for label, uri, stats in (
        ("training", f.job.training_dataset_uri, f.train_stats), ("validation", f.job.validation_dataset_uri,
                                                                   f.validation_stats)) if uri]
    if not any(stats.get("examples") for _, _, stats in rows) and not f.job.data_stats:
        return ["_Not available: no dataset statistics were recorded (validate_dataset was not run on these "
                "files)._", *[f"- {label}: `{uri}`" for label, uri, _ in rows]]
    lines = ["| set | file | examples | valid | tokens | mean tokens/example (input + output) | max |",
             "|---|---|---|---|---|---|---|"]
    for label, uri, s in rows:
        approx = "~" if s.get("tokens_estimated") else ""
        io = (f"{s['avg_input_tokens']:.0f} + {s['avg_output_tokens']:.0f}" if s.get("avg_input_tokens") is not None
              and s.get("avg_output_tokens") is not None else "n/a")
        lines.append(f"| {label} | `{uri}` | {s.get('examples', 'n/a')} | {s.get('valid_examples', 'n/a')} | "
                     f"{approx}{s['tokens']:,} | {io} | {s.get('max_tokens', 'n/a')} |" if s.get("tokens")
                     is not None else f"| {label} | `{uri}` | {s.get('examples', 'n/a')} | n/a | n/a | n/a | n/a |")
    if any(s.get("tokens_estimated") for _, _, s in rows):
        lines += ["", "Token counts marked ~ are estimates (no tokenizer was available)."]
    validated = f.validated
    if validated:
        lines += ["", f"Validation: {validated.summary}"]
    if f.job.data_stats:
        d = f.job.data_stats
        lines += ["", f"The service counted {_count(d.example_count)} examples, "
                      f"{_count(d.total_billable_token_count)} billable tokens per epoch, "
                      f"{_count(d.tuning_step_count)} tuning steps, {d.truncated_example_count or 0} truncated."]
    return lines


def hyperparameters(f: JobFacts) -> list[str]:
    j = f.job
    rec = f.recommended
    lines = [f"Method: {method_text(j)}.", "", "| parameter | used | recommended | why |", "|---|---|---|---|"]
    choices: tuple[IntChoice | FloatChoice | None, ...] = (
        (rec.epochs, rec.adapter_size, rec.learning_rate_multiplier) if rec else (None, None, None))
    for (label, used), r in zip((("epochs", j.epochs), ("adapter size", j.adapter_size),
                                 ("learning-rate multiplier", j.learning_rate_multiplier)), choices):
        lines.append(f"| {label} | {used if used is not None else 'service default'} | "
                     f"{r.value if r else 'n/a'} | {_cell(r.reason if r else '') or 'n/a'} |")
    if not rec:
        lines += ["", "No recommend_hyperparameters result was recorded: the values above are as submitted."]
    elif rec.notes:
        lines += ["", *[f"- {_cell(n)}" for n in rec.notes]]
    return lines


def training(f: JobFacts, out: Path, prefix: str, plots: list[Path], chosen: str | None) -> list[str]:
    j = f.job
    steps = f"{j.completed_steps or 'n/a'}" + (f" of {j.total_steps}" if j.total_steps else "")
    epochs = (f"{j.completed_epochs} of {j.epochs or '?'} epochs" if j.completed_epochs is not None
              else f"{j.epochs} epochs configured" if j.epochs else "epochs chosen by the service")
    lines = [f"State **{j.state.value}**" + (f" ({j.error})" if j.error else "") +
             f"; duration {fmt_duration(f.duration_s)}; steps {steps}; {epochs}.", ""]
    if not f.series:
        return [*lines, "_Not available: no training metrics were recorded for this job._"]
    lines += ["| metric | first | last | best |", "|---|---|---|---|"]
    for name in (TRAIN_LOSS, EVAL_LOSS, TRAIN_ACCURACY, EVAL_ACCURACY):
        pts = f.series.get(name)
        if pts:
            best = (min if "loss" in name else max)(p.value for p in pts)
            show = pct if "fraction" in name else num
            lines.append(f"| `{name}` | {show(pts[0].value)} | {show(pts[-1].value)} | {show(best)} |")
    lines += ["", f"Health: {f.health.summary}", ""]
    if f.anomalies:
        lines += ["Anomalies found:", ""]
        lines += [f"- **{a.kind}** ({a.severity}, step {a.step}): {a.message} _Action:_ {a.recommended_action}"
                  for a in f.anomalies]
    else:
        lines.append("No anomalies: no spikes, NaN, plateau, divergence or underfitting.")
    title = _title(f)
    for kind, draw in (("loss", loss_plot), ("accuracy", accuracy_plot)):
        plot = draw(f.series, f.job.checkpoints, chosen, out / f"{prefix}{kind}.png", f"{title}: {kind}")
        if plot:
            plots.append(plot)
            lines += ["", f"![{kind} curves]({plot.name})"]
    return lines


def checkpoints(f: JobFacts, chosen: str | None, reason: str | None, by_tool: bool) -> list[str]:
    if not f.rows:
        return ["_Not available: the job has no checkpoints._"]
    lines = ["| checkpoint | epoch | step | eval loss | eval accuracy | train loss | default | chosen |",
             "|---|---|---|---|---|---|---|---|"]
    for r in f.rows:
        lines.append(f"| {r.checkpoint_id} | {r.epoch if r.epoch is not None else 'n/a'} | "
                     f"{r.step if r.step is not None else 'n/a'} | {num(r.eval_loss, 4)} | {pct(r.eval_accuracy)} | "
                     f"{num(r.train_loss, 4)} | {'yes' if r.is_default else ''} | "
                     f"{'**yes**' if r.checkpoint_id == chosen else ''} |")
    if reason:
        source = "choose_checkpoint" if by_tool else "computed for this report"
        lines += ["", f"Chosen ({source}): {reason}"]
    return lines


def evaluation(f: JobFacts) -> list[str]:
    cmp = f.compared
    if not cmp:
        return ["_Not available: compare_models was not run, so there are no tuned-vs-base numbers._",
                *baseline_lines(f)]
    lines = [f"{cmp.n} held-out prompts from `{cmp.prompts_source}`; tuned `{cmp.tuned_target}` against "
             f"base `{cmp.base_target}`. Intervals are 95% paired bootstrap intervals of the difference.", "",
             "| metric | base | tuned | difference | 95% CI | n |", "|---|---|---|---|---|---|"]
    for name, m in cmp.metrics.items():
        lines.append(f"| {name} | {m.base:.3f} | {m.tuned:.3f} | {m.delta:+.3f} | {_ci(m)} | {m.n} |")
    lines += ["", f"**Verdict:** {cmp.verdict}", ""]
    lines += [f"- {note}" for note in cmp.notes]
    if cmp.examples:
        lines += ["", "| prompt | reference | base | tuned |", "|---|---|---|---|"]
        lines += [f"| {_cell(e.prompt)} | {_cell(e.reference)} | {_cell(e.base)} | {_cell(e.tuned)} |"
                  for e in cmp.examples]
    if cmp.details_path:
        lines += ["", f"Every example with its scores: `{cmp.details_path}`."]
    return lines + baseline_lines(f)


def retuned(cmp: CompareRetunedOutput) -> list[str]:
    """A section with compare_retuned's three models in one table: the old tuned model, the re-tuned one and the new
    base."""
    previous = (f"`{cmp.previous_target}`" if cmp.previous_target else "no endpoint") + \
        f" ({cmp.previous_job_id} on {cmp.previous_base_model})"
    lines = [f"## Re-tuned on {cmp.base_model}: previous vs re-tuned vs base", "",
             f"{cmp.n} held-out prompts from `{cmp.prompts_source}`: previous tuned {previous}, re-tuned "
             f"`{cmp.retuned_target}` ({cmp.job_id}), new base `{cmp.base_target}`. Intervals are 95% paired "
             "bootstrap intervals of the difference.", "",
             "| metric | previous tuned | re-tuned | new base | re-tuned vs previous (diff, 95% CI) |",
             "|---|---|---|---|---|"]
    for name, means in cmp.means.items():
        m = cmp.vs_previous.get(name)
        diff = f"{m.delta:+.3f} ({_ci(m)})" if m else "n/a: the previous model did not answer"
        before = f"{means.previous:.3f}" if means.previous is not None else "n/a"
        lines.append(f"| {name} | {before} | {means.retuned:.3f} | {means.base:.3f} | {diff} |")
    return [*lines, "", f"**Verdict:** {cmp.verdict}", *[f"- {note}" for note in cmp.notes], ""]


def _ci(m: MetricComparison) -> str:
    return f"{m.ci_low:+.3f} to {m.ci_high:+.3f}" if m.ci_low is not None else "n/a (n < 2)"


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|")


def _title(f: JobFacts) -> str:
    return f.job.display_name or f.job.job_id


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[-80:]
