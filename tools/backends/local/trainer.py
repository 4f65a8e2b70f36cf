"""The LoRA training loop: length-bucketed batches, the LM head applied only where a label is, AdamW with linear
decay, metrics under Vertex's names every few steps and at each epoch end, a checkpoint per epoch.

Four choices carry the speed (see benchmarks/README.md), none changes a number beyond float rounding:
- the 262k-row tied LM head, the largest matmul of a 270M Gemma, runs only on the positions whose next token is
  trained (model turns), not on every prompt token;
- its cross-entropy computes the gradient for the hidden states in the same pass (head_loss.py);
- the token prefix all rows of a batch share (in Gemini data, usually the system instruction) goes through the
  decoder once, and the rows continue from its key/value cache;
- batches group examples of similar length, so little of a step computes padding."""

from __future__ import annotations

import inspect
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, MetricPoint
from tools.backends.local.chat_format import IGNORE, Encoded
from tools.backends.local.head_loss import head_loss

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
BASE_LEARNING_RATE = 1e-3  # measured to work for Gemma 3 270M LoRA; Vertex's multiplier scales it
BUCKET_BATCHES = 8  # examples are sorted by length within windows of this many batches
# Sorting on length times a random factor still groups 50- with 60-token examples apart from 500-token ones, but
# does not make batches of near-identical examples: on the example task exact sorting left eval loss 0.0054 (mean
# of 3 seeds) against 0.0010 with this noise, the same speed.
LENGTH_NOISE = 0.15
MIN_SHARED_PREFIX = 8  # shorter shared prefixes save less than the extra decoder call costs


@dataclass
class TrainConfig:
    epochs: int = 3
    rank: int = 8
    learning_rate: float = BASE_LEARNING_RATE
    batch_size: int = 4
    seed: int = 0
    max_tokens: int = 2048
    log_every: int | None = None
    export_last_checkpoint_only: bool = False
    max_eval_examples: int = 256
    head_chunk: int = 256  # labelled positions per LM-head pass: 256 x 262k floats = 268 MB at a time


class Reporter(Protocol):
    def metrics(self, name: str, points: list[MetricPoint]) -> None: ...

    def progress(self, epoch: int, step: int) -> None: ...

    def checkpoint(self, model: Any, epoch: int, step: int) -> None: ...


@dataclass
class TrainResult:
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    eval_loss: float | None = None

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def add_lora(model: Any, rank: int, seed: int) -> Any:
    """The model wrapped with LoRA (alpha = 2 x rank, no dropout) on every linear layer of the decoder."""
    from peft import LoraConfig, get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in LORA_TARGETS if t in names] or "all-linear"
    torch.manual_seed(seed)  # LoRA's A matrices are drawn here
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft 0.21 calls an API transformers 5 deprecated; nothing for us to act on
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def steps_per_epoch(count: int, batch_size: int) -> int:
    return math.ceil(count / batch_size)


def epoch_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled indices cut into batches of similar length; ceil(n / batch_size) batches, in shuffled order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window],
                       key=lambda i: lengths[i] * rng.uniform(1 - LENGTH_NOISE, 1 + LENGTH_NOISE))
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list[Encoded], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(input_ids, labels, real token count), right-padded to the longest in the batch only.

    No attention mask: with right padding and causal attention no real token can see a pad, so the outputs at
    real positions are exactly those of the unpadded sequences."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return ids, labels, sum(len(e.input_ids) for e in examples)


def shared_prefix(ids: torch.Tensor, labels: torch.Tensor, window: int | None) -> int:
    """How many leading tokens every row shares and no label needs (0 when not worth a separate pass).

    The hidden state at position p predicts token p + 1, so the prefix stops one token before the first label."""
    rows, width = ids.shape
    if rows < 2 or (window is not None and width > window):
        return 0  # beyond the sliding window a cached prefix would be cut: keep the one-pass path exact
    differs = (ids != ids[:1]).any(0).nonzero()
    common = int(differs[0]) if len(differs) else width
    labelled = (labels != IGNORE).any(0).nonzero()
    first_label = int(labelled[0]) if len(labelled) else width
    length = min(common, first_label - 1, width - 1)
    return length if length >= MIN_SHARED_PREFIX else 0


def decoder_states(base: Any, ids: torch.Tensor, prefix: int) -> torch.Tensor:
    """Final hidden states of positions prefix.. of every row; the shared prefix runs once, as a batch of one."""
    decoder = base.get_decoder()
    if not prefix:
        return decoder(input_ids=ids, use_cache=False).last_hidden_state
    from transformers import DynamicCache

    # transformers 5.24 renamed past_key_values to cache; other model classes may still take the old name
    name = "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"
    cache = DynamicCache(config=base.config)
    decoder(input_ids=ids[:1, :prefix], use_cache=True, **{name: cache})
    cache.batch_repeat_interleave(ids.shape[0])  # gradients from every row flow back into the one prefix pass
    return decoder(input_ids=ids[:, prefix:], use_cache=True, **{name: cache}).last_hidden_state


def labelled_loss(model: Any, ids: torch.Tensor, labels: torch.Tensor, chunk: int,
                  share_prefix: bool = True) -> tuple[torch.Tensor, int, int]:
    """(summed loss, labelled count, correct count): the decoder on the batch, the LM head only where labelled."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    window = getattr(base.config, "sliding_window", None)
    prefix = shared_prefix(ids, labels, window) if share_prefix else 0
    hidden = decoder_states(base, ids, prefix)
    wanted = labels[:, prefix + 1:] != IGNORE
    selected, targets = hidden[:, :-1][wanted], labels[:, prefix + 1:][wanted]
    softcap = getattr(base.config, "final_logit_softcapping", None)
    loss, correct = head_loss(base.get_output_embeddings(), softcap, selected, targets, chunk)
    return loss, len(targets), correct


@torch.no_grad()
def evaluate(model: Any, examples: list[Encoded], batch_size: int, pad_id: int, chunk: int) -> tuple[float, float]:
    """(loss per labelled token, fraction of labelled tokens predicted exactly) on a validation set."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    loss_sum, count, correct = 0.0, 0, 0
    for start in range(0, len(order), batch_size):
        ids, labels, _ = collate([examples[i] for i in order[start:start + batch_size]], pad_id)
        loss, n, ok = labelled_loss(model, ids, labels, chunk)
        loss_sum, count, correct = loss_sum + loss.item(), count + n, correct + ok
    model.train(was_training)
    return loss_sum / max(count, 1), correct / max(count, 1)


class LinearAdamW:
    """AdamW on the trainable (LoRA) parameters, gradients clipped at 1, the learning rate decaying linearly to 0 over
    the run: the update both trainers (SFT and DPO) make after each batch's backward pass."""

    def __init__(self, model: Any, learning_rate: float, total_steps: int):
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=learning_rate, weight_decay=0.0)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                          lambda s: max(0.0, (total_steps - s) / total_steps))

    def step(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)


def default_log_every(total_steps: int) -> int:
    return max(1, min(10, round(total_steps / 30)))


def train(model: Any, train_set: list[Encoded], val_set: list[Encoded], config: TrainConfig, reporter: Reporter,
          pad_id: int) -> TrainResult:
    """Train the LoRA model in place; report metrics, progress and checkpoints; return the measured figures."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    per_epoch = steps_per_epoch(len(train_set), config.batch_size)
    total = per_epoch * config.epochs
    log_every = config.log_every or default_log_every(total)
    optimizer = LinearAdamW(model, config.learning_rate, total)
    val_set = val_set[: config.max_eval_examples]
    lengths = [len(e.input_ids) for e in train_set]
    result, window = TrainResult(), [0.0, 0, 0]
    model.train()

    def flush(step: int) -> None:
        if window[1]:
            at = dict(step=step, epoch=round(step / per_epoch, 4), wall_time=time.time())
            reporter.metrics(TRAIN_LOSS, [MetricPoint(value=window[0] / window[1], **at)])
            reporter.metrics(TRAIN_ACCURACY, [MetricPoint(value=window[2] / window[1], **at)])
        window[:] = [0.0, 0, 0]

    for epoch in range(1, config.epochs + 1):
        for batch in epoch_batches(lengths, config.batch_size, rng):
            started = time.perf_counter()
            ids, labels, tokens = collate([train_set[i] for i in batch], pad_id)
            loss_sum, count, correct = labelled_loss(model, ids, labels, config.head_chunk)
            (loss_sum / max(count, 1)).backward()
            optimizer.step()
            result.seconds += time.perf_counter() - started
            result.steps, result.tokens = result.steps + 1, result.tokens + tokens
            result.losses.append(loss_sum.item() / max(count, 1))
            window[0], window[1], window[2] = window[0] + loss_sum.item(), window[1] + count, window[2] + correct
            if result.steps % log_every == 0:
                flush(result.steps)
            reporter.progress(epoch - 1, result.steps)
        flush(result.steps)
        if val_set:
            loss, accuracy = evaluate(model, val_set, config.batch_size, pad_id, config.head_chunk)
            result.eval_loss = loss
            at = dict(step=result.steps, epoch=float(epoch), wall_time=time.time())
            reporter.metrics(EVAL_LOSS, [MetricPoint(value=loss, **at)])
            reporter.metrics(EVAL_ACCURACY, [MetricPoint(value=accuracy, **at)])
        if not config.export_last_checkpoint_only or epoch == config.epochs:
            reporter.checkpoint(model, epoch, result.steps)
        reporter.progress(epoch, result.steps)
    return result
