"""Write the example dataset: shop orders in free text -> one fixed JSON object, as Gemini SFT JSONL.

A pretrained base model has no idea of the JSON keys, the normalisation (quantities as numbers, "medium" -> "M",
singular item names) or when to stop; about a hundred examples teach it. Deterministic for a given seed:

    python examples/make_dataset.py            # examples/data/train.jsonl (120) and val.jsonl (30)

It also writes messy_openai.jsonl: the training examples as a typical export that Gemini tuning refuses (OpenAI
`messages` format, a byte-order mark, CRLF line ends, a blank line, a duplicate, a truncated line, a split user
turn, an empty conversation), for trying `gto fix` and the agent's repair step.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SYSTEM = ("Extract the order as JSON with the keys item, quantity, color, size and city. "
          "Reply with the JSON only.")
ITEMS = {"t-shirt": "t-shirts", "hoodie": "hoodies", "jacket": "jackets", "sweater": "sweaters",
         "polo shirt": "polo shirts", "raincoat": "raincoats", "scarf": "scarves", "vest": "vests"}
COLORS = ["red", "blue", "green", "black", "white", "grey", "navy", "yellow", "orange", "purple"]
SIZES = {"S": ["S", "small"], "M": ["M", "medium"], "L": ["L", "large"], "XL": ["XL", "extra large"]}
CITIES = ["Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Denver", "Leeds", "Porto", "Hanoi", "Quito", "Perth",
          "Austin", "Cork", "Dakar", "Tallinn", "Bergen"]
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
TEMPLATES = [
    "Please send {n} {color} {items} in size {size} to {city}.",
    "I'd like {n} {items}, {color}, size {size}, delivered to {city}.",
    "Could you ship {n} {items} ({color}, {size}) to our {city} office?",
    "The {city} store needs {n} {color} {items}, size {size}.",
    "Order for {city}: {n} x {item}, colour {color}, size {size}.",
    "We need {n} more {color} {items} in {size} for the team in {city}.",
    "Hi! Can I get {n} {items} in {color}? Size {size}. Ship to {city} please.",
    "{city} again: {n} {items}, {size}, in {color}.",
]


def make_example(rng: random.Random) -> tuple[str, dict[str, object]]:
    item = rng.choice(list(ITEMS))
    quantity = rng.randint(1, 12)
    color = rng.choice(COLORS)
    size = rng.choice(list(SIZES))
    city = rng.choice(CITIES)
    spelled = rng.random() < 0.4
    n = NUMBER_WORDS[quantity - 1] if spelled else str(quantity)
    items = ITEMS[item] if quantity > 1 else item
    text = rng.choice(TEMPLATES).format(n=n, color=color, items=items, item=item, size=rng.choice(SIZES[size]),
                                        city=city)
    return text, {"item": item, "quantity": quantity, "color": color, "size": size, "city": city}


def record(text: str, answer: dict[str, object]) -> dict[str, object]:
    return {
        "systemInstruction": {"role": "system", "parts": [{"text": SYSTEM}]},
        "contents": [
            {"role": "user", "parts": [{"text": text}]},
            {"role": "model", "parts": [{"text": json.dumps(answer)}]},
        ],
    }


def make_dataset(train: int, val: int, seed: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(train records, validation records); no sentence appears twice across both."""
    rng = random.Random(seed)
    seen: set[str] = set()
    records = []
    while len(records) < train + val:
        text, answer = make_example(rng)
        if text not in seen:
            seen.add(text)
            records.append(record(text, answer))
    return records[:train], records[train:]


def as_openai(row: dict[str, object]) -> dict[str, object]:
    contents = row["contents"]  # type: ignore[index]
    return {"messages": [{"role": "system", "content": SYSTEM}] + [
        {"role": "assistant" if turn["role"] == "model" else "user", "content": turn["parts"][0]["text"]}
        for turn in contents]}


def messy_lines(rows: list[dict[str, object]]) -> list[str]:
    """The training rows in OpenAI chat format, with the defects real exports have (fixed positions: reproducible)."""
    lines = [json.dumps(as_openai(r)) for r in rows]
    split = as_openai(rows[5])
    user = split["messages"][1]["content"]  # type: ignore[index]
    cut = user.index(" ", len(user) // 2)
    split["messages"][1:2] = [{"role": "user", "content": user[:cut]}, {"role": "user", "content": user[cut + 1:]}]  # type: ignore[index]
    lines[5] = json.dumps(split)
    lines.insert(10, lines[3])            # an exact duplicate
    lines.insert(20, "")                  # a blank line
    lines.insert(30, lines[30][: len(lines[30]) // 2])  # a line cut short by a bad export
    lines.insert(40, json.dumps({"messages": []}))      # an empty conversation
    lines[0] = "\ufeff" + lines[0]       # a byte-order mark
    return [line + ("\r\n" if i % 7 == 0 else "\n") for i, line in enumerate(lines)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=120)
    parser.add_argument("--val", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    train, val = make_dataset(args.train, args.val, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        with open(args.out / name, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        print(f"wrote {len(rows)} examples to {args.out / name}")
    with open(args.out / "messy_openai.jsonl", "w", encoding="utf-8", newline="") as handle:
        handle.writelines(messy_lines(train))
    print(f"wrote a messy OpenAI-format copy of the training set to {args.out / 'messy_openai.jsonl'}")


if __name__ == "__main__":
    main()
