"""Training speed of the local LoRA trainer beside a plain transformers Trainer + peft baseline.

Same model (the real Gemma 3 270M from the weights cache), same data (examples/data, rendered by the same chat
format), same LoRA (rank 8, alpha 16, all linear layers, same seeds), batch size 4, AdamW at 1e-3 with linear
decay and clipping at 1.0, fp32, one epoch each. Each variant runs in its own process, so each peak RSS is its own.
The baseline pads each batch to its longest example (DataCollatorForSeq2Seq) and computes the loss from full
logits, as the usual recipe does; --padded adds the plainer recipe that pads every example to the dataset's
longest. With --workflow it also times the local equivalent of the README's main command:
create a job on the examples (3 epochs, validation each epoch), wait for it, and generate with the tuned and the
base model on ten validation prompts.

    python benchmarks/local_train_speed.py [--seeds 3] [--padded] [--workflow]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "examples" / "data"
BATCH, RANK, LR = 4, 8, 1e-3


def encoded_examples(tokenizer: Any, name: str) -> list[Any]:
    from tools.backends.local.chat_format import ChatFormat, read_jsonl

    fmt = ChatFormat(tokenizer)
    return [fmt.encode_example(c, 2048) for c in read_jsonl(DATA / name)]


class Quiet:
    def metrics(self, name: str, points: list[Any]) -> None: ...

    def progress(self, epoch: int, step: int) -> None: ...

    def checkpoint(self, model: Any, epoch: int, step: int) -> None: ...


def run_ours(model: Any, train: list[Any], seed: int) -> tuple[float, list[float]]:
    from tools.backends.local.trainer import TrainConfig, train as train_loop

    started = time.perf_counter()
    result = train_loop(model, train, [], TrainConfig(epochs=1, rank=RANK, learning_rate=LR, batch_size=BATCH,
                                                      seed=seed), Quiet(), pad_id=0)
    return time.perf_counter() - started, result.losses


def run_baseline(model: Any, train: list[Any], tokenizer: Any, seed: int,
                 pad_to_longest: bool = False) -> tuple[float, list[float]]:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    rows = [{"input_ids": e.input_ids, "labels": e.labels, "attention_mask": [1] * len(e.input_ids)} for e in train]
    args = TrainingArguments(
        output_dir=str(ROOT / "benchmarks" / "out" / "hf-trainer"), per_device_train_batch_size=BATCH,
        num_train_epochs=1, learning_rate=LR, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=1.0, optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[], seed=seed,
        use_cpu=True, dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
    )
    longest = max(len(e.input_ids) for e in train)
    collator = DataCollatorForSeq2Seq(tokenizer, padding="max_length" if pad_to_longest else True,
                                      max_length=longest if pad_to_longest else None, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return seconds, [e["loss"] for e in trainer.state.log_history if "loss" in e]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(variant: str, seed: int) -> None:
    """Train one variant with one seed and print one JSON line of figures."""
    import torch

    from tools.backends.local import weights
    from tools.backends.local.trainer import add_lora, evaluate

    torch.manual_seed(seed)
    model, tokenizer = weights.load_model("gemma-3-270m")
    train, val = encoded_examples(tokenizer, "train.jsonl"), encoded_examples(tokenizer, "val.jsonl")
    model = add_lora(model, RANK, seed)
    cpu_before = cpu_seconds()
    if variant == "ours":
        seconds, losses = run_ours(model, train, seed)
    else:
        seconds, losses = run_baseline(model, train, tokenizer, seed, pad_to_longest=variant == "padded")
    cpu = cpu_seconds() - cpu_before
    eval_loss, eval_accuracy = evaluate(model, val, BATCH, 0, 256)
    tokens = sum(len(e.input_ids) for e in train)
    print(json.dumps({
        "variant": variant, "seed": seed, "steps": len(losses), "tokens": tokens, "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1), "cpu_s": round(cpu, 1),
        "tokens_per_cpu_s": round(tokens / cpu, 1), "peak_rss_gb": round(resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1e6, 2), "last10_train_loss": round(sum(losses[-10:]) / 10, 4),
        "eval_loss": round(eval_loss, 4), "eval_accuracy": round(eval_accuracy, 4),
    }))


def workflow() -> dict[str, Any]:
    """The README's main command done locally: tune on the examples, wait, compare tuned and base outputs."""
    import tempfile

    from tools.backends.base import GenerateRequest, TuningSpec
    from tools.backends.local import LocalBackend
    from tools.settings import Settings
    from tools.workspace import Workspace

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        backend = LocalBackend(Workspace(home), Settings())
        info = backend.create_job(TuningSpec(base_model="gemma-3-270m", client_request_id="benchmark",
                                             training_dataset_uri=str(DATA / "train.jsonl"),
                                             validation_dataset_uri=str(DATA / "val.jsonl")))
        while not info.state.ended:
            time.sleep(5)
            info = backend.get_job(info.job_id)
        trained = time.perf_counter() - started
        if info.error:
            raise SystemExit(info.error)
        rows = [json.loads(line) for line in (DATA / "val.jsonl").read_text().splitlines()[:10]]
        exact = {"tuned": 0, "base": 0}
        for row in rows:
            request = GenerateRequest(contents=row["contents"][:1], max_output_tokens=64, temperature=0,
                                      system_instruction=row["systemInstruction"]["parts"][0]["text"])
            want = json.loads(row["contents"][1]["parts"][0]["text"])
            for name, target in (("tuned", info.endpoint), ("base", backend.base_target("gemma-3-270m"))):
                try:
                    exact[name] += json.loads(backend.generate(target, request).text) == want
                except json.JSONDecodeError:
                    pass
        return {"train_wall_s": round(trained), "total_wall_s": round(time.perf_counter() - started),
                "tuned_exact": f"{exact['tuned']}/10", "base_exact": f"{exact['base']}/10",
                "steps": info.total_steps, "epochs": info.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("ours", "baseline", "padded"), help=argparse.SUPPRESS)
    parser.add_argument("--workflow", action="store_true", help="also time the local tune-wait-compare workflow")
    parser.add_argument("--seeds", type=int, default=3, help="alternating runs of each variant, one per seed")
    parser.add_argument("--padded", action="store_true", help="also run the Trainer padded to the longest example")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        child(args.child, args.seed)
        return
    runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "ours": [], **({"padded": []} if args.padded else {})}
    load = os.getloadavg()[0]
    for seed in range(args.seeds):  # alternate, so a busy spell on a shared machine hits both alike
        for variant in runs:
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--seed", str(seed)],
                                 capture_output=True, text=True, check=True).stdout
            runs[variant].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, load average at start "
          f"{load:.2f}; seeds 0-{args.seeds - 1}: speed = best run, losses = mean over seeds")
    print("| variant | steps | tokens/s | train s | tokens/CPU-s | peak RSS GB | last-10 train loss | eval loss |"
          " eval acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    names = {"baseline": "transformers Trainer + peft", "padded": "same, padded to the dataset's longest",
             "ours": "gto local trainer"}
    for key, name in names.items():
        if key not in runs:
            continue
        rs = runs[key]
        best = max(rs, key=lambda r: r["tokens_per_s"])
        mean = {k: sum(r[k] for r in rs) / len(rs) for k in ("last10_train_loss", "eval_loss", "eval_accuracy")}
        summary[key] = {**best, **mean}
        print(f"| {name} | {best['steps']} | {best['tokens_per_s']} | {best['seconds']} | {best['tokens_per_cpu_s']} "
              f"| {best['peak_rss_gb']} | {mean['last10_train_loss']:.4f} | {mean['eval_loss']:.4f} | "
              f"{mean['eval_accuracy']:.4f} |")
    ours, base = summary["ours"], summary["baseline"]
    print(f"speed-up: {ours['tokens_per_s'] / base['tokens_per_s']:.2f}x tokens/s (wall), "
          f"{ours['tokens_per_cpu_s'] / base['tokens_per_cpu_s']:.2f}x tokens per CPU-second")
    mean_speed = {k: sum(r["tokens_per_s"] for r in rs) / len(rs) for k, rs in runs.items()}
    print(f"speed-up by the mean of the runs: {mean_speed['ours'] / mean_speed['baseline']:.2f}x")
    if "padded" in summary:
        print(f"speed-up over the padded recipe: {ours['tokens_per_s'] / summary['padded']['tokens_per_s']:.2f}x")
    print("all runs:", json.dumps(runs))
    if args.workflow:
        print("workflow:", json.dumps(workflow()))


if __name__ == "__main__":
    main()
