"""Speed of the local DPO trainer beside TRL's DPOTrainer, on the same preference pairs, measured in the same run.

Same model (the real Gemma 3 270M from the weights cache), same pairs (examples/data/preferences.jsonl, rendered by
the same chat format), same LoRA (rank 8, alpha 16, all linear layers, same seed), batch 4 pairs, AdamW with linear
decay and clipping at 1.0, beta 0.1, fp32, the same number of steps. Each variant runs in its own process, so each
peak RSS is its own. TRL runs with its defaults for a peft model: the reference is the model with the adapter
disabled, computed every step, and the loss comes from full logits. Tokens per second count the same tokens for
both (prompt + chosen and prompt + rejected, as our chat format renders them). Preference accuracy afterwards is
measured the same way for both: on examples/data/preferences.val.jsonl, against the base model as reference.

    python benchmarks/local_dpo_speed.py [--epochs 1] [--lr 5e-4] [--seeds 1] [--precomputed]
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
BATCH, RANK, BETA = 4, 8, 0.1


def pairs(tokenizer: Any, name: str) -> tuple[list[Any], list[dict[str, str]]]:
    """(encoded pairs for our trainer, the same pairs as text rows for TRL)."""
    from tools.backends.local.chat_format import ChatFormat
    from tools.backends.local.dpo import encode_pair, read_pairs

    fmt = ChatFormat(tokenizer)
    encoded, rows = [], []
    for prompt, chosen, rejected in read_pairs(DATA / name):
        encoded.append(encode_pair(fmt, prompt, chosen, rejected, 2048))
        prompt_ids = fmt.encode_prompt(prompt)[1:]  # TRL's tokenizer call adds <bos> itself
        end = "<end_of_turn>"
        rows.append({"prompt": tokenizer.decode(prompt_ids), "chosen": chosen + end, "rejected": rejected + end})
    return encoded, rows


class Quiet:
    def metrics(self, name: str, points: list[Any]) -> None: ...

    def progress(self, epoch: int, step: int) -> None: ...

    def checkpoint(self, model: Any, epoch: int, step: int) -> None: ...


def run_ours(model: Any, train: list[Any], seed: int, epochs: int, lr: float) -> tuple[float, int]:
    from tools.backends.local.dpo import train_dpo
    from tools.backends.local.trainer import TrainConfig

    started = time.perf_counter()
    result = train_dpo(model, train, [], TrainConfig(epochs=epochs, rank=RANK, learning_rate=lr, batch_size=BATCH,
                                                     seed=seed), Quiet(), pad_id=0, beta=BETA)
    return time.perf_counter() - started, result.steps


def run_trl(model: Any, rows: list[dict[str, str]], tokenizer: Any, seed: int, epochs: int, lr: float,
            precompute: bool) -> tuple[float, int]:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    tokenizer.eos_token = "<end_of_turn>"  # the completions end the turn as ours do; no extra <eos> appended
    args = DPOConfig(
        output_dir=str(ROOT / "benchmarks" / "out" / "trl-dpo"), per_device_train_batch_size=BATCH,
        num_train_epochs=epochs, learning_rate=lr, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=1.0, optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[], seed=seed,
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, beta=BETA, max_length=2048,
        precompute_ref_log_probs=precompute, dataset_num_proc=None,
    )
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, trainer.state.global_step


def child(variant: str, seed: int, epochs: int, lr: float) -> None:
    """Train one variant and print one JSON line of figures."""
    import torch

    from tools.backends.local import weights
    from tools.backends.local.dpo import evaluate_pairs, reference_logps
    from tools.backends.local.trainer import add_lora

    torch.manual_seed(seed)
    model, tokenizer = weights.load_model("gemma-3-270m")
    train, rows = pairs(tokenizer, "preferences.jsonl")
    val, _ = pairs(tokenizer, "preferences.val.jsonl")
    model = add_lora(model, RANK, seed)
    if variant == "ours":
        seconds, steps = run_ours(model, train, seed, epochs, lr)
    else:
        seconds, steps = run_trl(model, rows, tokenizer, seed, epochs, lr, precompute=variant == "trl-precomputed")
    with model.disable_adapter():
        ref = reference_logps(model, val, BATCH, 0, 256)
    loss, accuracy, margin = evaluate_pairs(model, val, ref, BETA, BATCH, 0, 256)
    tokens = sum(p.length for p in train) * epochs
    print(json.dumps({
        "variant": variant, "seed": seed, "steps": steps, "tokens": tokens, "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "eval_dpo_loss": round(loss, 4), "eval_pref_accuracy": round(accuracy, 3), "eval_margin": round(margin, 4),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("ours", "trl", "trl-precomputed"), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, default=1, help="alternating runs of each variant, one per seed")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--precomputed", action="store_true",
                        help="also run TRL with precompute_ref_log_probs=True (reference once, as ours)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        child(args.child, args.seed, args.epochs, args.lr)
        return
    variants = ["trl", "ours"] + (["trl-precomputed"] if args.precomputed else [])
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    load = os.getloadavg()[0]
    for seed in range(args.seeds):
        for variant in variants:
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--seed", str(seed), "--epochs",
                                  str(args.epochs), "--lr", str(args.lr)], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"{variant} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, load average at start "
          f"{load:.2f}; {args.epochs} epoch(s), lr {args.lr}, beta {BETA}, batch {BATCH} pairs; speed = best run, "
          "quality = mean over seeds")
    print("| variant | steps | tokens/s | train s | peak RSS GB | eval DPO loss | eval pref. accuracy | eval margin |")
    print("|---|---|---|---|---|---|---|---|")
    names = {"trl": "TRL DPOTrainer (defaults, peft)", "trl-precomputed": "TRL, precompute_ref_log_probs",
             "ours": "gto local DPO"}
    summary = {}
    for key in variants:
        rs = runs[key]
        best = max(rs, key=lambda r: r["tokens_per_s"])
        mean = {k: sum(r[k] for r in rs) / len(rs) for k in ("eval_dpo_loss", "eval_pref_accuracy", "eval_margin")}
        summary[key] = best
        print(f"| {names[key]} | {best['steps']} | {best['tokens_per_s']} | {best['seconds']} | {best['peak_rss_gb']} "
              f"| {mean['eval_dpo_loss']:.4f} | {mean['eval_pref_accuracy']:.3f} | {mean['eval_margin']:.4f} |")
    for key in variants[:1] + variants[2:]:
        print(f"speed-up over {names[key]}: {summary['ours']['tokens_per_s'] / summary[key]['tokens_per_s']:.2f}x "
              f"tokens/s; peak RSS {summary['ours']['peak_rss_gb']} vs {summary[key]['peak_rss_gb']} GB")
    print("all runs:", json.dumps(runs))


if __name__ == "__main__":
    main()
