"""VertexBackend: the TuningBackend on Vertex AI, composed of the connection, Cloud Storage, jobs, metrics and
inference pieces of this package."""

from __future__ import annotations

import time
import warnings
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from google.genai import errors as genai_errors
from google.genai import types

from tools.backends.base import (
    EVAL_ACCURACY,
    EVAL_LOSS,
    METRIC_NAMES,
    TRAIN_ACCURACY,
    TRAIN_LOSS,
    GenerateRequest,
    GenerateResult,
    JobInfo,
    MetricPoint,
    PreflightReport,
    TuningSpec,
    UploadResult,
)
from tools.backends.vertex.checks import Preflight
from tools.backends.vertex.client import RetryPolicy, VertexConnection
from tools.backends.vertex.errors import guidance, is_transient, may_have_acted, what_failed
from tools.backends.vertex.gcs import CloudStorage
from tools.backends.vertex.inference import generate_config, result_of
from tools.backends.vertex.jobs import (
    REQUEST_LABEL,
    job_info,
    job_name,
    label_problem,
    location_of,
    tuning_request,
)
from tools.backends.vertex.metrics import MetricsReader
from tools.backends.vertex.rest import GoogleRest
from tools.catalog import ModelInfo, catalog
from tools.errors import ToolError

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from tools.settings import Settings
    from tools.workspace import Workspace

# Workspace event kinds this backend writes.
DEFAULT_CHECKPOINT = "vertex:default_checkpoint"
METRICS_FINAL = "vertex:metrics_final"
SCAN_LIMIT = 1000  # jobs scanned for a request id when the service ignores or refuses the label filter


class VertexBackend:
    name = "vertex"
    poll_interval_s = 60.0
    min_poll_interval_s = 5.0  # each poll is a few API calls against the project's quota

    def __init__(self, workspace: Workspace, settings: Settings, credentials: Credentials | None = None,
                 retry: RetryPolicy | None = None):
        self.workspace, self.settings = workspace, settings
        self.conn = VertexConnection(settings, credentials, retry)
        self.gcs = CloudStorage(self.conn)
        self.rest = GoogleRest(self.conn)
        self.metrics = MetricsReader(self.conn)

    @property
    def region(self) -> str:
        return self.conn.region

    @property
    def project(self) -> str:
        return self.conn.project

    def check_environment(self, project: str | None, region: str | None, bucket: str | None) -> PreflightReport:
        overrides = {k: v for k, v in {"project": project, "region": region}.items() if v}
        conn = VertexConnection(self.settings.model_copy(update=overrides), self.conn.given_credentials,
                                self.conn.retry)
        return Preflight(conn, GoogleRest(conn), CloudStorage(conn, self.gcs.chunk_size)).run(
            bucket or self.settings.bucket)

    def upload(self, path: Path, destination: str | None, create_bucket: bool = False) -> UploadResult:
        uri = destination if destination and destination.startswith("gs://") else None
        if uri is None:
            if not self.settings.bucket:
                raise ToolError("No Cloud Storage bucket was given.",
                                "Pass bucket=NAME or a gs:// destination, or set GTO_BUCKET.")
            uri = f"gs://{self.settings.bucket}/{destination or ''}"
        return self.gcs.upload(Path(path), uri, create_bucket)

    def bucket_exists(self, bucket: str) -> bool:
        return self.gcs.bucket_exists(bucket)

    def find_job(self, client_request_id: str) -> JobInfo | None:
        """The job labelled with this idempotency key, if the service has one."""
        client = self.conn.genai()

        def scan(filter_: str | None) -> types.TuningJob | None:
            pager = client.tunings.list(config=types.ListTuningJobsConfig(filter=filter_, page_size=100))
            return next((j for j in islice(pager, SCAN_LIMIT)
                         if (j.labels or {}).get(REQUEST_LABEL) == client_request_id), None)

        def search() -> types.TuningJob | None:
            try:
                return scan(f'labels.{REQUEST_LABEL}="{client_request_id}"')
            except genai_errors.ClientError as exc:
                if exc.code != 400:
                    raise
                return scan(None)  # a service that refuses the label filter: look through the jobs instead

        job = self.conn.call("look for an earlier attempt of this tuning job", search)
        return self._info(job) if job else None

    def check_spec(self, spec: TuningSpec) -> None:
        """Refuse, before anything is sent, what Vertex AI would refuse about the request itself."""
        for key, value in spec.labels.items():
            problem = label_problem(key, value) or (
                f"label {key!r} is reserved for the idempotency key" if key == REQUEST_LABEL else None)
            if problem:
                raise ToolError(f"Vertex AI would refuse the job: {problem}.", "Fix or drop that label.")
        if len(spec.labels) >= 64:
            raise ToolError(f"{len(spec.labels)} labels given; Vertex AI takes at most 63 besides its own.",
                            "Drop some labels.")

    def create_job(self, spec: TuningSpec) -> JobInfo:
        """Create the job once: after a transient failure, the pause comes before the look for the job (a create
        still being saved is listed late); a request the service may have acted on (no answer, 500/502/504) is
        looked for over settle_s and never sent again: the ToolError says to repeat the call, which finds it."""
        self.check_spec(spec)
        found = self.find_job(spec.client_request_id)
        if found is not None:
            return found
        client = self.conn.genai()
        request = tuning_request(spec, self.conn.retry.http_options(attempts=1))
        where = self.conn.situation(f"create the tuning job for {spec.base_model}", datasets=self._datasets(spec))
        delays, tries = self.conn.retry.delays(), 0
        while True:
            tries += 1
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*tuning implementation is experimental")
                    return self._info(client.tunings.tune(**request))
            except Exception as exc:
                if not is_transient(exc):
                    raise guidance(exc, where, tries) from exc
                if may_have_acted(exc):
                    return self._settle(spec, exc)
                delay = next(delays, None)
                if delay is None:
                    raise guidance(exc, where, tries) from exc
                time.sleep(delay)
                found = self.find_job(spec.client_request_id)
                if found is not None:
                    return found

    def _settle(self, spec: TuningSpec, exc: Exception) -> JobInfo:
        """The job a create with a lost answer made, looked for repeatedly; a ToolError when it never shows up."""
        looks = 0
        for delay in self.conn.retry.settle_delays():
            time.sleep(delay)
            looks += 1
            try:
                found = self.find_job(spec.client_request_id)
            except ToolError:
                continue  # the listing failed too: look again rather than send the create a second time
            if found is not None:
                return found
        raise ToolError(
            f"The request to create the tuning job for {spec.base_model} failed in a way that leaves open whether "
            f"Vertex AI made the job ({what_failed(exc)}), and {looks} looks over "
            f"{self.conn.retry.settle_s:g} s found no job labelled {REQUEST_LABEL}={spec.client_request_id}. "
            "It was not sent again, so that no second job is billed.",
            "Wait a few minutes, then call create_tuning_job again with the same arguments: it looks for this "
            "request id first and returns the job if the service made it (list_jobs shows it too), and creates "
            "one only if it did not.")

    def get_job(self, job_id: str) -> JobInfo:
        name = job_name(job_id, self.conn.project, self.conn.region)
        client = self.conn.genai(location_of(name))
        return self._info(self.conn.call(f"read tuning job {name}", lambda: client.tunings.get(name=name)))

    def list_jobs(self, limit: int = 50) -> list[JobInfo]:
        client = self.conn.genai()
        config = types.ListTuningJobsConfig(page_size=min(max(limit, 1), 100))
        jobs = self.conn.call("list tuning jobs", lambda: list(islice(client.tunings.list(config=config), limit)))
        return [self._info(j) for j in jobs]

    def cancel_job(self, job_id: str) -> JobInfo:
        """Ask the service to cancel (it ends as CANCELLED shortly after); an ended job is returned unchanged."""
        info = self.get_job(job_id)
        if info.state.ended:
            return info
        client = self.conn.genai(location_of(info.job_id))
        self.conn.call(f"cancel tuning job {info.job_id}", lambda: client.tunings.cancel(name=info.job_id))
        return self.get_job(info.job_id)

    def get_metrics(self, job_id: str, since_step: int = -1) -> dict[str, list[MetricPoint]]:
        """The four curves from Vertex AI Experiments, cached in the workspace; only new steps are stored."""
        ws = self.workspace
        info = ws.get_job(job_id)
        if info is None or (info.experiment is None and not info.state.ended):
            info = self.get_job(job_id)
            self.workspace.record_job(info)  # cached for the next look
        if info.experiment and not ws.events(info.job_id, kind=METRICS_FINAL):
            wanted = (TRAIN_LOSS, TRAIN_ACCURACY) + ((EVAL_LOSS, EVAL_ACCURACY) if info.validation_dataset_uri else ())
            cached = ws.get_metrics(info.job_id)
            after = {name: points[-1].step for name, points in cached.items() if points}
            steps_per_epoch = info.total_steps / info.epochs if info.total_steps and info.epochs else None
            for name, points in self.metrics.read(info.experiment, after, wanted).items():
                for p in points:
                    p.epoch = round(p.step / steps_per_epoch, 4) if steps_per_epoch else None
                ws.add_metrics(info.job_id, name, points)
            if info.state.ended:
                ws.log_event(info.job_id, METRICS_FINAL, "every metric point of the ended job is stored")
        stored = ws.get_metrics(info.job_id, since_step)
        return {name: stored.get(name, []) for name in METRIC_NAMES}

    def set_default_checkpoint(self, job_id: str, checkpoint_id: str) -> JobInfo:
        """Make a checkpoint the tuned model's default (google-genai models.update: defaultCheckpointId)."""
        info = self.get_job(job_id)
        ids = [c.checkpoint_id for c in info.checkpoints]
        if not info.tuned_model or not ids:
            raise ToolError(f"Job {info.job_id} has no checkpoints yet (state {info.state.value}).",
                            "Wait until the job has produced checkpoints (get_job lists them).")
        if checkpoint_id not in ids:
            raise ToolError(f"Job {info.job_id} has no checkpoint {checkpoint_id!r}.",
                            f"Choose one of: {', '.join(ids)}.")
        client = self.conn.genai(location_of(info.tuned_model))
        config = types.UpdateModelConfig(default_checkpoint_id=checkpoint_id)
        model = self.conn.call(f"set checkpoint {checkpoint_id} as the default of {info.tuned_model}",
                               lambda: client.models.update(model=info.tuned_model, config=config))
        chosen = model.default_checkpoint_id or checkpoint_id
        self.workspace.log_event(info.job_id, DEFAULT_CHECKPOINT, chosen,
                                     {"checkpoint_id": chosen, "tuned_model": info.tuned_model})
        return self.get_job(info.job_id)

    def generate(self, target: str, request: GenerateRequest) -> GenerateResult:
        """Call a tuned endpoint (or a checkpoint's, or a base model) with thinking off or at its minimum."""
        target = self._endpoint_for(target)
        model = self._model_for(target)
        location = location_of(target) if target.startswith("projects/") else self._serving_location(model)
        client = self.conn.genai(location)
        config = generate_config(request, model)
        started = time.monotonic()
        response = self.conn.call(f"call {target}", lambda: client.models.generate_content(
            model=target, contents=request.contents, config=config))
        return result_of(response, started)

    def base_target(self, base_model: str) -> str:
        model = catalog().get(base_model)
        if model.backend != self.name:
            raise ToolError(f"{model.id} is not served by Vertex AI.", "Use the local backend for it.")
        return model.id

    def _info(self, job: types.TuningJob) -> JobInfo:
        chosen = self.workspace.events(job.name, kind=DEFAULT_CHECKPOINT) if job.name else []
        return job_info(job, chosen[-1]["data"]["checkpoint_id"] if chosen else None)

    def _datasets(self, spec: TuningSpec) -> dict[str, tuple[str, str | None]]:
        out = {}
        for field, uri in (("training_dataset_uri", spec.training_dataset_uri),
                           ("validation_dataset_uri", spec.validation_dataset_uri)):
            if uri:
                out[field] = (uri, (self.workspace.dataset(uri) or {}).get("source"))
        return out

    def _endpoint_for(self, target: str) -> str:
        """Tuned Gemini models answer only through endpoints; a model resource name is turned into its endpoint."""
        if not (target.startswith("projects/") and "/models/" in target):
            return target
        for job in self.workspace.list_jobs(self.name):
            if job.tuned_model and job.endpoint and job.tuned_model.split("@")[0] == target.split("@")[0]:
                return job.endpoint
        raise ToolError(f"{target} is a model resource name; a tuned Gemini model is called through its endpoint.",
                        "Use the job's endpoint (get_job shows it as 'endpoint', or a checkpoint's endpoint).")

    def _model_for(self, target: str) -> ModelInfo | None:
        if not target.startswith("projects/"):
            return catalog().find(target)
        for job in self.workspace.list_jobs(self.name):
            if target == job.endpoint or any(c.endpoint == target for c in job.checkpoints):
                return catalog().find(job.base_model)
        return None

    def _serving_location(self, model: ModelInfo | None) -> str:
        region = self.conn.region
        if model is None or not model.serving_locations or region in model.serving_locations:
            return region
        return "eu" if region.startswith("europe") and "eu" in model.serving_locations else model.serving_locations[0]
