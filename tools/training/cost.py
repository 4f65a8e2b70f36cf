"""Cost: training tokens x epochs x the model's tuning price, and a projected cost per inference request. Prices come
only from tools/data/models.toml (each row with its source and as-of date); a price of -1 there means unknown, and
an estimate then says so instead of inventing one."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.catalog import ModelInfo, catalog, default_tuning_model, today
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import tool
from tools.spend.prices import is_yours
from tools.training.hyperparams import LOCAL_TOKENS_PER_SECOND

PRICE_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"


class CostEstimate(BaseModel):
    base_model: str
    tokens_per_epoch: int | None = None
    epochs: int | None = None
    epochs_source: str = Field("given", description="given, recommended, or service (Vertex chooses)")
    billable_training_tokens: int | None = None
    price_per_m_training_tokens: float | None = None
    training_cost_usd: float | None = Field(None, description="None when the price or the token count is unknown")
    per_epoch_usd: float | None = None
    avg_input_tokens: float | None = None
    avg_output_tokens: float | None = None
    per_request_usd: float | None = Field(None, description="one inference request of the average size")
    requests_per_month: int | None = None
    monthly_inference_usd: float | None = None
    training_minutes: float | None = Field(None, description="local backend only, at the training speed measured on "
                                           "2 CPU cores; Vertex AI publishes no training time")
    price_source: str = ""
    price_as_of: str = ""
    tokens_estimated: bool = False
    summary: str
    notes: list[str] = Field(default_factory=list)


def training_cost(base_model: str, tokens_per_epoch: int | None, epochs: int | None,
                  tokens_estimated: bool = False) -> CostEstimate:
    """Training cost = dataset tokens x epochs x price per 1M training tokens."""
    model = catalog().find(base_model)
    if model is None:
        return CostEstimate(base_model=base_model, tokens_per_epoch=tokens_per_epoch, epochs=epochs,
                            tokens_estimated=tokens_estimated,
                            summary=f"No price known for {base_model}: it is not in the model catalog.",
                            notes=["Add the model to tools/data/models.toml with its price, source and date."])
    price = model.tuning_per_m if model.tuning_per_m >= 0 else None
    billable = tokens_per_epoch * epochs if tokens_per_epoch is not None and epochs is not None else None
    cost = _usd(billable, price)
    per_epoch = _usd(tokens_per_epoch, price)
    notes = []
    if price is None:
        notes.append(f"Google has published no tuning price for {model.id} that we could confirm; check {PRICE_PAGE}.")
    if tokens_estimated:
        notes.append("The token count is an estimate (about 4 characters a token), not the Gemma 3 tokenizer's.")
    minutes = None
    if model.backend == "local":
        notes.append("Local training runs on this machine: no charge.")
        minutes = round(billable / LOCAL_TOKENS_PER_SECOND / 60, 1) if billable is not None else None
    return CostEstimate(
        base_model=model.id, tokens_per_epoch=tokens_per_epoch, epochs=epochs,
        epochs_source="given" if epochs is not None else "service", billable_training_tokens=billable,
        price_per_m_training_tokens=price, training_cost_usd=cost, per_epoch_usd=per_epoch,
        price_source=model.source, price_as_of=model.as_of, tokens_estimated=tokens_estimated, training_minutes=minutes,
        summary=_training_summary(model, tokens_per_epoch, epochs, price, cost, per_epoch, tokens_estimated, minutes),
        notes=notes,
    )


def actual_cost(base_model: str, total_billable_token_count: int | None, epochs: int | None) -> CostEstimate:
    """Training cost from the billable tokens Vertex counted (tuning_data_stats), which are per pass: x epochs."""
    estimate = training_cost(base_model, total_billable_token_count, epochs, tokens_estimated=False)
    estimate.notes.insert(0, "Vertex's totalBillableTokenCount is read as tokens per pass over the data and multiplied "
                          "by the epochs: our interpretation of the docs, not confirmed by Google.")
    return estimate


def inference_cost(estimate: CostEstimate, avg_input_tokens: float | None, avg_output_tokens: float | None,
                   requests_per_month: int | None) -> CostEstimate:
    """Add the projected cost of one inference request (and a month of them) at the base model's prices."""
    model = catalog().find(estimate.base_model)
    estimate.avg_input_tokens, estimate.avg_output_tokens = avg_input_tokens, avg_output_tokens
    estimate.requests_per_month = requests_per_month
    if model is None or avg_input_tokens is None or avg_output_tokens is None:
        return estimate
    input_per_m, output_per_m = model.prices_on()  # an introductory price ends on its announced date
    if input_per_m < 0 or output_per_m < 0:
        estimate.notes.append(f"No inference price published for {model.id} that we could confirm; see {PRICE_PAGE}.")
        return estimate
    if any(change.starts > today() for change in model.price_changes):
        later = min((c for c in model.price_changes if c.starts > today()), key=lambda c: c.starts)
        estimate.notes.append(f"{model.id}'s inference price changes on {later.starts} to ${later.input_per_m:.2f} "
                              f"in / ${later.output_per_m:.2f} out per 1M tokens.")
    per_request = (avg_input_tokens * input_per_m + avg_output_tokens * output_per_m) / 1e6
    estimate.per_request_usd = round(per_request, 8)
    line = (f" Inference: ${per_request:.6f} a request ({avg_input_tokens:,.0f} in x ${input_per_m:.3f}/1M + "
            f"{avg_output_tokens:,.0f} out x ${output_per_m:.2f}/1M)")
    if requests_per_month is not None:
        estimate.monthly_inference_usd = round(per_request * requests_per_month, 2)
        line += f", {money(estimate.monthly_inference_usd)} for {requests_per_month:,} requests a month"
    estimate.summary += line + "."
    if model.thinking != "none":
        estimate.notes.append("Output prices include thinking tokens; a tuned model that thinks costs more per answer.")
    return estimate


class EstimateCostInput(ToolInput):
    base_model: str = Field(default_factory=default_tuning_model,
                            description=f"Base model to tune (default {default_tuning_model()})")
    training_path: str | None = Field(None, description="Training JSONL (local, or a gs:// URI uploaded here); its "
                                      "tokens are counted")
    training_tokens: int | None = Field(None, ge=0, description="Tokens in the training set per epoch, instead of a "
                                        "path")
    epochs: int | None = Field(None, ge=1, le=100, description="Epochs; default: recommend_hyperparameters' value")
    avg_input_tokens: float | None = Field(None, ge=0, description="Input tokens per inference request (default: the "
                                           "dataset's average prompt)")
    avg_output_tokens: float | None = Field(None, ge=0, description="Output tokens per request (default: the "
                                            "dataset's average answer)")
    requests_per_month: int | None = Field(None, ge=0, description="Expected inference requests a month")


@tool
def estimate_cost(args: EstimateCostInput, ctx: ToolContext) -> CostEstimate:
    """Estimate what tuning will cost (training tokens x epochs x the model's price per 1M tokens) and what each
    inference request of the tuned model will cost. Prices come from the model table with their source and date."""
    model = catalog().tunable(args.base_model)  # a retired model is refused, its successor named
    tokens, estimated, count, avg, lines = args.training_tokens, False, None, None, 0
    avg_in, avg_out = args.avg_input_tokens, args.avg_output_tokens
    if args.training_path:
        from tools.dataset.validation import dataset_stats

        stats = dataset_stats(args.training_path, ctx, model.id)
        if tokens is None:
            tokens = stats.get("billable_tokens_per_epoch", stats.get("tokens"))
            estimated = bool(stats.get("tokens_estimated"))
        count, avg = stats.get("valid_examples", stats.get("examples")), stats.get("avg_tokens")
        lines = stats.get("examples") or 0
        if args.training_tokens is None and lines and not count:
            raise ToolError(f"{args.training_path}: none of its {lines:,} examples is valid, so there are no tokens "
                            "to price.", "Ask for a repaired copy (fix_dataset; the file itself is never changed) "
                            "and estimate that, or pass training_tokens.")
        avg_in = stats.get("avg_input_tokens") if avg_in is None else avg_in
        avg_out = stats.get("avg_output_tokens") if avg_out is None else avg_out
    if tokens is None and (avg_in is None or avg_out is None):
        raise ToolError("Nothing to estimate: no training_path or training_tokens, and no request size.",
                        "Pass training_path (a JSONL file) or training_tokens, and/or avg_input_tokens and "
                        "avg_output_tokens.")
    epochs, source = args.epochs, "given"
    if epochs is None and tokens is not None:
        from tools.training.hyperparams import recommend

        advice = recommend(model.id, count, avg)
        epochs, source = advice.epochs.value, "recommended"
    estimate = training_cost(model.id, tokens, epochs, estimated)
    if source == "recommended":
        estimate.epochs_source = source
        estimate.notes.insert(0, f"Epochs: {epochs}, recommend_hyperparameters' value ({advice.epochs.reason}). "
                              "Pass epochs to price another number.")
    if args.training_tokens is None and count is not None and lines and count < lines:
        estimate.notes.insert(0, f"Only the {count:,} valid examples of {lines:,} are counted; a repaired copy "
                              "(fix_dataset) may price higher.")
    warning = catalog().warning(model.id)
    if warning:
        estimate.notes.insert(0, warning)
    return inference_cost(estimate, avg_in, avg_out, args.requests_per_month)


def _usd(tokens: int | None, price_per_m: float | None) -> float | None:
    if tokens is None or price_per_m is None:
        return None
    return round(tokens / 1e6 * price_per_m, 4)


def _training_summary(model: ModelInfo, tokens: int | None, epochs: int | None, price: float | None,
                      cost: float | None, per_epoch: float | None, estimated: bool, minutes: float | None) -> str:
    dated = f"as of {model.as_of}" if model.as_of != "your file" else "from GTO_PRICES"
    basis = (f"your price, {dated}" if is_yours(model.source) else f"prices {dated}") + \
        (", estimated token count" if estimated else "")
    if model.backend == "local" and price == 0:
        if tokens is None or epochs is None or minutes is None:
            return f"$0.00: {model.id} trains on this machine, free."
        return (f"$0.00: {model.id} trains on this machine, free ({tokens:,} tokens x {epochs} epochs: about "
                f"{max(minutes, 1):,.0f} min at the {LOCAL_TOKENS_PER_SECOND} tokens/s measured on 2 CPU cores).")
    if tokens is None:
        known = f"${price:.2f} per 1M training tokens" if price is not None else "price unknown"
        return f"Training tokens unknown (validate the dataset first); {model.id}: {known} ({basis})."
    if price is None:
        passes = f" x {epochs} epochs = {tokens * epochs:,} training tokens" if epochs is not None else ""
        return f"Training price for {model.id} unknown; {tokens:,} tokens{passes} ({basis})."
    if epochs is None:
        return (f"{money(per_epoch)} per epoch = {tokens:,} tokens x ${price:.2f}/1M; Vertex chooses the epochs "
                f"({basis}).")
    return f"{money(cost)} = {tokens:,} tokens x {epochs} epochs x ${price:.2f}/1M ({basis})."


def money(usd: float | None) -> str:
    """Dollars for people: cents for a dollar or more, four decimals below (a small job still shows its cost)."""
    if usd is None:
        return "unknown"
    return f"${usd:,.2f}" if usd >= 1 or usd == 0 else f"${usd:.4f}"
