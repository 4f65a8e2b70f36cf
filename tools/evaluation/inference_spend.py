"""Model calls against the budget (compare_models, test_endpoint, measure_base on Vertex AI): the projected cost
of the requests is checked before the first one is sent, and what was sent goes to the ledger, with the actual cost
when the service reported the tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tools.backends.base import GenerateRequest, GenerateResult
from tools.catalog import catalog
from tools.context import ToolContext


def request_tokens(request: GenerateRequest) -> tuple[int, int]:
    """(input tokens, most output tokens) of one request, at about 4 characters a token."""
    text = "".join(p.get("text", "") for c in request.contents for p in c.get("parts", []) if isinstance(p, dict))
    chars = len(text) + len(request.system_instruction or "")
    return max(1, chars // 4), request.max_output_tokens or 1024


@dataclass
class Charge:
    ctx: ToolContext
    action: str
    model: str
    estimate: float | None
    input_per_m: float | None
    output_per_m: float | None
    job_id: str | None
    price_source: str | None

    def done(self, results: Sequence[GenerateResult]) -> None:
        """Write what ran to the ledger: the actual cost when every answer came with its token counts."""
        actual = None
        counted = all(r.input_tokens is not None and r.output_tokens is not None for r in results)
        if results and counted and self.input_per_m is not None and self.output_per_m is not None:
            actual = round(sum(r.input_tokens * self.input_per_m + r.output_tokens * self.output_per_m
                               for r in results) / 1e6, 6)
        self.ctx.spend.charge(self.ctx.workspace, self.action, self.estimate, actual=actual, model=self.model,
                              job_id=self.job_id, price_source=self.price_source)


def check_inference(ctx: ToolContext, backend: str, model_id: str, requests: Sequence[GenerateRequest], action: str,
                    job_id: str | None = None) -> Charge | None:
    """Refuse calls the budget cannot hold (priced at the base model's rates: a tuned Gemini model is billed as its
    base); None on the local backend, which is free."""
    if backend == "local" or not requests:
        return None
    model = catalog().find(model_id)
    known = model is not None and model.input_per_m >= 0 and model.output_per_m >= 0
    estimate = None
    if known:
        sizes = [request_tokens(r) for r in requests]
        estimate = round(sum(i * model.input_per_m + o * model.output_per_m for i, o in sizes) / 1e6, 6)
    what = f"{action} ({len(requests)} requests to {model_id})"
    ctx.spend.check(ctx.workspace, what, estimate, None if known else f"the inference price of {model_id} is unknown",
                    model_id)
    return Charge(ctx, action, model_id, estimate, model.input_per_m if known else None,
                  model.output_per_m if known else None, job_id, model.source if model else None)
