"""poll_metrics and watch against a scripted backend: they block while the job runs, show progress to the person and
return on completion, failure, cancellation, a new anomaly or the time limit."""

from __future__ import annotations

import math

from monitor_fake_backend import FakeBackend, checkpoints, decay, noisy, points

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, TRAIN_ACCURACY, TRAIN_LOSS, JobState
from tools.monitoring.monitor import watch
from tools.registry import dispatch

R, S, Q = JobState.RUNNING, JobState.SUCCEEDED, JobState.QUEUED


def healthy_metrics(steps: int = 90) -> dict:
    spe = steps / 3
    return {TRAIN_LOSS: points(noisy(decay(steps), 0.1, 4), spe),
            TRAIN_ACCURACY: points([0.3 + 0.6 * i / steps for i in range(steps)], spe),
            EVAL_LOSS: points([1.1, 0.8, 0.62], spe, start=30, every=30),
            EVAL_ACCURACY: points([0.55, 0.7, 0.78], spe, start=30, every=30)}


def test_returns_on_completion_with_compact_facts(ctx, fake, progress):
    metrics = healthy_metrics()
    fake.add_job("local-ok", [Q, R, R, R, S], metrics, epochs=3, total_steps=90,
                 validation_dataset_uri="val.jsonl", checkpoints=checkpoints("local-ok", [30, 60, 90]))
    result = dispatch("poll_metrics", {"job_id": "local-ok", "poll_interval_s": 0.001}, ctx)
    assert not result.is_error, result.content
    out = result.data
    assert out["returned_because"] == "completed" and out["job"]["state"] == "SUCCEEDED"
    assert out["latest"] == {name: pts[-1].value for name, pts in metrics.items()}
    assert out["points"] == sum(len(p) for p in metrics.values()) and out["polls"] == 5
    assert out["health"]["convergence_ok"] is True and out["health"]["generalization_ok"] is True
    assert out["anomalies"] == []
    assert "choose_checkpoint" in out["next_step"]
    assert len(result.content) < 3000  # never the whole series
    # the person saw live progress with the numbers the model never gets
    assert len(progress) == 5 and progress[-1].done == 90 and progress[-1].total == 90
    assert progress[-1].fields["epoch"] == 3 and progress[-1].fields["train_loss"] == metrics[TRAIN_LOSS][-1].value
    assert progress[-1].fields["eval_loss"] == 0.62 and "epoch 3/3" in progress[-1].message
    # the workspace keeps the job and the result for `gto jobs` and the report
    assert ctx.workspace.get_job("local-ok").state == S
    assert ctx.workspace.events("local-ok", "tool:poll_metrics")[-1]["data"]["returned_because"] == "completed"


def test_remote_curves_are_kept_in_the_workspace(ctx):
    vertex = FakeBackend(name="vertex")
    ctx._backends["vertex"] = vertex
    values = decay(40)
    values[30] = float("nan")
    vertex.add_job("projects/p/locations/l/tuningJobs/1", [R, R, S], {TRAIN_LOSS: points(values)})
    out = dispatch("poll_metrics", {"job_id": "projects/p/locations/l/tuningJobs/1", "poll_interval_s": 0.001,
                                    "return_on_anomaly": False}, ctx).data
    assert out["returned_because"] == "completed" and out["anomalies"][0]["kind"] == "non_finite"
    stored = ctx.workspace.get_metrics("projects/p/locations/l/tuningJobs/1")[TRAIN_LOSS]
    assert [p.step for p in stored] == list(range(1, 41))
    assert math.isnan(stored[30].value)  # kept, so a later look still sees what went wrong


def test_returns_on_failure_with_the_error(ctx, fake):
    fake.add_job("local-bad", [R, JobState.FAILED], {TRAIN_LOSS: points(decay(10))},
                 error="Quota exceeded for tuning jobs in us-central1")
    out = dispatch("poll_metrics", {"job_id": "local-bad", "poll_interval_s": 0.001}, ctx).data
    assert out["returned_because"] == "failed"
    assert "Quota exceeded" in out["next_step"] and out["job"]["error"].startswith("Quota")


def test_returns_when_cancelled(ctx, fake):
    fake.add_job("local-c", [R, JobState.CANCELLING, JobState.CANCELLED], {TRAIN_LOSS: points(decay(10))})
    out = dispatch("poll_metrics", {"job_id": "local-c", "poll_interval_s": 0.001}, ctx).data
    assert (out["returned_because"], out["polls"]) == ("cancelled", 3)


def test_returns_at_the_time_limit(ctx, fake):
    fake.add_job("local-slow", [R] * 1000, {TRAIN_LOSS: points(decay(2000))}, total_steps=2000)
    out = dispatch("poll_metrics", {"job_id": "local-slow", "timeout_s": 0.05, "poll_interval_s": 0.005}, ctx).data
    assert out["returned_because"] == "time_limit" and out["job"]["state"] == "RUNNING"
    assert 2 <= out["polls"] < 1000 and 0.05 <= out["elapsed_s"] < 1
    assert "poll_metrics again" in out["next_step"]


def test_returns_on_a_new_anomaly_once(ctx, fake):
    values = decay(100)
    values[40] = float("nan")
    fake.add_job("local-nan", [R, R, R, R, S], {TRAIN_LOSS: points(values, 50)}, epochs=2, total_steps=100)
    first = dispatch("poll_metrics", {"job_id": "local-nan", "poll_interval_s": 0.001}, ctx).data
    assert first["returned_because"] == "anomaly" and first["job"]["state"] == "RUNNING"
    assert [(a["kind"], a["severity"], a["step"], a["new"]) for a in first["anomalies"]] == [
        ("non_finite", "critical", 41, True)]
    assert "cancel_job" in first["next_step"]
    assert first["health"]["convergence_ok"] is False
    # the next call does not wake the model again for the same anomaly: it watches on to the end
    second = dispatch("poll_metrics", {"job_id": "local-nan", "poll_interval_s": 0.001}, ctx).data
    assert second["returned_because"] == "completed"
    assert [(a["kind"], a["new"]) for a in second["anomalies"]] == [("non_finite", False)]


def test_overfitting_interrupts_unless_told_not_to(ctx, fake, progress):
    metrics = {TRAIN_LOSS: points(noisy(decay(300), 0.05, 2), 50),
               EVAL_LOSS: points([1.0, 0.8, 0.7, 0.75, 0.85, 0.95], 50, start=50, every=50)}
    ckpts = checkpoints("local-of", [50, 100, 150, 200, 250, 300])
    fake.add_job("local-of", [R] * 6 + [S], metrics, reveal=[50, 100, 150, 200, 250, 300, 300],
                 epochs=6, total_steps=300, validation_dataset_uri="val.jsonl", checkpoints=ckpts)
    out = dispatch("poll_metrics", {"job_id": "local-of", "poll_interval_s": 0.001}, ctx).data
    assert out["returned_because"] == "anomaly" and out["job"]["completed_steps"] == 250
    assert [(a["kind"], a["epoch"], a["checkpoint_id"]) for a in out["anomalies"]] == [("overfitting", 3.0, "3")]

    fake.jobs["local-of"].tick = -1
    out = dispatch("poll_metrics", {"job_id": "local-of", "poll_interval_s": 0.001, "return_on_anomaly": False},
                   ctx).data
    assert out["returned_because"] == "completed" and out["anomalies"][0]["kind"] == "overfitting"
    assert out["anomalies"][0]["new"] is False  # the first call already returned it
    assert any(p.fields.get("anomaly") == "overfitting" and "Use checkpoint 3" in p.message for p in progress)


def test_network_blips_are_retried(ctx, fake, progress):
    fake.add_job("local-blip", [R, R, S], {TRAIN_LOSS: points(decay(30))})
    ctx.progress = lambda p: (progress.append(p), setattr(fake, "fail_polls", 2) if len(progress) == 1 else None)
    out = dispatch("poll_metrics", {"job_id": "local-blip", "poll_interval_s": 0.001}, ctx).data
    assert out["returned_because"] == "completed"
    assert sum("poll failed (connection reset by peer)" in p.message for p in progress) == 2


def test_unknown_job_is_an_error_the_model_can_act_on(ctx, fake):
    result = dispatch("poll_metrics", {"job_id": "local-nope", "poll_interval_s": 0.001}, ctx)
    assert result.is_error and "local-nope" in result.content


def test_watch_follows_to_the_end_and_reports_anomalies(ctx, fake, progress):
    values = decay(120)
    values[60] = float("inf")
    fake.add_job("local-w", [R, R, R, S], {TRAIN_LOSS: points(values, 40)}, epochs=3, total_steps=120)
    out = watch(ctx, "local-w", poll_interval_s=0.001)
    assert out.returned_because == "completed" and out.anomalies[0].kind == "non_finite"
    assert out.anomalies[0].new is True  # found while watching, never returned before
    assert sum(p.fields.get("severity") == "critical" for p in progress) == 1
    assert watch(ctx, "local-w", poll_interval_s=0.001, stop_on_anomaly=True).returned_because == "completed"
