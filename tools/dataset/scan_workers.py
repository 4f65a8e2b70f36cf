"""Worker processes for scanning one big dataset on many cores: the file is cut into byte ranges that start at a
line, each child interpreter scans its ranges with line numbers counted from the range's start, and the parent
merges the counts and replays the problems with the right line offsets. Results equal a single-process scan.
`scan_files` decides between this and one process."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

from tools.dataset.problems import SAMPLES_PER_KIND, ProblemLog
from tools.dataset.scan import FileScan, Progress, no_cyclic_gc, scan_file, scan_stream
from tools.tokens import EstimateCounter, TokenCounter

MIN_CHUNK_BYTES = 16 << 20
PARALLEL_MIN_BYTES = 64 << 20  # below this, starting worker processes costs more than it saves
MAX_WORKERS = 16
# Measured (benchmarks/README.md): 2 workers on 2 shared vCPUs were slower in 3 runs of 4; on 16 cores, 4 workers
# scanned 2.2x and 16 workers 6x as fast as one process.
PARALLEL_MIN_CORES = 4


def scan_files(files: list[tuple[Path, str, ProblemLog]], counter: TokenCounter, max_tokens: int,
               progress: Progress | None = None, workers: int | None = None) -> list[FileScan]:
    """Scan (path, role, log) files in order; in worker processes when they are big enough to pay for it."""
    if workers is None:
        workers = default_workers(sum(p.stat().st_size for p, _, _ in files), counter)
    if workers < 2 or not isinstance(counter, EstimateCounter):  # a tokenizer counts in this process only
        return [scan_file(p, role, counter, max_tokens, log, progress) for p, role, log in files]
    return scan_parallel(files, max_tokens, workers, progress)


def default_workers(total_bytes: int, counter: TokenCounter) -> int:
    """Processes worth starting: one per core for big files; one with a real tokenizer (it is multi-threaded)."""
    if total_bytes < PARALLEL_MIN_BYTES or not isinstance(counter, EstimateCounter):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(cores, MAX_WORKERS) if cores >= PARALLEL_MIN_CORES else 1


def scan_parallel(files: list[tuple[Path, str, ProblemLog]], max_tokens: int, workers: int,
                  progress: Progress | None) -> list[FileScan]:
    """Scan files in `workers` child processes, token counts by the estimate; the result of a serial scan."""
    total = sum(p.stat().st_size for p, _, _ in files)
    chunk = max(MIN_CHUNK_BYTES, math.ceil(total / workers))
    with tempfile.TemporaryDirectory(prefix="gto-scan-") as tmp:
        tasks = [[index, str(path), start, end, role, max_tokens, os.path.join(tmp, f"{index}-{start}")]
                 for index, (path, role, _) in enumerate(files) for start, end in byte_ranges(path, chunk)]
        # Plain child interpreters, not multiprocessing: nothing of the caller's __main__ runs again, and the
        # fixed hash seed that makes every worker's line hashes comparable goes into their environment only.
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONHASHSEED": "1126",
               "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        running = []
        for w in range(min(workers, len(tasks))):
            task_file = os.path.join(tmp, f"worker-{w}.json")
            Path(task_file).write_text(json.dumps(tasks[w::workers]))
            running.append(subprocess.Popen([sys.executable, "-m", "tools.dataset.scan_workers", task_file], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for proc in running:
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"a dataset scan worker failed: {err.decode(errors='replace')[-2000:]}")
        merged = [FileScan(path=p, role=role, log=log, bytes=p.stat().st_size, max_tokens=max_tokens)
                  for p, role, log in files]
        done = 0
        for task in tasks:
            with open(task[6] + ".pickle", "rb") as result:
                _merge(merged[task[0]], pickle.load(result), task[6] + ".jsonl")
            done += task[3] - task[2]
            if progress is not None:
                progress(done, total)
    return merged


def byte_ranges(path: Path, chunk: int) -> list[tuple[int, int]]:
    """Split a file into ranges of about `chunk` bytes that start at the beginning of a line."""
    size = path.stat().st_size
    bounds = [0]
    with path.open("rb") as stream:
        pos = chunk
        while pos < size:
            stream.seek(pos)
            while True:
                buf = stream.read(1 << 16)
                if not buf:
                    pos = size
                    break
                cut = buf.find(b"\n")
                if cut >= 0:
                    pos = stream.tell() - len(buf) + cut + 1
                    break
            if pos >= size:
                break
            bounds.append(pos)
            pos += chunk
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a] or [(0, 0)]


def _scan_range(path: str, start: int, end: int, role: str, max_tokens: int, out: str) -> None:
    """Worker: scan one byte range, counting lines from its start; problems to OUT.jsonl, counts to OUT.pickle."""
    with open(out + ".jsonl", "wb") as raw, open(path, "rb") as stream, no_cyclic_gc():
        scan = FileScan(path=Path(path), role=role, log=ProblemLog(raw, role, raw=True), bytes=end - start,
                        max_tokens=max_tokens)
        stream.seek(start)
        scan_stream(stream, scan, EstimateCounter(), None, limit=end - start, strip_bom=start == 0)
    scan.log = None
    with open(out + ".pickle", "wb") as result:
        pickle.dump(scan, result, protocol=pickle.HIGHEST_PROTOCOL)


def _merge(into: FileScan, part: FileScan, raw_path: str) -> None:
    offset = into.lines
    with open(raw_path, "rb") as raw:
        into.log.replay(raw, offset)  # type: ignore[union-attr]
    for name in ("examples", "valid_examples", "with_system", "media_parts", "input_tokens", "output_tokens",
                 "input_weight", "output_weight", "over_limit"):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    for hist, merged in ((part.token_hist, into.token_hist), (part.weight_hist, into.weight_hist)):
        for value, n in hist.items():
            merged[value] = merged.get(value, 0) + n
    room = SAMPLES_PER_KIND - len(into.without_system_lines)
    into.without_system_lines.extend(line + offset for line in part.without_system_lines[:max(room, 0)])
    into.hashes.extend(part.hashes)
    into.hash_lines.extend(array("I", map(offset.__add__, part.hash_lines)))
    into.lines = offset + part.lines




if __name__ == "__main__":  # a worker of _scan_parallel: python -m tools.dataset.scan_workers TASKS.json
    # Through the imported module, so that the pickled FileScan and its module are the parent's, not __main__'s.
    from tools.dataset.scan_workers import _scan_range as scan_range

    for _index, *task in json.loads(Path(sys.argv[1]).read_text()):
        scan_range(*task)
