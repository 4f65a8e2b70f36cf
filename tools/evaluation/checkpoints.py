"""Checkpoints with the metrics measured at each, and the choice of the best one (no tools here; the only reads are
job_metrics' backend and workspace calls)."""

from __future__ import annotations

import math
import statistics

from pydantic import Field

from tools.backends.base import (
    EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, Checkpoint, JobInfo, MetricPoint, TuningBackend,
)
from tools.context import ToolContext
from tools.errors import ToolError

TIE_TOLERANCE = 0.005  # eval losses within 0.5% of each other are a tie that accuracy breaks


class CheckpointRow(Checkpoint):
    eval_loss: float | None = None
    eval_accuracy: float | None = None
    train_loss: float | None = Field(None, description="median of the last 5 train losses up to this step")
    train_accuracy: float | None = None
    metric_step: int | None = Field(None, description="the step whose eval metrics are shown")


def job_metrics(ctx: ToolContext, backend: TuningBackend | None, job_id: str) -> dict[str, list[MetricPoint]]:
    """The job's metric series from its backend, else what earlier polls stored in the workspace."""
    if backend is not None:
        try:
            series = backend.get_metrics(job_id)
            if series:
                return series
        except (ToolError, OSError):
            pass
    return ctx.workspace.get_metrics(job_id)


def checkpoint_rows(job: JobInfo, series: dict[str, list[MetricPoint]]) -> list[CheckpointRow]:
    """Each checkpoint with the metrics measured at (or nearest before) its step."""
    spe = job.total_steps / job.epochs if job.total_steps and job.epochs else None
    steps = [c.step if c.step is not None else (round(c.epoch * spe) if c.epoch is not None and spe else None)
             for c in job.checkpoints]
    known = sorted(s for s in steps if s is not None)
    gap = min((b - a for a, b in zip(known, known[1:]) if b > a), default=max(known, default=1))
    rows = []
    for ckpt, step in zip(job.checkpoints, steps):
        row = CheckpointRow(**ckpt.model_dump())
        if step is not None:
            near = _nearest(series.get(EVAL_LOSS, []), step, gap / 2)
            if near is not None:
                row.eval_loss, row.metric_step = near.value, near.step
                acc = _nearest(series.get(EVAL_ACCURACY, []), near.step, 0)
                row.eval_accuracy = acc.value if acc else None
            for name, attr in ((TRAIN_LOSS, "train_loss"), (TRAIN_ACCURACY, "train_accuracy")):
                upto = [p.value for p in series.get(name, []) if p.step <= step][-5:]
                setattr(row, attr, statistics.median(upto) if upto else None)
        rows.append(row)
    return rows


def _nearest(points: list[MetricPoint], step: int, tolerance: float) -> MetricPoint | None:
    best = min(points, key=lambda p: (abs(p.step - step), p.step > step), default=None)
    return best if best is not None and abs(best.step - step) <= max(tolerance, 0) else None


def pick(rows: list[CheckpointRow]) -> tuple[CheckpointRow, str]:
    """Lowest eval loss (accuracy breaks near-ties, then the earlier one); lowest train loss without validation.
    Only finite losses count: a diverged run's NaN/inf says nothing about which checkpoint is better."""
    scored = [r for r in rows if _finite(r.eval_loss)]
    if scored:
        best_loss = min(r.eval_loss for r in scored)
        tied = [r for r in scored if r.eval_loss <= best_loss * (1 + TIE_TOLERANCE)]
        best = max(tied, key=lambda r: (r.eval_accuracy if r.eval_accuracy is not None else -1, -(r.step or 0)))
        why = f"lowest eval loss ({best.eval_loss:.4g}" + (
            f", eval accuracy {best.eval_accuracy:.1%})" if best.eval_accuracy is not None else ")")
        if len(tied) > 1:
            why += f"; {len(tied)} checkpoints were within {TIE_TOLERANCE:.1%} on eval loss, accuracy broke the tie"
        last = rows[-1]
        if best is not last and last.eval_loss is not None:
            why += f"; the last checkpoint's eval loss is {last.eval_loss:.4g}"
        if len(scored) < len([r for r in rows if r.eval_loss is not None]):
            why += "; checkpoints whose eval loss is NaN or infinite were not considered"
        return best, why
    eval_diverged = any(r.eval_loss is not None for r in rows)
    trained = [r for r in rows if _finite(r.train_loss)]
    if trained:
        best = min(trained, key=lambda r: (r.train_loss, -(r.step or 0)))
        if eval_diverged:
            return best, (f"lowest train loss ({best.train_loss:.4g}); the eval loss is NaN or infinite at every "
                          "checkpoint (the run diverged), so overfitting cannot be seen: retrain with a lower "
                          "learning rate")
        return best, (f"lowest train loss ({best.train_loss:.4g}); there is no validation set, so overfitting "
                      "cannot be seen: give one next time")
    if eval_diverged or any(r.train_loss is not None for r in rows):
        return rows[-1], ("every loss is NaN or infinite (the run diverged), so the last checkpoint was taken; "
                          "it is unlikely to be usable: retrain with a lower learning rate")
    return rows[-1], "no metrics are known for any checkpoint, so the last one was taken"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
