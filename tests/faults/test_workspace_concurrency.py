"""One workspace opened by three processes at the same moment, each writing jobs, events and datasets as fast as it
can, one of them ending the shared job: nothing is lost, no write fails, and the ended job stays ended."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

from tools.backends.base import JobState
from tools.workspace import Workspace

WRITER = r"""
import sys, time
from datetime import UTC, datetime
from tools.backends.base import Checkpoint, JobInfo, JobState
from tools.workspace import Workspace

root, name, start, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
ws = Workspace(root)  # all three create the folder and the schema at once
for i in range(rounds):
    ended = name == "trainer" and i == rounds // 2
    state = JobState.SUCCEEDED if ended else JobState.RUNNING
    ws.save_job(JobInfo(job_id="shared", backend="vertex", state=state, base_model="m",
                        created_at=datetime.now(UTC),
                        checkpoints=[Checkpoint(checkpoint_id=f"{name}-{i}", step=i)]))
    ws.log_event("shared", "write", f"{name} {i}")
    ws.record_dataset(f"{name}-{i}", {"examples": i})
print("ok")
"""


def test_three_processes_share_a_fresh_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    rounds = 40
    start = time.time() + 1.5  # past every interpreter's start-up, so they really open it together
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(root), name, str(start), str(rounds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("trainer", "cli", "mcp")]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    ws = Workspace(root)
    assert len(ws.events("shared", "write")) == 3 * rounds
    job = ws.get_job("shared")
    assert job.state == JobState.SUCCEEDED  # later RUNNING snapshots from the other two did not reopen it
    assert len(job.checkpoints) == 3 * rounds  # every writer's checkpoints, none overwritten
    assert all(ws.dataset(f"{n}-{rounds - 1}") for n in ("trainer", "cli", "mcp"))
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
