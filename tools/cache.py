"""Where gto caches what it builds once for every workspace (the Gemma weights converted from their package, and
their tokenizer). A leaf: token counting finds the tokenizer here without importing the local backend."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_MODEL = "gemma-3-270m"


def cache_dir() -> Path:
    """$GTO_CACHE, else ~/.cache/gemini-tuning-orchestrator (shared by every workspace: the weights are 1 GB)."""
    root = os.environ.get("GTO_CACHE") or Path.home() / ".cache" / "gemini-tuning-orchestrator"
    return Path(root).expanduser()


def package_model_dir() -> Path:
    """The converted Gemma 3 270M folder (safetensors + tokenizer.json)."""
    return cache_dir() / PACKAGE_MODEL


def cached_tokenizer_json() -> Path | None:
    """The Gemma 3 tokenizer.json the local backend built, or None when it has built none yet."""
    path = package_model_dir() / "tokenizer.json"
    return path if path.is_file() else None
