"""Cross-entropy through the LM head, for the labelled positions only, with the gradient computed in the same pass.

Gemma's tied head has 262,144 rows: its logits are the largest tensor of a step. A frozen head (LoRA never trains
it) needs no gradient of its own, only the one for the hidden states, (softmax - onehot) @ W; computing that while
the logits are at hand saves autograd's separate passes over them (log-softmax backward, argmax) and lets them be
freed at once instead of kept for backward. Same numbers as F.cross_entropy to float rounding (tested)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class _FusedHeadLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int,
                need_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        loss = hidden.new_zeros(())
        correct = torch.zeros((), dtype=torch.long)
        grad = torch.empty_like(hidden) if need_grad else None
        for start in range(0, len(targets), chunk):
            h, t = hidden[start:start + chunk], targets[start:start + chunk]
            logits = h @ weight.t()
            top, best = logits.max(-1)
            picked = logits.gather(1, t[:, None]).squeeze(1)
            logits.sub_(top[:, None]).exp_()
            total = logits.sum(-1)
            loss += (total.log() + top - picked).sum()
            correct += (best == t).sum()
            if grad is not None:
                logits.div_(total[:, None])
                logits[torch.arange(len(t)), t] -= 1
                grad[start:start + chunk] = logits @ weight
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(correct)
        return loss, correct

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor, grad_correct: Any) -> tuple[Any, ...]:
        (grad,) = ctx.saved_tensors
        return grad * grad_loss, None, None, None, None


def head_loss(head: Any, softcap: float | None, hidden: torch.Tensor, targets: torch.Tensor,
              chunk: int = 256) -> tuple[torch.Tensor, int]:
    """(summed cross-entropy, count of exact next-token predictions) of head(hidden) against targets."""
    weight = getattr(head, "weight", None)
    plain = (softcap or weight is None or weight.requires_grad or getattr(head, "bias", None) is not None
             or weight.dtype != torch.float32)
    if plain:  # a head that trains, caps or biases its logits: let autograd do it
        logits = head(hidden).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        return F.cross_entropy(logits, targets, reduction="sum"), int((logits.argmax(-1) == targets).sum())
    need_grad = torch.is_grad_enabled() and hidden.requires_grad
    loss, correct = _FusedHeadLoss.apply(hidden, weight, targets, chunk, need_grad)
    return loss, int(correct)
