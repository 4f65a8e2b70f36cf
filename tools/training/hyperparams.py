"""recommend_hyperparameters: epochs, adapter size and learning-rate multiplier from the dataset's size and the base
model, each with a one-line reason, and only values the model accepts (tools/data/models.toml)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.catalog import ModelInfo, catalog, default_tuning_model
from tools.context import ToolContext
from tools.errors import ToolInput
from tools.registry import tool

# Google's SFT best-practices blog (Jan 2025), as transcribed by a third party: shared/reference/vertex-tuning.md §3.3.
GUIDE = "Google's SFT best-practices guide (2025)"
SMALL_DATASET = 1000
LONG_EXAMPLE = 500
# Measured on this kind of machine (shared/reference/local-tuning.md): LoRA r=8, AdamW 1e-3, 3 epochs took a task
# from 0/10 to 10/10 with 50-100 short examples; training runs at about 140 tokens a second on 2 cores.
LOCAL_TOKENS_PER_SECOND = 140
LOCAL_BASE_LR = 1e-3


class IntChoice(BaseModel):
    value: int
    reason: str


class FloatChoice(BaseModel):
    value: float
    reason: str


class HyperparameterAdvice(BaseModel):
    base_model: str
    example_count: int | None = None
    avg_tokens: float | None = None
    epochs: IntChoice
    adapter_size: IntChoice = Field(description="Vertex adapter size; for the local backend, the LoRA rank")
    learning_rate_multiplier: FloatChoice
    notes: list[str] = Field(default_factory=list)


class RecommendInput(ToolInput):
    base_model: str = Field(default_factory=default_tuning_model,
                            description=f"Base model to tune (default {default_tuning_model()})")
    training_path: str | None = Field(None, description="Training JSONL (local path, or a gs:// URI uploaded here): "
                                      "its example count and average tokens are used")
    example_count: int | None = Field(None, ge=0, description="Number of training examples, if no training_path")
    avg_tokens: float | None = Field(None, ge=0, description="Average tokens per example, if no training_path")


@tool
def recommend_hyperparameters(args: RecommendInput, ctx: ToolContext) -> HyperparameterAdvice:
    """Recommend epochs, adapter size and learning-rate multiplier for a tuning job from the dataset size and the
    base model, each with a one-line reason; only values the model accepts."""
    catalog().tunable(args.base_model)  # a retired model is refused, its successor named
    count, avg = args.example_count, args.avg_tokens
    if args.training_path:
        from tools.dataset.validation import dataset_stats

        stats = dataset_stats(args.training_path, ctx, args.base_model)
        count = stats.get("valid_examples", stats.get("examples")) if count is None else count
        avg = stats.get("avg_tokens") if avg is None else avg
    advice = recommend(args.base_model, count, avg)
    warning = catalog().warning(args.base_model)
    if warning:
        advice.notes.insert(0, warning)
    return advice


def recommend(base_model: str, example_count: int | None, avg_tokens: float | None) -> HyperparameterAdvice:
    """The recommendation as a plain function (estimate_cost and the planner use it)."""
    model = catalog().get(base_model)
    if model.backend == "local":  # gemma-3-270m and any local model folder train on this machine's CPU
        return _local(model, example_count, avg_tokens)
    notes = [f"Starting points from {GUIDE}; Google's advice for a first job is to keep the defaults and compare."]
    n, long = example_count, avg_tokens is not None and avg_tokens >= LONG_EXAMPLE
    size = f"{n:,} examples" if n is not None else "an unknown number of examples"
    length = f"{avg_tokens:,.0f} tokens on average" if avg_tokens is not None else "unknown length (taken as short)"
    if n is None:
        epochs = IntChoice(value=10, reason="example count unknown: 10 is the guide's value for 1,000+ examples and "
                           "the low end for fewer; pass training_path or example_count for a closer fit")
        lr = FloatChoice(value=1.0, reason="the default, since the dataset size is unknown")
        adapter = 4
    elif n < SMALL_DATASET and not long:
        epochs = IntChoice(value=20, reason=f"{size} of {length}: the guide gives 20 epochs below 1,000 short examples")
        lr = FloatChoice(value=10.0, reason=f"{size}: the guide raises the multiplier to 10 so small data converges")
        adapter = 4
    elif n < SMALL_DATASET:
        epochs = IntChoice(value=10, reason=f"{size} of {length}: the low end of the guide's 10-20 for long examples, "
                           "which carry more signal each")
        lr = FloatChoice(value=5.0, reason=f"{size} of long examples: the low end of the guide's 5-10")
        adapter = 4
    else:
        epochs = IntChoice(value=10, reason=f"{size}: the guide gives 10 epochs from 1,000 examples up")
        lr = FloatChoice(value=1.0, reason=f"{size}: the default (the guide allows 5 for short examples if the loss "
                         "falls slowly)")
        adapter = 8 if long else 4
    adapter_reason = (f"{size} of {length}: " + ("the guide's 8 for 1,000+ long examples" if adapter == 8
                                                  else "the guide's 4 for this size and length"))
    if n is not None and n < 100:
        notes.append(f"Only {n} examples: Google recommends at least 100 (100-500 for best results); watch the "
                     "validation loss for overfitting.")
    if n is not None and n >= 10_000:
        notes.append("The guide stops at 1,000+; with this many examples fewer epochs may do. Leaving epochs unset "
                     "lets Vertex choose, and estimate_cost shows what each epoch costs.")
    return HyperparameterAdvice(
        base_model=model.id, example_count=n, avg_tokens=avg_tokens, epochs=epochs,
        adapter_size=_accepted(model, adapter, adapter_reason), learning_rate_multiplier=lr, notes=notes)


def _local(model: ModelInfo, n: int | None, avg: float | None) -> HyperparameterAdvice:
    measured = "measured here: 50-100 short examples x 3 epochs took a task from 0/10 to 10/10"
    if n is None or 30 <= n <= 1000:
        epochs = IntChoice(value=3, reason=measured)
    elif n < 30:
        epochs = IntChoice(value=5, reason=f"only {n} examples, fewer than the 50-100 measured: more passes over them")
    elif n <= 5000:
        epochs = IntChoice(value=2, reason=f"{n:,} examples: 2 passes keep CPU training time reasonable")
    else:
        epochs = IntChoice(value=1, reason=f"{n:,} examples: one pass already takes long on a CPU")
    notes = [f"Local backend: adapter size is the LoRA rank; the learning rate is {LOCAL_BASE_LR:g} x the multiplier."]
    if n is not None and avg is not None:
        minutes = n * avg * epochs.value / LOCAL_TOKENS_PER_SECOND / 60
        notes.append(f"About {minutes:,.0f} min of training on 2 CPU cores (~{LOCAL_TOKENS_PER_SECOND} training "
                     "tokens/s measured).")
    return HyperparameterAdvice(
        base_model=model.id, example_count=n, avg_tokens=avg, epochs=epochs,
        adapter_size=_accepted(model, 8, "LoRA rank 8 on all linear layers: the setting measured to work here"),
        learning_rate_multiplier=FloatChoice(value=1.0, reason=f"1.0 x {LOCAL_BASE_LR:g} (AdamW): the rate measured "
                                             "to work here"),
        notes=notes)


def _accepted(model: ModelInfo, wanted: int, reason: str) -> IntChoice:
    """The wanted adapter size if the model takes it, else the nearest one it does take."""
    if wanted in model.adapter_sizes:
        return IntChoice(value=wanted, reason=reason)
    nearest = min(model.adapter_sizes, key=lambda s: (abs(s - wanted), -s))
    return IntChoice(value=nearest, reason=f"{reason}; {model.id} takes {model.adapter_sizes}, so {nearest}")
