"""PNG training curves for the report, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot
global state, safe in threads and servers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, Checkpoint, MetricPoint

LABELS = {TRAIN_LOSS: "train loss", EVAL_LOSS: "eval loss", TRAIN_ACCURACY: "train accuracy",
          EVAL_ACCURACY: "eval accuracy"}


def _figure(title: str, ylabel: str):  # -> (Figure, Axes)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _xy(points: Sequence[MetricPoint]) -> tuple[list[int], list[float]]:
    finite = [p for p in points if math.isfinite(p.value)]
    return [p.step for p in finite], [p.value for p in finite]


def _mark_checkpoints(ax, checkpoints: Sequence[Checkpoint], chosen: str | None) -> None:
    for c in checkpoints:
        if c.step is None:
            continue
        best = c.checkpoint_id == chosen
        ax.axvline(c.step, color="tab:red" if best else "grey", linestyle="-" if best else ":",
                   linewidth=1.6 if best else 0.9, alpha=0.9 if best else 0.6)
        label = f"ckpt {c.checkpoint_id}" + (" (chosen)" if best else "")
        ax.annotate(label, (c.step, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                    va="top", ha="right", color="tab:red" if best else "dimgrey")


def curve_plot(series: dict[str, list[MetricPoint]], metrics: tuple[str, str], checkpoints: Sequence[Checkpoint],
               chosen: str | None, path: Path, title: str, ylabel: str) -> Path | None:
    """Train and eval curves of one kind (loss or accuracy) with the checkpoints marked; None without data."""
    train, evals = (series.get(m, []) for m in metrics)
    if not _xy(train)[0] and not _xy(evals)[0]:
        return None
    fig, ax = _figure(title, ylabel)
    if _xy(train)[0]:
        ax.plot(*_xy(train), color="tab:blue", linewidth=1, alpha=0.85, label=LABELS[metrics[0]])
    if _xy(evals)[0]:
        ax.plot(*_xy(evals), color="tab:orange", marker="o", markersize=4, linewidth=1.5, label=LABELS[metrics[1]])
    _mark_checkpoints(ax, checkpoints, chosen)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def loss_plot(series: dict[str, list[MetricPoint]], checkpoints: Sequence[Checkpoint], chosen: str | None,
              path: Path, title: str) -> Path | None:
    return curve_plot(series, (TRAIN_LOSS, EVAL_LOSS), checkpoints, chosen, path, title, "loss")


def accuracy_plot(series: dict[str, list[MetricPoint]], checkpoints: Sequence[Checkpoint], chosen: str | None,
                  path: Path, title: str) -> Path | None:
    return curve_plot(series, (TRAIN_ACCURACY, EVAL_ACCURACY), checkpoints, chosen, path, title,
                      "next-token accuracy")


def sweep_plot(curves: dict[str, dict[str, list[MetricPoint]]], metric: str, path: Path, title: str) -> Path | None:
    """One metric of several jobs on one chart (a sweep over epochs or adapter sizes)."""
    drawn = {label: _xy(series.get(metric, [])) for label, series in curves.items()}
    drawn = {label: xy for label, xy in drawn.items() if xy[0]}
    if not drawn:
        return None
    fig, ax = _figure(title, LABELS.get(metric, metric))
    for label, (x, y) in drawn.items():
        ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, linewidth=1.2, label=label)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
