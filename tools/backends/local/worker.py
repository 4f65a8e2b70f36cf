"""The trainer process of one local job: `python -m tools.backends.local.worker WORKSPACE JOB_ID`.

Started in its own session by create_job, so it outlives the command that started it. It moves the job to
RUNNING, reports data statistics, metrics, progress and checkpoints to the workspace, and ends the job SUCCEEDED or
FAILED with the reason. A cancel or a kill needs no cooperation: the job record is written by whoever cancels, and
a trainer that vanishes is found out by the next reader."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from tools.backends.base import DataStats, JobInfo, JobState, MetricPoint
from tools.backends.local.chat_format import ChatFormat, DataError, Encoded, read_jsonl
from tools.backends.local.jobs import JobStore, now
from tools.workspace import Workspace

log = logging.getLogger("gto.local.worker")


def encode_file(fmt: ChatFormat, path: Path, max_tokens: int) -> tuple[list[Encoded], list[int], list[str]]:
    """(usable examples, 1-based indices of truncated ones, reasons for dropped ones) of one JSONL file."""
    kept, truncated, dropped = [], [], []
    for index, conversation in enumerate(read_jsonl(path), 1):
        encoded = fmt.encode_example(conversation, max_tokens)
        if encoded.truncated:
            truncated.append(index)
        if encoded.label_count == 0:
            reason = "nothing left of the model turn after truncation" if encoded.output_tokens else "no model turn"
            dropped.append(f"example {index}: {reason}")
            continue
        kept.append(encoded)
    return kept, truncated, dropped


def data_stats(examples: list[Encoded], truncated: list[int], dropped: list[str], steps: int) -> DataStats:
    """Like Vertex's supervisedTuningDataStats: billable tokens are the tokens trained on in one pass."""
    count = max(len(examples), 1)
    return DataStats(
        example_count=len(examples),
        total_billable_token_count=sum(len(e.input_ids) for e in examples),
        total_tuning_character_count=sum(e.characters for e in examples),
        tuning_step_count=steps,
        truncated_example_count=len(truncated),
        truncated_example_indices=truncated[:100],
        dropped_example_reasons=dropped[:100],
        input_tokens_mean=round(sum(e.input_tokens for e in examples) / count, 2),
        output_tokens_mean=round(sum(e.output_tokens for e in examples) / count, 2),
    )


class JobReporter:
    """The trainer's view of the workspace: metrics, throttled progress, checkpoints."""

    def __init__(self, store: JobStore, job_id: str):
        self.store, self.job_id, self.last_write, self.last_epoch = store, job_id, 0.0, -1

    def metrics(self, name: str, points: list[MetricPoint]) -> None:
        self.store.workspace.add_metrics(self.job_id, name, points)

    def progress(self, epoch: int, step: int) -> None:
        if epoch == self.last_epoch and time.monotonic() - self.last_write < 1.0:
            return
        self.last_write, self.last_epoch = time.monotonic(), epoch

        def advance(job: JobInfo) -> None:
            job.completed_epochs, job.completed_steps = max(job.completed_epochs or 0, epoch), step

        self.store.update(self.job_id, advance)

    def checkpoint(self, model: Any, epoch: int, step: int) -> None:
        target = self.store.checkpoint_dir(self.job_id, str(epoch))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".saving-"))
        model.save_pretrained(str(staging))
        os.replace(staging, target)  # a reader never sees half an adapter
        self.store.add_checkpoint(self.job_id, epoch, step)
        log.info("checkpoint %s saved at step %s: %s", epoch, step, target)


def run(store: JobStore, job_id: str) -> None:
    """Train one job start to end; raises on failure (the caller records it)."""
    import tools.backends.local.weights as weights
    from tools.backends.local.targets import resolve_uri
    from tools.backends.local.trainer import TrainConfig, add_lora, steps_per_epoch, train

    record = store.record(job_id)
    if record is None:
        raise RuntimeError(f"no local job record for {job_id}")
    config = record.config

    def start(job: JobInfo) -> None:
        job.state, job.started_at = JobState.RUNNING, now()

    if not store.apply(job_id, start)[1]:
        log.info("job %s had already ended (cancelled before its trainer started): nothing to train", job_id)
        return
    log.info("job %s: %s", job_id, config)
    train_config = TrainConfig(**config["train"])

    started = time.monotonic()
    folder = weights.model_dir(config["base_model"])
    tokenizer = weights.load_tokenizer(folder)
    fmt = ChatFormat(tokenizer)
    preference = config.get("method") == "preference"
    encode: Any = encode_file
    if preference:
        from tools.backends.local.dpo import encode_pair_file as encode
    train_set, truncated, dropped = encode(fmt, resolve_uri(store.workspace, config["training_dataset_uri"]),
                                           train_config.max_tokens)
    if not train_set:
        raise DataError(f"no usable training examples ({'; '.join(dropped[:3])})")
    val_set: list[Any] = []
    if config.get("validation_dataset_uri"):
        val_path = resolve_uri(store.workspace, config["validation_dataset_uri"])
        val_set = encode(fmt, val_path, train_config.max_tokens)[0]
    total = steps_per_epoch(len(train_set), train_config.batch_size) * train_config.epochs
    if preference:
        from tools.backends.local.dpo import pair_stats

        stats = pair_stats(train_set, truncated, dropped, total)
    else:
        stats = data_stats(train_set, truncated, dropped, total)

    def describe(job: JobInfo) -> None:
        job.data_stats, job.total_steps, job.completed_steps, job.completed_epochs = stats, total, 0, 0

    store.update(job_id, describe)
    log.info("data: %s", stats.model_dump_json())

    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(train_config.seed)
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    if config.get("source_adapter"):  # continuing from a tuned job's checkpoint: its adapter is the start
        from tools.backends.local.dpo import load_adapter

        model = load_adapter(model, config["source_adapter"])
    else:
        model = add_lora(model, train_config.rank, train_config.seed)
    log.info("model loaded in %.1f s; training %s steps", time.monotonic() - started, total)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if preference:
        from tools.backends.local.dpo import train_dpo

        result = train_dpo(model, train_set, val_set, train_config, JobReporter(store, job_id), pad_id,
                           config["beta"])
    else:
        result = train(model, train_set, val_set, train_config, JobReporter(store, job_id), pad_id)
    log.info("trained %s steps, %s tokens in %.1f s (%.1f tokens/s)", result.steps, result.tokens, result.seconds,
             result.tokens_per_s)

    def finish(job: JobInfo) -> None:
        job.state, job.ended_at, job.completed_epochs = JobState.SUCCEEDED, now(), train_config.epochs
        job.completed_steps = result.steps

    if store.apply(job_id, finish)[1]:  # not when the job was cancelled (or marked failed) while it trained
        figures = {"tokens_per_s": round(result.tokens_per_s, 1), "train_seconds": round(result.seconds, 1)}
        store.workspace.log_event(job_id, "job_succeeded", f"trained {result.steps} steps", figures)


def fail(store: JobStore, job_id: str, exc: BaseException) -> None:
    if isinstance(exc, DataError):
        message = f"Dataset problem: {exc}"
    else:
        message = f"{type(exc).__name__}: {exc} (details in {store.log_path(job_id)})"

    if store.end(job_id, JobState.FAILED, message)[1]:  # a cancelled job's SIGTERM is no failure to report
        store.workspace.log_event(job_id, "job_failed", message)


def main(argv: list[str]) -> int:
    workspace_root, job_id = argv
    from tools.backends.local.weights import offline

    offline()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    store = JobStore(Workspace(workspace_root))
    try:
        run(store, job_id)
    except BaseException as exc:
        traceback.print_exc(file=sys.stdout)
        fail(store, job_id, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
