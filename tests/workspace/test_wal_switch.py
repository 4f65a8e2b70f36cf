"""A new workspace's database is switched to WAL while another process holds it: the switch waits for the lock
(SQLite may refuse it at once, without its busy handler), and says so when it never comes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tools.workspace import use_wal


def _hold(db: Path) -> sqlite3.Connection:
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_the_switch_waits_for_a_lock_held_elsewhere(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    holder = _hold(db)
    releases = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    releases.start()
    use_wal(db, wait=20)
    releases.join()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_lock_never_released_is_an_error_naming_the_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    holder = _hold(db)
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            use_wal(db, wait=0.5)
        assert str(db) in str(caught.value) and "locked for 0.5 s" in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
