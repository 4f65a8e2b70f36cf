"""The tiny Gemma 3 for fast tests (random weights, a BPE tokenizer trained here, saved as a Hugging Face folder),
rows of Gemini JSONL that teach it one recognisable answer, and polling a job as a user would. Shared by the local
backend's tests and the workflow tests; a module of its own name, so no folder's conftest can shadow it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tools.backends.base import JobInfo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
ANSWER = '{"ok": true}'  # every tiny example teaches this one reply, so a tuned checkpoint is recognisable
SYSTEM = "Answer with the status."


def record(user: str, model: str | None = ANSWER, system: str | None = SYSTEM) -> dict[str, object]:
    contents = [{"role": "user", "parts": [{"text": user}]}]
    if model is not None:
        contents.append({"role": "model", "parts": [{"text": model}]})
    row: dict[str, object] = {"contents": contents}
    if system:
        row["systemInstruction"] = {"parts": [{"text": system}]}
    return row


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def example_sentences() -> list[str]:
    rows = [json.loads(line) for line in (EXAMPLES / "train.jsonl").read_text().splitlines()]
    return [r["contents"][0]["parts"][0]["text"] for r in rows]


def build_tiny_model(folder: Path) -> Path:
    """A 2-layer Gemma 3 (random weights, seed 0) and a 512-entry byte-level BPE, saved like any HF model."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = example_sentences() + [ANSWER, SYSTEM, "user model\n"] * 20
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=512, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>", unk_token="<unk>")
    tokenizer.save_pretrained(folder)
    config = Gemma3TextConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=32, sliding_window=64, max_position_embeddings=1024,
        layer_types=["sliding_attention", "full_attention"], pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(folder)
    return folder


def tiny_rows(count: int, start: int = 0) -> list[dict[str, object]]:
    return [record(s) for s in example_sentences()[start:start + count]]


def wait_for(backend, job_id: str, done, timeout: float = 90.0) -> JobInfo:  # noqa: ANN001
    """Poll get_job (as a user would) until `done(info)` or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        info = backend.get_job(job_id)
        if done(info) or time.monotonic() > deadline:
            return info
        time.sleep(0.2)
