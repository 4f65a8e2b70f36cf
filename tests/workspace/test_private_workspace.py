"""The workspace is its owner's alone, whatever the umask: folders 0700, files 0600, and an older, looser workspace
is tightened when it is opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tools import failures
from tools.workspace import Workspace, open_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o000)  # the loosest umask: everything gto makes would be world-writable without explicit modes
    yield
    os.umask(old)


def test_new_workspace_folders_and_files_are_private(tmp_path: Path, open_umask) -> None:
    ws = Workspace(tmp_path / "ws")
    ws.log_event(None, "x", "y")  # writes through the WAL
    assert mode(ws.root) == 0o700
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        if (ws.root / name).exists():
            assert mode(ws.root / name) == 0o600, name
    nested = ws.dir("local", "jobs", "j1")
    assert all(mode(p) == 0o700 for p in (ws.root / "local", ws.root / "local" / "jobs", nested))
    with open_private(ws.dir("transcripts") / "run.jsonl") as f:
        f.write("{}\n")
    assert mode(ws.root / "transcripts" / "run.jsonl") == 0o600
    log = failures.record(ws, "t", RuntimeError("x"))
    assert mode(log) == 0o600 and mode(log.parent) == 0o700


def test_tool_outputs_in_the_workspace_are_private(tmp_path: Path, open_umask) -> None:
    from tools.context import ToolContext
    from tools.registry import dispatch
    from tools.settings import Settings

    ctx = ToolContext(workspace=Workspace(tmp_path / "ws"), settings=Settings())
    data = tmp_path / "t.jsonl"
    data.write_text('{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, '
                    '{"role": "model", "parts": [{"text": "ho"}]}]}\n')
    report = Path(dispatch("validate_dataset", {"path": str(data)}, ctx).data["report_path"])
    staged = dispatch("upload_to_gcs", {"path": str(data), "backend": "local"}, ctx).data["uri"]
    assert mode(report) == 0o600 and mode(report.parent) == 0o700
    staged_file = ctx.workspace.root / "local" / staged.removeprefix("local://")
    assert mode(staged_file) == 0o600 and mode(staged_file.parent) == 0o700


def test_an_existing_loose_workspace_is_tightened_on_open(tmp_path: Path) -> None:
    root = tmp_path / "old"
    Workspace(root)
    (root / "transcripts").mkdir(mode=0o755)
    old = root / "transcripts" / "r.jsonl"
    old.write_text("{}\n")
    own = root / "notes.txt"  # not gto's: left as the user made it
    own.write_text("mine")
    for path, m in ((root, 0o755), (root / "transcripts", 0o755), (old, 0o644), (root / "state.db", 0o644),
                    (own, 0o644)):
        path.chmod(m)
    Workspace(root)
    assert mode(root) == 0o700 and mode(root / "transcripts") == 0o700
    assert mode(old) == 0o600 and mode(root / "state.db") == 0o600
    assert mode(own) == 0o644
