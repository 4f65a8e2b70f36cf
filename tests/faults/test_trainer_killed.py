"""kill -9 of a local trainer after its first checkpoint, mid-way through the next epoch: the job ends FAILED with
the log's tail, and the checkpoint it had finished stays listed, on disk and the default endpoint."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

from tiny_gemma import tiny_rows, wait_for, write_jsonl

from tools.backends.base import JobState, TuningSpec
from tools.backends.local import LocalBackend
from tools.context import ToolContext
from tools.registry import dispatch


def test_kill_9_mid_epoch_fails_the_job_and_keeps_its_checkpoints(ctx: ToolContext, tmp_path: Path,
                                                                  tiny_model: Path) -> None:
    backend = LocalBackend(ctx.workspace, ctx.settings)
    ctx._backends["local"] = backend
    train = write_jsonl(tmp_path / "train.jsonl", tiny_rows(32))
    info = backend.create_job(TuningSpec(base_model=str(tiny_model), training_dataset_uri=str(train),
                                         client_request_id="kill-9", epochs=500))
    try:
        steps_per_epoch = 8  # 32 examples, batch 4
        running = wait_for(backend, info.job_id, lambda i: bool(i.checkpoints)
                           and (i.completed_steps or 0) > steps_per_epoch, timeout=120)
        assert running.state == JobState.RUNNING and running.checkpoints, running
        os.killpg(backend.store.record(info.job_id).pid, signal.SIGKILL)
        listed = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=15)
        assert listed.state == JobState.FAILED and "stopped without reporting a result" in listed.error
        # what gto jobs / list_jobs show: the same end, with what was finished still there
        row = next(j for j in dispatch("list_jobs", {}, ctx).data["jobs"] if j["job_id"] == info.job_id)
        assert row["state"] == "FAILED"
        kept = ctx.workspace.get_job(info.job_id)
        assert [c.checkpoint_id for c in kept.checkpoints][:1] == ["1"]
        assert kept.endpoint and kept.endpoint.endswith(f"/checkpoints/{kept.checkpoints[-1].checkpoint_id}")
        for checkpoint in kept.checkpoints:
            folder = backend.store.checkpoint_dir(info.job_id, checkpoint.checkpoint_id)
            assert (folder / "adapter_model.safetensors").is_file(), folder
        assert backend.resolve(kept.endpoint).adapter is not None  # still servable
        assert stat.S_IMODE(backend.store.log_path(info.job_id).stat().st_mode) == 0o600  # the log is private
    finally:
        backend.cancel_job(info.job_id)


def test_a_killed_job_resumes_from_its_last_checkpoint_to_the_end(ctx: ToolContext, tmp_path: Path,
                                                                   tiny_model: Path) -> None:
    backend = LocalBackend(ctx.workspace, ctx.settings)
    ctx._backends["local"] = backend
    # 30 steps an epoch: the kill, within a poll of the first checkpoint, lands with two whole epochs still to run
    # even on a loaded 2-core runner (with 4 steps an epoch, CI once saw all three finish first)
    train = write_jsonl(tmp_path / "train.jsonl", tiny_rows(120))
    info = backend.create_job(TuningSpec(base_model=str(tiny_model), training_dataset_uri=str(train),
                                         client_request_id="resume-me", epochs=3))
    try:
        wait_for(backend, info.job_id, lambda i: bool(i.checkpoints), timeout=120)
        os.killpg(backend.store.record(info.job_id).pid, signal.SIGKILL)
        stopped = wait_for(backend, info.job_id, lambda i: i.state.ended, timeout=15)
        assert stopped.state == JobState.FAILED and stopped.checkpoints
        done = max(c.epoch for c in stopped.checkpoints)
        result = dispatch("resume_job", {"job_id": info.job_id}, ctx)
        assert not result.is_error, result.content
        out = result.output
        assert out.resumed_from == info.job_id and out.epochs_left == 3 - done
        again = dispatch("resume_job", {"job_id": info.job_id}, ctx).output
        assert again.job.job_id == out.job.job_id  # asking twice gives the same job
        finished = wait_for(backend, out.job.job_id, lambda i: i.state.ended, timeout=180)
        assert finished.state == JobState.SUCCEEDED and finished.source_model == info.job_id
        assert finished.source_checkpoint_id == out.checkpoint_id and finished.epochs == 3 - done
        running = dispatch("resume_job", {"job_id": out.job.job_id}, ctx)
        assert running.is_error and "only a job that stopped early" in running.content
    finally:
        backend.cancel_job(info.job_id)
