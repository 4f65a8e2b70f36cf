"""The spend ledger: one row per billable action (its estimate, and its actual cost once known) in the workspace's
SQLite, and the workspace's monthly cap. Kept in its own tables so the workspace module need not know about money."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from pydantic import BaseModel, Field

from tools.workspace import Workspace

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    run_id TEXT,
    job_id TEXT,
    model TEXT,
    action TEXT NOT NULL,
    estimate_usd REAL,
    actual_usd REAL,
    price_source TEXT
);
CREATE TABLE IF NOT EXISTS spend_settings (
    key TEXT PRIMARY KEY,
    value REAL
);
"""
_ready: set[str] = set()


class Entry(BaseModel):
    id: int
    ts: float
    run_id: str | None = None
    job_id: str | None = None
    model: str | None = None
    action: str
    estimate_usd: float | None = None
    actual_usd: float | None = None
    price_source: str | None = None

    @property
    def usd(self) -> float:
        """What this action counts as: the actual cost when known, else the estimate."""
        return self.actual_usd if self.actual_usd is not None else (self.estimate_usd or 0.0)

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.ts, timezone.utc).strftime("%Y-%m-%d")


class SpendTotals(BaseModel):
    since: str | None = None
    total_usd: float
    estimated_usd: float = Field(description="the part of the total that is estimates without an actual yet")
    by_day: dict[str, float]
    by_run: dict[str, float]
    by_job: dict[str, float]
    by_model: dict[str, float]
    by_action: dict[str, float]
    entries: int
    monthly_cap_usd: float | None = None
    month_to_date_usd: float = 0.0


def _connect(ws: Workspace):  # noqa: ANN202 - the workspace's own connection context manager
    if str(ws.db_path) not in _ready:
        with ws.connect() as db:
            db.executescript(SCHEMA)
        _ready.add(str(ws.db_path))
    return ws.connect()


def record(ws: Workspace, action: str, *, estimate: float | None, actual: float | None = None,
           model: str | None = None, job_id: str | None = None, run_id: str | None = None,
           price_source: str | None = None) -> int:
    """Write one billable action; returns its row id (to settle the actual cost later)."""
    with _connect(ws) as db:
        cursor = db.execute(
            "INSERT INTO spend (ts, run_id, job_id, model, action, estimate_usd, actual_usd, price_source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), run_id, job_id, model, action, estimate, actual, price_source))
        return int(cursor.lastrowid)


def settle(ws: Workspace, entry_id: int, actual: float) -> Entry | None:
    """Set an action's actual cost; returns the entry as it was before (None when there is no such row)."""
    before = entry(ws, entry_id)
    if before is not None:
        with _connect(ws) as db:
            db.execute("UPDATE spend SET actual_usd = ? WHERE id = ?", (actual, entry_id))
    return before


def entry(ws: Workspace, entry_id: int) -> Entry | None:
    with _connect(ws) as db:
        row = db.execute("SELECT * FROM spend WHERE id = ?", (entry_id,)).fetchone()
    return Entry(**dict(row)) if row else None


def for_job(ws: Workspace, job_id: str, action: str | None = None) -> list[Entry]:
    query, params = "SELECT * FROM spend WHERE job_id = ?", [job_id]
    if action:
        query, params = query + " AND action = ?", [*params, action]
    with _connect(ws) as db:
        return [Entry(**dict(r)) for r in db.execute(query + " ORDER BY id", params).fetchall()]


def entries(ws: Workspace, since: float | None = None) -> list[Entry]:
    with _connect(ws) as db:
        rows = db.execute("SELECT * FROM spend WHERE ts >= ? ORDER BY id", (since or 0.0,)).fetchall()
    return [Entry(**dict(r)) for r in rows]


def month_start(now: float | None = None) -> float:
    day = datetime.fromtimestamp(now or time.time(), timezone.utc)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def month_to_date(ws: Workspace, now: float | None = None) -> float:
    return round(sum(e.usd for e in entries(ws, month_start(now))), 6)


def monthly_cap(ws: Workspace) -> float | None:
    with _connect(ws) as db:
        row = db.execute("SELECT value FROM spend_settings WHERE key = 'monthly_cap_usd'").fetchone()
    return None if row is None or row["value"] is None else float(row["value"])


def set_monthly_cap(ws: Workspace, usd: float | None) -> None:
    """Set (or with None, remove) the workspace's cap on what all runs together spend in a calendar month (UTC)."""
    with _connect(ws) as db:
        db.execute("INSERT OR REPLACE INTO spend_settings (key, value) VALUES ('monthly_cap_usd', ?)", (usd,))


def totals(ws: Workspace, since: float | None = None) -> SpendTotals:
    """The ledger summed by day, run, job, model and action."""
    rows = entries(ws, since)
    sums: dict[str, dict[str, float]] = {k: {} for k in ("day", "run", "job", "model", "action")}
    for e in rows:
        keys = {"day": e.day, "run": e.run_id, "job": e.job_id, "model": e.model, "action": e.action}
        for kind, key in keys.items():
            if key:
                sums[kind][key] = round(sums[kind].get(key, 0.0) + e.usd, 6)
    since_day = datetime.fromtimestamp(since, timezone.utc).strftime("%Y-%m-%d") if since else None
    return SpendTotals(
        since=since_day, total_usd=round(sum(e.usd for e in rows), 6),
        estimated_usd=round(sum(e.estimate_usd or 0.0 for e in rows if e.actual_usd is None), 6),
        by_day=sums["day"], by_run=sums["run"], by_job=sums["job"], by_model=sums["model"],
        by_action=sums["action"], entries=len(rows), monthly_cap_usd=monthly_cap(ws),
        month_to_date_usd=month_to_date(ws))
