"""Calling a tuned endpoint (or a base model) with generate_content, thinking off or at its lowest per model family."""

from __future__ import annotations

import time

from google.genai import types

from tools.backends.base import GenerateRequest, GenerateResult
from tools.catalog import ModelInfo


def thinking_config(model: ModelInfo | None) -> types.ThinkingConfig | None:
    """Tuned models answer without thinking (SFT taught them to): off where the model allows, else the lowest level
    or budget its catalog row says it accepts (3.8 Flash rejects MINIMAL with a 400: its lowest is LOW)."""
    if model is None or model.thinking == "none":
        return None
    if model.thinking == "level":
        lowest = model.thinking_min_level or (model.thinking_levels[0] if model.thinking_levels else "MINIMAL")
        return types.ThinkingConfig(thinking_level=lowest.upper())
    # 2.5 Pro cannot turn thinking off: its minimum budget (128) is the lowest it takes.
    return types.ThinkingConfig(thinking_budget=model.thinking_min or 0)


def generate_config(request: GenerateRequest, model: ModelInfo | None) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=request.system_instruction,
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_output_tokens,
        thinking_config=thinking_config(model),
    )


def result_of(response: types.GenerateContentResponse, started: float) -> GenerateResult:
    usage = response.usage_metadata
    candidate = response.candidates[0] if response.candidates else None
    finish = getattr(candidate.finish_reason, "value", candidate.finish_reason) if candidate else None
    parts = candidate.content.parts if candidate and candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    return GenerateResult(
        text=text,
        latency_s=round(time.monotonic() - started, 4),
        input_tokens=usage.prompt_token_count if usage else None,
        output_tokens=usage.candidates_token_count if usage else None,
        finish_reason=str(finish) if finish else None,
    )
