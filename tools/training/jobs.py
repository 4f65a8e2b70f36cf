"""Tuning jobs on any backend: create (checked against the model's limits, priced, asked for, idempotent), get,
list and cancel. Every JobInfo seen is recorded in the workspace."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, PrivateAttr

from tools.backends.base import JobInfo, TuningSpec
from tools.catalog import LOCAL_BASE_MODEL, ModelInfo, catalog, default_tuning_model
from tools.context import ToolContext
from tools.dataset.paths import confined
from tools.training.cost import CostEstimate, actual_cost, training_cost
from tools.training.job_requests import claim, earlier_attempt, request_key
from tools.training.continuation import check_method
from tools.training.tuning_spend import budget_note, check_tuning, record_tuning, refusal, settle_job
from tools.errors import ToolError, ToolInput
from tools.registry import tool

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend

EVALUATION_REGION = "us-central1"


class CreateTuningJobInput(ToolInput):
    training_dataset_uri: str = Field(description="gs:// URI of the training JSONL, as upload_to_gcs returned it")
    validation_dataset_uri: str | None = Field(None, description="gs:// URI of the validation JSONL")
    base_model: str = Field(default_factory=default_tuning_model, description="model to tune (default "
                            f"{default_tuning_model()}); gemma-3-270m on the local backend")
    epochs: int | None = Field(None, ge=1, le=100, description="None lets the service choose")
    adapter_size: int | None = Field(None, description="1, 2, 4, 8 or 16, as the model allows")
    learning_rate_multiplier: float | None = Field(None, gt=0, le=100)
    export_last_checkpoint_only: bool = Field(False, description="true: no intermediate checkpoints")
    display_name: str | None = Field(None, max_length=128)
    labels: dict[str, str] = Field(default_factory=dict, description="lowercase a-z, 0-9, _ and -; <= 63 chars")
    evaluation_metrics: list[str] = Field(
        default_factory=list, description="Preview: metrics Vertex computes per checkpoint (e.g. bleu, rouge_l)")
    evaluation_output_uri: str | None = Field(None, description="gs:// prefix for the evaluation results")
    backend: str | None = Field(None, description="vertex or local; default the configured backend")
    method: Literal["supervised", "preference"] = Field(
        "supervised", description="supervised (prompt -> answer) or preference (prompt -> preferred over "
                                  "dispreferred answer; validate the data with method='preference')")
    beta: float | None = Field(None, gt=0, description="preference only: how closely the tuned model stays near its "
                                                         "starting point; None lets the service choose")
    source_model: str | None = Field(
        None, description="continue from a tuned model instead of base_model: a tuning job id, or on Vertex the "
                          "tuned model's name (projects/P/locations/L/models/M)")
    source_checkpoint_id: str | None = Field(
        None, description="with source_model: the checkpoint to start from (list_checkpoints); default its default")
    request_id: str | None = Field(
        None, description="idempotency key; default derived from the arguments, so a retried call reuses its job")
    # Set when the consent check put its question: the tool asks itself before creating a job when it did not.
    _consent_asked: bool = PrivateAttr(False)


class CreateTuningJobOutput(BaseModel):
    job: JobInfo
    estimated_cost: CostEstimate
    reused: bool = Field(description="an earlier attempt of this same call was found and returned; nothing new")
    warnings: list[str] = Field(default_factory=list)


class JobRef(ToolInput):
    job_id: str = Field(description="the job id create_tuning_job or list_jobs returned")


class GetJobOutput(BaseModel):
    job: JobInfo
    actual_cost: CostEstimate | None = Field(None, description="from the billable tokens the service counted")


class CancelJobOutput(BaseModel):
    job: JobInfo


class ListJobsInput(ToolInput):
    backend: str | None = Field(None, description="only this backend's jobs; default all known")
    limit: int = Field(20, ge=1, le=500)


class ListJobsOutput(BaseModel):
    jobs: list[JobInfo]
    warnings: list[str] = Field(default_factory=list)


def check_limits(args: CreateTuningJobInput, backend: TuningBackend, ctx: ToolContext) -> ModelInfo | None:
    """Refuse, before anything is sent, what the model or the service would refuse later."""
    cat = catalog()
    model = cat.find(args.base_model)
    if backend.name == "vertex":
        model = cat.tunable(args.base_model)  # retired or blocked: refused before any upload or job, successor named
        if model.backend != "vertex":
            raise ToolError(f"{model.id} is tuned on this machine, not on Vertex AI.",
                            f"Use backend='local' for it, or a Gemini base model such as {default_tuning_model()}.")
        region = getattr(backend, "region", None)
        if region and region not in cat.regions_for(model):
            raise ToolError(f"{model.id} cannot be tuned in {region}.",
                            f"Tune it in {' or '.join(cat.regions_for(model)[:4])}: "
                            f"export GOOGLE_CLOUD_LOCATION={cat.regions_for(model)[0]}")
        for uri in (args.training_dataset_uri, args.validation_dataset_uri):
            if uri and not re.match(r"^(gs://[^/]+/.+\.jsonl|projects/[^/]+/locations/[^/]+/datasets/[^/]+)$", uri):
                raise ToolError(f"{uri} is not a Cloud Storage .jsonl object.",
                                "Upload the file first: upload_to_gcs(path=...) returns the gs:// URI to use.")
        if args.evaluation_metrics and (region != EVALUATION_REGION or model.family != "gemini-2.5"
                                        or not args.evaluation_output_uri):
            raise ToolError("Automatic evaluation runs only in us-central1, on Gemini 2.5 models, with an "
                            "evaluation_output_uri.", "Drop evaluation_metrics, or meet those three conditions.")
    elif model is not None and model.backend != backend.name:
        raise ToolError(f"{model.id} tunes only on Vertex AI; the local backend tunes {LOCAL_BASE_MODEL}.",
                        f"Use base_model='{LOCAL_BASE_MODEL}' for a free rehearsal here, or backend='vertex'.")
    if backend.name == "local" and Path(args.base_model).expanduser().exists():  # a model folder it would read
        confined(args.base_model, ctx, "base model folder")
    if model is not None and args.adapter_size is not None and args.adapter_size not in model.adapter_sizes:
        raise ToolError(f"{model.id} accepts adapter sizes {model.adapter_sizes}, not {args.adapter_size}.",
                        "Pick one of those; 4 is a good start, 8 or 16 for large, varied datasets.")
    _check_files(args, ctx)
    check_method(args, backend, ctx)
    check_spec = getattr(backend, "check_spec", None)
    if check_spec is not None:
        check_spec(spec_for(args, model, "pending"))
    return model


def region_warning(model: ModelInfo | None, backend: TuningBackend) -> str | None:
    """A warning, not a refusal, for a region Google's pages did not confirm: Vertex AI has the last word there."""
    region = getattr(backend, "region", None)
    if backend.name != "vertex" or model is None:
        return None
    if model.tuning_locations and region in (model.legacy_tuning_regions or []):
        where = "eu" if str(region).startswith("europe") else "us"
        return (f"The newest SFT docs (read 2026-12-07) create {model.id} tuning jobs only at the us and eu "
                f"multi-region endpoints; an older page named {region}. If Vertex AI refuses the job there, "
                f"export GOOGLE_CLOUD_LOCATION={where}.")
    if model.tuning_locations or region not in catalog().unconfirmed_regions:
        return None
    return (f"{region} is not confirmed as a Gemini tuning region (the region list we could read was cut off); if "
            "Vertex AI refuses the job, tune in us-central1: export GOOGLE_CLOUD_LOCATION=us-central1.")


def spec_for(args: CreateTuningJobInput, model: ModelInfo | None, request_id: str) -> TuningSpec:
    return TuningSpec(
        method=args.method, beta=args.beta, source_model=args.source_model,
        source_checkpoint_id=args.source_checkpoint_id,
        base_model=model.id if model else args.base_model, training_dataset_uri=args.training_dataset_uri,
        validation_dataset_uri=args.validation_dataset_uri, epochs=args.epochs, adapter_size=args.adapter_size,
        learning_rate_multiplier=args.learning_rate_multiplier,
        export_last_checkpoint_only=args.export_last_checkpoint_only, display_name=args.display_name,
        labels=args.labels, client_request_id=request_id, evaluation_metrics=args.evaluation_metrics,
        evaluation_output_uri=args.evaluation_output_uri)


def _check_files(args: CreateTuningJobInput, ctx: ToolContext) -> None:
    limits = catalog().limits
    for role, uri in (("training", args.training_dataset_uri), ("validation", args.validation_dataset_uri)):
        if uri and ("://" not in uri or uri.startswith("file://")):  # a local path the local backend would copy
            confined(uri.removeprefix("file://"), ctx, f"{role} dataset")
        stats = ctx.workspace.dataset(uri) if uri else None
        if not stats:
            continue
        name = stats.get("source") or uri
        if role == "validation" and (stats.get("examples") or 0) > limits.max_validation_rows:
            raise ToolError(f"The validation file {name} has {stats['examples']} examples; at most "
                            f"{limits.max_validation_rows} are accepted.",
                            f"Keep a sample of {limits.max_validation_rows} or fewer, upload it and use its URI.")
        source = stats.get("source")
        if source and os.path.isfile(source) and os.path.getsize(source) > limits.max_file_bytes:
            raise ToolError(f"The {role} file {source} is {os.path.getsize(source):,} bytes; at most "
                            f"{limits.max_file_bytes:,} are accepted.", "Split or sample it below that size.")


def _estimate(args: CreateTuningJobInput, ctx: ToolContext, backend: str) -> CostEstimate:
    """The training estimate, from the same token count estimate_cost prices (billable tokens first)."""
    stats = ctx.workspace.dataset(args.training_dataset_uri) or {}
    model = args.base_model if catalog().find(args.base_model) or backend != "local" else LOCAL_BASE_MODEL
    tokens = stats.get("billable_tokens_per_epoch", stats.get("tokens"))
    return training_cost(model, tokens, args.epochs, bool(stats.get("tokens_estimated")))


def cost_question(args: CreateTuningJobInput, ctx: ToolContext) -> str | None:
    """The consent question for a billable backend, with the estimate; None when free, or when the backend itself
    confirms that a live job of this same call exists (a stale workspace record is no proof: then it asks)."""
    try:
        backend = ctx.backend(args.backend)
        if backend.name == "local":
            return None
        model = check_limits(args, backend, ctx)
    except ToolError:
        return None  # the tool reports the same problem first thing, before anything is sent
    _, live, confirmed = earlier_attempt(request_key(args, backend.name, ctx), backend, ctx, remote=False)
    if live is not None and confirmed:
        return None
    if refusal(ctx, backend.name, _estimate(args, ctx, backend.name)) is not None:
        return None  # over budget: the tool says so with the numbers, and nothing is asked
    args._consent_asked = True
    return question(args, ctx, backend, model)


def question(args: CreateTuningJobInput, ctx: ToolContext, backend: TuningBackend, model: ModelInfo | None) -> str:
    """What the user is asked before a billable job starts: what, where, and the estimate."""
    try:
        summary = _estimate(args, ctx, backend.name).summary
    except ToolError as exc:
        summary = f"The cost could not be estimated ({exc.message})."
    epochs = f"{args.epochs} epochs" if args.epochs else "epochs chosen by the service"
    where = f"project {ctx.settings.project or '(from your gcloud configuration)'}, {getattr(backend, 'region', '')}"
    warning = region_warning(model, backend)
    kind = "preference tuning" if args.method == "preference" else "tuning"
    start = f" continuing from {args.source_model}" if args.source_model else ""
    return (f"Start a Vertex AI {kind} job: {args.base_model}{start} on {args.training_dataset_uri} "
            f"({epochs}; {where})? {summary}" + (f" Note: {warning}" if warning else "")
            + budget_note(ctx, _estimate(args, ctx, backend.name)))


@tool(consent=cost_question)
def create_tuning_job(args: CreateTuningJobInput, ctx: ToolContext) -> CreateTuningJobOutput:
    """Start a supervised tuning job (Vertex AI, or Gemma on this machine) after checking the model's limits;
    asks before spending. Calling it again with the same arguments returns the same job instead of a second one.

    Returns the job (its endpoint appears once it has succeeded) and the cost estimate."""
    backend = ctx.backend(args.backend)
    model = check_limits(args, backend, ctx)
    cost = _estimate(args, ctx, backend.name)
    warnings = [w for w in (region_warning(model, backend), model and catalog().warning(model.id)) if w]
    rid, live, token = claim(request_key(args, backend.name, ctx), backend, ctx)
    if live is not None:
        ctx.workspace.record_job(live)
        return CreateTuningJobOutput(job=live, estimated_cost=cost, reused=True, warnings=warnings)
    try:
        check_tuning(ctx, backend.name, cost)
        if backend.name != "local" and not args._consent_asked:
            # The consent check saw this call's job live, and it has ended since: a new job costs money, so ask.
            if not ctx.approve("create_tuning_job", question(args, ctx, backend, model)):
                raise ToolError("The user declined a new tuning job: the earlier one of this call has ended.",
                                "Nothing was created. Ask the user how to proceed before calling it again.")
        spec = spec_for(args, model, rid)
        ctx.report(f"Creating the tuning job on {backend.name} (request {rid})")
        info = backend.create_job(spec)
        if info.client_request_id is None:
            info = info.model_copy(update={"client_request_id": rid})
        ctx.workspace.record_job(info)
        record_tuning(ctx, info, cost, backend.name)
    finally:
        ctx.workspace.release_request(rid, token)
    return CreateTuningJobOutput(job=info, estimated_cost=cost, reused=False, warnings=warnings)


@tool
def get_job(args: JobRef, ctx: ToolContext) -> GetJobOutput:
    """The job's state, progress (epochs and steps), data statistics, checkpoints and endpoint, and its actual
    training cost once the service has counted the billable tokens."""
    info = ctx.backend_for_job(args.job_id).get_job(args.job_id)
    ctx.workspace.record_job(info)
    cost = None
    if info.data_stats and info.data_stats.total_billable_token_count:
        cost = actual_cost(info.base_model, info.data_stats.total_billable_token_count, info.epochs)
        settle_job(ctx, info)
    return GetJobOutput(job=info, actual_cost=cost)


@tool
def cancel_job(args: JobRef, ctx: ToolContext) -> CancelJobOutput:
    """Cancel a running tuning job (it stops costing; checkpoints already made stay). An ended job is left as is."""
    info = ctx.backend_for_job(args.job_id).cancel_job(args.job_id)
    ctx.workspace.record_job(info)
    return CancelJobOutput(job=info)


@tool
def list_jobs(args: ListJobsInput, ctx: ToolContext) -> ListJobsOutput:
    """The tuning jobs this workspace knows, newest first, plus those Vertex AI lists for the project."""
    jobs = {j.job_id: j for j in ctx.workspace.list_jobs(args.backend)}
    warnings: list[str] = []
    if args.backend in (None, "local") and any(j.backend == "local" and not j.state.ended for j in jobs.values()):
        # a trainer killed without a word (kill -9, a reboot) left its job RUNNING: the store notices and ends it
        jobs.update({j.job_id: j for j in ctx.backend("local").list_jobs(args.limit)})
    if args.backend == "vertex" or (args.backend is None and ctx.backend_name() == "vertex"):
        try:
            for info in ctx.backend("vertex").list_jobs(args.limit):
                ctx.workspace.record_job(info)
                jobs[info.job_id] = info
        except ToolError as exc:
            warnings.append(f"Vertex AI jobs not listed: {exc}")
    ordered = sorted(jobs.values(), key=lambda j: j.created_at.timestamp() if j.created_at else 0, reverse=True)
    return ListJobsOutput(jobs=ordered[: args.limit], warnings=warnings)
