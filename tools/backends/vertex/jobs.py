"""TuningSpec -> google-genai tuning request, and google-genai TuningJob -> JobInfo (Vertex's meanings kept)."""

from __future__ import annotations

import re
from typing import Any

from google.genai import types

from tools.backends.base import Checkpoint, DataStats, JobInfo, JobState, TuningSpec

BACKEND = "vertex"
# The label carrying the client-generated idempotency key; label values allow [a-z0-9_-], at most 63 characters.
REQUEST_LABEL = "gto_request_id"
ADAPTER_ENUM = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR", 8: "ADAPTER_SIZE_EIGHT",
                16: "ADAPTER_SIZE_SIXTEEN", 32: "ADAPTER_SIZE_THIRTY_TWO"}
ADAPTER_SIZE = {v: k for k, v in ADAPTER_ENUM.items()}
METHOD_ENUM = {"supervised": types.TuningMethod.SUPERVISED_FINE_TUNING,
               "preference": types.TuningMethod.PREFERENCE_TUNING}
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def label_problem(key: str, value: str) -> str | None:
    """Why a label would be refused by Vertex AI, or None."""
    if not _LABEL_KEY.match(key):
        return f"label key {key!r} must start with a lowercase letter and hold only a-z, 0-9, _ and - (<= 63)"
    if not _LABEL.match(value):
        return f"label value {value!r} for {key!r} may hold only a-z, 0-9, _ and - (<= 63 characters)"
    return None


def tuning_request(spec: TuningSpec, no_retry: types.HttpOptions) -> dict[str, Any]:
    """Keyword arguments for client.tunings.tune().

    Preference tuning is the same request with method PREFERENCE_TUNING (the SDK then writes the fields into
    preferenceOptimizationSpec) and an optional beta. Continuing from a tuned model passes its resource name as
    base_model, which google-genai turns into preTunedModel {tunedModelName, checkpointId} (google-genai 2.34,
    tunings.py: tune())."""
    config = types.CreateTuningJobConfig(
        method=METHOD_ENUM[spec.method],
        beta=spec.beta,
        pre_tuned_model_checkpoint_id=spec.source_checkpoint_id if spec.source_model else None,
        http_options=no_retry,
        tuned_model_display_name=spec.display_name,
        description=spec.description,
        epoch_count=spec.epochs,
        learning_rate_multiplier=spec.learning_rate_multiplier,
        adapter_size=ADAPTER_ENUM[spec.adapter_size] if spec.adapter_size else None,
        export_last_checkpoint_only=spec.export_last_checkpoint_only or None,
        labels={**spec.labels, REQUEST_LABEL: spec.client_request_id},
    )
    if spec.validation_dataset_uri:
        config.validation_dataset = types.TuningValidationDataset(gcs_uri=spec.validation_dataset_uri)
    if spec.evaluation_metrics and spec.evaluation_output_uri:
        config.evaluation_config = types.EvaluationConfig(
            metrics=[types.Metric(name=m) for m in spec.evaluation_metrics],
            output_config=types.OutputConfig(
                gcs_destination=types.GcsDestination(output_uri_prefix=spec.evaluation_output_uri)),
        )
    return {"base_model": spec.source_model or spec.base_model,
            "training_dataset": types.TuningDataset(gcs_uri=spec.training_dataset_uri), "config": config}


def job_state(state: Any) -> JobState:
    raw = str(getattr(state, "value", state) or "").removeprefix("JOB_STATE_")
    try:
        return JobState(raw)
    except ValueError:
        return JobState.UNSPECIFIED


def job_info(job: types.TuningJob, default_checkpoint_id: str | None = None) -> JobInfo:
    """One JobInfo from a TuningJob; `default_checkpoint_id` is the choice recorded by set_default_checkpoint."""
    preference = job.preference_optimization_spec
    spec: Any = preference or job.supervised_tuning_spec
    hyper = spec.hyper_parameters if spec else None
    pre_tuned = job.pre_tuned_model
    data = job.tuning_data_stats
    stats = (data.supervised_tuning_data_stats or data.preference_optimization_data_stats) if data else None
    meta = job.tuning_job_metadata
    tuned = job.tuned_model
    checkpoints = _checkpoints(tuned, default_checkpoint_id)
    default = next((c for c in checkpoints if c.is_default), None)
    labels = dict(job.labels or {})
    base = job.base_model or (job.pre_tuned_model.base_model if job.pre_tuned_model else None) or "unknown"
    adapter = getattr(hyper.adapter_size, "value", hyper.adapter_size) if hyper and hyper.adapter_size else None
    return JobInfo(
        job_id=job.name or "",
        backend=BACKEND,
        state=job_state(job.state),
        base_model=base,
        display_name=job.tuned_model_display_name,
        created_at=job.create_time,
        started_at=job.start_time,
        ended_at=job.end_time,
        training_dataset_uri=spec.training_dataset_uri if spec else None,
        validation_dataset_uri=spec.validation_dataset_uri if spec else None,
        epochs=hyper.epoch_count if hyper else None,
        adapter_size=ADAPTER_SIZE.get(str(adapter)) if adapter else None,
        learning_rate_multiplier=hyper.learning_rate_multiplier if hyper else None,
        completed_epochs=meta.completed_epoch_count if meta else None,
        completed_steps=meta.completed_step_count if meta else None,
        total_steps=stats.tuning_step_count if stats else None,
        error=_error_text(job.error),
        tuned_model=tuned.model if tuned else None,
        endpoint=(default.endpoint if default and default.endpoint else None) or (tuned.endpoint if tuned else None),
        checkpoints=checkpoints,
        data_stats=_data_stats(stats) if stats else None,
        experiment=job.experiment,
        labels=labels,
        client_request_id=labels.get(REQUEST_LABEL),
        method="preference" if preference else "supervised",
        beta=getattr(hyper, "beta", None),
        source_model=pre_tuned.tuned_model_name if pre_tuned else None,
        source_checkpoint_id=pre_tuned.checkpoint_id if pre_tuned else None,
    )


def _checkpoints(tuned: types.TunedModel | None, chosen: str | None) -> list[Checkpoint]:
    if tuned is None or not tuned.checkpoints:
        return []
    points = [Checkpoint(checkpoint_id=c.checkpoint_id or str(i), epoch=c.epoch, step=c.step, endpoint=c.endpoint)
              for i, c in enumerate(tuned.checkpoints, 1)]
    ids = {c.checkpoint_id for c in points}
    # The tuned model's endpoint serves the default checkpoint; without a recorded choice, that one is the default.
    default = chosen if chosen in ids else next(
        (c.checkpoint_id for c in points if c.endpoint and c.endpoint == tuned.endpoint), points[-1].checkpoint_id)
    for c in points:
        c.is_default = c.checkpoint_id == default
    return points


def _data_stats(s: types.SupervisedTuningDataStats | types.PreferenceOptimizationDataStats) -> DataStats:
    """Supervised or preference data stats (the latter has no character or truncation counts)."""
    reasons = [str(r) for r in (s.dropped_example_reasons or [])]
    return DataStats(
        example_count=s.tuning_dataset_example_count,
        total_billable_token_count=s.total_billable_token_count,
        total_tuning_character_count=getattr(s, "total_tuning_character_count", None),
        tuning_step_count=s.tuning_step_count,
        truncated_example_count=getattr(s, "total_truncated_example_count", None),
        truncated_example_indices=[int(i) for i in (getattr(s, "truncated_example_indices", None) or [])],
        dropped_example_reasons=reasons,
        input_tokens_mean=s.user_input_token_distribution.mean if s.user_input_token_distribution else None,
        output_tokens_mean=s.user_output_token_distribution.mean if s.user_output_token_distribution else None,
    )


def _error_text(error: types.GoogleRpcStatus | None) -> str | None:
    if error is None or (not error.message and not error.code):
        return None
    return f"{error.message or 'no message'} (code {error.code})" if error.code else error.message


def job_name(job_id: str, project: str, region: str) -> str:
    """The full resource name for a job id given whole or as its number."""
    if job_id.startswith("projects/"):
        return job_id
    if job_id.isdigit():
        return f"projects/{project}/locations/{region}/tuningJobs/{job_id}"
    from tools.errors import ToolError

    raise ToolError(f"{job_id!r} is not a Vertex AI tuning job.",
                    "Pass the job's resource name (projects/P/locations/L/tuningJobs/ID) or its number.")


def location_of(resource: str) -> str | None:
    m = re.search(r"/locations/([^/]+)", resource)
    return m.group(1) if m else None
