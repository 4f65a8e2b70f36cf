"""A job's recorded state only moves forward: a stale snapshot saved after the job ended does not bring it back to
RUNNING, checkpoints accumulate, and a local job whose trainer vanished is ended when jobs are listed."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime

from tools.backends.base import Checkpoint, JobInfo, JobState
from tools.backends.local import LocalBackend
from tools.backends.local.jobs import JobStore, now
from tools.context import ToolContext
from tools.registry import dispatch
from tools.workspace import Workspace


def job(state: JobState, checkpoints: list[str] = (), backend: str = "vertex", default: str | None = None) -> JobInfo:
    return JobInfo(job_id="projects/p/locations/l/tuningJobs/1" if backend == "vertex" else "local-x",
                   backend=backend, state=state, base_model="gemini-2.5-flash", created_at=datetime.now(UTC),
                   checkpoints=[Checkpoint(checkpoint_id=c, step=int(c) * 10, is_default=c == default)
                                for c in checkpoints])


def test_a_stale_snapshot_never_reopens_an_ended_job(workspace: Workspace) -> None:
    workspace.save_job(job(JobState.RUNNING, ["1"]))
    workspace.save_job(job(JobState.SUCCEEDED, ["1", "2"], default="2"))
    stored = workspace.save_job(job(JobState.RUNNING, ["1"]))  # fetched before the end, saved after
    assert stored.state == JobState.SUCCEEDED
    assert workspace.get_job(stored.job_id).state == JobState.SUCCEEDED
    assert [c.checkpoint_id for c in workspace.get_job(stored.job_id).checkpoints] == ["1", "2"]
    with workspace.connect() as db:
        assert db.execute("SELECT state FROM jobs").fetchone()["state"] == "SUCCEEDED"


def test_checkpoints_are_the_union_by_id_with_one_default(workspace: Workspace) -> None:
    workspace.save_job(job(JobState.RUNNING, ["1", "2"], default="2"))
    stored = workspace.save_job(job(JobState.RUNNING, ["3"], default="3"))  # a service that lists only the newest
    assert [(c.checkpoint_id, c.is_default) for c in stored.checkpoints] == [("1", False), ("2", False), ("3", True)]
    ended = workspace.save_job(job(JobState.FAILED, []))
    assert ended.state == JobState.FAILED and [c.checkpoint_id for c in ended.checkpoints] == ["1", "2", "3"]


def _local_job(store: JobStore, pid: int | None = None) -> JobInfo:
    info = JobInfo(job_id="local-race", backend="local", state=JobState.RUNNING, base_model="gemma-3-270m",
                   created_at=now(), completed_steps=3)
    store.add(info, {"train": {}})
    if pid is not None:
        store.set_process(info.job_id, pid, 0.0)
    return info


def test_race_trainer_succeeds_between_a_tools_read_and_its_write(workspace: Workspace) -> None:
    """The interleaving that used to lose the end: a tool reads RUNNING, the trainer records SUCCEEDED with its last
    checkpoint, then the tool saves what it read. Events force that order."""
    store = JobStore(workspace)
    _local_job(store, pid=None)  # no pid yet: refresh() leaves it RUNNING (inside the start grace period)
    read_done, trainer_done = threading.Event(), threading.Event()
    seen: list[JobInfo] = []

    def tool_process() -> None:
        seen.append(workspace.get_job("local-race"))  # snapshot: RUNNING, no checkpoints
        read_done.set()
        trainer_done.wait(5)
        workspace.save_job(seen[0])  # the stale write, even bypassing record_job's local-job rule
        workspace.record_job(seen[0])

    def trainer() -> None:
        read_done.wait(5)
        store.add_checkpoint("local-race", 1, 8)

        def finish(info: JobInfo) -> None:
            info.state, info.ended_at = JobState.SUCCEEDED, now()

        store.update("local-race", finish)
        trainer_done.set()

    threads = [threading.Thread(target=tool_process), threading.Thread(target=trainer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen[0].state == JobState.RUNNING
    final = workspace.get_job("local-race")
    assert final.state == JobState.SUCCEEDED and [c.checkpoint_id for c in final.checkpoints] == ["1"]
    assert final.checkpoints[0].is_default and final.endpoint


def test_list_jobs_ends_a_local_job_whose_trainer_is_gone(ctx: ToolContext) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = LocalBackend(ctx.workspace, ctx.settings).store
    _local_job(store, pid=gone.pid)
    listed = dispatch("list_jobs", {}, ctx)
    assert not listed.is_error, listed.content
    (row,) = listed.data["jobs"]
    assert row["state"] == "FAILED" and "stopped without reporting a result" in row["error"]
    assert ctx.workspace.get_job("local-race").state == JobState.FAILED


def test_record_job_leaves_a_stored_local_job_to_its_trainer(workspace: Workspace) -> None:
    store = JobStore(workspace)
    info = _local_job(store)
    workspace.record_job(info.model_copy(update={"completed_steps": 1}))  # an older view from a tool
    assert workspace.get_job(info.job_id).completed_steps == 3
