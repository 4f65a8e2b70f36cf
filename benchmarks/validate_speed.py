"""Throughput of validate_dataset beside two baselines measured in the same run: orjson parsing each line alone (the
floor) and jsonschema checking each line against an equivalent schema (what a typical validator does).

    python benchmarks/validate_speed.py [--examples 100000] [--rounds 5] [--tokenizer tokenizer.json]

It writes a synthetic dataset (single- and multi-turn, a systemInstruction on some, a little non-ASCII text) to a
temporary folder, runs each contender once per round in turn, and reports the best round of each: on a shared
machine the best round is the one least disturbed by neighbours. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

try:
    import orjson
except ImportError:  # the --scaling mode runs on bare machines
    import json as orjson  # type: ignore[no-redef]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "the of and to in is that for it as was with be by on not this are or from at which but have an they you were "
    "data model answer question return value order invoice customer date total amount please thanks summary report "
    "function list item price city country weather today tomorrow error request result status account email phone"
).split()
ACCENTED = "café naïve façade über Straße señor".split()
CJK = ["数据", "模型", "问题", "答案", "今天", "天气"]
SYSTEMS = ["You are a helpful assistant.", "Answer in JSON with the keys name, date and total.",
           "You are a support agent for an online shop. Be brief and polite."]


def sentence(r: random.Random, lo: int, hi: int) -> str:
    words = [r.choice(WORDS) for _ in range(r.randint(lo, hi))]
    if r.random() < 0.05:
        words[r.randrange(len(words))] = r.choice(ACCENTED + CJK)
    return " ".join(words).capitalize() + r.choice(".?!")


def example(r: random.Random) -> dict:
    """One realistic example: 70% single-turn, else 2-4 exchanges; 40% with a systemInstruction."""
    ex: dict = {}
    if r.random() < 0.4:
        ex["systemInstruction"] = {"role": "system", "parts": [{"text": r.choice(SYSTEMS)}]}
    contents = []
    for _ in range(1 if r.random() < 0.7 else r.randint(2, 4)):
        question = " ".join(sentence(r, 4, 20) for _ in range(r.randint(1, 3)))
        answer = " ".join(sentence(r, 5, 25) for _ in range(r.randint(1, 5)))
        contents += [{"role": "user", "parts": [{"text": question}]}, {"role": "model", "parts": [{"text": answer}]}]
    ex["contents"] = contents
    return ex


def generate(path: Path, n: int, seed: int = 1) -> None:
    r = random.Random(seed)
    with path.open("wb") as f:
        for _ in range(n):
            line = orjson.dumps(example(r))
            f.write((line.encode() if isinstance(line, str) else line) + b"\n")


TEXT_PART = {"type": "object", "additionalProperties": False, "required": ["text"],
             "properties": {"text": {"type": "string", "minLength": 1, "pattern": "\\S"}}}
PART = {"type": "object", "minProperties": 1, "maxProperties": 1, "properties": {
    "text": {"type": "string", "minLength": 1, "pattern": "\\S"},
    "fileData": {"type": "object", "required": ["mimeType", "fileUri"], "additionalProperties": False,
                 "properties": {"mimeType": {"type": "string"}, "fileUri": {"type": "string", "pattern": "^gs://"}}},
    "inlineData": {"type": "object", "required": ["mimeType", "data"], "additionalProperties": False,
                   "properties": {"mimeType": {"type": "string"}, "data": {"type": "string"}}},
    "functionCall": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
                                                                             "args": {"type": "object"}}},
    "functionResponse": {"type": "object", "required": ["name", "response"],
                         "properties": {"name": {"type": "string"}, "response": {"type": "object"}}},
}, "additionalProperties": False}
TURN = {"type": "object", "additionalProperties": False, "required": ["role", "parts"],
        "properties": {"role": {"enum": ["user", "model"]}, "parts": {"type": "array", "minItems": 1, "items": PART}}}
# What JSON Schema can say of a Gemini example: keys, types, roles, first turn user, last turn model. It cannot say
# "alternating", count tokens or find duplicates, so this baseline does less work than validate_dataset.
SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["contents"],
    "properties": {
        "systemInstruction": {"type": "object", "additionalProperties": False, "required": ["parts"],
                              "properties": {"role": {"type": "string"},
                                             "parts": {"type": "array", "minItems": 1, "items": TEXT_PART}}},
        "contents": {"type": "array", "minItems": 1, "items": TURN,
                     "prefixItems": [{"properties": {"role": {"const": "user"}}}],
                     "contains": {"properties": {"role": {"const": "model"}}}},
        "tools": {"type": "array", "items": {"type": "object"}},
    },
}


def floor(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
            n += 1
    return n


def jsonschema_check(path: Path) -> int:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(SCHEMA)
    n = 0
    with path.open("rb") as f:
        for line in f:
            if list(validator.iter_errors(orjson.loads(line))):
                raise AssertionError(f"schema rejects a valid line: {line[:200]!r}")
            n += 1
    return n


def validate_tool(path: Path, ctx) -> int:
    from tools.registry import dispatch

    result = dispatch("validate_dataset", {"path": str(path), "base_model": "gemini-2.5-flash"}, ctx)
    assert not result.is_error and result.data["ok"], result.content
    return result.data["train"]["examples"]


def validate_lib(path: Path, ctx, workers: int) -> int:
    from tools.dataset.validation import validate

    report = validate(str(path), None, "gemini-2.5-flash", ctx, workers=workers)
    assert report.ok
    return report.train.examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokenizer", help="a Gemma 3 tokenizer.json for one more row with exact token counts "
                        "(default: the one the local backend built, if any)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel row (0: skip it)")
    parser.add_argument("--scaling", help="instead: time the scan alone with these worker counts, e.g. 1,2,4,8 "
                        "(needs only the standard library)")
    args = parser.parse_args()
    if args.scaling:
        return scaling(args)

    with tempfile.TemporaryDirectory(prefix="gto-bench-") as tmp:
        os.environ["GTO_HOME"] = str(Path(tmp) / "gto-home")
        os.environ["GTO_TOKENIZER"] = "estimate"
        import tools.dataset.common_shape as common_shape
        import tools.dataset.gemini_format as gemini_format
        from tools.context import ToolContext
        from tools.settings import Settings
        from tools.workspace import Workspace

        ctx = ToolContext(workspace=Workspace(os.environ["GTO_HOME"]), settings=Settings())
        path = Path(tmp) / "train.jsonl"
        t0 = time.perf_counter()
        generate(path, args.examples)
        size = path.stat().st_size
        print(f"generated {args.examples:,} examples, {size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)

        def without_msgspec(p: Path) -> int:
            saved, gemini_format.typed_decode = gemini_format.typed_decode, None
            try:
                return validate_tool(p, ctx)
            finally:
                gemini_format.typed_decode = saved

        contenders: dict[str, Callable[[Path], int]] = {"orjson parse per line (floor)": floor}
        fast = "msgspec" if common_shape.typed_decode is not None else "pure-Python"
        contenders[f"validate_dataset ({fast} fast path)"] = lambda p: validate_tool(p, ctx)
        if common_shape.typed_decode is not None:
            contenders["validate_dataset (pure-Python fast path)"] = without_msgspec
        if args.workers > 1:
            contenders[f"validate_dataset, {args.workers} processes"] = lambda p: validate_lib(p, ctx, args.workers)
        best: dict[str, float] = {name: float("inf") for name in contenders}
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                t = time.perf_counter()
                assert fn(path) == args.examples
                best[name] = min(best[name], time.perf_counter() - t)
        t = time.perf_counter()
        assert jsonschema_check(path) == args.examples
        best["jsonschema per line (Draft 2020-12, 1 round)"] = time.perf_counter() - t
        tokenizer = args.tokenizer or local_tokenizer()
        if tokenizer:
            os.environ["GTO_TOKENIZER"] = str(tokenizer)
            t = time.perf_counter()
            validate_tool(path, ctx)
            best["validate_dataset, Gemma 3 tokenizer (1 round)"] = time.perf_counter() - t
        print_table(best, size, args)


def scaling(args: argparse.Namespace) -> None:
    """Scan time by number of worker processes, without the tool layer (for machines with many cores)."""
    from tools.dataset.problems import ProblemLog
    from tools.dataset.scan_workers import scan_files
    from tools.tokens import EstimateCounter

    counts = [int(n) for n in args.scaling.split(",")]
    with tempfile.TemporaryDirectory(prefix="gto-bench-") as tmp:
        path = Path(tmp) / "train.jsonl"
        generate(path, args.examples)
        size = path.stat().st_size
        floor_s = min(_timed(floor, path) for _ in range(args.rounds))
        best = {n: min(_timed(lambda p: scan_files([(p, "train", ProblemLog(None, "train"))], EstimateCounter(),
                                                   131072, workers=n)[0].examples, path)
                       for _ in range(args.rounds)) for n in counts}
    print(f"{datetime.date.today()} | {_cpu()}, {os.cpu_count()} cores | Python {platform.python_version()} | "
          f"{args.examples:,} examples, {size / 1e6:.1f} MB | "
          f"{orjson.__name__} parse alone {size / 1e6 / floor_s:.0f} MB/s"
          f" | fast path: {'msgspec' if _has('msgspec') else 'pure Python'}\n")
    print("| processes | seconds | MB/s | x floor | x 1 process |\n|---:|---:|---:|---:|---:|")
    for n, seconds in best.items():
        print(f"| {n} | {seconds:.2f} | {size / 1e6 / seconds:.0f} | {floor_s / seconds:.2f} | "
              f"{best[counts[0]] / seconds:.2f} |")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _timed(fn: Callable[[Path], int], path: Path) -> float:
    t = time.perf_counter()
    fn(path)
    return time.perf_counter() - t


def _cpu() -> str:
    info = Path("/proc/cpuinfo")
    if not info.exists():
        return platform.processor() or "?"
    return next((line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                 if line.startswith("model name")), "?")


def local_tokenizer() -> Path | None:
    try:
        from tools.backends.local.weights import tokenizer_json_path
    except ImportError:
        return None
    return tokenizer_json_path(build=False)


def print_table(best: dict[str, float], size: int, args: argparse.Namespace) -> None:
    cpu = _cpu()
    floor_s = best["orjson parse per line (floor)"]
    schema_s = next(v for k, v in best.items() if k.startswith("jsonschema"))
    print(f"{datetime.date.today()} | {cpu}, {os.cpu_count()} cores | Python {platform.python_version()} | "
          f"{args.examples:,} examples, {size / 1e6:.1f} MB | best of {args.rounds} rounds\n")
    print("| contender | seconds | MB/s | examples/s | x floor | x jsonschema |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {size / 1e6 / seconds:.0f} | {args.examples / seconds:,.0f} | "
              f"{floor_s / seconds:.2f} | {schema_s / seconds:.1f} |")


if __name__ == "__main__":
    main()
