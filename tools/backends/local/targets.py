"""Names the local backend answers to: dataset URIs (local://...) and inference targets.

Inference targets, all accepted by generate(), the HTTP server and `gto serve`:
  local/jobs/<job_id>/checkpoints/<n>   one checkpoint (what JobInfo.endpoint and Checkpoint.endpoint hold)
  local/jobs/<job_id>, <job_id>         the job's default checkpoint
  <job_id>@<n>, local/jobs/<job_id>@<n> checkpoint n (the `gto serve MODEL@CHECKPOINT` form)
  local/base/gemma-3-270m               a base model untuned (base_target); a folder: local/base/<abs path minus "/">
  gemma-3-270m, /abs/model/folder       the same, by the base model's own name
The HTTP server resolves through resolve_served(): its own base model and the jobs tuned from it, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from tools.backends.base import JobInfo
from tools.backends.local.jobs import JobStore
from tools.backends.local.weights import PACKAGE_MODEL, canonical_base
from tools.errors import ToolError
from tools.workspace import Workspace

URI_SCHEME = "local://"
BASE_PREFIX = "local/base/"
JOBS_PREFIX = "local/jobs/"
TARGET_FORMS = (f"a job's endpoint ({JOBS_PREFIX}<job_id>/checkpoints/<n>), a job id (local-...), "
                f"<job_id>@<n>, or a base model ({BASE_PREFIX}{PACKAGE_MODEL})")


@dataclass(frozen=True)
class Target:
    name: str  # canonical: an endpoint string or a base target
    base_model: str  # canonical base: "gemma-3-270m" or an absolute folder
    adapter: Path | None = None
    job_id: str | None = None
    checkpoint_id: str | None = None


def resolve_uri(workspace: Workspace, uri: str) -> Path:
    """The file behind a dataset URI: local://... inside the workspace, file://... or a plain path."""
    if uri.startswith(URI_SCHEME):
        return workspace.root / "local" / uri.removeprefix(URI_SCHEME)
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    if "://" in uri:
        raise ToolError(f"The local backend cannot read {uri!r}.",
                        "Pass a local file path (or upload it with the local backend to get a local:// URI).")
    return Path(uri).expanduser().resolve()


def base_target(base_model: str) -> str:
    """The target that runs a base model untuned."""
    canonical = canonical_base(base_model)
    return BASE_PREFIX + (canonical if canonical == PACKAGE_MODEL else canonical.lstrip("/"))


def _base(name: str) -> Target:
    if name.lower() == PACKAGE_MODEL:
        return Target(BASE_PREFIX + PACKAGE_MODEL, PACKAGE_MODEL)
    folder = Path("/" + name.lstrip("/"))
    if not (folder / "config.json").is_file():
        raise ToolError(f"No base model {name!r}: not {PACKAGE_MODEL!r} and no model folder /{name.lstrip('/')}.",
                        f"Use {BASE_PREFIX}{PACKAGE_MODEL} or the target base_target() returns.")
    return Target(base_target(str(folder)), str(folder))


def _checkpoint(store: JobStore, job: JobInfo, checkpoint_id: str | None) -> Target:
    if not job.checkpoints:
        raise ToolError(f"Job {job.job_id} has no checkpoint yet (state {job.state.value}).",
                        "Wait for its first epoch to end (get_job shows completed_epochs).")
    if checkpoint_id is None:
        chosen = next((c for c in job.checkpoints if c.is_default), job.checkpoints[-1])
    else:
        chosen = next((c for c in job.checkpoints if c.checkpoint_id == checkpoint_id), None)
        if chosen is None:
            known = ", ".join(c.checkpoint_id for c in job.checkpoints)
            raise ToolError(f"Job {job.job_id} has no checkpoint {checkpoint_id!r}.", f"Its checkpoints: {known}.")
    return Target(chosen.endpoint or "", job.base_model, store.checkpoint_dir(job.job_id, chosen.checkpoint_id),
                  job.job_id, chosen.checkpoint_id)


def resolve(store: JobStore, target: str) -> Target:
    """A target string -> what to load; ToolError naming the accepted forms when it names nothing here."""
    name = target.strip().removeprefix("models/")
    if name.startswith(BASE_PREFIX):
        return _base(name.removeprefix(BASE_PREFIX))
    if name.lower() == PACKAGE_MODEL or (name.startswith("/") and Path(name, "config.json").is_file()):
        return _base(name)
    checkpoint_id = None
    if name.startswith(JOBS_PREFIX):
        name = name.removeprefix(JOBS_PREFIX)
        if "/checkpoints/" in name:
            name, checkpoint_id = name.split("/checkpoints/", 1)
    if "@" in name:
        name, checkpoint_id = name.split("@", 1)
    job = store.workspace.get_job(name) if name.startswith("local-") else None
    if job is None:
        raise ToolError(f"Nothing local answers to {target!r}.", f"Use {TARGET_FORMS}.")
    return _checkpoint(store, job, checkpoint_id)


def _base_name(name: str) -> str | None:
    """The base model a base-form target names (nothing is read), or None for a job form."""
    if name.startswith(BASE_PREFIX):
        name = name.removeprefix(BASE_PREFIX)
        return PACKAGE_MODEL if name.lower() == PACKAGE_MODEL else "/" + name.lstrip("/")
    if name.lower() == PACKAGE_MODEL:
        return PACKAGE_MODEL
    return name if name.startswith("/") else None


def _same_base(a: str, b: str) -> bool:
    if PACKAGE_MODEL in (a, b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def resolve_served(store: JobStore, target: str, base_model: str) -> Target:
    """resolve() limited to what a server started for `base_model` may load: that base model untuned and this
    workspace's jobs tuned from it. Anything else is refused before any model file is read, so a remote caller can
    neither make the server load other folders nor keep more base models in memory."""
    name = target.strip().removeprefix("models/")
    named_base = _base_name(name)
    if named_base is not None:
        if not _same_base(named_base, base_model):
            raise ToolError(f"{target!r} is not the base model this server was started for",
                            f"Use {base_target(base_model)}.")
        return Target(base_target(base_model), base_model)
    found = resolve(store, name)
    if not _same_base(found.base_model, base_model):
        raise ToolError(f"job {found.job_id} was tuned from another base model",
                        f"Serve it on its own: gto serve {found.job_id}.")
    return replace(found, base_model=base_model)  # the server's spelling: generation caches by this string
