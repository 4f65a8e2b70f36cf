"""Anomaly detection on synthetic curves: each kind is found with the right step, epoch and action, and healthy
curves of several shapes and noise levels raise nothing at all."""

from __future__ import annotations

import math
import re

import pytest
from monitor_fake_backend import checkpoints, decay, noisy, points

from tools.monitoring.anomalies import assess_health, detect_anomalies
from tools.backends.base import EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS

N = 300
SPE = N / 3  # three epochs of 100 steps


def healthy_shapes() -> dict[str, list[float]]:
    return {
        "exponential": decay(N),
        "fast then flat": decay(N, start=2.4, end=0.1, rate=20),
        "slow linear": [2.0 - 1.0 * i / N for i in range(N)],
        "warmup then decay": [2.2 if i < 30 else 0.4 + 1.8 * math.exp(-4 * (i - 30) / N) for i in range(N)],
        "already good": decay(N, start=1.0, end=0.2, rate=4),
    }


@pytest.mark.parametrize("shape", list(healthy_shapes()))
@pytest.mark.parametrize("noise", [0.0, 0.1, 0.2, 0.3])
def test_healthy_curves_raise_nothing(shape, noise):
    for seed in range(8):
        for final in (False, True):
            for n in (12, 60, N):
                series = {TRAIN_LOSS: points(noisy(healthy_shapes()[shape][:: N // n], noise, seed), n / 3)}
                evals = decay(6, start=1.2, end=0.5, rate=3)
                series[EVAL_LOSS] = points(noisy(evals, 0.02, seed), n / 6, start=n // 6, every=n // 6)
                found = detect_anomalies(series, final=final)
                assert found == [], (shape, noise, seed, n, [a.message for a in found])
                health = assess_health(series, found, final=final)
                assert health.convergence_ok is not False and health.generalization_ok is True


def test_healthy_run_is_reported_healthy_with_its_numbers():
    series = {TRAIN_LOSS: points(noisy(decay(N), 0.1, 1), SPE),
              EVAL_LOSS: points([1.2, 0.9, 0.7], SPE, start=100, every=100)}
    health = assess_health(series, detect_anomalies(series, final=True), final=True)
    assert health.convergence_ok is True and health.generalization_ok is True
    assert health.summary.startswith("Healthy convergence: smoothed train loss 2.")
    assert "eval loss 1.2 -> best 0.7 at epoch 3, last 0.7" in health.summary


def test_one_epoch_run_is_judged_on_its_generalization_gap():
    train = points(noisy(decay(100, start=2.0, end=0.3), 0.05, 2), 100)
    close = assess_health({TRAIN_LOSS: train, EVAL_LOSS: points([0.35], 100, start=100)}, [], final=True)
    assert close.generalization_ok is True
    assert "one evaluation: eval loss 0.35 against train loss 0.3" in close.summary
    wide = assess_health({TRAIN_LOSS: train, EVAL_LOSS: points([1.4], 100, start=100)}, [], final=True)
    assert wide.generalization_ok is False and "a wide generalization gap" in wide.summary


def test_nan_is_critical_and_says_cancel():
    values = decay(100)
    values[60] = float("nan")
    found = detect_anomalies({TRAIN_LOSS: points(values, 50)})
    assert [(a.kind, a.severity, a.step, a.epoch) for a in found] == [("non_finite", "critical", 61, 1.22)]
    assert "cancel_job" in found[0].recommended_action and "nan" in found[0].message
    assert assess_health({TRAIN_LOSS: points(values, 50)}, found).convergence_ok is False


def test_infinite_eval_loss_is_caught_too():
    series = {TRAIN_LOSS: points(decay(50)), EVAL_LOSS: points([1.0, math.inf], start=25, every=25)}
    found = detect_anomalies(series)
    assert [(a.kind, a.step) for a in found] == [("non_finite", 50)]
    assert assess_health(series, found).generalization_ok is False


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.15])
def test_transient_spike_is_info_and_lasting_one_is_critical(noise):
    values = noisy(decay(N), noise, 3)
    spiked = list(values)
    spiked[180] *= 6
    found = detect_anomalies({TRAIN_LOSS: points(spiked, SPE)})
    assert [(a.kind, a.severity, a.step) for a in found] == [("loss_spike", "info", 181)]
    assert "recovered" in found[0].message

    diverged = [v * (6 if i >= 200 else 1) for i, v in enumerate(values)]
    found = detect_anomalies({TRAIN_LOSS: points(diverged, SPE)}, final=True)
    assert [(a.kind, a.severity, a.step, a.epoch) for a in found] == [("loss_spike", "critical", 201, 2.01)]
    assert "diverging" in found[0].message and "learning-rate multiplier halved" in found[0].recommended_action


def test_a_jump_at_the_last_point_waits_for_more_points():
    values = decay(100)
    values[-1] *= 8
    assert detect_anomalies({TRAIN_LOSS: points(values)}) == []
    values += decay(100)[-2:]  # two normal points later it is judged: it recovered
    assert [a.severity for a in detect_anomalies({TRAIN_LOSS: points(values)})] == ["info"]


def test_recurring_spikes_become_a_warning():
    values = decay(N)
    for i in (60, 120, 180, 240):
        values[i] *= 6
    found = detect_anomalies({TRAIN_LOSS: points(values, SPE)})
    assert [a.severity for a in found] == ["warning"] * 4
    assert "4 spikes so far" in found[0].message


@pytest.mark.parametrize("noise", [0.0, 0.05, 0.1])
def test_plateau_while_still_high(noise):
    values = noisy([max(1.8, 2.5 - 0.7 * i / 90) for i in range(N)], noise, 5)
    found = detect_anomalies({TRAIN_LOSS: points(values, SPE)}, progress=0.7)
    assert [(a.kind, a.severity) for a in found] == [("plateau", "warning")]
    assert "learning-rate multiplier" in found[0].recommended_action
    assert float(re.search(r"stalled at ([\d.]+)", found[0].message).group(1)) == pytest.approx(1.8, abs=0.05)


def test_underfitting_at_the_end_replaces_plateau():
    values = noisy([2.0 - 0.2 * i / N for i in range(N)], 0.05, 2)
    found = detect_anomalies({TRAIN_LOSS: points(values, SPE)}, final=True)
    assert [(a.kind, a.severity, a.step) for a in found] == [("underfitting", "warning", N)]
    assert "epochs" in found[0].recommended_action
    assert 5 <= int(re.search(r"only (\d+)% below", found[0].message).group(1)) <= 12  # 10% drop, noisy ends
    health = assess_health({TRAIN_LOSS: points(values, SPE)}, found, final=True)
    assert health.convergence_ok is False and "underfitting" in health.summary


def test_high_accuracy_means_learned_whatever_the_loss_level():
    values = noisy([2.0 - 0.2 * i / N for i in range(N)], 0.05, 2)
    series = {TRAIN_LOSS: points(values, SPE), TRAIN_ACCURACY: points([0.5 + 0.5 * i / N for i in range(N)], SPE)}
    assert detect_anomalies(series, final=True) == []
    assert assess_health(series, [], final=True).convergence_ok is True
    series[TRAIN_ACCURACY] = points([0.5 + 0.1 * i / N for i in range(N)], SPE)
    found = detect_anomalies(series, final=True)
    assert [a.kind for a in found] == ["underfitting"]
    assert assess_health(series, found, final=True).convergence_ok is False


def test_underfitting_needs_the_end_of_the_run():
    values = [2.0 - 0.2 * i / N for i in range(N)]
    assert [a.kind for a in detect_anomalies({TRAIN_LOSS: points(values, SPE)}, progress=0.5)] == ["plateau"]
    assert [a.kind for a in detect_anomalies({TRAIN_LOSS: points(values, SPE)}, progress=0.95)] == ["underfitting"]


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.2])
def test_overfitting_names_the_epoch_and_the_checkpoint(noise):
    job = "local-over"
    series = {TRAIN_LOSS: points(noisy(decay(6 * 50), noise, 1), 50),
              EVAL_LOSS: points([1.0, 0.8, 0.7, 0.75, 0.85, 0.95], 50, start=50, every=50)}
    ckpts = checkpoints(job, [50, 100, 150, 200, 250, 300])
    found = detect_anomalies(series, checkpoints=ckpts, final=True)
    assert [(a.kind, a.severity, a.step, a.epoch, a.checkpoint_id) for a in found] == [
        ("overfitting", "warning", 150, 3.0, "3")]
    assert found[0].message.startswith("Overfitting from epoch 3 (step 150): eval loss rose 36% from its best 0.7")
    assert "Use checkpoint 3 (epoch 3)" in found[0].recommended_action
    assert "fewer epochs (3)" in found[0].recommended_action
    health = assess_health(series, found, final=True)
    # Checkpoint 3 may be good, but a run whose eval loss rose 36% above its best did not generalize: no tick.
    assert health.convergence_ok is True and health.generalization_ok is False
    assert "overfitting from epoch 3" in health.summary
    assert "overfit after epoch 3; checkpoint 3 chosen" in health.summary


def test_a_small_late_rise_without_the_anomaly_is_still_judged_on_the_numbers():
    series = {TRAIN_LOSS: points(decay(300), SPE), EVAL_LOSS: points([1.0, 0.6, 0.7], SPE, start=100, every=100)}
    health = assess_health(series, [], final=True)
    assert health.generalization_ok is False and "overfit after epoch 2; choose the checkpoint of epoch 2" in \
        health.summary
    steady = assess_health({**series, EVAL_LOSS: points([1.0, 0.6, 0.62], SPE, start=100, every=100)}, [], final=True)
    assert steady.generalization_ok is True


def test_an_ended_job_without_metrics_says_so_with_the_console_link():
    from datetime import UTC, datetime

    from tools.backends.base import JobInfo, JobState
    from tools.monitoring.experiments import missing_metrics

    job = JobInfo(job_id="projects/p/locations/us-central1/tuningJobs/42", backend="vertex", state=JobState.SUCCEEDED,
                  base_model="gemini-3.5-flash-lite", created_at=datetime.now(UTC),
                  experiment="projects/p/locations/us-central1/metadataStores/default/contexts/tuning-experiment-42")
    health = assess_health({}, [], final=True, missing=missing_metrics(job, {}))
    assert health.summary.startswith("No metrics: the job SUCCEEDED but its experiment projects/p/")
    assert "too early" not in health.summary
    assert ("https://console.cloud.google.com/vertex-ai/experiments/locations/us-central1/experiments/"
            "tuning-experiment-42/runs?project=p") in health.summary
    running = job.model_copy(update={"state": JobState.RUNNING})
    assert missing_metrics(running, {}) is None


def test_eval_rising_with_train_rising_is_not_overfitting():
    series = {TRAIN_LOSS: points([1.0] * 50 + [1.5] * 50),
              EVAL_LOSS: points([1.0, 0.9, 1.2, 1.4], start=25, every=25)}
    assert "overfitting" not in [a.kind for a in detect_anomalies(series)]


def test_eval_that_never_improves_is_poor_generalization():
    series = {TRAIN_LOSS: points(decay(100)), EVAL_LOSS: points([1.0, 1.02, 1.01], start=33, every=33)}
    health = assess_health(series, detect_anomalies(series, final=True), final=True)
    assert health.generalization_ok is False and "never improved" in health.summary


def test_health_is_unknown_without_data():
    health = assess_health({}, [])
    assert (health.convergence_ok, health.generalization_ok) == (None, None)
    assert "no metrics yet" in health.summary


def test_a_few_points_are_too_few_to_judge_and_said_so():
    health = assess_health({TRAIN_LOSS: points([1.18, 0.27])}, [])
    assert health.convergence_ok is None
    assert health.summary == "Too early to judge convergence: only 2 train-loss points so far (last 0.27); 5 are needed."
