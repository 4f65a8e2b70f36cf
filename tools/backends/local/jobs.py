"""Local job records: the shared jobs table (JobInfo, as every backend writes it) plus what only the local backend
needs (the trainer's pid, its folder, its configuration), and the rules that keep the two processes that write a
job (the command that created or cancels it, and the trainer) from overwriting each other."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.backends.base import Checkpoint, JobInfo, JobState
from tools.workspace import Workspace

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_jobs (
    job_id TEXT PRIMARY KEY,
    pid INTEGER,
    pid_started REAL,
    config TEXT NOT NULL,
    default_pinned INTEGER NOT NULL DEFAULT 0
);
"""
LOG_NAME = "train.log"
START_GRACE_S = 120.0


def now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return f"local-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def endpoint_of(job_id: str, checkpoint_id: str) -> str:
    """The resource-name-like string that serves one checkpoint (generate, gto serve, google-genai's model=)."""
    return f"local/jobs/{job_id}/checkpoints/{checkpoint_id}"


@dataclass
class JobRecord:
    job_id: str
    pid: int | None
    pid_started: float | None
    config: dict[str, Any]
    default_pinned: bool


class JobStore:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        with workspace.connect() as db:
            db.executescript(SCHEMA)

    def run_dir(self, job_id: str) -> Path:
        return self.workspace.dir("local", "jobs", job_id)

    def checkpoint_dir(self, job_id: str, checkpoint_id: str) -> Path:
        return self.run_dir(job_id) / "checkpoints" / checkpoint_id

    def log_path(self, job_id: str) -> Path:
        return self.run_dir(job_id) / LOG_NAME

    def add(self, info: JobInfo, config: dict[str, Any]) -> None:
        """Save a new job; sqlite3.IntegrityError when its client_request_id is already taken."""
        self.workspace.save_job(info)
        with self.workspace.connect() as db:
            db.execute("INSERT OR REPLACE INTO local_jobs (job_id, config) VALUES (?, ?)",
                       (info.job_id, json.dumps(config)))

    def set_process(self, job_id: str, pid: int, started: float) -> None:
        with self.workspace.connect() as db:
            db.execute("UPDATE local_jobs SET pid = ?, pid_started = ? WHERE job_id = ?", (pid, started, job_id))

    def pin_default(self, job_id: str) -> None:
        with self.workspace.connect() as db:
            db.execute("UPDATE local_jobs SET default_pinned = 1 WHERE job_id = ?", (job_id,))

    def record(self, job_id: str) -> JobRecord | None:
        with self.workspace.connect() as db:
            row = db.execute("SELECT * FROM local_jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return JobRecord(row["job_id"], row["pid"], row["pid_started"], json.loads(row["config"]),
                         bool(row["default_pinned"]))

    @contextmanager
    def locked(self, job_id: str) -> Iterator[None]:
        """Serialise read-modify-write of one job across processes (the lock dies with its holder)."""
        with open(self.run_dir(job_id) / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def update(self, job_id: str, change: Callable[[JobInfo], None], even_if_ended: bool = False) -> JobInfo:
        """Apply `change` to the stored JobInfo and save it; a job that has ended is left alone unless told."""
        return self.apply(job_id, change, even_if_ended)[0]

    def apply(self, job_id: str, change: Callable[[JobInfo], None], even_if_ended: bool = False
              ) -> tuple[JobInfo, bool]:
        """update(), also saying whether `change` ran: False when the job had already ended (another process
        finished, failed or cancelled it first), so the caller does not report an end that did not happen."""
        with self.locked(job_id):
            info = self.workspace.get_job(job_id)
            if info is None:
                raise KeyError(job_id)
            if info.state.ended and not even_if_ended:
                return info, False
            change(info)
            self.workspace.save_job(info)
            return info, True

    def end(self, job_id: str, state: JobState, error: str | None = None) -> tuple[JobInfo, bool]:
        """Move a job that has not ended yet to `state` (FAILED, CANCELLED); (job, whether this call ended it)."""

        def finish(job: JobInfo) -> None:
            job.state, job.ended_at, job.error = state, now(), error

        return self.apply(job_id, finish)

    def log_tail(self, job_id: str, lines: int = 12) -> str:
        try:
            text = self.log_path(job_id).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"

    def refresh(self, info: JobInfo) -> JobInfo:
        """The job as it stands: a PENDING/RUNNING job whose trainer is gone is marked FAILED with its log tail."""
        if info.state not in (JobState.PENDING, JobState.RUNNING):
            return info
        record = self.record(info.job_id)
        if record is None:
            return info
        pid = record.pid
        if pid is None:
            # create_job records the pid right after starting the trainer; a job without one for this long lost
            # its creator in between
            age = (now() - info.created_at).total_seconds() if info.created_at else 0.0
            if age < START_GRACE_S:
                return info
            message = "The trainer process was never started (the command creating the job stopped first)."
        elif process_alive(pid, record.pid_started):
            return info
        else:
            message = (f"The trainer process (pid {pid}) stopped without reporting a result. "
                       f"Last lines of {self.log_path(info.job_id)}:\n{self.log_tail(info.job_id)}")

        updated, ended_here = self.end(info.job_id, JobState.FAILED, message)
        if ended_here:  # the trainer may have recorded its own end just before exiting
            self.workspace.log_event(info.job_id, "job_failed", "trainer process died", {"pid": pid})
        return updated

    def add_checkpoint(self, job_id: str, epoch: int, step: int) -> JobInfo:
        """Record the checkpoint of an epoch; it becomes the default unless the user chose one."""

        def add(job: JobInfo) -> None:
            # read under the job's lock, which set_default_checkpoint holds while it pins: a choice made meanwhile
            # is seen here rather than overwritten
            pinned = (self.record(job_id) or JobRecord(job_id, None, None, {}, False)).default_pinned
            checkpoint_id = str(epoch)
            job.checkpoints = [c for c in job.checkpoints if c.checkpoint_id != checkpoint_id]
            job.checkpoints.append(Checkpoint(checkpoint_id=checkpoint_id, epoch=epoch, step=step,
                                              endpoint=endpoint_of(job_id, checkpoint_id)))
            if not pinned or job.endpoint is None:
                set_default(job, checkpoint_id)

        return self.update(job_id, add, even_if_ended=True)


def set_default(job: JobInfo, checkpoint_id: str) -> None:
    for checkpoint in job.checkpoints:
        checkpoint.is_default = checkpoint.checkpoint_id == checkpoint_id
        if checkpoint.is_default:
            job.endpoint = checkpoint.endpoint


def process_started(pid: int) -> float | None:
    """The process's start time, to tell it from a later process that reuses the pid."""
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # psutil missing or the process already gone: the pid alone must do
        return None


def process_alive(pid: int, started: float | None) -> bool:
    try:
        import psutil
    except ImportError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > 1.0:
            return False
        if process.status() == psutil.STATUS_ZOMBIE:
            return not _reap(pid)
        return True
    except psutil.NoSuchProcess:
        return False


def _reap(pid: int) -> bool:
    """Collect a finished child of this process so it does not linger as a zombie; False while it cannot be
    collected yet (its main thread has ended but other threads are still exiting: it shows as a zombie already)."""
    try:
        return os.waitpid(pid, os.WNOHANG) != (0, 0)
    except ChildProcessError:
        return True  # not a child of this process (its own parent collects it), or collected already


def stop_process(pid: int, started: float | None, grace_s: float = 5.0) -> None:
    """SIGTERM the trainer's process group, then SIGKILL what is left after the grace period."""
    if not process_alive(pid, started):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not process_alive(pid, started):
                return
            time.sleep(0.05)
