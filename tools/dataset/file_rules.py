"""The per-file rules of a Gemini tuning dataset: empty file, too few examples, exact duplicates, file size,
validation size and share, leakage from training into validation; and the token statistics of a scanned file."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tools.tokens import CHARS_PER_TOKEN

if TYPE_CHECKING:
    from tools.dataset.scan import FileScan


def file_rules(scan: FileScan, max_file_bytes: int, max_validation_rows: int, min_examples: int) -> None:
    """Apply the rules that need only this file."""
    log = scan.log
    if scan.bytes > max_file_bytes:
        log.add(None, "file_too_large", f"the file is {scan.bytes:,} bytes; the limit is {max_file_bytes:,} (1 GB)")
    if scan.examples == 0:
        log.add(None, "empty_file", f"{scan.path.name} holds no examples ({scan.lines} lines, all blank)")
        return
    if scan.role == "validation" and scan.examples > max_validation_rows:
        log.add(None, "too_many_validation_rows",
                f"{scan.examples:,} validation examples; at most {max_validation_rows:,} are allowed")
    if scan.role == "train" and scan.valid_examples < min_examples:
        log.add(None, "few_examples", f"{scan.valid_examples} valid examples; at least {min_examples} recommended")
    without = scan.examples - scan.with_system
    if scan.with_system and without > 0 and scan.without_system_lines:
        where = ", ".join(f"line {n}" for n in scan.without_system_lines)
        log.add(None, "system_instruction_mixed",
                f"{without:,} of {scan.examples:,} examples have no systemInstruction (first: {where})")
    if scan.media_parts:
        log.add(None, "media_tokens_not_counted",
                f"{scan.media_parts:,} media parts; their tokens are not in the counts")
    for line, first in duplicate_lines(scan):
        log.add(line, "duplicate", f"exact duplicate of line {first}")


def validation_share(train: FileScan, validation: FileScan) -> None:
    """Google's wording: over 1,000 validation rows, at most 30% of the training rows (ambiguous, so a warning)."""
    if validation.examples > 1000 and validation.examples > 0.3 * train.examples:
        validation.log.add(None, "validation_share",
                           f"{validation.examples:,} validation rows is over 30% of {train.examples:,} training rows")


def duplicate_lines(scan: FileScan) -> list[tuple[int, int]]:
    """(line, first line with the same content) for every repeat, in line order."""
    import numpy as np

    if len(scan.hashes) < 2:
        return []
    hashes = np.frombuffer(scan.hashes, dtype=np.int64)
    lines = np.frombuffer(scan.hash_lines, dtype=np.uint32)
    order = np.argsort(hashes, kind="stable")  # stable: each group starts with its earliest line
    ordered = hashes[order]
    repeat = np.zeros(len(ordered), dtype=bool)
    np.equal(ordered[1:], ordered[:-1], out=repeat[1:])
    if not repeat.any():
        return []
    group = np.cumsum(~repeat) - 1
    group_first = order[np.flatnonzero(~repeat)]
    at = np.flatnonzero(repeat)
    return sorted(zip(lines[order[at]].tolist(), lines[group_first[group[at]]].tolist()))


def leakage(train: FileScan, validation: FileScan) -> int:
    """Warn for each validation example that also appears in the training file; returns how many do."""
    import numpy as np

    if not len(train.hashes) or not len(validation.hashes):
        return 0
    train_hashes = np.frombuffer(train.hashes, dtype=np.int64)
    order = np.argsort(train_hashes, kind="stable")
    ordered = train_hashes[order]
    val_hashes = np.frombuffer(validation.hashes, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ordered, val_hashes), len(ordered) - 1)
    hit = ordered[pos] == val_hashes
    train_lines = np.frombuffer(train.hash_lines, dtype=np.uint32)
    val_lines = np.frombuffer(validation.hash_lines, dtype=np.uint32)
    for v_line, t_line in zip(val_lines[hit].tolist(), train_lines[order[pos[hit]]].tolist()):
        validation.log.add(v_line, "leakage", f"also in the training file at line {t_line}")
    return int(hit.sum())


def token_stats(scan: FileScan) -> dict[str, Any]:
    """Total, per-example distribution and billable tokens per epoch, from the scan's histogram."""
    hist = dict(scan.token_hist)
    for weight, count in scan.weight_hist.items():
        tokens = -(-weight // CHARS_PER_TOKEN)
        hist[tokens] = hist.get(tokens, 0) + count
    n = sum(hist.values())
    if not n:
        return {"total": 0, "billable_per_epoch": 0, "min": 0, "mean": 0.0, "p50": 0, "p95": 0, "max": 0,
                "over_limit": 0, "avg_input_tokens": 0.0, "avg_output_tokens": 0.0}
    values = sorted(hist)
    total = sum(v * c for v, c in hist.items())
    # Vertex drops or truncates an over-long example, so it is not billed in full; counting it up to the limit is
    # the upper bound.
    billable = sum(min(v, scan.max_tokens) * c for v, c in hist.items())
    return {
        "total": total,
        "billable_per_epoch": billable,
        "min": values[0],
        "mean": round(total / n, 1),
        "p50": _percentile(values, hist, n, 0.50),
        "p95": _percentile(values, hist, n, 0.95),
        "max": values[-1],
        "over_limit": scan.over_limit,
        "avg_input_tokens": round((scan.input_tokens + scan.input_weight / CHARS_PER_TOKEN) / n, 1),
        "avg_output_tokens": round((scan.output_tokens + scan.output_weight / CHARS_PER_TOKEN) / n, 1),
    }


def _percentile(values: list[int], hist: dict[int, int], n: int, q: float) -> int:
    rank = max(1, math.ceil(q * n))
    seen = 0
    for v in values:
        seen += hist[v]
        if seen >= rank:
            return v
    return values[-1]
