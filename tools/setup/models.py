"""list_models: the base models the catalog knows, each with its lifecycle judged today, its limits and prices; or
the tuned models this workspace knows, each with its base model's lifecycle (a tuned model retires with its base)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.catalog import Lifecycle, catalog, today
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput
from tools.registry import tool


class BaseModelRow(BaseModel):
    id: str
    backend: str
    status: str = Field(description="current, retiring (within the warning window), blocked (no new tuning), retired")
    lifecycle: Lifecycle
    default_for: list[str] = Field(default_factory=list, description="tuning and/or brain, when the catalog's default")
    adapter_sizes: list[int]
    max_tokens_per_example: int
    tuning_locations: list[str]
    thinking: str = Field(description="none, or the lowest budget/level a tuned endpoint is called with")
    tuning_per_m: float | None = Field(None, description="USD per 1M training tokens; None when unpublished")
    input_per_m: float | None = Field(None, description="USD per 1M input tokens today; None when unpublished")
    output_per_m: float | None = Field(None, description="USD per 1M output tokens today; None when unpublished")
    unconfirmed: list[str] = Field(default_factory=list, description="fields seen only in weak or single sources")
    source: str
    as_of: str


class TunedModelRow(BaseModel):
    job_id: str
    display_name: str | None = None
    backend: str
    state: str
    base_model: str
    endpoint: str | None = None
    base_status: str = Field(description="the base model's lifecycle status today; unknown when not in the catalog")
    note: str = Field("", description="what to do, e.g. re-tune on the successor before the base model retires")
    successor: str | None = None


class ListModelsInput(ToolInput):
    tuned: bool = Field(False, description="true: the tuned models this workspace knows, with their base's status")
    include_retired: bool = Field(True, description="false: only base models that can be tuned today")


class ListModelsOutput(BaseModel):
    on: str = Field(description="the date lifecycles were judged on")
    base_models: list[BaseModelRow] = Field(default_factory=list)
    tuned_models: list[TunedModelRow] = Field(default_factory=list)
    catalog_as_of: str
    summary: str
    warnings: list[str] = Field(default_factory=list)


@tool
def list_models(args: ListModelsInput, ctx: ToolContext) -> ListModelsOutput:
    """The base models with their lifecycle today (current, retiring, blocked, retired, with dates and successor),
    limits and prices; or, with tuned=true, the tuned models this workspace knows and their base model's status.

    Costs nothing. Use it to pick a base model, or to find tuned models that must be re-tuned on a successor."""
    cat = catalog()
    day = today()
    if args.tuned:
        warnings = _refresh_from_vertex(ctx)
        rows = [_tuned_row(job.job_id, job.display_name, job.backend, job.state.value, job.base_model, job.endpoint)
                for job in ctx.workspace.list_jobs() if job.state.value == "SUCCEEDED"]
        at_risk = [r for r in rows if r.base_status not in ("current", "unknown")]
        summary = (f"{len(rows)} tuned model(s) in this workspace; {len(at_risk)} on a retiring or retired base "
                   "model." if rows else "No tuned model in this workspace yet.")
        return ListModelsOutput(on=str(day), tuned_models=rows, catalog_as_of=cat.defaults.as_of, summary=summary,
                                warnings=warnings)
    rows = [_base_row(m.id) for m in cat.models]
    if not args.include_retired:
        rows = [r for r in rows if r.lifecycle.tunable]
    tunable = [r.id for r in rows if r.lifecycle.tunable and r.backend == "vertex"]
    summary = (f"Tunable on Vertex AI today ({day}): {', '.join(tunable) or 'none'}; default "
               f"{cat.default_tuning_model()}. Prices of -1 in the catalog are shown as unknown.")
    return ListModelsOutput(on=str(day), base_models=rows, catalog_as_of=cat.defaults.as_of, summary=summary)


def _refresh_from_vertex(ctx: ToolContext) -> list[str]:
    """Tuning jobs of the project (made here or elsewhere) join the workspace's list; optional, as list_jobs does."""
    if ctx.backend_name() != "vertex":
        return []
    try:
        for info in ctx.backend("vertex").list_jobs(100):
            ctx.workspace.record_job(info)
    except ToolError as exc:
        return [f"Vertex AI jobs not listed, only this workspace's: {exc}"]
    return []


def _base_row(model_id: str) -> BaseModelRow:
    cat = catalog()
    model = cat.get(model_id)
    life = cat.lifecycle(model)
    defaults = [role for role, chosen in (("tuning", cat.default_tuning_model()), ("brain", cat.default_brain_model()),
                                          ("local", cat.default_tuning_model("local"))) if chosen == model.id]
    thinking = {"none": "none", "budget": f"budget {model.thinking_min}",
                "level": f"level {model.thinking_min_level}"}[model.thinking]
    input_per_m, output_per_m = model.prices_on()
    return BaseModelRow(
        id=model.id, backend=model.backend, status=life.status, lifecycle=life, default_for=defaults,
        adapter_sizes=model.adapter_sizes, max_tokens_per_example=model.max_tokens_per_example,
        tuning_locations=cat.regions_for(model) if model.backend == "vertex" else ["this machine"],
        thinking=thinking, tuning_per_m=_price(model.tuning_per_m), input_per_m=_price(input_per_m),
        output_per_m=_price(output_per_m), unconfirmed=model.unconfirmed, source=model.source, as_of=model.as_of)


def _tuned_row(job_id: str, name: str | None, backend: str, state: str, base: str,
               endpoint: str | None) -> TunedModelRow:
    cat = catalog()
    model = cat.find(base)
    if model is None:
        return TunedModelRow(job_id=job_id, display_name=name, backend=backend, state=state, base_model=base,
                             endpoint=endpoint, base_status="unknown", note="base model not in the catalog")
    life = cat.lifecycle(model)
    note = {"current": "", "retiring": f"{life.message} Re-tune it before then (retune_job).",
            "blocked": f"{life.message} It answers until then; re-tune on the successor now (retune_job).",
            "retired": f"{life.message} Its endpoint no longer answers; re-tune on the successor (retune_job)."}
    return TunedModelRow(job_id=job_id, display_name=name, backend=backend, state=state, base_model=model.id,
                         endpoint=endpoint, base_status=life.status, note=note[life.status].strip(),
                         successor=life.successor)


def _price(usd: float) -> float | None:
    return usd if usd >= 0 else None
