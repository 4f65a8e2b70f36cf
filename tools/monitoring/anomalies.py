"""Anomaly and health detection on tuning metric series: pure functions, no I/O.

Every rule is tuned to stay silent on healthy curves, noisy ones included: a false alarm wakes the model (and costs a
call), a missed mild anomaly is caught again at the next poll. Severity says what to do: `critical` means cancel,
`warning` means look, `info` is listed but never interrupts a watch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import median
from typing import Literal

from pydantic import BaseModel

from tools.backends.base import EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, Checkpoint, MetricPoint

Severity = Literal["info", "warning", "critical"]
Kind = Literal["non_finite", "loss_spike", "plateau", "overfitting", "underfitting"]

SPIKE_WINDOW = 10  # points before a value that define "normal"
SPIKE_SIGMAS = 6.0  # robust z-score a spike must exceed...
SPIKE_MIN_RATIO = 2.5  # ...and exceed 2.5x the recent level...
SPIKE_MIN_SHARE_OF_START = 0.10  # ...by at least a tenth of the starting loss (low losses are relatively noisy)
PERSISTENT_RATIO = 1.5  # after a spike, a level this far above normal means training diverged
PLATEAU_MAX_GAIN = 0.10  # confidently less than 10% better than the previous segment is a stall
PLATEAU_SEGMENT_POINTS = 8  # segments this small are too noisy to compare
STILL_HIGH = 0.6  # a stall above 60% of the starting loss is a plateau, below it convergence
UNDERFIT_MAX_RATIO = 0.75  # ending above 75% of the starting loss is underfitting
OVERFIT_RISE = 0.10  # eval loss 10% above its best while train loss keeps falling
SEVERE_OVERFIT_RISE = 0.5
UNDERFIT_MIN_POINTS = 20  # fewer points are too noisy to call a whole run a failure
LEARNED_ACCURACY = 0.9  # train next-token accuracy at which a stall is convergence, not a plateau


class Anomaly(BaseModel):
    kind: Kind
    severity: Severity
    step: int | None = None
    epoch: float | None = None
    message: str
    recommended_action: str
    checkpoint_id: str | None = None
    new: bool = False

    @property
    def key(self) -> str:
        return anomaly_key(self.kind, self.step, self.severity)


def anomaly_key(kind: str, step: int | None, severity: str) -> str:
    """Identity across polls: trend anomalies are one per kind, point anomalies one per step; escalating is new."""
    return f"{kind}@{step}:{severity}" if kind in ("non_finite", "loss_spike") else f"{kind}:{severity}"


# With a single evaluation, eval loss up to this multiple of the final training loss (plus a margin for losses near
# zero) counts as generalizing: the gap a healthy one-epoch run shows, not the multiples overfitting produces.
GAP_RATIO = 1.5
GAP_ABSOLUTE = 0.05


class Health(BaseModel):
    convergence_ok: bool | None = None
    generalization_ok: bool | None = None
    summary: str


def finite(points: Iterable[MetricPoint]) -> list[MetricPoint]:
    return [p for p in points if math.isfinite(p.value)]


def rolling_median(values: Sequence[float], window: int) -> list[float]:
    half = window // 2
    return [median(values[max(0, i - half): i + half + 1]) for i in range(len(values))]


def edge_level(values: Sequence[float], start: bool) -> float:
    """The level at the start or the end of a series: the median of its first or last tenth (at least 3 points)."""
    k = edge_size(len(values))
    return median(values[:k] if start else values[-k:])


def edge_size(n: int) -> int:
    return max(3, min(n // 4, max(5, n // 10)))


def epoch_of(point: MetricPoint, steps_per_epoch: float | None) -> float | None:
    if point.epoch is not None:
        return point.epoch
    return round(point.step / steps_per_epoch, 2) if steps_per_epoch else None


def detect_anomalies(
    series: dict[str, list[MetricPoint]],
    *,
    checkpoints: Sequence[Checkpoint] = (),
    final: bool = False,
    progress: float | None = None,
    steps_per_epoch: float | None = None,
) -> list[Anomaly]:
    """All anomalies in the series so far. `final`: the job ended; `progress`: fraction of steps done, if known."""
    found = non_finite(series, steps_per_epoch)
    train = finite(series.get(TRAIN_LOSS, []))
    found += loss_spikes(train, steps_per_epoch, final)
    diverged = any(a.severity == "critical" for a in found)  # a diverged run's high loss needs no second diagnosis
    learned = has_learned(series)
    nearly_done = final or (progress is not None and progress >= 0.9)
    under = underfitting(train, steps_per_epoch) if nearly_done and not diverged and not learned else None
    if under is not None:
        found.append(under)
    elif not diverged and not learned and (progress is None or progress >= 0.15):
        found += plateau(train, steps_per_epoch)
    found += overfitting(train, finite(series.get(EVAL_LOSS, [])), checkpoints, steps_per_epoch)
    return found


def has_learned(series: dict[str, list[MetricPoint]]) -> bool:
    """Next-token accuracy near 1 means the task is learned, whatever level the loss sits at."""
    accuracy = [p.value for p in finite(series.get(TRAIN_ACCURACY, []))]
    return bool(accuracy) and edge_level(accuracy, start=False) >= LEARNED_ACCURACY


def non_finite(series: dict[str, list[MetricPoint]], steps_per_epoch: float | None) -> list[Anomaly]:
    bad = {name: next(p for p in pts if not math.isfinite(p.value))
           for name, pts in series.items() if any(not math.isfinite(p.value) for p in pts)}
    if not bad:
        return []
    first = min(bad.values(), key=lambda p: p.step)
    names = ", ".join(f"{n} = {p.value} at step {p.step}" for n, p in bad.items())
    return [Anomaly(
        kind="non_finite", severity="critical", step=first.step, epoch=epoch_of(first, steps_per_epoch),
        message=f"Metrics became NaN or infinite: {names}. Training cannot recover from this.",
        recommended_action="Cancel the job (cancel_job). Retry with the learning-rate multiplier halved, and check "
                           "the dataset for empty or truncated examples.",
    )]


def loss_spikes(train: list[MetricPoint], steps_per_epoch: float | None, final: bool) -> list[Anomaly]:
    """Sudden jumps far above the recent level: transient ones are info (warning when they recur), lasting ones
    mean the run diverged (critical). A jump still too recent to judge waits for the next poll."""
    values = [p.value for p in train]
    if len(values) < 8:
        return []
    start = edge_level(values, start=True)
    logs = [math.log(max(v, 1e-9)) for v in values]
    regions: list[tuple[int, int, float]] = []  # first index, last index, normal level before it
    for i in range(5, len(values)):
        inside = bool(regions) and regions[-1][1] == i - 1
        # Per-step loss noise is multiplicative, so "unusual" is judged on the log scale. The spread comes from
        # step-to-step differences over a long window: a falling trend does not inflate it, nor a lucky calm stretch
        # shrink it.
        normal = regions[-1][2] if inside else math.exp(median(logs[max(0, i - SPIKE_WINDOW): i]))
        recent = logs[max(0, i - 5 * SPIKE_WINDOW): i]
        diffs = [abs(b - a) for a, b in zip(recent, recent[1:])]
        spread = 1.4826 * median(diffs) / math.sqrt(2)
        if (logs[i] - math.log(normal) > max(math.log(SPIKE_MIN_RATIO), SPIKE_SIGMAS * spread)
                and values[i] - normal > SPIKE_MIN_SHARE_OF_START * start):
            if inside:
                regions[-1] = (regions[-1][0], i, normal)
            else:
                regions.append((i, i, normal))
    found, transient = [], []
    for first, last, normal in regions:
        after = values[last + 1: last + 6]
        at_end = last == len(values) - 1
        lasting = (at_end and last - first >= 2) or (len(after) >= 2 and median(after) > PERSISTENT_RATIO * normal)
        if not lasting and len(after) < 2 and not final:
            continue
        peak = max(values[first: last + 1])
        p = train[first]
        where = f"step {p.step}" + (f" (epoch {epoch_of(p, steps_per_epoch):g})" if epoch_of(p, steps_per_epoch)
                                    is not None else "")
        if lasting:
            now = median(values[-3:])
            found.append(Anomaly(
                kind="loss_spike", severity="critical", step=p.step, epoch=epoch_of(p, steps_per_epoch),
                message=f"Train loss jumped from {normal:.3g} to {peak:.3g} at {where} and stayed high "
                        f"({now:.3g} now): training is diverging.",
                recommended_action="Cancel the job (cancel_job) and retry with the learning-rate multiplier halved; "
                                   "a checkpoint from before the jump is still usable.",
            ))
        else:
            transient.append(Anomaly(
                kind="loss_spike", severity="info", step=p.step, epoch=epoch_of(p, steps_per_epoch),
                message=f"Train loss spiked from {normal:.3g} to {peak:.3g} at {where} and recovered.",
                recommended_action="No action needed while it recovers; if spikes recur, lower the learning-rate "
                                   "multiplier in the next run.",
            ))
    if len(transient) >= 3:
        for a in transient:
            a.severity = "warning"
            a.message += f" ({len(transient)} spikes so far: training is unstable.)"
    return found + transient


def segments(train: list[MetricPoint], steps_per_epoch: float | None) -> list[tuple[str, list[float]]]:
    """Train loss cut into whole epochs when known (the same examples each epoch make them comparable), else fifths."""
    by_epoch: dict[int, list[float]] = {}
    for p in train:
        e = epoch_of(p, steps_per_epoch)
        if e is None:
            break
        by_epoch.setdefault(math.floor(e - 1e-9) if e > 0 else 0, []).append(p.value)
    else:
        complete = sorted(by_epoch)[:-1] if len(by_epoch) > 1 else []  # the last epoch may be unfinished
        if len(complete) >= 3:
            return [(f"epoch {e + 1}", by_epoch[e]) for e in complete]
    size = len(train) // 5
    return [(f"steps {train[i * size].step}-{train[(i + 1) * size - 1].step}", [p.value for p in
             train[i * size:(i + 1) * size]]) for i in range(5)] if size else []


def plateau(train: list[MetricPoint], steps_per_epoch: float | None) -> list[Anomaly]:
    """The last segment no better than the one before, with confidence, while the loss is still high."""
    segs = segments(train, steps_per_epoch)
    if len(segs) < 3 or min(len(v) for _, v in segs[-2:]) < PLATEAU_SEGMENT_POINTS:
        return []
    first, prev, last = median(segs[0][1]), median(segs[-2][1]), median(segs[-1][1])
    if min(first, prev, last) <= 0 or last <= STILL_HIGH * first:
        return []
    gain = math.log(prev / last)
    # Standard error of a median of log values is about 1.25 sigma / sqrt(n); sigma from the MAD.
    noise = math.sqrt(sum((1.25 * 1.4826 * _mad([math.log(v) for v in vals])) ** 2 / len(vals)
                          for _, vals in segs[-2:]))
    if gain + 2 * noise >= PLATEAU_MAX_GAIN:
        return []
    p = train[-len(segs[-1][1])]
    return [Anomaly(
        kind="plateau", severity="warning", step=p.step, epoch=epoch_of(p, steps_per_epoch),
        message=f"Train loss has stalled at {last:.3g} ({segs[-2][0]}: {prev:.3g}, {segs[-1][0]}: {last:.3g}), "
                f"still {last / first:.0%} of where it started ({first:.3g}).",
        recommended_action="The run is learning too slowly: for the next run raise the learning-rate multiplier "
                           "(about 2x) or the adapter size; cancel this one if the remaining epochs are costly.",
    )]


def _mad(values: Sequence[float]) -> float:
    m = median(values)
    return median(abs(v - m) for v in values)


def underfitting(train: list[MetricPoint], steps_per_epoch: float | None) -> Anomaly | None:
    values = [p.value for p in train]
    if len(values) < UNDERFIT_MIN_POINTS:
        return None
    first, last = edge_level(values, start=True), edge_level(values, start=False)
    if first <= 0 or last <= 0:
        return None
    k = edge_size(len(values))
    noise = math.sqrt(sum((1.25 * 1.4826 * _mad([math.log(max(v, 1e-9)) for v in part])) ** 2 / k
                          for part in (values[:k], values[-k:])))
    # Only when the drop is confidently small: a noisy run that may have learned is not called a failure.
    if math.log(first / last) + 2 * noise >= -math.log(UNDERFIT_MAX_RATIO):
        return None
    p = train[-1]
    return Anomaly(
        kind="underfitting", severity="warning", step=p.step, epoch=epoch_of(p, steps_per_epoch),
        message=f"Train loss ended at {last:.3g}, only {1 - last / first:.0%} below its start ({first:.3g}): "
                "the model has not learned the task.",
        recommended_action="Train more: raise the epochs (about 2x), the learning-rate multiplier (about 2x) or the "
                           "adapter size; also check that outputs in the data are consistent.",
    )


def overfitting(train: list[MetricPoint], evals: list[MetricPoint], checkpoints: Sequence[Checkpoint],
                steps_per_epoch: float | None) -> list[Anomaly]:
    """Eval loss rising from its best while train loss keeps falling; names the epoch where it starts."""
    if len(evals) < 3:
        return []
    values = [p.value for p in evals]
    smooth = rolling_median(values, 3) if len(values) > 10 else values
    best_i = min(range(len(smooth)), key=smooth.__getitem__)
    best, now = smooth[best_i], smooth[-1]
    if best_i == len(smooth) - 1 or best <= 0 or (now - best) / best < OVERFIT_RISE:
        return []
    turn, last = evals[best_i], evals[-1]
    if train:
        before = [p.value for p in train if p.step <= turn.step][-5:]
        after = [p.value for p in train if p.step <= last.step][-5:]
        if before and after and median(after) >= median(before):
            return []  # both rising: instability, not overfitting (the spike rule covers it)
    rise = (now - best) / best
    epoch = epoch_of(turn, steps_per_epoch)
    where = f"epoch {epoch:g} (step {turn.step})" if epoch is not None else f"step {turn.step}"
    ckpt = best_checkpoint_near(checkpoints, turn.step)
    use = (f"Use checkpoint {ckpt.checkpoint_id}" + (f" (epoch {ckpt.epoch})" if ckpt.epoch is not None else "")
           if ckpt else f"Use the checkpoint nearest {where}")
    use += ", from before eval loss rose; choose_checkpoint picks it"
    return [Anomaly(
        kind="overfitting", severity="warning", step=turn.step, epoch=epoch,
        message=f"Overfitting from {where}: eval loss rose {rise:.0%} from its best {best:.3g} to {now:.3g} "
                "while train loss kept falling." + (" Later epochs make it worse." if rise >= SEVERE_OVERFIT_RISE
                                                    else ""),
        recommended_action=f"{use}. For a retry: fewer epochs"
                           + (f" ({max(1, math.ceil(epoch))})" if epoch else "")
                           + ", a lower learning-rate multiplier, or more training data.",
        checkpoint_id=ckpt.checkpoint_id if ckpt else None,
    )]


def best_checkpoint_near(checkpoints: Sequence[Checkpoint], step: int) -> Checkpoint | None:
    """The checkpoint closest to `step`, preferring one at or before it (it has not seen the later epochs)."""
    with_step = [c for c in checkpoints if c.step is not None]
    if not with_step:
        return None
    return min(with_step, key=lambda c: (abs(c.step - step) + (0 if c.step <= step else 0.5)))


def assess_health(series: dict[str, list[MetricPoint]], anomalies: Sequence[Anomaly], *,
                  final: bool = False, steps_per_epoch: float | None = None, missing: str | None = None) -> Health:
    """Whether training converges and generalizes so far, in one sentence of real numbers. `missing` says why an
    ended job has no metrics at all (tools.monitoring.experiments.missing_metrics)."""
    if missing and not any(series.values()):
        return Health(convergence_ok=None, generalization_ok=None, summary=f"No metrics: {missing}.")
    kinds = {a.kind: a for a in anomalies if a.severity != "info"}
    train = finite(series.get(TRAIN_LOSS, []))
    evals = finite(series.get(EVAL_LOSS, []))
    parts: list[str] = []
    convergence: bool | None = None
    if len(train) >= 5:
        first, last = edge_level([p.value for p in train], True), edge_level([p.value for p in train], False)
        drop = 1 - last / first if first > 0 else 0.0
        parts.append(f"smoothed train loss {first:.3g} -> {last:.3g} ({-drop:+.0%}) over {train[-1].step} steps")
        bad = {"non_finite", "plateau", "underfitting"} & kinds.keys() or (
            "loss_spike" in kinds and kinds["loss_spike"].severity == "critical")
        converged = drop >= 0.25 or (drop >= 0.10 and not final) or has_learned(series)
        convergence = False if bad else (True if converged else None)
    generalization: bool | None = None
    if series.get(EVAL_LOSS):
        if len(evals) < len(series[EVAL_LOSS]):
            generalization = False
        elif len(evals) >= 2:
            best = min(evals, key=lambda p: p.value)
            generalization = best.value < 0.97 * evals[0].value
            at = epoch_of(best, steps_per_epoch)
            parts.append(f"eval loss {evals[0].value:.3g} -> best {best.value:.3g}"
                         + (f" at epoch {at:g}" if at is not None else f" at step {best.step}")
                         + f", last {evals[-1].value:.3g}")
            if not generalization:
                parts.append("eval loss never improved on its first value")
            elif "overfitting" in kinds or (evals[-1].value - best.value) / max(best.value, 1e-9) >= OVERFIT_RISE:
                # The best checkpoint may still be good, but the run as a whole did not generalize: not a tick.
                generalization = False
                parts.append(_overfit_note(kinds.get("overfitting"), best, at))
        elif evals and len(train) >= 5:
            # One evaluation (a one-epoch run): judge the gap to the training loss at the end instead of a trend.
            level = edge_level([p.value for p in train], False)
            generalization = evals[0].value <= GAP_RATIO * level + GAP_ABSOLUTE
            parts.append(f"one evaluation: eval loss {evals[0].value:.3g} against train loss {level:.3g}"
                         + ("" if generalization else " (a wide generalization gap)"))
    if not parts and train:  # a few points: say so, rather than "no metrics"
        parts.append(f"only {len(train)} train-loss point{'s' if len(train) != 1 else ''} so far (last "
                     f"{train[-1].value:.3g}); 5 are needed")
    verdict = {True: "healthy convergence", False: "not converging", None: "too early to judge convergence"}
    head = verdict[convergence]
    notes = [_note(a) for a in anomalies if a.severity != "info"]
    summary = head[0].upper() + head[1:] + (f" ({'; '.join(dict.fromkeys(notes))})" if notes else "")
    return Health(convergence_ok=convergence, generalization_ok=generalization,
                  summary=summary + (": " + "; ".join(parts) if parts else ": no metrics yet") + ".")


def _overfit_note(anomaly: Anomaly | None, best: MetricPoint, at: float | None) -> str:
    """"overfit after epoch N; checkpoint K chosen": where eval loss was best, and the checkpoint taken from there."""
    where = f"epoch {at:g}" if at is not None else f"step {best.step}"
    ckpt = anomaly.checkpoint_id if anomaly and anomaly.checkpoint_id else None
    return f"overfit after {where}; " + (f"checkpoint {ckpt} chosen" if ckpt else
                                           f"choose the checkpoint of {where} (choose_checkpoint)")


def latest_values(series: dict[str, list[MetricPoint]]) -> dict[str, float]:
    """The last value of each metric, keyed by its Vertex name."""
    return {name: pts[-1].value for name, pts in series.items() if pts}


def _note(a: Anomaly) -> str:
    if a.kind == "overfitting":
        return "overfitting from " + (f"epoch {a.epoch:g}" if a.epoch is not None else f"step {a.step}")
    return {"non_finite": "NaN/inf metrics", "loss_spike": "loss spikes"}.get(a.kind, a.kind)
