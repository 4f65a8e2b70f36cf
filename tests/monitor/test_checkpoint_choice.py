"""list_checkpoints and choose_checkpoint: metrics at each checkpoint, best by eval loss, accuracy breaking ties,
train loss without validation, and the default set through the backend where it can."""

from __future__ import annotations

import pytest
from monitor_fake_backend import checkpoints, decay, points

from tools.backends.base import EVAL_ACCURACY, EVAL_LOSS, TRAIN_LOSS, JobState
from tools.registry import dispatch

S = JobState.SUCCEEDED


def add(fake, job_id, eval_loss=None, eval_acc=None, default=-1, **info):
    metrics = {TRAIN_LOSS: points(decay(120), 30)}
    if eval_loss:
        metrics[EVAL_LOSS] = points(eval_loss, 30, start=30, every=30)
    if eval_acc:
        metrics[EVAL_ACCURACY] = points(eval_acc, 30, start=30, every=30)
    return fake.add_job(job_id, [S], metrics, checkpoints=checkpoints(job_id, [30, 60, 90, 120], default),
                        endpoint=f"{job_id}/checkpoint-4", epochs=4, total_steps=120, **info)


def test_list_shows_metrics_at_each_checkpoint(ctx, fake):
    add(fake, "local-a", [1.0, 0.8, 0.7, 0.75], [0.5, 0.6, 0.7, 0.69])
    out = dispatch("list_checkpoints", {"job_id": "local-a"}, ctx).data
    rows = out["checkpoints"]
    assert [(r["checkpoint_id"], r["step"], r["eval_loss"], r["eval_accuracy"]) for r in rows] == [
        ("1", 30, 1.0, 0.5), ("2", 60, 0.8, 0.6), ("3", 90, 0.7, 0.7), ("4", 120, 0.75, 0.69)]
    train = decay(120)
    assert rows[0]["train_loss"] == pytest.approx(sorted(train[25:30])[2])  # median of the last 5 up to step 30
    assert rows[3]["is_default"] is True and rows[3]["endpoint"] == "local-a/checkpoint-4"


def test_checkpoint_steps_derived_from_epochs_when_missing(ctx, fake):
    job = add(fake, "local-e", [1.0, 0.8, 0.7, 0.75])
    fake.jobs["local-e"].info = job.model_copy(update={"checkpoints": [
        c.model_copy(update={"step": None}) for c in job.checkpoints]})
    rows = dispatch("list_checkpoints", {"job_id": "local-e"}, ctx).data["checkpoints"]
    assert [r["eval_loss"] for r in rows] == [1.0, 0.8, 0.7, 0.75]


def test_choose_lowest_eval_loss_and_make_it_default(ctx, fake):
    add(fake, "local-b", [1.0, 0.8, 0.7, 0.75], [0.5, 0.6, 0.7, 0.69])
    out = dispatch("choose_checkpoint", {"job_id": "local-b"}, ctx).data
    assert out["checkpoint"]["checkpoint_id"] == "3" and out["is_default"] is True
    assert out["endpoint"] == "local-b/checkpoint-3"
    assert "lowest eval loss (0.7, eval accuracy 70.0%)" in out["reason"]
    assert "last checkpoint's eval loss is 0.75" in out["reason"]
    assert fake.jobs["local-b"].info.endpoint == "local-b/checkpoint-3"
    assert ctx.workspace.get_job("local-b").endpoint == "local-b/checkpoint-3"


def test_accuracy_breaks_a_tie_on_eval_loss(ctx, fake):
    add(fake, "local-t", [1.0, 0.701, 0.7, 0.9], [0.5, 0.74, 0.71, 0.6])
    out = dispatch("choose_checkpoint", {"job_id": "local-t"}, ctx).data
    assert out["checkpoint"]["checkpoint_id"] == "2"
    assert "accuracy broke the tie" in out["reason"]


def test_without_validation_train_loss_decides_and_says_so(ctx, fake):
    add(fake, "local-nv")
    out = dispatch("choose_checkpoint", {"job_id": "local-nv", "set_default": False}, ctx).data
    assert out["checkpoint"]["checkpoint_id"] == "4"  # train loss keeps falling
    assert "no validation set" in out["reason"] and out["is_default"] is True  # already the default


def test_backend_that_cannot_set_default(ctx, fake):
    fake.supports_default = False
    add(fake, "local-nd", [0.6, 0.8, 0.9, 1.0])
    out = dispatch("choose_checkpoint", {"job_id": "local-nd"}, ctx).data
    assert out["checkpoint"]["checkpoint_id"] == "1" and out["is_default"] is False
    assert "could not be made the default" in out["reason"] and out["endpoint"] == "local-nd/checkpoint-1"
    # what is evaluated and tested next is the chosen checkpoint, not the backend's default
    fake.answers["local-nd/checkpoint-1"] = {"*": "chosen"}
    tested = dispatch("test_endpoint", {"job_id": "local-nd", "prompts": ["hi"], "n": 1}, ctx).data
    assert tested["endpoint"] == "local-nd/checkpoint-1" and tested["samples"][0]["response"] == "chosen"


def test_while_running_the_choice_is_not_pinned_as_default(ctx, fake):
    add(fake, "local-run", [1.0, 0.8, 0.7, 0.75])
    fake.jobs["local-run"].states = [JobState.RUNNING]
    out = dispatch("choose_checkpoint", {"job_id": "local-run"}, ctx).data
    assert out["checkpoint"]["checkpoint_id"] == "3" and out["is_default"] is False
    assert "still RUNNING" in out["reason"] and "when the job has ended" in out["reason"]
    assert fake.jobs["local-run"].info.endpoint == "local-run/checkpoint-4"


def test_no_checkpoints_yet_is_a_clear_error(ctx, fake):
    fake.add_job("local-none", [JobState.RUNNING], {})
    result = dispatch("choose_checkpoint", {"job_id": "local-none"}, ctx)
    assert result.is_error and "no checkpoints yet (state RUNNING)" in result.content
    assert "poll_metrics" in result.content


def test_nan_eval_losses_are_stepped_over_not_a_crash(ctx, fake):
    nan = float("nan")
    add(fake, "local-nan", [nan, 0.8, 0.7, nan], [0.5, 0.6, 0.7, 0.1])
    out = dispatch("choose_checkpoint", {"job_id": "local-nan"}, ctx)
    assert not out.is_error, out.content
    assert out.data["checkpoint"]["checkpoint_id"] == "3"
    assert "lowest eval loss (0.7" in out.data["reason"] and "NaN or infinite were not considered" in out.data["reason"]


def test_a_run_diverged_at_every_checkpoint_falls_back_to_train_loss_and_says_why(ctx, fake):
    nan = float("nan")
    add(fake, "local-div", [nan, nan, float("inf"), nan])
    out = dispatch("choose_checkpoint", {"job_id": "local-div", "set_default": False}, ctx)
    assert not out.is_error, out.content
    assert out.data["checkpoint"]["checkpoint_id"] == "4"  # the train loss is finite and lowest there
    assert "run diverged" in out.data["reason"] and "no validation set" not in out.data["reason"]
