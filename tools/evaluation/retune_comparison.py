"""compare_retuned: after retune_job, one comparison of the previous tuned model, the re-tuned model and the new base
model on the same held-out prompts, so the user sees whether the move to the new base model kept what tuning won.
A previous model that no longer answers (its base model retired) leaves a two-way comparison, said plainly."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from tools.backends.base import JobInfo, TuningBackend
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.evaluation.comparison import (
    MAX_OUTPUT_TOKENS, chosen_checkpoint_id, job_and_backend, safe_name, tuned_target,
)
from tools.evaluation.evaluation_cost import comparison_cost, cost_question
from tools.evaluation.heldout import held_out_examples
from tools.evaluation.scoring import MetricComparison
from tools.evaluation.trial import Target, run_trial
from tools.registry import tool
from tools.results import typed
from tools.training.retune import RetuneJobOutput


class CompareRetunedInput(ToolInput):
    job_id: str = Field(description="the re-tuned job (the one retune_job created)")
    previous_job_id: str | None = Field(None, description="the job it was re-tuned from; default: the one "
                                        "retune_job recorded for job_id")
    prompts_path: str | None = Field(None, description="JSONL of Gemini examples; default the job's validation set")
    max_examples: int = Field(20, ge=1, le=500)
    # Capped: each example is three generations, billed per output token on Vertex AI.
    max_output_tokens: int | None = Field(None, ge=1, le=MAX_OUTPUT_TOKENS,
                                          description="default: room for each reference answer")


class MetricMeans(BaseModel):
    previous: float | None = Field(None, description="the previous tuned model; None when it did not answer")
    retuned: float = Field(description="the re-tuned model")
    base: float = Field(description="the new base model, untuned")


class CompareRetunedOutput(BaseModel):
    job_id: str
    previous_job_id: str
    base_model: str = Field(description="the new base model, the one re-tuned on")
    previous_base_model: str
    retuned_target: str
    previous_target: str | None = Field(None, description="None when the previous job has no endpoint any more")
    base_target: str
    previous_answered: bool = Field(description="False: the comparison is two-way, re-tuned against base only")
    prompts_source: str
    n: int = Field(description="examples every compared model answered; every number below rests on these")
    means: dict[str, MetricMeans]
    vs_previous: dict[str, MetricComparison] = Field(
        default_factory=dict, description="re-tuned minus previous tuned; empty when the previous did not answer")
    vs_base: dict[str, MetricComparison] = Field(description="re-tuned minus the new base model")
    verdict: str
    failures: int = 0
    mean_latency_s: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    details_path: str | None = None


def retuned_from(ctx: ToolContext, job_id: str) -> str:
    """The job that job_id was re-tuned from, as retune_job recorded it; an error naming the fix when none did."""
    for event in reversed(ctx.workspace.events(job_id, "tool:retune_job")):
        output = typed("retune_job", event["data"])
        if isinstance(output, RetuneJobOutput) and output.job.job_id == job_id:
            return output.previous_job_id
    raise ToolError(f"No retune_job result in this workspace created {job_id}, so the job it was re-tuned from is "
                    "unknown.", "Pass previous_job_id (the old tuned job), e.g. "
                    f"`gto compare-retuned {job_id} --previous OLD_JOB`.")


def previous_job(ctx: ToolContext, job_id: str) -> tuple[JobInfo, TuningBackend]:
    """The previous job from its backend, else as the workspace last recorded it (a retired model's job may be gone)."""
    backend = ctx.backend_for_job(job_id)
    try:
        return backend.get_job(job_id), backend
    except (ToolError, OSError) as exc:
        recorded = ctx.workspace.get_job(job_id)
        if recorded is None:
            raise ToolError(f"No job {job_id!r} is known ({exc}).", "List the jobs with list_jobs or `gto jobs`.")
        return recorded, backend


def retune_comparison_question(args: CompareRetunedInput, ctx: ToolContext) -> str | None:
    """compare_retuned's consent check, as compare_models': a question when a Vertex AI comparison may cost over a
    cent, or its price is unknown (never guessed), each model priced at its base model's rates."""
    try:
        backend = ctx.backend_for_job(args.job_id)
        if backend.name != "vertex":
            return None
        job = backend.get_job(args.job_id)
        old, old_backend = previous_job(ctx, args.previous_job_id or retuned_from(ctx, args.job_id))
        _, examples = held_out_examples(ctx, job, args.prompts_path, args.max_examples)
    except ToolError:
        return None  # the tool reports the same problem first thing, before anything is generated
    new_usd = comparison_cost(job.base_model, examples, args.max_output_tokens)
    old_usd = comparison_cost(old.base_model, examples, args.max_output_tokens, generations=1)
    if old_backend.name != "vertex":
        old_usd = 0.0
    usd = None if new_usd is None or old_usd is None else new_usd + old_usd
    what = (f"Compare {args.job_id} with the previous tuned {old.job_id} and with {job.base_model} on "
            f"{len(examples)} held-out examples ({3 * len(examples)} Vertex AI generations)")
    models = job.base_model if new_usd is None else old.base_model
    return cost_question(what, usd, models, f"the published prices of {job.base_model} and {old.base_model}")


@tool(consent=retune_comparison_question)
def compare_retuned(args: CompareRetunedInput, ctx: ToolContext) -> CompareRetunedOutput:
    """After retune_job: compare the re-tuned model with the previous tuned model and with its new base model on the
    same held-out prompts (default: the new job's validation set), with the same metrics and 95% intervals.

    A previous model that no longer answers (its base model retired) leaves a two-way comparison, said in the
    verdict."""
    job, backend = job_and_backend(ctx, args.job_id)
    old, old_backend = previous_job(ctx, args.previous_job_id or retuned_from(ctx, args.job_id))
    retuned = tuned_target(job, chosen_checkpoint_id(ctx, job))
    base = backend.base_target(job.base_model)
    notes: list[str] = []
    try:
        previous: str | None = tuned_target(old, chosen_checkpoint_id(ctx, old))
    except ToolError as exc:
        previous = None
        notes.append(f"The previous tuned model ({old.job_id}) was not asked: {exc.message}")
    source, examples = held_out_examples(ctx, job, args.prompts_path, args.max_examples)
    targets = [Target("base", backend, base, job.base_model), Target("retuned", backend, retuned, job.base_model)]
    if previous:
        targets.append(Target("previous", old_backend, previous, old.base_model, optional=True))
    trial = run_trial(ctx, targets, examples, args.max_output_tokens, "compare_retuned", job.job_id)
    if "previous" in trial.dropped:
        notes.append(f"The previous tuned model ({old.job_id} on {old.base_model}) did not answer, so only the "
                     f"re-tuned model and its base were compared: {trial.dropped['previous']}")
    answered = "previous" in trial.texts
    vs_previous = trial.compare("previous", "retuned") if answered else {}
    vs_base = trial.compare("base", "retuned")
    details = (ctx.workspace.dir("evaluations") /
               f"{safe_name(job.job_id)}-retuned-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    trial.write_details(details)
    return CompareRetunedOutput(
        job_id=job.job_id, previous_job_id=old.job_id, base_model=job.base_model, previous_base_model=old.base_model,
        retuned_target=retuned, previous_target=previous, base_target=base, previous_answered=answered,
        prompts_source=source, n=len(trial.kept),
        means={m: MetricMeans(**means) for m, means in trial.means().items()},
        vs_previous=vs_previous, vs_base=vs_base, failures=len(trial.errors),
        verdict=retune_verdict(job.base_model, old, vs_previous, vs_base),
        mean_latency_s=trial.mean_latency_s(), notes=notes + trial.notes, details_path=str(details))


def retune_verdict(base_model: str, old: JobInfo, vs_previous: dict[str, MetricComparison],
                   vs_base: dict[str, MetricComparison]) -> str:
    """One sentence on the primary metric (token F1): re-tuned against previous tuned, then against its base, with n."""
    against_base = f"{_relation(vs_base)} its base: {_primary(vs_base).sentence()}"
    if not vs_previous:
        return (f"The previous tuned model ({old.job_id} on {old.base_model}) did not answer, so the comparison is "
                f"two-way: the re-tuned model on {base_model} {against_base}.")
    return (f"The re-tuned model on {base_model} {_relation(vs_previous)} the previous tuned model ({old.job_id} on "
            f"{old.base_model}): {_primary(vs_previous).sentence()}; and {against_base}.")


def _primary(metrics: dict[str, MetricComparison]) -> MetricComparison:
    return metrics.get("token_f1") or next(iter(metrics.values()))


def _relation(metrics: dict[str, MetricComparison]) -> str:
    """Beats or falls short only when the 95% interval of the difference excludes zero; otherwise "no significant
    difference" (not "matches": a wide interval around zero is a lack of evidence, not equality)."""
    return {1: "beats", -1: "falls short of", 0: "shows no significant difference from"}[_primary(metrics).significant]
