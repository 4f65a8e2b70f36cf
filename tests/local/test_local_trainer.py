"""The training loop in process on the tiny model: batching, the labelled-only loss, reproducibility, metrics."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from tiny_gemma import tiny_rows

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, METRIC_NAMES, TRAIN_LOSS, MetricPoint
from tools.backends.local.chat_format import IGNORE, ChatFormat, Encoded, parse_record
from tools.backends.local.trainer import (
    TrainConfig, add_lora, collate, epoch_batches, labelled_loss, shared_prefix, train,
)
from tools.backends.local.weights import load_model


class Recorder:
    def __init__(self) -> None:
        self.points: dict[str, list[MetricPoint]] = {}
        self.checkpoints: list[tuple[int, int]] = []
        self.progress_calls: list[tuple[int, int]] = []

    def metrics(self, name: str, points: list[MetricPoint]) -> None:
        self.points.setdefault(name, []).extend(points)

    def progress(self, epoch: int, step: int) -> None:
        self.progress_calls.append((epoch, step))

    def checkpoint(self, model: object, epoch: int, step: int) -> None:
        self.checkpoints.append((epoch, step))


@pytest.fixture(scope="module")
def encoded(tiny_tokenizer) -> list[Encoded]:  # noqa: ANN001
    fmt = ChatFormat(tiny_tokenizer)
    return [fmt.encode_example(parse_record(r), 512) for r in tiny_rows(20)]


def run(tiny_model: Path, encoded: list[Encoded], **config: object) -> tuple[Recorder, list[float]]:
    model, _ = load_model(str(tiny_model))
    model = add_lora(model, 4, seed=0)
    recorder = Recorder()
    result = train(model, encoded[:16], encoded[16:], TrainConfig(**config), recorder, pad_id=0)
    return recorder, result.losses


def test_epoch_batches_cover_every_example_once_with_similar_lengths() -> None:
    draw = random.Random(1)
    lengths = [draw.randint(10, 200) for _ in range(70)]
    batches = epoch_batches(lengths, 4, random.Random(0))
    assert len(batches) == 18  # ceil(70 / 4): the step count Vertex would report
    assert sorted(i for b in batches for i in b) == list(range(70))
    padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    unsorted = [list(range(k, min(k + 4, 70))) for k in range(0, 70, 4)]
    naive = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in unsorted)
    assert padding < naive / 3


def test_collate_pads_to_the_batch_not_the_dataset() -> None:
    examples = [Encoded([2, 5, 6], [IGNORE, 5, 6]), Encoded([2, 7], [IGNORE, 7])]
    ids, labels, tokens = collate(examples, pad_id=0)
    assert ids.tolist() == [[2, 5, 6], [2, 7, 0]]
    assert labels.tolist() == [[IGNORE, 5, 6], [IGNORE, 7, IGNORE]]
    assert tokens == 5


def test_shared_prefix_stops_before_the_first_label_and_at_the_first_difference() -> None:
    ids = torch.tensor([[2] + list(range(10, 30)) + [7, 8], [2] + list(range(10, 30)) + [9, 9]])
    labels = torch.full_like(ids, IGNORE)
    labels[:, -1] = ids[:, -1]
    assert shared_prefix(ids, labels, window=None) == 21  # rows differ from position 21 on
    labels[:, 15] = ids[:, 15]
    assert shared_prefix(ids, labels, window=None) == 14  # hidden state 14 predicts the label at 15
    assert shared_prefix(ids, labels, window=10) == 0  # longer than the sliding window: one pass
    assert shared_prefix(ids[:1], labels[:1], window=None) == 0
    labels[:, 15] = IGNORE
    ids[1, 3] = 99
    assert shared_prefix(ids, labels, window=None) == 0  # 3 shared tokens are not worth a second pass


def lora_grads(model: object) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])


def test_labelled_loss_equals_the_full_logits_loss(tiny_model: Path, encoded: list[Encoded]) -> None:
    """Skipping the LM head on unlabelled positions, the attention mask and re-running the shared prefix changes
    no number: the loss and the LoRA gradients match transformers' own full-logits loss."""
    model, _ = load_model(str(tiny_model))
    model = add_lora(model, 4, seed=0)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # LoRA starts as a no-op; make it matter so the gradients test something
            torch.nn.init.normal_(param, std=0.05)
    batch = encoded[:4]
    ids, labels, _ = collate(batch, pad_id=0)
    assert shared_prefix(ids, labels, window=64) >= 8  # the tiny rows share '<bos>...system' tokens
    mask = torch.arange(ids.shape[1])[None, :] < torch.tensor([len(e.input_ids) for e in batch])[:, None]
    reference = model(input_ids=ids, attention_mask=mask.long(), labels=labels).loss
    reference.backward()
    expected = lora_grads(model)
    for share, chunk in ((True, 1024), (False, 1024), (True, 7)):
        model.zero_grad()
        loss_sum, count, correct = labelled_loss(model, ids, labels, chunk=chunk, share_prefix=share)
        (loss_sum / count).backward()
        assert count == sum(e.label_count for e in batch) and 0 <= correct <= count
        assert loss_sum.item() / count == pytest.approx(reference.item(), rel=1e-5)
        assert torch.allclose(lora_grads(model), expected, rtol=1e-4, atol=1e-7)


def test_training_reports_metrics_checkpoints_and_learns(tiny_model: Path, encoded: list[Encoded]) -> None:
    recorder, losses = run(tiny_model, encoded, epochs=3, learning_rate=5e-3, log_every=2)
    assert set(recorder.points) == set(METRIC_NAMES)
    assert [p.step for p in recorder.points[TRAIN_LOSS]] == [2, 4, 6, 8, 10, 12]
    assert [(p.step, p.epoch) for p in recorder.points[EVAL_LOSS]] == [(4, 1.0), (8, 2.0), (12, 3.0)]
    assert all(0.0 <= p.value <= 1.0 for p in recorder.points[EVAL_ACCURACY])
    assert recorder.checkpoints == [(1, 4), (2, 8), (3, 12)]
    assert recorder.progress_calls[-1] == (3, 12)
    eval_losses = [p.value for p in recorder.points[EVAL_LOSS]]
    assert eval_losses[-1] < eval_losses[0] and losses[-1] < losses[0]


def test_training_is_reproducible(tiny_model: Path, encoded: list[Encoded]) -> None:
    first = run(tiny_model, encoded, epochs=1, seed=3)[1]
    second = run(tiny_model, encoded, epochs=1, seed=3)[1]
    other = run(tiny_model, encoded, epochs=1, seed=4)[1]
    assert first == second
    assert first != other


def test_export_last_checkpoint_only(tiny_model: Path, encoded: list[Encoded]) -> None:
    recorder, _ = run(tiny_model, encoded, epochs=2, export_last_checkpoint_only=True)
    assert recorder.checkpoints == [(2, 8)]


def test_fused_head_loss_matches_autograd_cross_entropy() -> None:
    from tools.backends.local.head_loss import head_loss

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 300, bias=False)
    head.weight.requires_grad_(False)
    targets = torch.randint(0, 300, (37,))
    hidden = torch.randn(37, 16, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(head(hidden), targets, reduction="sum")
    (expected,) = torch.autograd.grad(reference, hidden)
    expected_correct = int((head(hidden).argmax(-1) == targets).sum())
    for chunk in (256, 5):
        loss, correct = head_loss(head, None, hidden, targets, chunk)
        (grad,) = torch.autograd.grad(loss, hidden)
        assert loss.item() == pytest.approx(reference.item(), rel=1e-6) and correct == expected_correct
        assert torch.allclose(grad, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        assert head_loss(head, None, hidden, targets)[0].item() == pytest.approx(reference.item(), rel=1e-6)
    head.weight.requires_grad_(True)  # a head that trains takes autograd's path, with its own gradient
    loss, _ = head_loss(head, None, hidden, targets)
    loss.backward()
    assert head.weight.grad is not None and loss.item() == pytest.approx(reference.item(), rel=1e-6)
