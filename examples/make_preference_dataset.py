"""Write a small preference dataset from the example orders: the same prompts, the tuned answer (bare JSON) preferred
over a chatty answer that wraps the same JSON in prose, in Vertex AI's preference-tuning format.

    python examples/make_preference_dataset.py    # examples/data/preferences.jsonl (40), preferences.val.jsonl (10)

It teaches "reply with the JSON only", the style an SFT model on train.jsonl mostly has already: the classic
two-step recipe (supervised tuning, then preference tuning from its best checkpoint) in miniature.
Deterministic: the pairs come from train.jsonl and val.jsonl in order.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
CHATTY = [
    "Sure! Here is the order as JSON:\n{answer}",
    "Of course. {answer}\nLet me know if anything else is needed.",
    "Here you go:\n```json\n{answer}\n```",
    "The order, extracted: {answer}",
]


def pairs(source: Path, limit: int) -> list[dict]:
    out = []
    with source.open(encoding="utf-8") as lines:
        for k, line in enumerate(lines):
            if len(out) == limit:
                break
            example = json.loads(line)
            prompt, answer = example["contents"][:-1], example["contents"][-1]["parts"][0]["text"]
            rejected = CHATTY[k % len(CHATTY)].format(answer=answer)
            out.append({
                "system_instruction": {"parts": example["systemInstruction"]["parts"]},
                "contents": prompt,
                "completions": [
                    {"score": 1, "completion": {"role": "model", "parts": [{"text": answer}]}},
                    {"score": 0, "completion": {"role": "model", "parts": [{"text": rejected}]}},
                ],
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--val", type=int, default=10)
    args = parser.parse_args()
    for name, source, limit in (("preferences.jsonl", "train.jsonl", args.train),
                                ("preferences.val.jsonl", "val.jsonl", args.val)):
        rows = pairs(DATA / source, limit)
        (DATA / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {DATA / name} ({len(rows)} pairs)")


if __name__ == "__main__":
    main()
