"""Builders for dataset tests: examples in the Gemini shape, JSONL files written from them, and the tools called
through the registry as every front end calls them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.registry import ToolResult, dispatch


def gemini_example(i: int, system: str | None = None, exchanges: int = 1) -> dict[str, Any]:
    """A valid example whose texts are unique to i."""
    contents = []
    for k in range(exchanges):
        contents.append({"role": "user", "parts": [{"text": f"Question {i}.{k}: what is {i} plus {k}?"}]})
        contents.append({"role": "model", "parts": [{"text": f"{i} plus {k} is {i + k}."}]})
    example: dict[str, Any] = {"contents": contents}
    if system:
        example = {"systemInstruction": {"parts": [{"text": system}]}, **example}
    return example


def encode(row: Any) -> bytes:
    if isinstance(row, bytes):
        return row
    if isinstance(row, str):
        return row.encode()
    return json.dumps(row, ensure_ascii=False).encode()


@pytest.fixture(autouse=True)
def estimated_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count tokens with the estimate unless a test asks for a tokenizer: results must not depend on whether this
    machine has built the Gemma tokenizer."""
    monkeypatch.setenv("GTO_TOKENIZER", "estimate")


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    def write(name: str, rows: list[Any], newline: bytes = b"\n", final_newline: bool = True) -> Path:
        path = tmp_path / name
        body = newline.join(encode(r) for r in rows)
        path.write_bytes(body + (newline if final_newline and rows else b""))
        return path

    return write


@pytest.fixture
def good_rows() -> Callable[..., list[dict[str, Any]]]:
    def rows(n: int, start: int = 0, **kw: Any) -> list[dict[str, Any]]:
        return [gemini_example(i, **kw) for i in range(start, start + n)]

    return rows


@pytest.fixture
def call(ctx: Any) -> Callable[..., ToolResult]:
    def run(tool: str, **arguments: Any) -> ToolResult:
        return dispatch(tool, {k: (str(v) if isinstance(v, Path) else v) for k, v in arguments.items()}, ctx)

    return run
