"""The dataset tools: validate_dataset (every Gemini SFT JSONL rule, locally, with line numbers) and fix_dataset
(a repaired copy with a change log). The rules live in tools/gemini_format.py and tools/file_rules.py, the scan in
tools/dataset_scan.py, the repairs in tools/dataset_repair.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.catalog import catalog, default_tuning_model
from tools.context import ToolContext
from tools.dataset.problems import ERROR, WARNING, ProblemLog
from tools.dataset.paths import local_file
from tools.dataset.preference import looks_like_preference, scan_preference
from tools.dataset.preference_format import MAX_TOKENS as PREFERENCE_MAX_TOKENS
from tools.dataset.scan import FileScan
from tools.dataset.scan_workers import scan_files
from tools.dataset.file_rules import file_rules, leakage, token_stats, validation_share
from tools.errors import ToolError, ToolInput
from tools.registry import tool
from tools.tokens import get_counter
from tools.workspace import open_private


class ProblemExample(BaseModel):
    line: int = Field(description="1-based line number; 0 for a problem with the whole file")
    message: str


class KindSummary(BaseModel):
    count: int
    hint: str = ""
    examples: list[ProblemExample] = Field(default_factory=list, description="the first few, in line order")


class TokenStats(BaseModel):
    total: int = 0
    billable_per_epoch: int = 0
    min: int = 0
    mean: float = 0.0
    p50: int = 0
    p95: int = 0
    max: int = 0
    over_limit: int = 0
    avg_input_tokens: float = Field(0.0, description="per example: everything before the last model turn")
    avg_output_tokens: float = Field(0.0, description="per example: the last model turn")
    estimated: bool = True
    tokenizer: str = ""


class FileReport(BaseModel):
    path: str
    bytes: int
    lines: int
    examples: int = Field(description="non-blank lines")
    valid_examples: int = Field(description="examples without errors")
    errors: int
    warnings: int
    errors_by_kind: dict[str, KindSummary] = Field(default_factory=dict)
    warnings_by_kind: dict[str, KindSummary] = Field(default_factory=dict)
    tokens: TokenStats


class ValidationReport(BaseModel):
    ok: bool = Field(description="True when the data can be tuned on: no errors in either file (warnings allowed)")
    base_model: str
    max_tokens_per_example: int
    train: FileReport
    validation: FileReport | None = None
    leakage_count: int = 0
    report_path: str = Field(description="every problem, one JSON object a line")
    tokens_estimated: bool
    method: Literal["supervised", "preference"] = Field("supervised", description="which format was checked")
    summary: str
    warnings: list[str] = Field(default_factory=list, description="about the base model, e.g. its retirement")


class ValidateDatasetInput(ToolInput):
    path: str = Field(description="Local path of the training JSONL file (validate before uploading)")
    validation_path: str | None = Field(None, description="Local path of the validation JSONL file, if any")
    base_model: str = Field(default_factory=default_tuning_model, description="Base model to tune: sets the token "
                            f"limit per example (default {default_tuning_model()})")
    method: Literal["auto", "supervised", "preference"] = Field(
        "auto", description="supervised (contents ending in a model turn) or preference (contents + completions "
                            "pair); auto reads the first line")


@tool
def validate_dataset(args: ValidateDatasetInput, ctx: ToolContext) -> ValidationReport:
    """Check a Gemini tuning dataset (JSONL, optionally with a validation file) against every Vertex AI rule locally:
    JSON per line, roles, turn order, parts, systemInstruction, token limits, duplicates, file size, validation
    size and leakage. Problems are grouped by kind with line numbers; the full list is written to report_path.
    Preference data (contents + a scored pair of completions) gets the preference-tuning rules instead."""
    catalog().tunable(args.base_model)  # a retired model is refused before any work, its successor named
    method = args.method
    if method == "auto":
        training = local_file(args.path, "training file", ctx)
        method = "preference" if looks_like_preference(training) else "supervised"
    report = validate(args.path, args.validation_path, args.base_model, ctx, method=method)
    warning = catalog().warning(args.base_model)
    return report.model_copy(update={"warnings": [warning]}) if warning else report


def validate(path: str, validation_path: str | None, base_model: str, ctx: ToolContext,
             workers: int | None = None, method: str = "supervised") -> ValidationReport:
    """validate_dataset as a library call; `workers` overrides the number of scanning processes."""
    model = catalog().get(base_model)
    limits = catalog().limits
    train_path = local_file(path, "training file", ctx)
    val_path = local_file(validation_path, "validation file", ctx) if validation_path else None
    if val_path is not None and val_path.resolve() == train_path.resolve():
        raise ToolError(f"The validation file is the training file ({path}).",
                        "Pass a separate validation file, or none.")
    counter = get_counter(model.id, sum(p.stat().st_size for p in (train_path, val_path) if p is not None))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    report = ctx.workspace.dir("reports") / f"validate-{train_path.stem}-{stamp}-{time.time_ns() % 10**6:06d}.jsonl"
    with open_private(report, "wb") as out:
        files = [(train_path, "train", ProblemLog(out, "train"))]
        if val_path is not None:
            files.append((val_path, "validation", ProblemLog(out, "validation")))

        names = " and ".join(p.name for p, _, _ in files)

        def progress(done: int, total: int) -> None:
            ctx.report(f"validating {names}", done, total, unit="bytes")

        max_tokens = model.max_tokens_per_example
        if method == "preference":
            max_tokens = min(max_tokens, PREFERENCE_MAX_TOKENS)
            scans = [scan_preference(p, role, counter, max_tokens, log) for p, role, log in files]
        else:
            scans = scan_files(files, counter, max_tokens, progress, workers)
        for scan in scans:
            file_rules(scan, limits.max_file_bytes, limits.max_validation_rows, limits.recommended_min_examples)
        leaked = 0
        if len(scans) == 2:
            validation_share(scans[0], scans[1])
            leaked = leakage(scans[0], scans[1])
    reports = [_file_report(s, counter.estimated, counter.name) for s in scans]
    ok = all(r.errors == 0 for r in reports)
    for scan, file_report in zip(scans, reports):
        _record(ctx, scan, file_report, model.id, method)
    summary = _summary(ok, reports, leaked, counter.estimated)
    return ValidationReport(
        ok=ok, base_model=model.id, max_tokens_per_example=max_tokens, train=reports[0],
        validation=reports[1] if len(reports) == 2 else None, leakage_count=leaked, report_path=str(report),
        tokens_estimated=counter.estimated, method=method,
        summary=f"Preference data. {summary}" if method == "preference" else summary,
    )


def dataset_stats(path: str, ctx: ToolContext, base_model: str | None = None) -> dict[str, Any]:
    """What is known of a dataset: stats recorded by an earlier validation while the file is unchanged, else fresh."""
    base_model = base_model or default_tuning_model()
    if path.startswith("gs://"):
        stats = ctx.workspace.dataset(path)
        if not stats or "examples" not in stats:
            raise ToolError(f"Nothing is known about {path}.",
                            "Validate the local file it came from (upload_to_gcs records the link), or pass the "
                            "numbers (training_tokens / example_count) directly.")
        return stats
    local = local_file(path, "dataset", ctx)
    key = str(local.resolve())
    stat = local.stat()
    stats = ctx.workspace.dataset(key)
    fresh = stats and stats.get("bytes") == stat.st_size and stats.get("mtime_ns") == stat.st_mtime_ns
    if not fresh or stats.get("tokenizer") != get_counter(base_model, stat.st_size).name:  # type: ignore[union-attr]
        validate(key, None, base_model, ctx, method="preference" if looks_like_preference(local) else "supervised")
        stats = ctx.workspace.dataset(key)
    return stats or {}


def _file_report(scan: FileScan, estimated: bool, tokenizer: str) -> FileReport:
    log = scan.log
    assert log is not None
    return FileReport(
        path=str(scan.path), bytes=scan.bytes, lines=scan.lines, examples=scan.examples,
        valid_examples=scan.valid_examples, errors=log.errors, warnings=log.warnings,
        errors_by_kind=log.by_kind(ERROR), warnings_by_kind=log.by_kind(WARNING),
        tokens=TokenStats(**token_stats(scan), estimated=estimated, tokenizer=tokenizer),
    )


def _record(ctx: ToolContext, scan: FileScan, report: FileReport, base_model: str, method: str) -> None:
    stat = scan.path.stat()
    role: Literal["train", "validation"] = "train" if scan.role == "train" else "validation"
    ctx.workspace.record_dataset(str(scan.path.resolve()), {
        "examples": report.examples, "valid_examples": report.valid_examples, "tokens": report.tokens.total,
        "billable_tokens_per_epoch": report.tokens.billable_per_epoch, "tokens_estimated": report.tokens.estimated,
        "tokenizer": report.tokens.tokenizer, "avg_tokens": report.tokens.mean,
        "avg_input_tokens": report.tokens.avg_input_tokens, "avg_output_tokens": report.tokens.avg_output_tokens,
        "max_tokens": report.tokens.max, "ok": report.errors == 0, "role": role, "base_model": base_model,
        "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "method": method,
    })


def _summary(ok: bool, reports: list[FileReport], leaked: int, estimated: bool) -> str:
    parts = []
    for r in reports:
        about = "~" if estimated else ""
        parts.append(f"{Path(r.path).name}: {r.examples:,} examples, {r.errors:,} errors, {r.warnings:,} warnings, "
                     f"{about}{r.tokens.total:,} tokens")
    verdict = "Ready to tune." if ok else "Not tunable until the errors are fixed (fix_dataset repairs many)."
    extra = f" {leaked} validation examples also appear in training." if leaked else ""
    return f"{verdict} " + "; ".join(parts) + "." + extra
