"""What compare_models will cost on Vertex AI, before it runs: two generations an example (base and tuned) at the
base model's published prices, so the user is asked before more than a cent goes on an evaluation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tools.catalog import catalog
from tools.errors import ToolError
from tools.evaluation.heldout import Example, held_out_examples
from tools.tokens import CHARS_PER_TOKEN

if TYPE_CHECKING:
    from tools.context import ToolContext
    from tools.evaluation.comparison import CompareModelsInput

ASK_ABOVE_USD = 0.01
DEFAULT_OUTPUT_CAP = 1024


def output_limit(max_output_tokens: int | None, example: Example) -> int:
    """Room for the reference and then some (about 2 characters a token is generous for any tokenizer); a cap keeps
    a rambling base model from costing minutes on a CPU, or money on Vertex AI."""
    return max_output_tokens or min(DEFAULT_OUTPUT_CAP, len(example.reference) // 2 + 32)


def comparison_cost(base_model: str, examples: list[Example], max_output_tokens: int | None,
                    generations: int = 2) -> float | None:
    """The most `generations` answers an example can cost in USD (every answer at its token cap, billed at
    base_model's rates); None when no price is published."""
    model = catalog().find(base_model)
    if model is None or model.input_per_m < 0 or model.output_per_m < 0:
        return None
    usd = 0.0
    for ex in examples:
        prompt = len(json.dumps(ex.contents)) + len(ex.system_instruction or "")
        tokens_in, tokens_out = -(-prompt // CHARS_PER_TOKEN), output_limit(max_output_tokens, ex)
        usd += generations * (tokens_in * model.input_per_m + tokens_out * model.output_per_m) / 1e6
    return usd


def comparison_question(args: CompareModelsInput, ctx: ToolContext) -> str | None:
    """compare_models' consent check: a question when a Vertex AI comparison may cost over a cent, or its price is
    unknown (never guessed); None for the local backend and for cheap comparisons."""
    job_id = args.job_id
    try:
        backend = ctx.backend_for_job(job_id)
        if backend.name != "vertex":
            return None
        job = backend.get_job(job_id)
        _, examples = held_out_examples(ctx, job, args.prompts_path, args.max_examples)
    except ToolError:
        return None  # the tool reports the same problem first thing, before anything is generated
    usd = comparison_cost(job.base_model, examples, args.max_output_tokens)
    what = f"Compare {job_id} with {job.base_model} on {len(examples)} held-out examples ({2 * len(examples)} " \
           "Vertex AI generations)"
    return cost_question(what, usd, job.base_model, f"{job.base_model}'s published prices")


def cost_question(what: str, usd: float | None, models: str, prices: str) -> str | None:
    """The question for an evaluation of `what` that may cost `usd` (None: unknown); None when it is a cent or less."""
    if usd is None:
        return f"{what}? No inference price for {models} is known here, so the cost cannot be estimated."
    if usd <= ASK_ABOVE_USD:
        return None
    return f"{what}? At most ${usd:.2f} at {prices} (every answer at its token cap)."
