"""retune_job: tune a past job again on another base model (by default its base model's successor), with the same
datasets and its hyperparameters carried over to what the new model accepts. Priced and asked for exactly as
create_tuning_job is, and rehearsable on the local backend."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, PrivateAttr

from tools.backends.base import JobInfo
from tools.catalog import catalog
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import tool
from tools.training.cost import CostEstimate
from tools.training.jobs import CreateTuningJobInput, cost_question, create_tuning_job


class RetuneJobInput(ToolInput):
    job_id: str = Field(description="the past tuning job to tune again")
    base_model: str | None = Field(None, description="the new base model; default: the old one's successor (or the "
                                   "old one while it may still be tuned)")
    request_id: str | None = Field(None, description="idempotency key, as for create_tuning_job")
    _consent_asked: bool = PrivateAttr(False)


class RetuneJobOutput(BaseModel):
    previous_job_id: str
    previous_base_model: str
    base_model: str
    why_this_model: str
    carried_over: list[str] = Field(description="each setting of the old job and what it became")
    job: JobInfo
    estimated_cost: CostEstimate
    reused: bool
    warnings: list[str] = Field(default_factory=list)
    next_step: str


def plan(args: RetuneJobInput, ctx: ToolContext) -> tuple[JobInfo, CreateTuningJobInput, str, list[str]]:
    """The old job, the create_tuning_job call that re-tunes it, why that model, and how each setting was mapped."""
    old = ctx.workspace.get_job(args.job_id)
    if old is None:
        try:
            old = ctx.backend_for_job(args.job_id).get_job(args.job_id)
        except ToolError as exc:
            raise ToolError(f"No job {args.job_id!r} is known ({exc.message}).",
                            "List the jobs with list_jobs or `gto jobs`.") from exc
    if not old.training_dataset_uri:
        raise ToolError(f"The job {old.job_id} does not say which training data it used.",
                        "Call create_tuning_job with the dataset URIs and the new base_model instead.")
    new, why = _model_for(old, args.base_model)
    model = catalog().tunable(new)  # a retired or blocked choice is refused here, its own successor named
    mapped = [f"training data: {old.training_dataset_uri}",
              f"validation data: {old.validation_dataset_uri or 'none'}",
              f"epochs: {old.epochs if old.epochs is not None else 'chosen by the service'}"]
    adapter = old.adapter_size
    if adapter is not None and adapter not in model.adapter_sizes:
        fitting = [a for a in model.adapter_sizes if a <= adapter] or model.adapter_sizes
        mapped.append(f"adapter size: {adapter} -> {max(fitting)} ({model.id} accepts {model.adapter_sizes})")
        adapter = max(fitting)
    else:
        mapped.append(f"adapter size: {adapter if adapter is not None else 'chosen by the service'}")
    if old.learning_rate_multiplier is not None:
        mapped.append(f"learning-rate multiplier: {old.learning_rate_multiplier} (a multiple of {model.id}'s own "
                      "default rate, which differs from the old model's: compare before trusting it)")
    label = re.sub(r"[^a-z0-9_-]", "-", old.job_id.rsplit("/", 1)[-1].lower())[:63]
    name = f"{old.display_name or label} on {model.id}"[:128]
    create = CreateTuningJobInput(
        training_dataset_uri=old.training_dataset_uri, validation_dataset_uri=old.validation_dataset_uri,
        base_model=model.id, epochs=old.epochs, adapter_size=adapter,
        learning_rate_multiplier=old.learning_rate_multiplier, display_name=name,
        labels={**{k: v for k, v in old.labels.items() if k != "gto_request_id"}, "gto_retune_of": label},
        backend=old.backend, request_id=args.request_id)
    return old, create, why, mapped


def _model_for(old: JobInfo, asked: str | None) -> tuple[str, str]:
    if asked:
        return asked, "named in the call"
    cat = catalog()
    life = cat.lifecycle(old.base_model) if cat.find(old.base_model) else None
    if life is not None and life.successor:
        return life.successor, f"the successor of {old.base_model} ({life.message})"
    if life is not None and life.tunable:
        return cat.get(old.base_model).id, f"{old.base_model} may still be tuned and names no successor"
    default = cat.default_tuning_model(old.backend)
    return default, f"the catalog's default: {old.base_model} has no successor on record"


def retune_question(args: RetuneJobInput, ctx: ToolContext) -> str | None:
    """create_tuning_job's own question (with its estimate) for the re-tuning job; None when free or refused."""
    try:
        old, create, why, _ = plan(args, ctx)
    except ToolError:
        return None  # the tool reports the same problem first thing, before anything is sent
    question = cost_question(create, ctx)
    if question is None:
        return None
    args._consent_asked = True
    return f"Re-tune {old.job_id} ({old.base_model}) on {create.base_model}, {why}. {question}"


@tool(consent=retune_question)
def retune_job(args: RetuneJobInput, ctx: ToolContext) -> RetuneJobOutput:
    """Tune a past job again on a new base model (default: its base model's successor, e.g. after a retirement) with
    the same datasets and its hyperparameters mapped to what the new model accepts; asks before spending.

    Then watch it with poll_metrics, compare_retuned the new job, and write_report with both job ids."""
    old, create, why, mapped = plan(args, ctx)
    create._consent_asked = args._consent_asked
    created = create_tuning_job(create, ctx)
    return RetuneJobOutput(
        previous_job_id=old.job_id, previous_base_model=old.base_model, base_model=create.base_model,
        why_this_model=why, carried_over=mapped, job=created.job, estimated_cost=created.estimated_cost,
        reused=created.reused, warnings=created.warnings,
        next_step=f"poll_metrics(job_id='{created.job.job_id}'); then compare_retuned(job_id='{created.job.job_id}') "
                  "asks the old tuned, the new tuned and the new base model the same held-out prompts; then "
                  f"write_report(job_ids=['{old.job_id}', '{created.job.job_id}']) reports them together.")
