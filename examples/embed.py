"""Run the whole tuning workflow from Python: the embedding API in a few lines.

    python examples/embed.py            # local: Gemma 3 270M on the example data, no account needed
"""

from agent import run_goal

result = run_goal("Tune gemma-3-270m on examples/data/train.jsonl, validate with examples/data/val.jsonl", yes=True)
print(result.summary)
print("every success criterion holds" if result.ok else [c.label for c in result.criteria if not c.holds])
