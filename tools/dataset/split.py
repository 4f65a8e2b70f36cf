"""split_dataset: hold some examples out of a training file when the user has no validation set, so that
overfitting shows in the eval metrics and the tuned-vs-base comparison runs on prompts the model never saw."""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.dataset.paths import confined, local_file
from tools.errors import ToolError, ToolInput
from tools.registry import tool

# Below this a held-out set is too small to say anything, and the training set loses too much.
MIN_EXAMPLES = 20
# Vertex accepts at most 5,000 validation examples (reference §1).
MAX_VALIDATION = 5000


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
    lines = _examples(source)
    if len(lines) < MIN_EXAMPLES:
        raise ToolError(f"{source} has {len(lines)} examples; holding some out needs at least {MIN_EXAMPLES}",
                        "tune on all of them without a validation set, or pass a separate validation file")
    held = min(max(1, round(len(lines) * args.validation_fraction)), args.max_validation_examples)
    chosen = set(random.Random(args.seed).sample(range(len(lines)), held))
    out_dir = confined(args.output_dir, ctx, "output folder") if args.output_dir else source.parent
    stem = source.name.removesuffix(".jsonl")
    train_path, val_path = out_dir / f"{stem}.train.jsonl", out_dir / f"{stem}.val.jsonl"
    if source.resolve() in (train_path.resolve(), val_path.resolve()):
        raise ToolError(f"the split would overwrite {source}", "pass another output_dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(train_path, [line for i, line in enumerate(lines) if i not in chosen])
    _write(val_path, [line for i, line in enumerate(lines) if i in chosen])
    train_n = len(lines) - held
    return SplitResult(train_path=str(train_path), validation_path=str(val_path), train_examples=train_n,
                       validation_examples=held, seed=args.seed,
                       summary=f"Held out {held} of {len(lines)} examples (seed {args.seed}): {train_n} to train "
                               f"in {train_path.name}, {held} to validate in {val_path.name}.")


def _examples(path: Path) -> list[str]:
    """The non-blank lines, each checked to be one JSON object (a split must not hide a broken line)."""
    examples = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{path} is not valid UTF-8 (byte {exc.start})", "run fix_dataset first") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            ok = isinstance(json.loads(line), dict)
        except ValueError:
            ok = False
        if not ok:
            raise ToolError(f"{path} line {number} is not a JSON object",
                            "run validate_dataset and fix_dataset first, then split the repaired copy")
        examples.append(line)
    return examples


def _write(path: Path, lines: list[str]) -> None:
    """Write through a temporary file, so an interrupted split never leaves half a dataset under the real name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
