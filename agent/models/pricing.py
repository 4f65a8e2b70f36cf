"""What a model call cost, from agent/data/llm_prices.toml."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


@cache
def _rows() -> list[dict]:
    return tomllib.loads(resources.files("agent").joinpath("data/llm_prices.toml").read_text())["model"]


def call_cost(model_id: str, input_tokens: int, output_tokens: int, cache_write: int = 0, cache_read: int = 0) -> float:
    """USD for one call: the longest matching prefix's prices, else the most expensive row's."""
    rows = _rows()
    matches = [r for r in rows if model_id.startswith(r["prefix"])]
    row = max(matches, key=lambda r: len(r["prefix"])) if matches else max(rows, key=lambda r: r["output"])
    return (input_tokens * row["input"] + output_tokens * row["output"] + cache_write * row["cache_write"]
            + cache_read * row["cache_read"]) / 1_000_000
