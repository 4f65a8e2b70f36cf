"""The deployment part of the report: the endpoint with code that calls it (google-genai and curl, for Vertex AI or
the local `gto serve` server), and the cost: estimate against actual, and projected inference cost."""

from __future__ import annotations

import json
from typing import Any

from tools.catalog import catalog
from tools.evaluation.checkpoints import CheckpointRow
from tools.reporting.facts import JobFacts
from tools.errors import ToolError
from tools.secrets import redact
from tools.training.cost import CostEstimate, actual_cost

LOCAL_PORT = 8765  # `gto serve`'s default port
_ADAPTER_NAMES = {1: "ONE", 2: "TWO", 4: "FOUR", 8: "EIGHT", 16: "SIXTEEN", 32: "THIRTY_TWO"}


def adapter_name(size: int | None, backend: str) -> str:
    if size is None:
        return "service default"
    return f"ADAPTER_SIZE_{_ADAPTER_NAMES.get(size, size)}" if backend == "vertex" else f"{size} (LoRA rank)"


def endpoint_of(f: JobFacts, chosen: CheckpointRow | None) -> str | None:
    return (chosen.endpoint if chosen else None) or f.job.endpoint


def sample_prompt(f: JobFacts) -> str:
    """A real prompt from this job's tests, so the example shows the task; a greeting when none ran."""
    tested, compared = f.tested, f.compared
    for prompt in [s.prompt for s in (tested.samples if tested else [])] + [e.prompt for e in
                                                                             (compared.examples if compared else [])]:
        if prompt:
            return redact(prompt)[:300]  # redacted before the cut, like everything else in the report
    return "Hello! What can you do?"


def _thinking(base_model: str) -> tuple[str, dict[str, Any]] | None:
    """Tuned models answer best with thinking off or at its minimum (Google's advice); (python, REST) forms."""
    model = catalog().find(base_model)
    if model is None or model.thinking == "none":
        return None
    if model.thinking == "level":
        level = model.thinking_min_level or "MINIMAL"
        return f'thinking_level="{level}"', {"thinkingLevel": level}
    budget = model.thinking_min or 0
    return f"thinking_budget={budget}", {"thinkingBudget": budget}


def _host(location: str) -> str:
    if location == "global":
        return "aiplatform.googleapis.com"
    return f"aiplatform.{location}.rep.googleapis.com" if location in ("us", "eu") else \
        f"{location}-aiplatform.googleapis.com"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def code_examples(f: JobFacts, endpoint: str, prompt: str) -> list[str]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    # A tuned model expects the system instruction it was trained with: the examples send it too.
    system = f.tested.system_instruction if f.tested else None
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if f.job.backend == "local":
        url = f"http://127.0.0.1:{LOCAL_PORT}"
        config = f", config={{'system_instruction': {json.dumps(system)}}}" if system else ""
        return [
            "Start the local server (it speaks the Gemini generateContent API) in one terminal:", "",
            "```bash", f"gto serve {endpoint}", "```", "",
            "Then call it with google-genai, changing only the base URL:", "",
            "```python", "from google import genai", "",
            # vertexai=False: GOOGLE_GENAI_USE_ENTERPRISE (or _VERTEXAI)=true in a shell would send Vertex paths here.
            f'client = genai.Client(vertexai=False, api_key="local", http_options={{"base_url": "{url}"}})',
            f"response = client.models.generate_content(model={json.dumps(endpoint)}, contents={json.dumps(prompt)}"
            f"{config})",
            "print(response.text)", "```", "", "or with curl:", "",
            "```bash", f"curl -s -X POST {url}/v1beta/models/{endpoint}:generateContent \\",
            "  -H 'Content-Type: application/json' \\", f"  -d {_shell_quote(json.dumps(body))}", "```"]
    parts = endpoint.split("/")
    project = parts[1] if len(parts) > 3 and parts[0] == "projects" else "YOUR_PROJECT"
    location = parts[3] if len(parts) > 3 and parts[2] == "locations" else "us-central1"
    model = catalog().find(f.job.base_model)
    if model is not None:  # Gemini 3.x tuned models answer only through the us/eu multi-regions
        location = model.serving_location(location)
    thinking = _thinking(f.job.base_model)
    options = [f"system_instruction={json.dumps(system)}"] if system else []
    if thinking:
        body["generationConfig"] = {"thinkingConfig": thinking[1]}
        options.append(f"thinking_config=types.ThinkingConfig({thinking[0]})")
    config = [f"    config=types.GenerateContentConfig({', '.join(options)}),"] if options else []
    return [
        "Python, with google-genai 1.74+ (`enterprise=True` is its name for Vertex AI, Gemini Enterprise Agent "
        "Platform) and application-default credentials (`gcloud auth application-default login`):",
        "", "```python", "from google import genai", "from google.genai import types", "",
        f'client = genai.Client(enterprise=True, project="{project}", location="{location}")',
        "response = client.models.generate_content(", f"    model={json.dumps(endpoint)},",
        f"    contents={json.dumps(prompt)},", *config, ")", "print(response.text)", "```", "", "curl:", "",
        "```bash", "curl -s -X POST \\", '  -H "Authorization: Bearer $(gcloud auth print-access-token)" \\',
        "  -H 'Content-Type: application/json' \\", f"  https://{_host(location)}/v1/{endpoint}:generateContent \\",
        f"  -d {_shell_quote(json.dumps(body))}", "```"]


def endpoint_section(f: JobFacts, chosen: CheckpointRow | None) -> list[str]:
    endpoint = endpoint_of(f, chosen)
    if not endpoint:
        return [f"_Not available: the job has no endpoint (state {f.job.state.value})._"]
    lines = [f"- Endpoint: `{endpoint}`" + (f" (checkpoint {chosen.checkpoint_id})" if chosen else "")]
    if f.job.tuned_model:
        lines.append(f"- Model: `{f.job.tuned_model}`")
    tested = f.tested
    if tested:
        ok = sum(1 for s in tested.samples if s.ok)
        p50 = f", median latency {tested.p50_latency_s:.2f} s" if tested.p50_latency_s else ""
        lines.append(f"- Tested: {ok}/{len(tested.samples)} requests answered{p50}, via {tested.via}.")
        first = next((s for s in tested.samples if s.ok), None)
        if first:
            lines.append(f"- Sample: {json.dumps(first.prompt)} -> {json.dumps(first.response)}")
        lines += [f"- Failed: {s.error}" for s in tested.samples if not s.ok][:3]
    else:
        lines.append("- Not tested yet: run test_endpoint before relying on it.")
    return [*lines, "", *code_examples(f, endpoint, sample_prompt(f))]


def cost_facts(f: JobFacts) -> tuple[CostEstimate | None, CostEstimate | None]:
    """(estimate made before the job, actual from the tokens the service counted), each None when unknown."""
    estimate = (f.created.estimated_cost if f.created else None) or f.estimated
    actual = f.polled.actual_cost if f.polled else None
    stats = f.job.data_stats
    if stats and stats.total_billable_token_count:
        try:
            actual = actual_cost(f.job.base_model, stats.total_billable_token_count, f.job.epochs)
        except ToolError:
            pass
    return estimate, actual


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.5f}"


def cost_lines(f: JobFacts) -> list[str]:
    from tools.reporting.spend_facts import ledger_lines

    estimate, actual = cost_facts(f)
    if not estimate and not actual:
        return ["_Not available: no cost estimate was recorded (estimate_cost or create_tuning_job) and the "
                "service reported no billable tokens._", *ledger_lines(f)]
    lines = ["| | training | per request (inference) | basis |", "|---|---|---|---|"]
    for label, c in (("estimate", estimate), ("actual", actual)):
        if c:
            lines.append(f"| {label} | {_usd(c.training_cost_usd)} | {_usd(c.per_request_usd)} | {c.summary} |")
    if estimate and actual and estimate.training_cost_usd and actual.training_cost_usd is not None:
        diff = actual.training_cost_usd - estimate.training_cost_usd
        lines += ["", f"Actual minus estimate: {_usd(abs(diff))} {'over' if diff > 0 else 'under'} the estimate "
                      f"({diff / estimate.training_cost_usd:+.0%})."]
    priced = actual or estimate
    if priced and priced.price_source:
        lines += ["", f"Prices: {priced.price_source}" + (f", as of {priced.price_as_of}"
                                                          if priced.price_as_of else "") + "."]
    lines += [f"- {note}" for note in (priced.notes if priced else [])]
    lines += ledger_lines(f)
    per_request = (actual.per_request_usd if actual else None) or (estimate.per_request_usd if estimate else None)
    if per_request is not None:
        lines += ["", f"Projected inference: {_usd(per_request)} per request, {_usd(per_request * 1000)} per "
                      f"1,000 requests, {_usd(per_request * 100_000)} per 100,000 (typical request size of the "
                      "training data)."]
    return lines
