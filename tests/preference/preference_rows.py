"""Preference rows in Vertex's format, and the fixtures the preference tests share (imported by name: a conftest.py
here would shadow the other folders' `from conftest import ...`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pair(i: int, system: str | None = "Answer briefly.") -> dict[str, Any]:
    row: dict[str, Any] = {}
    if system:
        row["system_instruction"] = {"parts": [{"text": system}]}
    row["contents"] = [{"role": "user", "parts": [{"text": f"What is {i} plus {i}?"}]}]
    row["completions"] = [
        {"score": 1, "completion": {"role": "model", "parts": [{"text": f"{2 * i}."}]}},
        {"score": 0, "completion": {"role": "model", "parts": [{"text": f"Well, {i} plus {i} is {2 * i}!"}]}},
    ]
    return row


@pytest.fixture(autouse=True)
def estimated_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTO_TOKENIZER", "estimate")


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, list[Any]], Path]:
    def write(name: str, rows: list[Any]) -> Path:
        path = tmp_path / name
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
        return path

    return write
