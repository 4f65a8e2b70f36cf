"""Idempotent job creation: one request id names one job. A repeated call finds the job its first call made (in the
workspace, or on the backend by label), a deliberate retry after a failure gets a numbered new id, and two identical
calls at once are serialised by a claim in the workspace."""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING

from tools.backends.base import JobInfo, JobState
from tools.context import ToolContext
from tools.errors import ToolError, ToolInput

if TYPE_CHECKING:
    from tools.backends.base import TuningBackend

# A job in one of these states never blocks a deliberate new try with the same arguments.
RETRY_ALLOWED = {JobState.FAILED, JobState.CANCELLED, JobState.CANCELLING, JobState.EXPIRED}
MAX_ATTEMPTS = 50
# An identical call arriving while the first is creating its job waits this long for that job, polling the workspace.
CLAIM_WAIT_S = 120.0
CLAIM_POLL_S = 0.25


def request_key(args: ToolInput, backend: str, ctx: ToolContext) -> str:
    """The idempotency key, usable as a Vertex label value (a-z, 0-9, _ and -, room left for an attempt suffix)."""
    if args.request_id:
        key = re.sub(r"[^a-z0-9_-]", "-", args.request_id.lower())
        if key != args.request_id or len(key) > 56:
            key = f"{key[:47]}-{hashlib.sha256(args.request_id.encode()).hexdigest()[:8]}"
        return key
    fields = args.model_dump(exclude={"request_id", "backend"})
    fields.update(backend=backend, project=ctx.settings.project, region=ctx.settings.region)
    return "gto-" + hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def _fresh(backend: TuningBackend, info: JobInfo) -> tuple[JobInfo, bool]:
    """The job as its backend sees it now and True, or the workspace's last record and False when it cannot say."""
    try:
        return backend.get_job(info.job_id), True
    except (ToolError, OSError):
        return info, False


def earlier_attempt(base: str, backend: TuningBackend, ctx: ToolContext, remote: bool = True
                    ) -> tuple[str, JobInfo | None, bool]:
    """(request id to use, the live job it already names or None, whether the backend confirmed that job is live).
    Failed or cancelled attempts are stepped over with a numbered suffix, so a deliberate retry creates a new job
    while a repeated call reuses the live one."""
    finder = getattr(backend, "find_job", None) if remote else None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        rid = base if attempt == 1 else f"{base}-{attempt}"
        found, confirmed = ctx.workspace.find_job_by_request(rid), False
        if found is not None:
            found, confirmed = _fresh(backend, found)
            if confirmed:
                ctx.workspace.record_job(found)
        elif finder is not None:
            found = finder(rid)
            confirmed = found is not None
        if found is None:
            return rid, None, False
        if found.state not in RETRY_ALLOWED:
            return rid, found, confirmed
    raise ToolError(f"{MAX_ATTEMPTS} attempts of this job already failed or were cancelled.",
                    "Change something (data, hyperparameters) or pass a new request_id.")


def claim(base: str, backend: TuningBackend, ctx: ToolContext) -> tuple[str, JobInfo | None, str | None]:
    """(request id, the live job an identical call already made or None, the claim token to release once the new
    job is recorded). Two identical calls at once (MCP threads, a client retrying after its timeout) would both find
    no job and both create one: the claim in the workspace lets one create while the other waits for its job."""
    deadline = time.monotonic() + CLAIM_WAIT_S
    remote, told = True, False
    while True:
        rid, live, _ = earlier_attempt(base, backend, ctx, remote=remote)
        if live is not None:
            return rid, live, None
        token = ctx.workspace.claim_request(rid)
        if token is not None:
            # The other caller may have recorded its job and let go between the look above and this claim.
            again, live, _ = earlier_attempt(base, backend, ctx, remote=False)
            if again == rid and live is None:
                return rid, None, token
            ctx.workspace.release_request(rid, token)
            if live is not None:
                return again, live, None
            continue
        if time.monotonic() >= deadline:
            raise ToolError(f"This tuning job (request {rid}) is already being created by another call, which has "
                            f"not finished in {CLAIM_WAIT_S:.0f} s.",
                            "Wait for it, then call create_tuning_job again with the same arguments: it returns "
                            "that job instead of creating a second one (list_jobs shows it).")
        if not told:
            ctx.report(f"An identical call is creating this job (request {rid}); waiting for it")
            told = True
        remote = False  # while waiting, the other call's record in the workspace is what to look for
        time.sleep(CLAIM_POLL_S)
