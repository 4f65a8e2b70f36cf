"""Token counting: the Gemma 3 tokenizer (Gemini's vocabulary) when a tokenizer.json is at hand, otherwise a
character-based estimate that says it is one.

Where the tokenizer comes from, in order: $GTO_TOKENIZER (a tokenizer.json path, or "estimate" to force the
estimate), then the copy the local backend builds from the Gemma 3 270M GGUF package
(`tools.cache.cached_tokenizer_json`). Nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from tools.cache import cached_tokenizer_json

ENV = "GTO_TOKENIZER"
CHARS_PER_TOKEN = 4
ESTIMATE_NAME = "estimate: ~4 characters a token (Gemma 3 tokenizer not available)"
# The Gemma 3 tokenizer counted 1.5-4 MB of text a second on 2 cores: exact counts of a bigger input take minutes.
EXACT_MAX_BYTES = 128 << 20


class TokenCounter(Protocol):
    name: str
    estimated: bool

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...

    def count_total(self, texts: Sequence[str]) -> int: ...


def estimate_weight(text: str) -> int:
    """Characters, weighted up for scripts that take more than one token per four characters."""
    n = len(text)
    if text.isascii():
        return n
    # CJK runs about 3 UTF-8 bytes a character and under two characters a token in Gemma's vocabulary; bytes / 6
    # tracks that. Cyrillic, Greek and Arabic (2 bytes a letter, 1 a space) come out near characters / 3, accented
    # Latin (mostly 1 byte a character) stays near characters / 4.
    return max(n, len(text.encode("utf-8", "surrogatepass")) * 2 // 3)


class EstimateCounter:
    """About four characters a token: Gemma 3 measured 4.5-5.4 on English prose, 2.3 on code and JSON."""

    estimated = True

    def __init__(self, name: str = ESTIMATE_NAME):
        self.name = name

    def count(self, text: str) -> int:
        return -(-estimate_weight(text) // CHARS_PER_TOKEN)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [-(-estimate_weight(t) // CHARS_PER_TOKEN) for t in texts]

    def count_total(self, texts: Sequence[str]) -> int:
        """Tokens for one example's texts together (rounded once, as the model sees one sequence)."""
        return -(-sum(map(estimate_weight, texts)) // CHARS_PER_TOKEN)


class TokenizerCounter:
    """Exact counts with a Hugging Face `tokenizers` tokenizer.json (fast, Rust, batched over all cores)."""

    estimated = False

    def __init__(self, tokenizer: Any, name: str):
        self.tokenizer = tokenizer
        self.name = name

    @classmethod
    def from_file(cls, path: Path | str) -> TokenizerCounter:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)), f"Gemma 3 tokenizer ({Path(path).name})")

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        # Lone surrogates (possible from a non-orjson decoder) would make the Rust side raise.
        safe = [t.encode("utf-8", "replace").decode("utf-8") if not t.isascii() else t for t in texts]
        return [len(e.ids) for e in self.tokenizer.encode_batch(safe, add_special_tokens=False)]

    def count_total(self, texts: Sequence[str]) -> int:
        return sum(self.count_many(texts))


def get_counter(base_model: str | None = None, input_bytes: int = 0) -> TokenCounter:
    """The best counter for a base model (every catalog model shares the Gemma 3 vocabulary) and input size."""
    path = tokenizer_path()
    if path is None:
        return EstimateCounter()
    if input_bytes > EXACT_MAX_BYTES:
        return EstimateCounter(f"estimate: ~4 characters a token (over {EXACT_MAX_BYTES >> 20} MB of data; the Gemma "
                               "3 tokenizer would take minutes)")
    return _load(str(path))


def tokenizer_path() -> Path | None:
    """The tokenizer.json to use, or None when only the estimate is possible."""
    chosen = os.environ.get(ENV, "").strip()
    if chosen.lower() == "estimate":
        return None
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    try:
        return cached_tokenizer_json()
    except OSError:
        return None


@lru_cache(maxsize=2)
def _load(path: str) -> TokenCounter:
    try:
        return TokenizerCounter.from_file(path)
    except Exception:  # noqa: BLE001 - an unreadable tokenizer must not stop validation; the estimate says so
        return EstimateCounter()
