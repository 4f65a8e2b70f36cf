"""Preference tuning on this machine: DPO (Rafailov et al. 2023) of the LoRA model on Vertex's preference JSONL.

The loss per pair is -log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r))), pi and ref the summed log-probabilities
of the completion under the model being tuned and under the reference, the model as it starts (the base model, or
the supervised checkpoint the job continues from). The speed comes from the SFT trainer's choices, plus two:
- the reference log-probabilities are computed once, before the first step, since at that point the model is the
  reference (a fresh LoRA adds nothing; a loaded checkpoint is the start); no reference forward pass per step;
- the LM head runs only on completion tokens, with the gradient of each token's log-probability for the hidden state
  computed while its logits are at hand (as head_loss.py does for the cross-entropy);
- chosen and rejected rows share one decoder call, and the prefix all rows share (the system instruction; the whole
  prompt for a batch of one pair) runs once.

Metrics: /train_total_loss and /eval_total_loss are the DPO loss (Vertex's names; which metrics Vertex reports for
preference jobs we could not confirm), plus /train_preference_accuracy, /eval_preference_accuracy (fraction of pairs
whose chosen completion gains more than the rejected one) and /train_reward_margin, /eval_reward_margin (beta x that
gain). There is no next-token accuracy: a preference pair has no single right next token."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from tools.backends.base import EVAL_LOSS, TRAIN_LOSS, DataStats, MetricPoint
from tools.backends.local.chat_format import (
    IGNORE, ChatFormat, Conversation, DataError, Encoded, _text_of, parse_record, records,
)
from tools.backends.local.trainer import (LinearAdamW, Reporter, TrainConfig, TrainResult, collate, decoder_states,
                                          default_log_every, epoch_batches, shared_prefix, steps_per_epoch)

TRAIN_PREFERENCE_ACCURACY = "/train_preference_accuracy"
EVAL_PREFERENCE_ACCURACY = "/eval_preference_accuracy"
TRAIN_REWARD_MARGIN = "/train_reward_margin"
EVAL_REWARD_MARGIN = "/eval_reward_margin"
PREFERENCE_METRICS = (TRAIN_LOSS, TRAIN_PREFERENCE_ACCURACY, TRAIN_REWARD_MARGIN, EVAL_LOSS,
                      EVAL_PREFERENCE_ACCURACY, EVAL_REWARD_MARGIN)
DEFAULT_BETA = 0.1
# A tenth of the SFT trainer's rate: DPO refines a model that already answers, and a large step on the log-ratio
# quickly pushes both completions' probabilities down (the usual advice; see benchmarks/README.md for a measured run).
BASE_LEARNING_RATE = 1e-4


@dataclass
class Pair:
    chosen: Encoded
    rejected: Encoded

    @property
    def length(self) -> int:
        return len(self.chosen.input_ids) + len(self.rejected.input_ids)


def read_pairs(path: Path) -> list[tuple[Conversation, str, str]]:
    """(prompt, preferred text, dispreferred text) of every line of a Vertex preference JSONL file."""
    pairs = []
    for where, record in records(path):
        completions = record.get("completions") if isinstance(record, dict) else None
        if not isinstance(completions, list) or len(completions) != 2:
            raise DataError(f"{where}: expected 'completions' with two scored model turns")
        by_score = {}
        for k, pair in enumerate(completions):
            turn = pair.get("completion") if isinstance(pair, dict) else None
            if not isinstance(turn, dict):
                raise DataError(f"{where} completions[{k}]: no completion turn")
            by_score[pair.get("score")] = _text_of(turn.get("parts"), f"{where} completions[{k}]")
        if set(by_score) != {0, 1}:
            raise DataError(f"{where}: scores must be one 1 (preferred) and one 0")
        prompt = parse_record({k: v for k, v in record.items() if k != "completions"}, where)
        if prompt.turns[-1][0] != "user":
            raise DataError(f"{where}: the contents must end with a user turn")
        pairs.append((prompt, by_score[1], by_score[0]))
    if not pairs:
        raise DataError(f"{path.name}: no examples")
    return pairs


def encode_pair(fmt: ChatFormat, prompt: Conversation, chosen: str, rejected: str, max_tokens: int) -> Pair:
    """Both completions after the prompt, labelled on the completion only (earlier model turns are prompt here)."""
    start = len(fmt.encode_prompt(prompt))

    def one(text: str) -> Encoded:
        encoded = fmt.encode_example(Conversation(prompt.system, [*prompt.turns, ("model", text)]), max_tokens)
        encoded.labels[:start] = [IGNORE] * min(start, len(encoded.labels))
        encoded.input_tokens = start
        encoded.output_tokens = len(encoded.labels) - start
        return encoded

    return Pair(one(chosen), one(rejected))


class _FusedTokenLogp(torch.autograd.Function):
    """log softmax(h @ W.T)[target] per token; backward uses d/dh = W[target] - softmax @ W, computed in forward."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                chunk: int, need_grad: bool) -> torch.Tensor:
        out = hidden.new_empty(len(targets))
        grad = torch.empty_like(hidden) if need_grad else None
        for start in range(0, len(targets), chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            logits = h @ weight.t()
            top = logits.max(-1).values
            picked = logits.gather(1, t[:, None]).squeeze(1)
            logits.sub_(top[:, None]).exp_()
            total = logits.sum(-1)
            out[start:start + chunk] = picked - top - total.log()
            if grad is not None:
                logits.div_(total[:, None])
                logits[torch.arange(len(t)), t] -= 1
                grad[start:start + chunk] = -(logits @ weight)
        ctx.save_for_backward(grad)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        (grad,) = ctx.saved_tensors
        return grad * grad_out[:, None], None, None, None, None


def token_logps(head: Any, softcap: float | None, hidden: torch.Tensor, targets: torch.Tensor,
                chunk: int = 256) -> torch.Tensor:
    """Log-probability of each target under head(hidden)."""
    weight = getattr(head, "weight", None)
    if (softcap or weight is None or weight.requires_grad or getattr(head, "bias", None) is not None
            or weight.dtype != torch.float32):
        logits = head(hidden).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return logits.log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    need_grad = torch.is_grad_enabled() and hidden.requires_grad
    return _FusedTokenLogp.apply(hidden, weight, targets, chunk, need_grad)


def sequence_logps(model: Any, ids: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """Summed log-probability of each row's labelled tokens: the decoder once, the LM head only where labelled."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    prefix = shared_prefix(ids, labels, getattr(base.config, "sliding_window", None))
    hidden = decoder_states(base, ids, prefix)
    wanted = labels[:, prefix + 1:] != IGNORE
    logps = token_logps(base.get_output_embeddings(), getattr(base.config, "final_logit_softcapping", None),
                        hidden[:, :-1][wanted], labels[:, prefix + 1:][wanted], chunk)
    rows = wanted.nonzero()[:, 0]
    return torch.zeros(ids.shape[0], dtype=logps.dtype).index_add(0, rows, logps)


def pair_logps(model: Any, pairs: list[Pair], pad_id: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(chosen log-probs, rejected log-probs, tokens) of a batch of pairs, all rows in one decoder call."""
    ids, labels, tokens = collate([p.chosen for p in pairs] + [p.rejected for p in pairs], pad_id)
    logps = sequence_logps(model, ids, labels, chunk)
    return logps[:len(pairs)], logps[len(pairs):], tokens


@torch.no_grad()
def reference_logps(model: Any, pairs: list[Pair], batch_size: int, pad_id: int, chunk: int) -> torch.Tensor:
    """[n, 2] log-probs of (chosen, rejected) under the model as it is now: the reference, computed once."""
    was_training = model.training
    model.eval()
    out = torch.empty(len(pairs), 2)
    for start in range(0, len(pairs), batch_size):
        chosen, rejected, _ = pair_logps(model, pairs[start:start + batch_size], pad_id, chunk)
        out[start:start + len(chosen), 0], out[start:start + len(chosen), 1] = chosen, rejected
    model.train(was_training)
    return out


def dpo_loss(chosen: torch.Tensor, rejected: torch.Tensor, ref: torch.Tensor, beta: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, per-pair reward margin beta * ((pi_c - ref_c) - (pi_r - ref_r)))."""
    margin = beta * ((chosen - ref[:, 0]) - (rejected - ref[:, 1]))
    return -F.logsigmoid(margin).sum(), margin.detach()


@torch.no_grad()
def evaluate_pairs(model: Any, pairs: list[Pair], ref: torch.Tensor, beta: float, batch_size: int, pad_id: int,
                   chunk: int) -> tuple[float, float, float]:
    """(mean DPO loss, preference accuracy, mean reward margin) on a validation set."""
    was_training = model.training
    model.eval()
    loss_sum, margins = 0.0, []
    for start in range(0, len(pairs), batch_size):
        chosen, rejected, _ = pair_logps(model, pairs[start:start + batch_size], pad_id, chunk)
        loss, margin = dpo_loss(chosen, rejected, ref[start:start + len(chosen)], beta)
        loss_sum += loss.item()
        margins.append(margin)
    model.train(was_training)
    margin = torch.cat(margins)
    return loss_sum / len(pairs), float((margin > 0).float().mean()), float(margin.mean())


def train_dpo(model: Any, train_set: list[Pair], val_set: list[Pair], config: TrainConfig, reporter: Reporter,
              pad_id: int, beta: float = DEFAULT_BETA) -> TrainResult:
    """DPO of the LoRA model in place, reporting like the SFT trainer; the reference is the model as given."""
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    val_set = val_set[: config.max_eval_examples]
    ref = reference_logps(model, train_set, config.batch_size, pad_id, config.head_chunk)
    val_ref = reference_logps(model, val_set, config.batch_size, pad_id, config.head_chunk) if val_set else None
    per_epoch = steps_per_epoch(len(train_set), config.batch_size)
    total = per_epoch * config.epochs
    log_every = config.log_every or default_log_every(total)
    optimizer = LinearAdamW(model, config.learning_rate, total)
    lengths = [p.length for p in train_set]
    result, window = TrainResult(), [0.0, 0, 0, 0.0]  # loss sum, pairs, pairs won, margin sum
    model.train()

    def flush(step: int) -> None:
        if window[1]:
            at = dict(step=step, epoch=round(step / per_epoch, 4), wall_time=time.time())
            reporter.metrics(TRAIN_LOSS, [MetricPoint(value=window[0] / window[1], **at)])
            reporter.metrics(TRAIN_PREFERENCE_ACCURACY, [MetricPoint(value=window[2] / window[1], **at)])
            reporter.metrics(TRAIN_REWARD_MARGIN, [MetricPoint(value=window[3] / window[1], **at)])
        window[:] = [0.0, 0, 0, 0.0]

    for epoch in range(1, config.epochs + 1):
        for batch in epoch_batches(lengths, config.batch_size, rng):
            started = time.perf_counter()
            chosen, rejected, tokens = pair_logps(model, [train_set[i] for i in batch], pad_id, config.head_chunk)
            loss_sum, margin = dpo_loss(chosen, rejected, ref[batch], beta)
            (loss_sum / len(batch)).backward()
            optimizer.step()
            result.seconds += time.perf_counter() - started
            result.steps, result.tokens = result.steps + 1, result.tokens + tokens
            result.losses.append(loss_sum.item() / len(batch))
            window[0] += loss_sum.item()
            window[1] += len(batch)
            window[2] += int((margin > 0).sum())
            window[3] += float(margin.sum())
            if result.steps % log_every == 0:
                flush(result.steps)
            reporter.progress(epoch - 1, result.steps)
        flush(result.steps)
        if val_set and val_ref is not None:
            loss, accuracy, margin_mean = evaluate_pairs(model, val_set, val_ref, beta, config.batch_size, pad_id,
                                                         config.head_chunk)
            result.eval_loss = loss
            at = dict(step=result.steps, epoch=float(epoch), wall_time=time.time())
            reporter.metrics(EVAL_LOSS, [MetricPoint(value=loss, **at)])
            reporter.metrics(EVAL_PREFERENCE_ACCURACY, [MetricPoint(value=accuracy, **at)])
            reporter.metrics(EVAL_REWARD_MARGIN, [MetricPoint(value=margin_mean, **at)])
        if not config.export_last_checkpoint_only or epoch == config.epochs:
            reporter.checkpoint(model, epoch, result.steps)
        reporter.progress(epoch, result.steps)
    return result



def encode_pair_file(fmt: ChatFormat, path: Path, max_tokens: int) -> tuple[list[Pair], list[int], list[str]]:
    """(usable pairs, 1-based indices of truncated ones, reasons for dropped ones) of one preference JSONL file."""
    kept, truncated, dropped = [], [], []
    for index, (prompt, chosen, rejected) in enumerate(read_pairs(path), 1):
        pair = encode_pair(fmt, prompt, chosen, rejected, max_tokens)
        if pair.chosen.truncated or pair.rejected.truncated:
            truncated.append(index)
        if not pair.chosen.label_count or not pair.rejected.label_count:
            dropped.append(f"example {index}: nothing left of a completion after truncation")
            continue
        kept.append(pair)
    return kept, truncated, dropped


def pair_stats(pairs: list[Pair], truncated: list[int], dropped: list[str], steps: int) -> DataStats:
    """Like Vertex's preference data stats: billable tokens are both rows of every pair, in one pass."""
    count = max(len(pairs), 1)
    return DataStats(
        example_count=len(pairs),
        total_billable_token_count=sum(p.length for p in pairs),
        total_tuning_character_count=sum(p.chosen.characters + p.rejected.characters for p in pairs),
        tuning_step_count=steps,
        truncated_example_count=len(truncated),
        truncated_example_indices=truncated[:100],
        dropped_example_reasons=dropped[:100],
        input_tokens_mean=round(sum(p.chosen.input_tokens for p in pairs) / count, 2),
        output_tokens_mean=round(sum(p.chosen.output_tokens for p in pairs) / count, 2),
    )


def load_adapter(model: Any, folder: str) -> Any:
    """The model with a saved LoRA adapter attached, trainable: the starting point of a continued job."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, folder, is_trainable=True)
