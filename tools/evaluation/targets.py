"""A quality target the user sets ("exact_match>=0.9", "target exact match 0.9", "token F1 of 80%"): the metric,
named as compare_models names it, and the least score that makes tuning unnecessary."""

from __future__ import annotations

import re

from pydantic import BaseModel

from tools.errors import ToolError

METRICS = {"exact match": "exact_match", "exact_match": "exact_match", "em": "exact_match",
           "token f1": "token_f1", "token_f1": "token_f1", "f1": "token_f1",
           "rouge l": "rouge_l", "rouge_l": "rouge_l", "rougel": "rouge_l",
           "embedding similarity": "embedding_similarity", "embedding_similarity": "embedding_similarity"}
_METRIC = r"(exact[ _-]?match|token[ _-]?f1|rouge[ _-]?l|embedding[ _-]?similarity|\bf1|\bem)"
_PATTERN = re.compile(_METRIC + r"\s*(?:>=|≥|=>|>|=|:|of|at least|above)?\s*(\d+(?:\.\d+)?)\s*(%)?", re.I)
_SAID = re.compile(r"\btarget\b|>=|≥|at least", re.I)


class Target(BaseModel):
    metric: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}>={self.threshold:g}"

    def met(self, score: float | None) -> bool:
        return score is not None and score >= self.threshold


def parse_target(text: str) -> Target | None:
    """The target a text states, or None. A number above 1 is a percentage (90 -> 0.9)."""
    found = _PATTERN.search(text)
    if found is None:
        return None
    name = re.sub(r"[ _-]+", " ", found.group(1).lower()).strip()
    metric = METRICS.get(name) or METRICS.get(name.replace(" ", "_"))
    value = float(found.group(2))
    if found.group(3) or value > 1:
        value /= 100
    if metric is None or not 0 <= value <= 1:
        return None
    return Target(metric=metric, threshold=value)


def target_in_words(text: str) -> Target | None:
    """A target a user's message sets ("target exact match 0.9", "exact_match>=0.9"); a metric merely mentioned
    ("what is the exact match?") is none."""
    return parse_target(text) if _SAID.search(text) else None


def require_target(text: str) -> Target:
    target = parse_target(text)
    if target is None:
        raise ToolError(f"{text!r} is not a target I can read.",
                        "Write it like exact_match>=0.9 (metrics: exact_match, token_f1, rouge_l, "
                        "embedding_similarity).")
    return target
