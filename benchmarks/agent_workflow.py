"""Model calls and tool-result tokens for one complete tuning workflow, two ways, in the same run:

- the offline planner (the embedded default);
- a scripted Claude: a fixed Claude-like policy (parallel tool calls where the steps are independent) served
  through the real Claude adapter and the anthropic SDK over a mocked Messages API, so every request is built and
  sent exactly as with the real service and its size can be measured.

Both run the real tools on the local backend (real Gemma 3 270M LoRA tuning on the example data) in one workspace;
the second run reuses the first one's job (create_tuning_job is idempotent), so it costs no second training.

    python benchmarks/agent_workflow.py            # about 8 minutes on 2 cores, most of it the training
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "conversation"))  # the Messages API event-stream encoder of the tests

GOAL = "Tune gemma-3-270m on examples/data/train.jsonl, validate with examples/data/val.jsonl"


def results(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Tool name -> parsed results so far, read from the conversation as a model reads it."""
    names: dict[str, str] = {}
    found: dict[str, list[dict[str, Any]]] = {}
    for m in messages:
        for b in m["content"] if isinstance(m["content"], list) else []:
            if b["type"] == "tool_use":
                names[b["id"]] = b["name"]
            elif b["type"] == "tool_result" and not b.get("is_error"):
                found.setdefault(names[b["tool_use_id"]], []).append(json.loads(b["content"]))
    return found


def claude_policy(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]] | str:
    """What a capable model does at each point of the workflow, batching independent calls."""
    r = results(messages)
    train, val, base = "examples/data/train.jsonl", "examples/data/val.jsonl", "gemma-3-270m"
    if "validate_dataset" not in r:
        return [("check_environment", {"backend": "local"}),
                ("validate_dataset", {"path": train, "validation_path": val, "base_model": base})]
    if "recommend_hyperparameters" not in r:
        return [("recommend_hyperparameters", {"base_model": base, "training_path": train}),
                ("estimate_cost", {"base_model": base, "training_path": train})]
    if "upload_to_gcs" not in r:
        return [("upload_to_gcs", {"path": train, "backend": "local"}),
                ("upload_to_gcs", {"path": val, "backend": "local"})]
    if "create_tuning_job" not in r:
        hp = r["recommend_hyperparameters"][-1]
        uris = [u["uri"] for u in r["upload_to_gcs"]]
        return [("create_tuning_job", {"training_dataset_uri": uris[0], "validation_dataset_uri": uris[1],
                                       "base_model": base, "backend": "local", "epochs": hp["epochs"]["value"],
                                       "adapter_size": hp["adapter_size"]["value"],
                                       "learning_rate_multiplier": hp["learning_rate_multiplier"]["value"]})]
    job_id = r["create_tuning_job"][-1]["job"]["job_id"]
    polls = r.get("poll_metrics", [])
    if not polls or polls[-1]["returned_because"] not in ("completed", "failed", "cancelled"):
        return [("poll_metrics", {"job_id": job_id})]
    if "choose_checkpoint" not in r:
        return [("choose_checkpoint", {"job_id": job_id})]
    if "compare_models" not in r:
        return [("compare_models", {"job_id": job_id}), ("test_endpoint", {"job_id": job_id})]
    if "write_report" not in r:
        return [("write_report", {"job_ids": [job_id]})]
    return "Done. The report has the numbers and the code to call the tuned model."


def scripted_claude(request_sizes: list[int]):  # noqa: ANN201 - an agent.models.anthropic.ClaudeModel
    import anthropic
    import httpx2
    from wire import anthropic_sse

    from agent.models.anthropic import ClaudeModel

    counter = iter(range(1, 1000))

    def handler(request: httpx2.Request) -> httpx2.Response:
        request_sizes.append(len(request.content))
        decision = claude_policy(json.loads(request.content)["messages"])
        if isinstance(decision, str):
            content, stop = [{"type": "text", "text": decision}], "end_turn"
        else:
            content = [{"type": "tool_use", "id": f"toolu_bench_{next(counter)}", "name": n, "input": a}
                       for n, a in decision]
            stop = "tool_use"
        body = anthropic_sse(content, stop, input_tokens=len(request.content) // 4)
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = anthropic.Anthropic(api_key="benchmark", http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    return ClaudeModel("claude-sonnet-4-6", client=client)


def measure(label: str, model: Any, workspace: Any, request_sizes: list[int] | None = None) -> dict[str, Any]:
    from agent import run_goal
    from agent.console import Console

    started = time.monotonic()
    result = run_goal(GOAL, model=model, yes=True, workspace=workspace, backend="local",
                      console=Console(out=io.StringIO(), color=False, can_ask=False))
    t = result.totals
    return {"brain": label, "model calls": t.model_calls, "tool calls": t.tool_calls,
            "tool-result tokens": t.tool_result_tokens, "largest result": t.largest_tool_result_tokens,
            "request tokens (sum)": sum(request_sizes) // 4 if request_sizes else None,
            "criteria met": f"{sum(c.holds for c in result.criteria)}/{len(result.criteria)}",
            "wall s": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="workspace folder (default: a temporary one)")
    args = parser.parse_args()
    import os

    os.chdir(ROOT)
    from tools.workspace import Workspace

    workspace = Workspace(args.workspace or tempfile.mkdtemp(prefix="gto-bench-"))
    rows = [measure("offline planner", "planner", workspace)]
    sizes: list[int] = []
    rows.append(measure("scripted Claude (anthropic SDK, mocked API)", scripted_claude(sizes), workspace, sizes))
    columns = list(rows[0])
    print(f"Goal: {GOAL}\nTargets: at most 15 model calls; no tool result over 2,000 tokens (tokens = chars/4)\n")
    print("| " + " | ".join(columns) + " | calls vs planner |")
    print("|" + "---|" * (len(columns) + 1))
    for row in rows:
        ratio = row["model calls"] / rows[0]["model calls"]
        print("| " + " | ".join("" if row[c] is None else str(row[c]) for c in columns) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
