"""Gemini SFT records rendered with Gemma's chat template, as token ids with a label mask on the model turns.

Gemma has no system role: like Gemma's own template, the system instruction is prepended to the first user turn.
Every piece is tokenized separately and joined, so training and generation see exactly the same token boundaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IGNORE = -100
START, END = "<start_of_turn>", "<end_of_turn>"


class DataError(ValueError):
    """A record the local trainer cannot use; the message names the file and line."""


@dataclass
class Conversation:
    system: str | None
    turns: list[tuple[str, str]]  # (role, text), role "user" or "model"


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    characters: int = 0

    @property
    def label_count(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def _text_of(parts: Any, where: str) -> str:
    if not isinstance(parts, list) or not parts:
        raise DataError(f"{where}: 'parts' must be a non-empty list")
    texts = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise DataError(f"{where}: only text parts are supported by the local backend (got {str(part)[:60]})")
        texts.append(part["text"])
    return "".join(texts)


def parse_record(record: Any, where: str = "record") -> Conversation:
    """A Gemini JSONL object -> Conversation; DataError naming `where` when the shape is wrong."""
    if not isinstance(record, dict) or not isinstance(record.get("contents"), list) or not record["contents"]:
        raise DataError(f"{where}: expected an object with a non-empty 'contents' list")
    system = record.get("systemInstruction", record.get("system_instruction"))
    system_text = _text_of(system.get("parts"), f"{where} systemInstruction") if isinstance(system, dict) else None
    turns = []
    for i, content in enumerate(record["contents"]):
        if not isinstance(content, dict):
            raise DataError(f"{where} contents[{i}]: expected an object")
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise DataError(f"{where} contents[{i}]: role must be 'user' or 'model', not {role!r}")
        turns.append((role, _text_of(content.get("parts"), f"{where} contents[{i}]")))
    return Conversation(system_text or None, turns)


def records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed JSON) of every non-blank line of a JSONL file; DataError with the line number on bad JSON."""
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc.msg})") from None


def read_jsonl(path: Path) -> list[Conversation]:
    """Every non-blank line of a Gemini JSONL file; DataError with the line number on the first bad one."""
    conversations = [parse_record(record, where) for where, record in records(path)]
    if not conversations:
        raise DataError(f"{path.name}: no examples")
    return conversations


@dataclass
class ChatFormat:
    """Token-level Gemma chat template for one tokenizer."""

    tokenizer: Any
    bos_id: int | None = None
    end_ids: list[int] = field(default_factory=list)
    stop_ids: list[int] = field(default_factory=list)
    _markers: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vocab = self.tokenizer.get_vocab()
        bos = getattr(self.tokenizer, "bos_token", None) or "<bos>"
        self.bos_id = vocab.get(bos)
        self._markers = {m: self.encode(m) for m in (f"{START}user\n", f"{START}model\n", "\n")}
        self.end_ids = self.encode(END)
        eos = getattr(self.tokenizer, "eos_token_id", None)
        # A tokenizer with <end_of_turn> as one special token stops on its id; others stop on the decoded text.
        self.stop_ids = [i for i in ([self.end_ids[0]] if len(self.end_ids) == 1 else []) + [eos] if i is not None]

    def encode(self, text: str) -> list[int]:
        if text in self._markers:
            return self._markers[text]
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _pieces(self, conversation: Conversation) -> list[tuple[list[int], bool]]:
        """(ids, trained) pieces of the rendered conversation, <bos> first."""
        pieces: list[tuple[list[int], bool]] = [([self.bos_id], False)] if self.bos_id is not None else []
        system = conversation.system
        turns = list(conversation.turns)
        if system and (not turns or turns[0][0] != "user"):
            turns.insert(0, ("user", ""))
        for role, text in turns:
            if system and role == "user":
                text, system = f"{system}\n\n{text}" if text else system, None
            pieces.append((self.encode(f"{START}{role}\n"), False))
            model_turn = role == "model"
            pieces.append((self.encode(text) if text else [], model_turn))
            pieces.append((self.end_ids, model_turn))
            pieces.append((self.encode("\n"), False))
        return pieces

    def encode_example(self, conversation: Conversation, max_tokens: int) -> Encoded:
        """Token ids and labels (IGNORE outside model turns), cut to max_tokens."""
        pieces = self._pieces(conversation)
        if conversation.turns[-1][0] == "model":
            pieces.pop()  # the newline after the last model turn teaches nothing: generation stops before it
        ids: list[int] = []
        labels: list[int] = []
        for piece, trained in pieces:
            ids.extend(piece)
            labels.extend(piece if trained else [IGNORE] * len(piece))
        output_tokens = sum(1 for t in labels if t != IGNORE)
        encoded = Encoded(ids, labels, input_tokens=len(ids) - output_tokens, output_tokens=output_tokens,
                          characters=len(conversation.system or "") + sum(len(t) for _, t in conversation.turns))
        if len(ids) > max_tokens:
            encoded.input_ids, encoded.labels, encoded.truncated = ids[:max_tokens], labels[:max_tokens], True
        return encoded

    def encode_prompt(self, conversation: Conversation) -> list[int]:
        """The prompt for generation: the conversation so far, then Gemma's generation prompt."""
        ids = [t for piece, _ in self._pieces(conversation) for t in piece]
        return ids + self.encode(f"{START}model\n")

    def decode_reply(self, ids: list[int]) -> tuple[str, bool]:
        """(text, stopped): the generated ids as text, cut at the end of the model turn."""
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        stopped = False
        for marker in (END, getattr(self.tokenizer, "eos_token", None) or "<eos>"):
            if marker in text:
                text, stopped = text.split(marker, 1)[0], True
        return text, stopped
