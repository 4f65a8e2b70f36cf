"""split_dataset: hold some examples out of a training file when the user has no validation set, so that
overfitting shows in the eval metrics and the tuned-vs-base comparison runs on prompts the model never saw."""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.dataset.paths import confined, local_file
from tools.errors import ToolError, ToolInput
from tools.registry import tool

# Below this a held-out set is too small to say anything, and the training set loses too much.
MIN_EXAMPLES = 20
# Vertex accepts at most 5,000 validation examples (reference §1).
MAX_VALIDATION = 5000
BOM = b"\xef\xbb\xbf"


class SplitDatasetInput(ToolInput):
    path: str = Field(description="Local JSONL training file (Gemini format, already validated); never modified")
    validation_fraction: float = Field(0.1, ge=0.01, le=0.5, description="Share of examples to hold out")
    max_validation_examples: int = Field(256, ge=1, le=MAX_VALIDATION,
                                         description="Cap on the held-out set (evaluation cost grows with it)")
    seed: int = Field(0, description="Seed of the random choice; the same seed gives the same split")
    output_dir: str | None = Field(None, description="Where to write NAME.train.jsonl and NAME.val.jsonl "
                                   "(default: beside the input)")


class SplitResult(BaseModel):
    train_path: str
    validation_path: str
    train_examples: int
    validation_examples: int
    seed: int
    summary: str


@tool
def split_dataset(args: SplitDatasetInput, ctx: ToolContext) -> SplitResult:
    """Hold out a random validation set from a training JSONL when the user has none: writes NAME.train.jsonl and
    NAME.val.jsonl (same lines, original order within each) and leaves the input untouched. Use the two outputs
    for validate_dataset, upload and create_tuning_job; a validation set enables eval metrics, checkpoint choice on
    held-out loss and compare_models."""
    source = local_file(args.path, "training file", ctx)
    # Two passes over the file, never all of it in memory: count (and check) the examples, then route each line.
    total = sum(1 for _ in _examples(source))
    if total < MIN_EXAMPLES:
        raise ToolError(f"{source} has {total} examples; holding some out needs at least {MIN_EXAMPLES}",
                        "tune on all of them without a validation set, or pass a separate validation file")
    held = min(max(1, round(total * args.validation_fraction)), args.max_validation_examples)
    chosen = set(random.Random(args.seed).sample(range(total), held))  # at most MAX_VALIDATION indices
    out_dir = confined(args.output_dir, ctx, "output folder") if args.output_dir else source.parent
    stem = source.name.removesuffix(".jsonl")
    train_path, val_path = out_dir / f"{stem}.train.jsonl", out_dir / f"{stem}.val.jsonl"
    if source.resolve() in (train_path.resolve(), val_path.resolve()):
        raise ToolError(f"the split would overwrite {source}", "pass another output_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    with _replacing(train_path) as train, _replacing(val_path) as val:
        for index, line in enumerate(_examples(source)):
            (val if index in chosen else train).write(line + b"\n")
    train_n = total - held
    return SplitResult(train_path=str(train_path), validation_path=str(val_path), train_examples=train_n,
                       validation_examples=held, seed=args.seed,
                       summary=f"Held out {held} of {total} examples (seed {args.seed}): {train_n} to train "
                               f"in {train_path.name}, {held} to validate in {val_path.name}.")


def _examples(path: Path) -> Iterator[bytes]:
    """The non-blank lines, stripped, each checked to be one JSON object (a split must not hide a broken line)."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            line = raw.removeprefix(BOM).strip() if number == 1 else raw.strip()
            if not line:
                continue
            try:
                ok = isinstance(json.loads(line.decode("utf-8")), dict)
            except UnicodeDecodeError as exc:
                raise ToolError(f"{path} line {number} is not valid UTF-8 (byte {exc.start})",
                                "run fix_dataset first") from None
            except ValueError:
                ok = False
            if not ok:
                raise ToolError(f"{path} line {number} is not a JSON object",
                                "run validate_dataset and fix_dataset first, then split the repaired copy")
            yield line


@contextmanager
def _replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file written under a temporary name and renamed when complete, so an interrupted split never leaves half a
    dataset under the real name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
