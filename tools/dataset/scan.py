"""One streaming pass over JSONL datasets: the per-line rules of tools/gemini_format.py on every line, and token
counts, in blocks, with problems streamed to disk; on a machine with many cores, big files are split by byte ranges
across worker processes (tools/scan_workers.py).

Memory stays flat whatever the file size: each example leaves behind only an 8-byte hash and a 4-byte line number
(for the duplicate and leakage rules: about 24 MB per 2M examples) and one histogram bump for its token count.
"""

from __future__ import annotations

import gc
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import tools.dataset.gemini_format as gemini_format
from tools.dataset.common_shape import typed_fast
from tools.dataset.problems import ERROR, KINDS, SAMPLES_PER_KIND, Problem, ProblemLog
from tools.dataset.gemini_format import BOM, check_detailed
from tools.tokens import CHARS_PER_TOKEN, EstimateCounter, TokenCounter

BLOCK_BYTES = 1 << 20
MAX_LINE_BYTES = 32 << 20  # far past any example that fits 131,072 tokens; longer lines are skipped unread
TOKEN_BATCH = 4096  # texts per call into the Rust tokenizer

Progress = Callable[[int, int], None]


@dataclass
class FileScan:
    """What one pass learned about one file (or, in a worker, about one byte range of it)."""

    path: Path
    role: str
    log: ProblemLog | None
    bytes: int = 0
    max_tokens: int = 1 << 62
    lines: int = 0
    examples: int = 0
    valid_examples: int = 0
    with_system: int = 0
    without_system_lines: list[int] = field(default_factory=list)
    media_parts: int = 0
    token_hist: dict[int, int] = field(default_factory=dict)  # tokens -> examples, from a tokenizer
    weight_hist: dict[int, int] = field(default_factory=dict)  # estimate weight -> examples
    input_tokens: int = 0  # counted by a tokenizer
    output_tokens: int = 0
    input_weight: int = 0  # estimate weights (characters), turned into tokens once, for the averages
    output_weight: int = 0
    over_limit: int = 0
    hashes: array = field(default_factory=lambda: array("q"))
    hash_lines: array = field(default_factory=lambda: array("I"))


def scan_file(path: Path, role: str, counter: TokenCounter, max_tokens: int, log: ProblemLog,
              progress: Progress | None = None) -> FileScan:
    """Check every line of one file in this process."""
    scan = FileScan(path=path, role=role, log=log, bytes=path.stat().st_size, max_tokens=max_tokens)
    with path.open("rb") as stream, no_cyclic_gc():
        scan_stream(stream, scan, counter, progress)
    return scan


def line_blocks(stream: IO[bytes], limit: int | None = None,
                strip_bom: bool = True) -> Iterator[tuple[int, list[bytes] | None, int]]:
    """Yield (first line number, lines, 0) per block, or (line number, None, length) for a line too long to read.

    Reads at most `limit` bytes. Line numbers start at 1."""
    carry = b""
    lineno = 1
    skipping = 0
    left = limit if limit is not None else -1
    while left:
        block = stream.read(BLOCK_BYTES if left < 0 else min(BLOCK_BYTES, left))
        if not block:
            break
        if left > 0:
            left -= len(block)
        if strip_bom:
            strip_bom = False
            if block.startswith(BOM):
                block = block[3:]
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                skipping += len(block)
                continue
            yield lineno, None, skipping + cut
            lineno += 1
            skipping = 0
            block = block[cut + 1:]
        lines = (carry + block).split(b"\n") if carry else block.split(b"\n")
        carry = lines.pop()
        if lines:
            yield lineno, lines, 0
            lineno += len(lines)
        if len(carry) > MAX_LINE_BYTES:
            skipping, carry = len(carry), b""
    if skipping:
        yield lineno, None, skipping
    elif carry:
        yield lineno, [carry], 0


def scan_stream(stream: IO[bytes], scan: FileScan, counter: TokenCounter, progress: Progress | None,
                limit: int | None = None, strip_bom: bool = True) -> None:
    """Scan lines from a stream into `scan` (at most `limit` bytes; line numbers count from where it starts)."""
    # The hot loop, kept to a few steps a line: a typed parse (msgspec) and short check, one hash, one histogram
    # bump of the estimate weight. Any other line is parsed again for the detailed rules. Counters live in locals.
    log, weights = scan.log, scan.weight_hist
    assert log is not None
    add_hash, add_line = scan.hashes.append, scan.hash_lines.append
    hashed_before = len(scan.hashes)
    estimate = isinstance(counter, EstimateCounter)
    max_weight = scan.max_tokens * CHARS_PER_TOKEN  # ceil(weight / 4) > limit exactly when weight > 4 * limit
    fast = typed_fast if gemini_format.typed_decode is not None else None
    pending: list[tuple[int, list[str], int, bool]] = []
    pending_texts = invalid = with_system = media_parts = total_weight = output_weight_sum = too_long_lines = 0
    without = scan.without_system_lines
    want_without = len(without) < SAMPLES_PER_KIND
    lineno = 0
    for first, lines, too_long in line_blocks(stream, limit, strip_bom):
        if lines is None:
            too_long_lines += 1
            lineno = first
            log.add(first, "line_too_long", f"the line is {too_long:,} bytes; the limit is {MAX_LINE_BYTES:,}")
            continue
        lineno = first - 1
        missed = 0
        for raw in lines:
            lineno += 1
            checked = fast(raw) if fast is not None else None
            if checked is None:
                missed += 1
                checked = check_detailed(raw)
                if checked is None:  # a blank line
                    continue
                media_parts += checked[4]
            add_hash(hash(raw.strip()))
            add_line(lineno)
            problems, texts, output_start, has_system, _, weight, output_weight = checked
            bad = problems is not None and _log_problems(log, lineno, problems)
            if has_system:
                with_system += 1
            elif want_without:
                without.append(lineno)
                want_without = len(without) < SAMPLES_PER_KIND
            if estimate:
                weights[weight] = weights.get(weight, 0) + 1
                total_weight += weight
                output_weight_sum += output_weight
                if weight > max_weight:
                    bad = True
                    scan.over_limit += 1
                    tokens = -(-weight // CHARS_PER_TOKEN)
                    log.add(lineno, "tokens_over_limit", _over_limit(tokens, scan.max_tokens, True))
            else:
                pending.append((lineno, texts, output_start, bad))
                pending_texts += len(texts)
                if pending_texts >= TOKEN_BATCH:
                    _count_pending(scan, pending, counter)
                    pending, pending_texts = [], 0
            if bad:
                invalid += 1
        if fast is not None and len(lines) >= 256 and missed > 0.8 * len(lines):
            fast = None  # this file is not of the common shape: parse each line once, not twice
        if progress is not None:
            progress(stream.tell(), scan.bytes)
    examples = len(scan.hashes) - hashed_before + too_long_lines
    scan.lines = lineno
    scan.examples += examples
    scan.valid_examples += examples - invalid - too_long_lines
    scan.with_system += with_system
    scan.media_parts += media_parts
    scan.input_weight += total_weight - output_weight_sum
    scan.output_weight += output_weight_sum
    if pending:
        _count_pending(scan, pending, counter)


def _log_problems(log: ProblemLog, lineno: int, problems: list[Problem]) -> bool:
    """Log a line's problems; True when one of them is an error."""
    for kind, message in problems:
        log.add(lineno, kind, message)
    return any(KINDS[kind][0] == ERROR for kind, _ in problems)


def _count_pending(scan: FileScan, pending: list[tuple[int, list[str], int, bool]], counter: TokenCounter) -> None:
    counts = counter.count_many([t for _, texts, _, _ in pending for t in texts])
    hist, max_tokens, log = scan.token_hist, scan.max_tokens, scan.log
    assert log is not None
    at = 0
    for lineno, texts, output_start, bad in pending:
        own = counts[at:at + len(texts)]
        at += len(texts)
        tokens = sum(own)
        output = sum(own[output_start:])
        hist[tokens] = hist.get(tokens, 0) + 1
        scan.input_tokens += tokens - output
        scan.output_tokens += output
        if tokens > max_tokens:
            scan.over_limit += 1
            log.add(lineno, "tokens_over_limit", _over_limit(tokens, max_tokens, False))
            if not bad:
                scan.valid_examples -= 1  # it was counted valid before its tokens were known


def _over_limit(tokens: int, limit: int, estimated: bool) -> str:
    about = "about " if estimated else ""
    return f"the example has {about}{tokens:,} tokens; the base model takes at most {limit:,} per example"


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    # Parsed lines are acyclic and freed by reference counting; the cyclic collector would only rescan them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
