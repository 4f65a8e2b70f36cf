"""The workspace: one folder (./.gto or $GTO_HOME) holding a SQLite database of jobs, metrics, events and runs,
plus the files tools write (reports, staged datasets, checkpoints). The CLI, the agent, the MCP server and the
local trainer process all share it, so a job started anywhere is seen everywhere."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tools.backends.base import JobInfo, MetricPoint

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    client_request_id TEXT UNIQUE,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    job_id TEXT NOT NULL,
    name TEXT NOT NULL,
    step INTEGER NOT NULL,
    value REAL,
    epoch REAL,
    wall_time REAL,
    PRIMARY KEY (job_id, name, step)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT
);
CREATE TABLE IF NOT EXISTS datasets (
    key TEXT PRIMARY KEY,
    sha256 TEXT,
    stats TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS request_claims (
    client_request_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    goal TEXT NOT NULL,
    model TEXT NOT NULL,
    backend TEXT,
    transcript TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    summary TEXT
);
"""


# The workspace holds transcripts (the user's data and the model's words), logs and datasets: only its owner reads it,
# whatever the umask. Folders 0700, files 0600, set when made and tightened when an older workspace is opened.
DIR_MODE = 0o700
FILE_MODE = 0o600
DB_FILES = ("state.db", "state.db-wal", "state.db-shm")
OWN_FOLDERS = ("transcripts", "logs", "reports", "results", "evaluations", "local")


class Workspace:
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        fresh = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        if fresh or stat.S_IMODE(self.root.stat().st_mode) != DIR_MODE:
            tighten(self.root)
        self.db_path = self.root / "state.db"
        if not self.db_path.exists():
            os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT, FILE_MODE))  # sqlite opens what is there
        use_wal(self.db_path)
        with self.connect() as db:
            db.executescript(SCHEMA)
        for name in DB_FILES:  # SQLite gives -wal and -shm the database's mode; an old one may predate that
            _chmod(self.root / name, FILE_MODE)

    @classmethod
    def default(cls) -> Workspace:
        return cls(os.environ.get("GTO_HOME") or Path.cwd() / ".gto")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection; WAL (set once by __init__, kept in the file) lets the trainer write while the
        CLI reads."""
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    def dir(self, *parts: str) -> Path:
        """A folder of the workspace, made (owner only) if missing."""
        path = self.root
        for part in parts:
            path = path / part
            if not path.is_dir():
                try:
                    path.mkdir(mode=DIR_MODE)
                except FileExistsError:  # made meanwhile by another process
                    pass
                _chmod(path, DIR_MODE)  # mkdir's mode passes through the umask
        return path

    def save_job(self, info: JobInfo) -> JobInfo:
        """Save a job as it moves forward and return what is stored: a snapshot taken before the job ended never
        brings it back to RUNNING, and checkpoints only accumulate. The read and the write are one transaction, so
        two processes saving at once cannot interleave between them."""
        now = time.time()
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT info FROM jobs WHERE job_id = ?", (info.job_id,)).fetchone()
                stored = merge_job(JobInfo.model_validate_json(row["info"]), info) if row else info
                created = stored.created_at.timestamp() if stored.created_at else now
                db.execute(
                    "INSERT INTO jobs (job_id, backend, state, client_request_id, created_at, updated_at, info)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(job_id) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at,"
                    " info=excluded.info,"
                    " client_request_id=COALESCE(jobs.client_request_id, excluded.client_request_id)",
                    (stored.job_id, stored.backend, stored.state.value, stored.client_request_id, created, now,
                     stored.model_dump_json()),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return stored

    def record_job(self, info: JobInfo) -> None:
        """Save a JobInfo a tool fetched; a request id already held by another record (another workspace's job) is
        not copied. A job the local JobStore manages is left to it: its trainer is the authority."""
        if info.backend == "local" and self._managed_locally(info.job_id):
            return
        try:
            self.save_job(info)
        except sqlite3.IntegrityError:
            self.save_job(info.model_copy(update={"client_request_id": None}))

    def _managed_locally(self, job_id: str) -> bool:
        with self.connect() as db:
            try:  # the local backend's own table (tools/backends/local/jobs.py), made with its first job
                return db.execute("SELECT 1 FROM local_jobs WHERE job_id = ?", (job_id,)).fetchone() is not None
            except sqlite3.OperationalError:
                return False

    def get_job(self, job_id: str) -> JobInfo | None:
        with self.connect() as db:
            row = db.execute("SELECT info FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return JobInfo.model_validate_json(row["info"]) if row else None

    def find_job_by_request(self, client_request_id: str) -> JobInfo | None:
        with self.connect() as db:
            row = db.execute("SELECT info FROM jobs WHERE client_request_id = ?", (client_request_id,)).fetchone()
        return JobInfo.model_validate_json(row["info"]) if row else None

    def claim_request(self, client_request_id: str, abandoned_after_s: float = 3600) -> str | None:
        """Claim a job request id before creating its job: a token to release it with, or None while another live
        caller holds it. A claim whose process has died, or older than abandoned_after_s, is taken over."""
        token = secrets.token_hex(8)
        now = time.time()
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the look and the insert are one step for every process and thread
            try:
                row = db.execute("SELECT pid, host, claimed_at FROM request_claims WHERE client_request_id = ?",
                                 (client_request_id,)).fetchone()
                if row is not None and not _abandoned(row, now - abandoned_after_s):
                    db.execute("COMMIT")
                    return None
                db.execute("INSERT OR REPLACE INTO request_claims (client_request_id, token, pid, host, claimed_at)"
                           " VALUES (?, ?, ?, ?, ?)",
                           (client_request_id, token, os.getpid(), socket.gethostname(), now))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return token

    def release_request(self, client_request_id: str, token: str) -> None:
        """Give a claim back (only the holder's token releases it)."""
        with self.connect() as db:
            db.execute("DELETE FROM request_claims WHERE client_request_id = ? AND token = ?",
                       (client_request_id, token))

    def list_jobs(self, backend: str | None = None) -> list[JobInfo]:
        query, params = "SELECT info FROM jobs", ()
        if backend:
            query, params = query + " WHERE backend = ?", (backend,)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC", params).fetchall()
        return [JobInfo.model_validate_json(r["info"]) for r in rows]

    def add_metrics(self, job_id: str, name: str, points: Iterable[MetricPoint]) -> None:
        with self.connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO metrics (job_id, name, step, value, epoch, wall_time) VALUES (?,?,?,?,?,?)",
                [(job_id, name, p.step, p.value, p.epoch, p.wall_time) for p in points],
            )

    def get_metrics(self, job_id: str, since_step: int = -1) -> dict[str, list[MetricPoint]]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT name, step, value, epoch, wall_time FROM metrics WHERE job_id = ? AND step > ?"
                " ORDER BY name, step",
                (job_id, since_step),
            ).fetchall()
        series: dict[str, list[MetricPoint]] = {}
        for r in rows:
            # SQLite stores NaN as NULL; a NaN loss is exactly what anomaly detection must see, so bring it back.
            value = float("nan") if r["value"] is None else r["value"]
            series.setdefault(r["name"], []).append(
                MetricPoint(step=r["step"], value=value, epoch=r["epoch"], wall_time=r["wall_time"])
            )
        return series

    def record_dataset(self, key: str, stats: dict[str, Any], sha256: str | None = None) -> None:
        """Remember what is known of a dataset, by local path or URI. An upload records {"source": path}."""
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO datasets (key, sha256, stats, updated_at) VALUES (?, ?, ?, ?)",
                (key, sha256, json.dumps(stats), time.time()),
            )

    def dataset(self, key: str) -> dict[str, Any] | None:
        """Stats recorded for a path or URI; an uploaded URI also gets the stats of the file it came from."""
        with self.connect() as db:
            row = db.execute("SELECT sha256, stats FROM datasets WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        stats = {"sha256": row["sha256"], **json.loads(row["stats"])}
        source = stats.get("source")
        if source and source != key:
            return {**(self.dataset(source) or {}), **stats}
        return stats

    def log_event(self, job_id: str | None, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT INTO events (job_id, ts, kind, message, data) VALUES (?, ?, ?, ?, ?)",
                (job_id, time.time(), kind, message, json.dumps(data) if data is not None else None),
            )

    def events(self, job_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        query, params = "SELECT * FROM events WHERE 1=1", []
        if job_id is not None:
            query, params = query + " AND job_id = ?", [*params, job_id]
        if kind is not None:
            query, params = query + " AND kind = ?", [*params, kind]
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        return [{**dict(r), "data": json.loads(r["data"]) if r["data"] else None} for r in rows]


def merge_job(stored: JobInfo, incoming: JobInfo) -> JobInfo:
    """What to keep when `incoming` is saved over `stored`: an ended job stays ended (a stale snapshot loses), and the
    checkpoints are the union of both by id (the newer view of each wins, one default at most)."""
    if stored.state.ended and not incoming.state.ended:
        newer, older = stored, incoming
    else:
        newer, older = incoming, stored
    known = {c.checkpoint_id for c in newer.checkpoints}
    has_default = any(c.is_default for c in newer.checkpoints)
    extra = [c.model_copy(update={"is_default": c.is_default and not has_default})
             for c in older.checkpoints if c.checkpoint_id not in known]
    if not extra:
        return newer
    merged = newer.model_copy(deep=True)
    merged.checkpoints = sorted([*merged.checkpoints, *extra], key=lambda c: (c.step or 0, c.checkpoint_id))
    return merged


def open_private(path: Path, mode: str = "a", encoding: str | None = "utf-8") -> IO[Any]:
    """Open a file for writing ("a", "w", "ab", "wb") that only its owner can read, whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    _chmod(path, FILE_MODE)  # an existing file keeps its old mode through os.open
    return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)


def tighten(root: Path) -> None:
    """Make the workspace's folders 0700 and its files 0600 (one made before gto kept it private). Only what gto
    writes is touched: GTO_HOME may name a folder that also holds the user's own files."""
    _chmod(root, DIR_MODE)
    for name in (*DB_FILES, "chat_history"):
        _chmod(root / name, FILE_MODE)
    for top in OWN_FOLDERS:
        for folder, dirs, files in os.walk(root / top):
            _chmod(Path(folder), DIR_MODE)
            for name in files:
                _chmod(Path(folder, name), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) != mode:
            path.chmod(mode)
    except FileNotFoundError:
        pass
    except PermissionError:  # not ours (a shared workspace someone else made): leave it, it still works
        pass


def _abandoned(claim: sqlite3.Row, older_than: float) -> bool:
    """A claim nobody will release: too old, or held by a process of this machine that no longer runs."""
    if claim["claimed_at"] < older_than:
        return True
    if claim["host"] != socket.gethostname():
        return False
    try:
        os.kill(claim["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists but belongs to someone else
        return False
    return False


def use_wal(db_path: Path, wait: float = 30.0) -> None:
    """Switch the database to WAL, which persists in the file. The switch needs an exclusive lock, and SQLite answers
    "database is locked" at once, without its busy handler, when another process opening a fresh workspace holds a
    lock it must upgrade from; so retry here until it takes."""
    deadline = time.monotonic() + wait
    pause = 0.005
    while True:
        db = sqlite3.connect(db_path, timeout=wait, isolation_level=None)
        try:
            if db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        finally:
            db.close()
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"{db_path} could not be switched to WAL: another process has held it "
                                           f"locked for {wait:g} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
