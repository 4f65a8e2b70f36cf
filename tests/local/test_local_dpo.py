"""Local preference tuning (DPO) on the tiny model: the fused log-probabilities, the completion-only labels, the
loop's metrics, and a preference job continued from a supervised job's checkpoint through the trainer process."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tiny_gemma import ANSWER, SYSTEM, tiny_rows, wait_for, write_jsonl

from tools.backends.base import EVAL_LOSS, TRAIN_LOSS, JobInfo, JobState
from tools.context import ToolContext
from tools.backends.local.chat_format import IGNORE, ChatFormat, Conversation
from tools.backends.local.dpo import (
    EVAL_PREFERENCE_ACCURACY, TRAIN_PREFERENCE_ACCURACY, TRAIN_REWARD_MARGIN, encode_pair, read_pairs, token_logps,
    train_dpo,
)
from tools.backends.local.trainer import TrainConfig, add_lora
from tools.backends.local.weights import load_model
from tools.registry import dispatch
from tools.settings import Settings
from tools.workspace import Workspace

REJECTED = "I am not sure, sorry."


def pref_rows(count: int, start: int = 0) -> list[dict]:
    rows = []
    for row in tiny_rows(count, start):
        rows.append({"system_instruction": row["systemInstruction"], "contents": row["contents"][:1],
                     "completions": [{"score": 0, "completion": {"role": "model", "parts": [{"text": REJECTED}]}},
                                     {"score": 1, "completion": row["contents"][1]}]})
    return rows


class Recorder:
    def __init__(self) -> None:
        self.points: dict[str, list[float]] = {}
        self.checkpoints: list[int] = []

    def metrics(self, name, points) -> None:  # noqa: ANN001
        self.points.setdefault(name, []).extend(p.value for p in points)

    def progress(self, epoch: int, step: int) -> None:
        pass

    def checkpoint(self, model, epoch: int, step: int) -> None:  # noqa: ANN001
        self.checkpoints.append(epoch)


def test_fused_token_logps_match_autograd() -> None:
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    head.weight.requires_grad_(False)
    hidden = torch.randn(7, 16, requires_grad=True)
    targets = torch.randint(0, 50, (7,))
    weights = torch.randn(7)
    fused = token_logps(head, None, hidden, targets, chunk=3)
    (fused * weights).sum().backward()
    grad, hidden.grad = hidden.grad.clone(), None
    plain = (hidden @ head.weight.t()).log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    (plain * weights).sum().backward()
    assert torch.allclose(fused, plain, atol=1e-5) and torch.allclose(grad, hidden.grad, atol=1e-5)


def test_pairs_are_labelled_on_the_completion_only(tiny_tokenizer, tmp_path: Path) -> None:  # noqa: ANN001
    (prompt, chosen, rejected), = read_pairs(write_jsonl(tmp_path / "p.jsonl", pref_rows(1)))
    assert (chosen, rejected, prompt.system) == (ANSWER, REJECTED, SYSTEM)
    fmt = ChatFormat(tiny_tokenizer)
    pair = encode_pair(fmt, prompt, chosen, rejected, 512)
    start = len(fmt.encode_prompt(prompt))
    for encoded, text in ((pair.chosen, chosen), (pair.rejected, rejected)):
        assert encoded.input_ids[:start] == fmt.encode_prompt(prompt)
        assert all(t == IGNORE for t in encoded.labels[:start])
        assert encoded.labels[start:] == fmt.encode(text) + fmt.end_ids


def test_dpo_starts_at_log_2_and_learns_the_preference(tiny_model: Path, tiny_tokenizer, tmp_path: Path) -> None:  # noqa: ANN001
    fmt = ChatFormat(tiny_tokenizer)
    rows = read_pairs(write_jsonl(tmp_path / "p.jsonl", pref_rows(20)))
    pairs = [encode_pair(fmt, *row, 512) for row in rows]
    model, _ = load_model(str(tiny_model))
    model = add_lora(model, 4, seed=0)
    recorder = Recorder()
    result = train_dpo(model, pairs[:16], pairs[16:], TrainConfig(epochs=3, learning_rate=5e-3, log_every=1),
                       recorder, pad_id=0, beta=0.5)
    assert result.losses[0] == pytest.approx(math.log(2), abs=1e-4)  # the model starts as its own reference
    assert result.losses[-1] < 0.3 * math.log(2)
    assert recorder.points[TRAIN_PREFERENCE_ACCURACY][-1] == 1.0 and recorder.points[TRAIN_REWARD_MARGIN][-1] > 0
    assert recorder.points[EVAL_PREFERENCE_ACCURACY][-1] == 1.0 and len(recorder.points[EVAL_LOSS]) == 3
    assert set(recorder.points) >= {TRAIN_LOSS, EVAL_LOSS} and recorder.checkpoints == [1, 2, 3]


def test_preference_job_continues_from_a_supervised_checkpoint(tiny_model: Path, trained: tuple[Path, JobInfo],
                                                               tmp_path: Path) -> None:
    from tools.backends.local import LocalBackend

    root, sft = trained
    ctx = ToolContext(workspace=Workspace(root), settings=Settings(backend="local"))
    args = {"base_model": str(tiny_model), "epochs": 1, "method": "preference", "beta": 0.2,
            "source_model": sft.job_id, "source_checkpoint_id": "2", "backend": "local",
            "training_dataset_uri": str(write_jsonl(tmp_path / "p.jsonl", pref_rows(8))),
            "validation_dataset_uri": str(write_jsonl(tmp_path / "v.jsonl", pref_rows(4, start=100)))}
    refused = dispatch("create_tuning_job", {**args, "source_checkpoint_id": "9"}, ctx)
    assert refused.is_error and "no checkpoint '9'" in refused.content
    created = dispatch("create_tuning_job", args, ctx)
    assert not created.is_error, created.content
    info = created.output.job
    assert (info.method, info.beta, info.source_model, info.source_checkpoint_id) == (
        "preference", 0.2, sft.job_id, "2")
    backend = LocalBackend(Workspace(root), Settings())
    info = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=120)
    assert info.state == JobState.SUCCEEDED, info.error
    assert info.data_stats.example_count == 8 and len(info.checkpoints) == 1
    curves = backend.get_metrics(info.job_id)
    assert curves[EVAL_PREFERENCE_ACCURACY] and curves[TRAIN_LOSS]
    # The reference is the SFT checkpoint, so the first loss is log 2 exactly as from a fresh adapter.
    assert curves[TRAIN_LOSS][0].value == pytest.approx(math.log(2), abs=0.05)
