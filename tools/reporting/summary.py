"""The terminal summary of a run (the seed agent's five phases, real numbers only), the advice shared with the
report, and job comparison (`compare_jobs`, the `gto jobs` table)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.backends.base import (EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, JobInfo, JobState,
                                 PreflightReport)
from tools.context import ToolContext
from tools.dataset.validation import ValidationReport
from tools.evaluation.scoring import MetricComparison
from tools.reporting.deployment import adapter_name, cost_facts, endpoint_of
from tools.reporting.method import method_text
from tools.reporting.facts import JobFacts, fmt_duration, gather, latest_output, num, pct
from tools.errors import ToolInput
from tools.registry import tool
from tools.secrets import redact

DONE, FAILED, NOT_DONE = "✓", "✗", "○"
MIN_EXAMPLES = 100


def advice(f: JobFacts) -> tuple[list[str], list[str]]:
    """(recommendations, next steps), each from a fact of this job."""
    recs: list[str] = []
    chosen, _, _ = f.chosen
    if chosen is not None and chosen.eval_loss is not None:
        last = f.rows[-1]
        where = f"epoch {chosen.epoch}" if chosen.epoch is not None else f"step {chosen.step}"
        recs.append(f"Deploy checkpoint {chosen.checkpoint_id} ({where}): lowest eval loss {chosen.eval_loss:.3g}"
                    + (f", against {last.eval_loss:.3g} for the last" if last is not chosen and last.eval_loss
                       is not None else ""))
    for a in f.anomalies:
        if a.severity == "info":
            continue
        action = a.recommended_action
        if chosen is not None and a.checkpoint_id == chosen.checkpoint_id and "For a retry:" in action:
            action = action[action.index("For a retry:"):]  # the checkpoint advice is already the first line
        recs.append(action)
    cmp, tested = f.compared, f.tested
    if cmp:
        if cmp.verdict.startswith("The tuned model is better"):
            recs.append("The tuned model beats its base on held-out prompts: monitor it on production traffic")
        elif cmp.verdict.startswith("No significant"):
            recs.append(f"No significant gain on {cmp.n} prompts: evaluate on more held-out examples "
                        "(max_examples) or improve the training data before deploying")
        else:
            recs.append("Do not deploy yet: the tuned model is not better than its base; revisit the data")
    if not f.job.validation_dataset_uri and not f.series.get(EVAL_LOSS):
        recs.append("Add a validation set next time, so overfitting shows and checkpoints can be chosen on it")
    examples = f.train_stats.get("examples")
    if isinstance(examples, int) and examples < MIN_EXAMPLES:
        recs.append(f"Collect more training data: {examples} examples is below the recommended {MIN_EXAMPLES}")
    if tested and not tested.ok:
        recs.append("Some test requests failed: check the endpoint before integrating it")
    steps = []
    if not f.finished:
        steps.append(f"Wait for the job to finish: poll_metrics or `gto watch {f.job.job_id}`")
    elif f.job.state == JobState.SUCCEEDED:
        if not cmp:
            steps.append("Compare the tuned and base models: compare_models")
        if not tested:
            steps.append("Test the endpoint: test_endpoint")
        steps += ["Test the endpoint with production-like queries",
                  "Integrate it into the application with the code in the report",
                  "Set up monitoring and logging of requests and answers",
                  "Plan the next iteration: more or cleaner data, then retune and compare with this job"]
    else:
        steps.append("Read the error above, fix its cause, and create a new job")
    return recs or ["No specific recommendation: training was healthy and nothing needs changing"], steps


def advice_markdown(f: JobFacts) -> list[str]:
    recs, steps = advice(f)
    return [*[f"- {r.rstrip('.')}." for r in recs], "", "Next steps:", "",
            *[f"{i}. {s.rstrip('.')}." for i, s in enumerate(steps, 1)]]


def render_summary(ctx: ToolContext, job_id: str | None, facts: JobFacts | None = None) -> str:
    """The end-of-run summary in the seed agent's shape; phases not reached show as not done."""
    f = facts or (gather(ctx, job_id) if job_id else None)
    out = ["=== Gemini Tuning Orchestrator - Summary ===", ""]
    out += _phase1(ctx, f)
    if f is None:
        for n, name in ((2, "Tuning Job"), (3, "Training"), (4, "Evaluation"), (5, "Deployment")):
            out += [f"{NOT_DONE} Phase {n}: {name} Not Done", ""]
        return "\n".join(out).rstrip() + "\n"
    j = f.job
    epochs = str(j.epochs) if j.epochs else "Auto (chosen by the service)"
    out += [f"{DONE} Phase 2: Tuning Job Created", f"  - Job ID: {j.job_id}", f"  - Base Model: {j.base_model}",
            f"  - Method: {method_text(j)}",
            f"  - Adapter Size: {adapter_name(j.adapter_size, j.backend)}", f"  - Epochs: {epochs}", ""]
    out += _phase3(f) + _phase4(f) + _phase5(f) + _cost(f)
    recs, steps = advice(f)
    out += ["Recommendations:", *[f"  - {r}" for r in recs], "", "Next Steps:",
            *[f"  {i}. {s}" for i, s in enumerate(steps, 1)]]
    return redact("\n".join(out) + "\n")


def _phase1(ctx: ToolContext, f: JobFacts | None) -> list[str]:
    if f is not None:
        pre, val = f.preflight, f.validated
    else:  # no job yet: the latest checks of the workspace
        pre = latest_output(ctx, "check_environment", PreflightReport)
        val = latest_output(ctx, "validate_dataset", ValidationReport)
    failed = (pre and not pre.ok) or (val and not val.ok)
    mark, status = (FAILED, "Failed") if failed else (DONE, "Complete") if val else (NOT_DONE, "Not Done")
    lines = [f"{mark} Phase 1: Pre-Flight Checks {status}"]
    train = (f.job.training_dataset_uri, f.train_stats.get("examples")) if f else (
        (val.train.path, val.train.examples) if val else (None, None))
    vset = (f.job.validation_dataset_uri, f.validation_stats.get("examples")) if f else (
        (val.validation.path, val.validation.examples) if val and val.validation else (None, None))
    for label, (uri, n) in (("Dataset", train), ("Validation", vset)):
        if uri:
            lines.append(f"  - {label}: {uri}" + (f" ({n} examples)" if n is not None else ""))
    if pre:
        lines += [f"  - {label}: {value}" for label, value in (("Project", pre.project), ("Region", pre.region))
                  if value]
        lines += [f"  - Failed check: {c.name}: {c.detail}" for c in pre.checks if not c.ok]
    if f is not None:
        lines.append(f"  - Backend: {f.job.backend}")
    return [*lines, ""]


def _phase3(f: JobFacts) -> list[str]:
    j = f.job
    if j.state == JobState.SUCCEEDED:
        head = f"{DONE} Phase 3: Training Complete (Duration: {fmt_duration(f.duration_s)})"
    elif j.state in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        head = f"{FAILED} Phase 3: Training {j.state.value.title()}" + (f": {j.error}" if j.error else "")
    else:
        head = f"{NOT_DONE} Phase 3: Training Not Complete ({j.state.value}, step {j.completed_steps or 0}" + (
            f"/{j.total_steps})" if j.total_steps else ")")
    lines = [head]
    for name, label, show in ((TRAIN_LOSS, "train_loss", num), (TRAIN_ACCURACY, "train_accuracy", pct),
                              (EVAL_LOSS, "eval_loss", num), (EVAL_ACCURACY, "eval_accuracy", pct)):
        if f.series.get(name):
            lines.append(f"  - Final {label}: {show(f.series[name][-1].value)}")
    if f.series:
        lines.append(f"  - Status: {f.health.summary.split(':')[0]}")
    return [*lines, ""]


def _phase4(f: JobFacts) -> list[str]:
    cmp = f.compared
    chosen, _, _ = f.chosen
    lines = [f"{DONE} Phase 4: Evaluation Complete" if cmp else f"{NOT_DONE} Phase 4: Evaluation Not Done"]
    if chosen is not None:
        where = f"Epoch {chosen.epoch}" if chosen.epoch is not None else f"Checkpoint {chosen.checkpoint_id}"
        metrics = ", ".join(x for x in (chosen.eval_loss is not None and f"eval_loss: {num(chosen.eval_loss)}",
                                        chosen.eval_accuracy is not None and
                                        f"eval_accuracy: {pct(chosen.eval_accuracy)}") if x)
        lines.append(f"  - Best checkpoint: {where}" + (f" ({metrics})" if metrics else ""))
    if cmp:
        m = cmp.metrics.get("token_f1") or next(iter(cmp.metrics.values()))
        ci = f", 95% CI {m.ci_low:+.2f} to {m.ci_high:+.2f}" if m.ci_low is not None else ""
        lines.append(f"  - Tuned vs base on {cmp.n} held-out prompts: {m.metric} {m.base:.2f} -> "
                     f"{m.tuned:.2f} ({m.delta:+.2f}{ci})")
        lines.append(f"  - Quality: {quality(cmp.metrics)}")
    return [*lines, ""]


def quality(metrics: dict[str, MetricComparison]) -> str:
    """Which metrics moved for sure: those whose 95% interval excludes zero."""
    better = [n for n, m in metrics.items() if m.ci_low is not None and m.ci_low > 0]
    worse = [n for n, m in metrics.items() if m.ci_high is not None and m.ci_high < 0]
    same = [n for n in metrics if n not in better and n not in worse]
    parts = ([f"tuned better than base on {', '.join(better)}"] if better else []) + (
        [f"worse on {', '.join(worse)}"] if worse else []) + ([f"no significant difference on {', '.join(same)}"]
                                                             if same else [])
    return "; ".join(parts) + " (95% intervals)"


def _phase5(f: JobFacts) -> list[str]:
    tested, report = f.tested, f.reported
    chosen, _, _ = f.chosen
    if tested:
        head = f"{DONE} Phase 5: Deployment Ready" if tested.ok else f"{FAILED} Phase 5: Endpoint Test Failed"
    else:
        head = f"{NOT_DONE} Phase 5: Deployment Not Done"
    lines = [head]
    endpoint = endpoint_of(f, chosen)
    if endpoint:
        lines.append(f"  - Endpoint: {endpoint}")
    if f.job.tuned_model:
        lines.append(f"  - Model: {f.job.tuned_model}")
    if tested:
        ok = sum(1 for s in tested.samples if s.ok)
        p50 = f", median {tested.p50_latency_s:.2f} s" if tested.p50_latency_s else ""
        verdict = "successful" if tested.ok else "failed"
        lines.append(f"  - Test inference {verdict} ({ok}/{len(tested.samples)} requests{p50})")
    if report:
        lines.append(f"  - Report: {report.path}")
    return [*lines, ""]


def _cost(f: JobFacts) -> list[str]:
    estimate, actual = cost_facts(f)
    c = actual or estimate
    lines = ["Cost Analysis:"]
    if not c:
        return [*lines, "  - Training cost: unknown (no estimate was recorded)", ""]
    tokens = c.tokens_per_epoch or (f.job.data_stats.total_billable_token_count if f.job.data_stats
                                    else None) or f.train_stats.get("billable_tokens_per_epoch")
    epochs = c.epochs or f.job.epochs
    basis = f" ({tokens / 1000:,.1f}K tokens × {epochs} epochs)" if tokens and epochs else ""
    usd = c.training_cost_usd
    kind = "" if actual else "~"
    lines.append(f"  - Training cost: {kind}${usd:,.2f}{basis}" if usd is not None else
                 f"  - Training cost: unknown ({c.summary})")
    if c.per_request_usd is not None:
        lines.append(f"  - Estimated inference: ${c.per_request_usd:.4f} per request")
    return [*lines, ""]


class JobRow(BaseModel):
    job_id: str
    display_name: str | None = None
    backend: str
    state: str
    base_model: str
    epochs: int | None = None
    adapter_size: int | None = None
    learning_rate_multiplier: float | None = None
    final_train_loss: float | None = None
    best_eval_loss: float | None = None
    best_eval_epoch: float | None = None
    final_eval_accuracy: float | None = None
    health: str = Field("n/a", description="the training verdict, with the anomalies found")
    duration: str = "unknown"


def job_row(f: JobFacts) -> JobRow:
    j, s = f.job, f.series
    evals = s.get(EVAL_LOSS, [])
    best = min(evals, key=lambda p: p.value) if evals else None
    return JobRow(job_id=j.job_id, display_name=j.display_name, backend=j.backend, state=j.state.value,
                  base_model=j.base_model, epochs=j.epochs, adapter_size=j.adapter_size,
                  learning_rate_multiplier=j.learning_rate_multiplier,
                  final_train_loss=s[TRAIN_LOSS][-1].value if s.get(TRAIN_LOSS) else None,
                  best_eval_loss=best.value if best else None, best_eval_epoch=best.epoch if best else None,
                  final_eval_accuracy=s[EVAL_ACCURACY][-1].value if s.get(EVAL_ACCURACY) else None,
                  health=f.health.summary.split(":")[0] if s else "no metrics", duration=fmt_duration(f.duration_s))


def job_rows(ctx: ToolContext, facts: list[JobFacts]) -> list[JobRow]:
    return [job_row(f) for f in facts]


def rows_table(rows: list[JobRow]) -> list[str]:
    """Markdown table of jobs; the `gto jobs` columns."""
    lines = ["| job | state | epochs | adapter | LR x | final train loss | best eval loss (epoch) | "
             "eval accuracy | health | duration |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best = f"{num(r.best_eval_loss, 4)}" + (f" ({r.best_eval_epoch:g})" if r.best_eval_epoch else "")
        lines.append(f"| {r.display_name or r.job_id} | {r.state} | {r.epochs or 'auto'} | {r.adapter_size or 'auto'}"
                     f" | {r.learning_rate_multiplier or 'auto'} | {num(r.final_train_loss, 4)} | {best} | "
                     f"{pct(r.final_eval_accuracy)} | {r.health} | {r.duration} |")
    return lines


class CompareJobsInput(ToolInput):
    job_ids: list[str] | None = Field(None, description="jobs to compare; default every job in the workspace")


class CompareJobsOutput(BaseModel):
    rows: list[JobRow]
    best_job_id: str | None = None
    reason: str


@tool
def compare_jobs(args: CompareJobsInput, ctx: ToolContext) -> CompareJobsOutput:
    """Compare several tuning jobs (a sweep over epochs, adapter sizes or learning rates) in one table, and name the
    best one by eval loss."""
    ids = args.job_ids or [j.job_id for j in ctx.workspace.list_jobs()][:20]
    rows = [job_row(gather(ctx, job_id)) for job_id in ids]
    done = [r for r in rows if r.state == JobState.SUCCEEDED.value]
    scored = [r for r in done if r.best_eval_loss is not None]
    if scored:
        best = min(scored, key=lambda r: r.best_eval_loss)
        return CompareJobsOutput(rows=rows, best_job_id=best.job_id, reason=(
            f"lowest eval loss {best.best_eval_loss:.4g} among {len(scored)} succeeded jobs with a validation set"))
    trained = [r for r in done if r.final_train_loss is not None]
    if trained:
        best = min(trained, key=lambda r: r.final_train_loss)
        return CompareJobsOutput(rows=rows, best_job_id=best.job_id, reason=(
            f"lowest final train loss {best.final_train_loss:.4g}; no job had a validation set, so overfitting "
            "could not be compared"))
    return CompareJobsOutput(rows=rows, best_job_id=None, reason="no job has succeeded with metrics yet")


def jobs_overview(ctx: ToolContext, jobs: list[JobInfo] | None = None) -> list[JobRow]:
    """`gto jobs`: every workspace job with its key metrics, from the workspace alone (no network, instant)."""
    from tools.monitoring.anomalies import assess_health, detect_anomalies
    from tools.monitoring.experiments import missing_metrics
    from tools.evaluation.checkpoints import checkpoint_rows

    rows = []
    for job in jobs if jobs is not None else ctx.workspace.list_jobs():
        series = ctx.workspace.get_metrics(job.job_id)
        found = detect_anomalies(series, checkpoints=job.checkpoints, final=job.state.ended)
        rows.append(job_row(JobFacts(job=job, series=series, rows=checkpoint_rows(job, series), anomalies=found,
                                     health=assess_health(series, found, final=job.state.ended,
                                                          missing=missing_metrics(job, series)), live=False)))
    return rows
