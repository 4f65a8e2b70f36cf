"""One evaluation run shared by compare_models and compare_retuned: the same held-out prompts sent to several named
models, each answer scored against its reference with the same metrics, so that every pair of models can be compared
example by example."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tools.backends.base import GenerateRequest, GenerateResult, TuningBackend
from tools.context import ToolContext
from tools.errors import ToolError
from tools.evaluation.evaluation_cost import output_limit
from tools.evaluation.heldout import Example
from tools.evaluation.inference_spend import check_inference
from tools.evaluation.scoring import (
    MetricComparison, compare_scores, embedder, embedding_similarity, exact_match, rouge_l, token_f1,
)
from tools.workspace import open_private


@dataclass(frozen=True)
class Target:
    name: str  # the key of its answers and scores: "base", "tuned", "previous"
    backend: TuningBackend
    endpoint: str
    priced_as: str  # the base model whose rates it is billed at (a tuned Gemini model is billed as its base)
    # An optional model that fails is left out of the whole run rather than costing every example: a tuned model
    # whose base model retired stops answering altogether, and the others are still worth comparing.
    optional: bool = False


@dataclass
class Trial:
    kept: list[Example]
    texts: dict[str, list[str]]
    latency: dict[str, list[float]]
    scores: dict[str, dict[str, list[float]]]  # metric -> model name -> one score per kept example
    errors: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # optional model name -> why it was left out
    notes: list[str] = field(default_factory=list)

    def compare(self, before: str, after: str) -> dict[str, MetricComparison]:
        """Each metric's paired comparison of two of the models (`after` minus `before`)."""
        return {m: compare_scores(m, s[before], s[after]) for m, s in self.scores.items()}

    def means(self) -> dict[str, dict[str, float]]:
        """metric -> model name -> its mean score over the kept examples."""
        return {m: {name: round(sum(v) / len(v), 4) for name, v in s.items()} for m, s in self.scores.items()}

    def mean_latency_s(self) -> dict[str, float]:
        return {k: round(statistics.mean(v), 3) for k, v in self.latency.items()}

    def write_details(self, path: Path) -> None:
        """Every kept example with each model's answer and scores, one JSON line each (a private file)."""
        with open_private(path, "w") as out:
            for i, ex in enumerate(self.kept):
                out.write(json.dumps({"line": ex.line, "prompt": ex.prompt_text, "reference": ex.reference,
                                      **{name: texts[i] for name, texts in self.texts.items()},
                                      "scores": {m: {k: v[i] for k, v in s.items()}
                                                 for m, s in self.scores.items()}}) + "\n")


def run_trial(ctx: ToolContext, targets: list[Target], examples: list[Example], max_output_tokens: int | None,
              action: str, job_id: str) -> Trial:
    """Ask every target each example at temperature 0 (charged against the budget first), keep the examples every
    required target answered, and score the answers; no example answered at all is an error."""
    # Room for the reference and then some, capped (evaluation_cost.output_limit): a rambling base model must not
    # cost minutes on a CPU or dollars on Vertex AI.
    requests = [GenerateRequest(contents=ex.contents, system_instruction=ex.system_instruction, temperature=0,
                                max_output_tokens=output_limit(max_output_tokens, ex))
                for ex in examples]
    charges = {}
    for key in dict.fromkeys((t.backend.name, t.priced_as) for t in targets):
        count = sum((t.backend.name, t.priced_as) == key for t in targets)
        charges[key] = check_inference(ctx, key[0], key[1], requests * count, action, job_id)
    sent: dict[tuple[str, str], list[GenerateResult]] = {key: [] for key in charges}
    answers: dict[str, list[GenerateResult]] = {t.name: [] for t in targets}
    kept: list[Example] = []
    errors: list[str] = []
    dropped: dict[str, str] = {}
    *others, last = [t.name for t in targets]
    names = f"{', '.join(others)} and {last}" if others else last
    for i, (ex, request) in enumerate(zip(examples, requests)):
        # Minutes on a CPU (every model answers every prompt): the person watching sees it move.
        ctx.report(f"Asking the {names} models: example {i + 1} of {len(examples)}", i, len(examples))
        results: dict[str, GenerateResult] = {}
        try:
            for t in targets:
                if t.name in dropped:
                    continue
                try:
                    results[t.name] = t.backend.generate(t.endpoint, request)
                except (ToolError, OSError) as exc:
                    if not t.optional:
                        raise
                    dropped[t.name] = str(exc)
        except (ToolError, OSError) as exc:
            errors.append(f"line {ex.line}: {exc}")
            continue
        kept.append(ex)
        for t in targets:
            if t.name in results:
                sent[(t.backend.name, t.priced_as)].append(results[t.name])
                answers[t.name].append(results[t.name])
    for key, charge in charges.items():
        if charge is not None:
            charge.done(sent[key])
    if not kept:
        required = sum(not t.optional for t in targets)
        who = "both models" if required == 2 else f"all {required} models"
        raise ToolError(f"No example could be answered by {who} ({len(errors)} failed): {errors[0]}",
                        "Check that the endpoint is up with test_endpoint.")
    answers = {name: results for name, results in answers.items() if name not in dropped}
    texts = {name: [r.text for r in results] for name, results in answers.items()}
    return Trial(kept=kept, texts=texts, latency={k: [r.latency_s for r in v] for k, v in answers.items()},
                 scores=_scores(ctx, kept, texts), errors=errors, dropped=dropped, notes=_notes(errors))


def _scores(ctx: ToolContext, kept: list[Example], texts: dict[str, list[str]]) -> dict[str, dict[str, list[float]]]:
    refs = [ex.reference for ex in kept]
    scores: dict[str, dict[str, list[float]]] = {}
    for metric, fn in (("exact_match", exact_match), ("token_f1", token_f1), ("rouge_l", rouge_l)):
        scores[metric] = {name: [fn(t, r) for t, r in zip(texts[name], refs)] for name in texts}
    similar = {name: embedding_similarity(texts[name], refs) for name in texts}
    if all(v is not None for v in similar.values()):
        scores["embedding_similarity"] = similar  # type: ignore[assignment]
    judge = ctx.judge
    if judge is not None:
        scores["judge"] = {name: [judge(ex.prompt_text, ex.reference, t) for ex, t in zip(kept, texts[name])]
                           for name in texts}
    return scores


def _notes(errors: list[str]) -> list[str]:
    notes = []
    if embedder()[0] is None:  # embedding_similarity was skipped for the same reason
        notes.append(embedder()[1] or "embedding similarity skipped")
    if errors:
        notes.append(f"{len(errors)} examples skipped because a model did not answer; first: {errors[0]}")
    return notes
