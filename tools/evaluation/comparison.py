"""After training: which checkpoint to use, whether the tuned model beats its base, and whether the endpoint answers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from tools.backends.base import Checkpoint, GenerateRequest, JobInfo, TuningBackend
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.evaluation.checkpoints import CheckpointRow, checkpoint_rows, job_metrics, pick
from tools.evaluation.evaluation_cost import comparison_question
from tools.evaluation.heldout import held_out_examples, truncate
from tools.evaluation.inference_spend import check_inference
from tools.evaluation.scoring import MetricComparison
from tools.evaluation.trial import Target, run_trial
from tools.registry import tool


class JobInput(ToolInput):
    job_id: str


class CheckpointList(BaseModel):
    job_id: str
    checkpoints: list[CheckpointRow]


def job_and_backend(ctx: ToolContext, job_id: str) -> tuple[JobInfo, TuningBackend]:
    backend = ctx.backend_for_job(job_id)
    return backend.get_job(job_id), backend


@tool
def list_checkpoints(args: JobInput, ctx: ToolContext) -> CheckpointList:
    """List a job's checkpoints with the eval loss and accuracy measured at each (when a validation set was given)."""
    job, backend = job_and_backend(ctx, args.job_id)
    return CheckpointList(job_id=job.job_id, checkpoints=checkpoint_rows(job, job_metrics(ctx, backend, job.job_id)))


class ChooseCheckpointInput(ToolInput):
    job_id: str
    set_default: bool = Field(True, description="make it the job's default endpoint where the backend supports it")


class ChosenCheckpoint(BaseModel):
    job_id: str
    checkpoint: Checkpoint
    reason: str
    is_default: bool
    endpoint: str | None = Field(None, description="call this for inference with the chosen checkpoint")


@tool
def choose_checkpoint(args: ChooseCheckpointInput, ctx: ToolContext) -> ChosenCheckpoint:
    """Choose the best checkpoint of a job (lowest eval loss, accuracy breaks ties) and make it the default endpoint."""
    job, backend = job_and_backend(ctx, args.job_id)
    if not job.checkpoints:
        raise ToolError(f"Job {job.job_id} has no checkpoints yet (state {job.state.value}).",
                        "Wait for it with poll_metrics; checkpoints appear as epochs complete.")
    best, reason = pick(checkpoint_rows(job, job_metrics(ctx, backend, job.job_id)))
    where = ", ".join(f"{k} {v}" for k, v in (("epoch", best.epoch), ("step", best.step)) if v is not None)
    label = f"Checkpoint {best.checkpoint_id}" + (f" ({where})" if where else "")
    reason = f"{label}: {reason}."
    if not job.state.ended:
        reason += f" The job is still {job.state.value}: later checkpoints may do better."
    is_default, endpoint = best.is_default, best.endpoint
    if args.set_default and not is_default and not job.state.ended:
        # Pinning now would keep a later, better checkpoint from becoming the default.
        reason += " It was not made the default yet: call choose_checkpoint again when the job has ended."
    elif args.set_default and not is_default:
        try:
            updated = backend.set_default_checkpoint(job.job_id, best.checkpoint_id)
            is_default = True
            endpoint = updated.endpoint or endpoint
            ctx.workspace.record_job(updated)
        except (NotImplementedError, ToolError) as exc:
            reason += f" It could not be made the default ({exc}); call its endpoint directly."
    checkpoint = Checkpoint(**{k: getattr(best, k) for k in Checkpoint.model_fields})
    checkpoint.is_default = is_default
    return ChosenCheckpoint(job_id=job.job_id, checkpoint=checkpoint, reason=reason, is_default=is_default,
                            endpoint=endpoint)


def chosen_checkpoint_id(ctx: ToolContext, job: JobInfo) -> str | None:
    """The checkpoint choose_checkpoint last picked for this job, when the backend could not make it the default."""
    for event in reversed(ctx.workspace.events(job.job_id, "tool:choose_checkpoint")):
        picked = ((event["data"] or {}).get("checkpoint") or {}).get("checkpoint_id")
        if any(c.checkpoint_id == picked and not c.is_default and c.endpoint for c in job.checkpoints):
            return picked
        return None
    return None


def tuned_target(job: JobInfo, checkpoint_id: str | None) -> str:
    """What to call for the tuned model: a named checkpoint's endpoint, else the job's default endpoint."""
    if checkpoint_id:
        for c in job.checkpoints:
            if c.checkpoint_id == checkpoint_id:
                if not c.endpoint:
                    raise ToolError(f"Checkpoint {checkpoint_id} of {job.job_id} has no endpoint.",
                                    "Use another checkpoint, or omit checkpoint_id for the default one.")
                return c.endpoint
        known = ", ".join(c.checkpoint_id for c in job.checkpoints) or "none"
        raise ToolError(f"Job {job.job_id} has no checkpoint {checkpoint_id!r}.", f"Its checkpoints: {known}.")
    target = job.endpoint or next((c.endpoint for c in job.checkpoints if c.is_default and c.endpoint), None)
    if not target:
        raise ToolError(f"Job {job.job_id} has no endpoint yet (state {job.state.value}).",
                        "Wait for the job to succeed with poll_metrics, then try again.")
    return target


MAX_OUTPUT_TOKENS = 2048


class CompareModelsInput(ToolInput):
    job_id: str
    prompts_path: str | None = Field(None, description="JSONL of Gemini examples; default the job's validation set")
    max_examples: int = Field(20, ge=1, le=500)
    checkpoint_id: str | None = Field(None, description="compare this checkpoint instead of the default endpoint")
    # Capped: each example is two generations, billed per output token on Vertex AI.
    max_output_tokens: int | None = Field(None, ge=1, le=MAX_OUTPUT_TOKENS,
                                          description="default: room for each reference answer")


class ExamplePair(BaseModel):
    prompt: str
    reference: str
    base: str
    tuned: str
    base_token_f1: float
    tuned_token_f1: float


class CompareModelsOutput(BaseModel):
    job_id: str
    tuned_target: str
    base_target: str
    prompts_source: str
    n: int = Field(description="examples both models answered; every number below rests on these")
    metrics: dict[str, MetricComparison]
    examples: list[ExamplePair]
    verdict: str
    failures: int = 0
    mean_latency_s: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    details_path: str | None = None


@tool(consent=comparison_question)
def compare_models(args: CompareModelsInput, ctx: ToolContext) -> CompareModelsOutput:
    """Compare the tuned model with its base model on held-out examples (default: the job's validation set).

    Scores both against the reference answers (exact match, token F1, ROUGE-L, embedding similarity; an LLM judge
    when one is configured) and reports each difference with its sample size and a 95% confidence interval."""
    job, backend = job_and_backend(ctx, args.job_id)
    tuned = tuned_target(job, args.checkpoint_id or chosen_checkpoint_id(ctx, job))
    base = backend.base_target(job.base_model)
    source, examples = held_out_examples(ctx, job, args.prompts_path, args.max_examples)
    trial = run_trial(ctx, [Target("base", backend, base, job.base_model), Target("tuned", backend, tuned,
                                                                                   job.base_model)],
                      examples, args.max_output_tokens, "compare_models", job.job_id)
    metrics = trial.compare("base", "tuned")
    details = ctx.workspace.dir("evaluations") / f"{safe_name(job.job_id)}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    trial.write_details(details)
    texts, f1 = trial.texts, trial.scores["token_f1"]
    return CompareModelsOutput(
        job_id=job.job_id, tuned_target=tuned, base_target=base, prompts_source=source, n=len(trial.kept),
        metrics=metrics, verdict=verdict(metrics), failures=len(trial.errors), notes=trial.notes,
        details_path=str(details), mean_latency_s=trial.mean_latency_s(),
        examples=[ExamplePair(prompt=truncate(ex.prompt_text), reference=truncate(ex.reference),
                              base=truncate(texts["base"][i]), tuned=truncate(texts["tuned"][i]),
                              base_token_f1=round(f1["base"][i], 3), tuned_token_f1=round(f1["tuned"][i], 3))
                  for i, ex in enumerate(trial.kept[:3])])


def verdict(metrics: dict[str, MetricComparison]) -> str:
    """One sentence naming the metrics whose 95% interval excludes zero, always with n."""
    better = [m for m in metrics.values() if m.significant > 0]
    worse = [m for m in metrics.values() if m.significant < 0]
    primary = metrics.get("token_f1") or next(iter(metrics.values()))
    if better and not worse:
        lead = primary if primary in better else better[0]
        return (f"The tuned model is better than the base model: {lead.sentence()}; "
                f"also better on {', '.join(m.metric for m in better if m is not lead) or 'no other metric'}.")
    if worse and not better:
        return f"The tuned model is worse than the base model: {worse[0].sentence()}."
    if better and worse:
        return (f"Mixed: better on {', '.join(m.metric for m in better)}, worse on "
                f"{', '.join(m.metric for m in worse)} ({primary.sentence()}).")
    return (f"No significant difference between tuned and base: {primary.sentence()}. More examples would "
            "narrow the interval.")


def safe_name(name: str) -> str:
    """A job id as part of a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-80:]


class TestEndpointInput(ToolInput):
    job_id: str | None = Field(None, description="test this job's default endpoint")
    endpoint: str | None = Field(None, description="or this endpoint (or checkpoint endpoint) directly")
    prompts: list[str] | None = Field(None, description="default: prompts from the job's validation data")
    n: int = Field(3, ge=1, le=20, description="requests to send: the first n prompts, repeated when fewer are given")
    system_instruction: str | None = Field(
        None, description="sent with every request; default the one the job was trained with (tuned models expect it)")


class EndpointSample(BaseModel):
    prompt: str
    response: str | None = None
    latency_s: float
    ok: bool
    error: str | None = None


class TestEndpointOutput(BaseModel):
    ok: bool = Field(description="every request was answered")
    endpoint: str
    via: str = Field(description="how the requests were sent")
    samples: list[EndpointSample]
    p50_latency_s: float | None = None
    system_instruction: str | None = Field(None, description="sent with every request")


@tool
def test_endpoint(args: TestEndpointInput, ctx: ToolContext) -> TestEndpointOutput:
    """Send a few requests to a tuned model's endpoint and report each answer, its latency and any error.

    For the local backend the requests go through a real HTTP server speaking Gemini generateContent, with the
    google-genai client, exactly as a user's code would call it."""
    if not args.job_id and not args.endpoint:
        raise ToolError("test_endpoint needs job_id or endpoint.", "Pass the job_id that create_tuning_job returned.")
    job, backend = job_and_backend(ctx, args.job_id) if args.job_id else (None, ctx.backend_for_job(args.endpoint))
    target = args.endpoint or tuned_target(job, chosen_checkpoint_id(ctx, job))
    prompts = list(args.prompts or [])
    system = args.system_instruction
    if job is not None and (not prompts or system is None):
        try:
            examples = held_out_examples(ctx, job, None, args.n, training_fallback=True)[1]
        except ToolError:
            examples = []
        prompts = prompts or [ex.prompt_text for ex in examples]
        # Train and serve with the same system instruction: without it a tuned model answers off-task.
        system = system if system is not None else next((ex.system_instruction for ex in examples), None)
    prompts = prompts or ["Hello! In one sentence, what can you help me with?"]
    prompts = [prompts[i % len(prompts)] for i in range(args.n)]
    serve = getattr(backend, "serve_endpoint", None)
    if callable(serve):
        with serve(target) as base_url:
            from google import genai

            # vertexai=False: GOOGLE_GENAI_USE_ENTERPRISE or _VERTEXAI in the environment would send Vertex paths here.
            client = genai.Client(vertexai=False, api_key="local",
                                  http_options={"base_url": base_url, "timeout": 120_000})  # ms: a CPU generation
            config = {"max_output_tokens": 128, **({"system_instruction": system} if system else {})}
            samples = [_timed(p, lambda p=p: client.models.generate_content(
                model=target, contents=p, config=config).text) for p in prompts]
            via = f"google-genai over HTTP ({base_url}, generateContent)"
    else:
        requests = [GenerateRequest(contents=[{"role": "user", "parts": [{"text": p}]}], system_instruction=system,
                                    max_output_tokens=128) for p in prompts]
        charge = check_inference(ctx, backend.name, job.base_model if job else target, requests, "test_endpoint",
                                 job.job_id if job else None)
        samples = [_timed(r.contents[0]["parts"][0]["text"], lambda r=r: backend.generate(target, r).text)
                   for r in requests]
        if charge is not None:
            charge.done([])  # the answers' token counts are not kept here: the estimate stands
        via = f"{backend.name} backend generate"
    good = [s.latency_s for s in samples if s.ok]
    return TestEndpointOutput(ok=all(s.ok for s in samples), endpoint=target, via=via, samples=samples,
                              system_instruction=system,
                              p50_latency_s=round(statistics.median(good), 3) if good else None)


def _timed(prompt: str, call: Callable[[], Any]) -> EndpointSample:
    started = time.perf_counter()
    try:
        text = call()
    except Exception as exc:  # noqa: BLE001 - a failed request is the result being measured, not a crash
        return EndpointSample(prompt=truncate(prompt), response=None, ok=False, error=truncate(str(exc), 300),
                              latency_s=round(time.perf_counter() - started, 3))
    return EndpointSample(prompt=truncate(prompt), response=truncate(text or ""), ok=bool(text),
                          error=None if text else "empty response", latency_s=round(time.perf_counter() - started, 3))

