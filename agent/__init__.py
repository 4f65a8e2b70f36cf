"""The conversation that drives Gemini tuning. Embed it in a few lines:

    from agent import run_goal
    result = run_goal("Tune gemma-3-270m on examples/data/train.jsonl, validate with examples/data/val.jsonl", yes=True)
    print(result.summary)
"""

from agent.criteria import Criterion
from agent.loop import Agent, Limits
from agent.runs import RunResult, open_agent, run_goal

__all__ = ["Agent", "Criterion", "Limits", "RunResult", "open_agent", "run_goal"]
