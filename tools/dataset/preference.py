"""Preference datasets: the scan validate_dataset runs on Vertex's preference format (line numbers and token counts;
the file rules, duplicates and leakage are validate_dataset's own, as for supervised data), and
convert_preference_dataset, which writes Vertex's format from {prompt, chosen, rejected} or OpenAI preference JSONL
and makes the safe repairs."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from pydantic import BaseModel, Field

from tools.context import ToolContext
from tools.dataset.gemini_format import BOM, parse_line
from tools.dataset.paths import confined, local_file
from tools.dataset.preference_format import check_preference, is_preference, to_vertex
from tools.dataset.problems import ERROR, KINDS, ProblemLog
from tools.dataset.scan import FileScan
from tools.errors import ToolError, ToolInput
from tools.registry import tool
from tools.tokens import TokenCounter

SAMPLE_CHANGES = 10


def looks_like_preference(path: Path) -> bool:
    """Whether the first non-blank line of a file is a preference example (any format convert reads)."""
    with path.open("rb") as stream:
        for raw in stream:
            if raw.strip():
                obj, problem = parse_line(raw.removeprefix(BOM).strip())
                return problem is None and is_preference(obj)
    return False


def scan_preference(path: Path, role: str, counter: TokenCounter, max_tokens: int, log: ProblemLog) -> FileScan:
    """One pass over a preference file. Tokens per example are the prompt plus both completions (both are run
    through the model in training; our reading of the billing, unconfirmed); the limit is the prompt plus the
    longer completion, as the page says."""
    # Billable tokens are capped at the scan's limit; an example's total may pass the per-example limit legitimately.
    scan = FileScan(path=path, role=role, log=log, bytes=path.stat().st_size, max_tokens=2 * max_tokens)
    with path.open("rb") as stream:
        for lineno, raw in enumerate(stream, 1):
            raw = (raw.removeprefix(BOM) if lineno == 1 else raw).strip()
            scan.lines = lineno
            if not raw:
                continue
            scan.examples += 1
            obj, problem = parse_line(raw)
            problems, prompt, preferred, dispreferred, has_system, media = (
                ([problem], [], [], [], False, 0) if problem else check_preference(obj))
            canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) if problem is None else raw
            scan.hashes.append(hash(canonical))
            scan.hash_lines.append(lineno)
            bad = False
            for kind, message in problems or []:
                log.add(lineno, kind, message)
                bad = bad or KINDS[kind][0] == ERROR
            if has_system:
                scan.with_system += 1
            elif len(scan.without_system_lines) < 3:
                scan.without_system_lines.append(lineno)
            scan.media_parts += media
            counts = counter.count_many(prompt + preferred + dispreferred)
            n_prompt, n_preferred = sum(counts[:len(prompt)]), sum(counts[len(prompt):len(prompt) + len(preferred)])
            n_dispreferred = sum(counts[len(prompt) + len(preferred):])
            total = n_prompt + n_preferred + n_dispreferred
            scan.token_hist[total] = scan.token_hist.get(total, 0) + 1
            scan.input_tokens += n_prompt
            scan.output_tokens += n_preferred
            longest = n_prompt + max(n_preferred, n_dispreferred)
            if longest > max_tokens:
                scan.over_limit += 1
                about = "~" if counter.estimated else ""
                log.add(lineno, "tokens_over_limit", f"prompt + longer completion is {about}{longest:,} tokens; "
                                                     f"the limit is {max_tokens:,}")
                bad = True
            if not bad:
                scan.valid_examples += 1
    return scan


class ConvertPreferenceInput(ToolInput):
    path: str = Field(description="preference JSONL: {prompt, chosen, rejected}, OpenAI preference, or Vertex's")
    output_path: str | None = Field(None, description="where to write; default <name>.vertex.jsonl beside it")


class ConvertPreferenceOutput(BaseModel):
    output_path: str
    examples: int = Field(description="lines written")
    converted: int = Field(description="lines changed on the way (converted or repaired)")
    rejected: int = Field(description="lines that could not be converted, written to rejected_path")
    rejected_path: str | None = None
    changes: dict[str, int] = Field(default_factory=dict, description="kind of change -> lines")
    samples: list[str] = Field(default_factory=list, description="the first few changes and rejections, by line")
    next_step: str


@tool
def convert_preference_dataset(args: ConvertPreferenceInput, ctx: ToolContext) -> ConvertPreferenceOutput:
    """Write a preference dataset in Vertex AI's preference-tuning format (contents, system_instruction,
    completions with scores 1 and 0) from {prompt, chosen, rejected} JSONL or OpenAI's preference format, and make
    the safe repairs to lines already in Vertex's format. Lines that cannot be converted go, with their line
    numbers, to a separate file. Validate the output with validate_dataset(method='preference')."""
    source = local_file(args.path, "preference dataset", ctx)
    target = confined(args.output_path, ctx, "output path") if args.output_path else source.with_suffix(".vertex.jsonl")
    if target.resolve() == source.resolve():
        raise ToolError("The output would overwrite the input.", "Pass a different output_path.")
    rejected_path = target.with_suffix(".rejected.jsonl")
    written = converted = rejected = 0
    changes: dict[str, int] = {}
    samples: list[str] = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as stream, target.open("wb") as out, rejected_path.open("wb") as bad:
        for lineno, raw in enumerate(stream, 1):
            raw = (raw.removeprefix(BOM) if lineno == 1 else raw).strip()
            if not raw:
                continue
            obj, problem = parse_line(raw)
            line_changes: list[str] = []
            result = f"{problem.kind}: {problem.message}" if problem else to_vertex(obj, line_changes)
            if isinstance(result, str):
                rejected += 1
                bad.write(json.dumps({"line": lineno, "reason": result, "text": raw.decode("utf-8", "replace")},
                                     ensure_ascii=False).encode() + b"\n")
                if len(samples) < SAMPLE_CHANGES:
                    samples.append(f"line {lineno}: not converted ({result})")
                continue
            out.write(orjson.dumps(result) + b"\n")
            written += 1
            if line_changes:
                converted += 1
                for change in line_changes:
                    kind = change.split(":", 1)[0]
                    changes[kind] = changes.get(kind, 0) + 1
                if len(samples) < SAMPLE_CHANGES:
                    samples.append(f"line {lineno}: {'; '.join(line_changes)}")
    if not rejected:
        rejected_path.unlink()
    step = (f"validate_dataset(path='{target}', method='preference')" if written
            else "Nothing was converted; see rejected_path for why.")
    return ConvertPreferenceOutput(output_path=str(target), examples=written, converted=converted, rejected=rejected,
                                   rejected_path=str(rejected_path) if rejected else None, changes=changes,
                                   samples=samples, next_step=step)
