"""`gto`: the command line. The agent commands (`run`, `chat`) live here; the tool commands, each a thin call
through the registry, come from agent.tool_commands. Nothing heavy is imported until a command needs it, so
`gto --help` stays fast."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from agent.console import Console
from agent.spend_command import spend
from agent.tool_commands import JsonFlag, YesFlag, BackendOpt, commands, invoke
from tools.errors import ToolError
from tools.registry import REGISTRY
from tools.secrets import redact_obj

app = typer.Typer(name="gto", help="Gemini tuning orchestrator: validate data, tune on Vertex AI or locally, "
                  "watch, evaluate, serve and report; or let the agent do it all with `gto run`.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(commands)
app.command()(spend)  # agent/spend_command.py: the ledger and the monthly cap


ModelOpt = Annotated[str | None, typer.Option(help="claude[:MODEL], gemini[:MODEL] or planner (default: Claude "
                                              "with ANTHROPIC_API_KEY, else Gemini when configured, else planner).")]
ResumeFlag = Annotated[bool, typer.Option("--resume", help="Continue the latest saved run (or --run-id).")]
RunIdOpt = Annotated[str | None, typer.Option(help="Continue this saved run (implies --resume).")]
# Limits apply per request: the whole of `gto run`, each message in `gto chat`.
MaxCallsOpt = Annotated[int, typer.Option(help="Most model calls (in chat: per message).")]
BudgetOpt = Annotated[float | None, typer.Option(
    help="Most USD to spend on everything: the brain's tokens, tuning, evaluation and endpoint calls (in chat: per "
         "message; default GTO_BUDGET, else no budget for billable actions, which are asked for, and $5 of brain "
         "usage).", min=0)]
TargetOpt = Annotated[str | None, typer.Option(
    help="What the base model must reach to make tuning unnecessary, e.g. \"exact_match>=0.9\" (default GTO_TARGET).")]
TimeoutOpt = Annotated[float, typer.Option(help="Most minutes (in chat: per message).")]
MaxTokensOpt = Annotated[int, typer.Option(help="Most model tokens, input and output (in chat: per message).")]


@app.command()
def run(goal: Annotated[str | None, typer.Argument(help="What to tune, in plain words.")] = None,
        yes: YesFlag = False, model: ModelOpt = None, backend: BackendOpt = None, as_json: JsonFlag = False,
        resume: ResumeFlag = False, run_id: RunIdOpt = None,
        project: str | None = None, region: str | None = None, bucket: str | None = None,
        max_calls: MaxCallsOpt = 40, budget: BudgetOpt = None, timeout: TimeoutOpt = 360,
        max_tokens: MaxTokensOpt = 2_000_000, target: TargetOpt = None) -> None:
    """Run the whole tuning workflow for one goal. Exit 0 when every success criterion holds."""
    from agent.runs import CONTINUE, drive

    resume = resume or run_id is not None
    if not goal and not resume:
        Console(out=sys.stderr).error("Give a goal, e.g. gto run \"Tune gemma-3-270m on data/train.jsonl\", "
                                      "or --resume to continue a saved run.")
        raise typer.Exit(2)
    console = Console(out=sys.stderr if as_json else sys.stdout)
    agent = _open(console, model=model, backend=backend, yes=yes, goal=goal or "",
                  resume=(run_id or "latest") if resume else None, project=project, region=region, bucket=bucket,
                  limits=_limits(max_calls, budget, timeout, max_tokens), budget=budget, target=target)
    result = drive(agent, goal or CONTINUE, console)
    if as_json:
        print(json.dumps(redact_obj(result.as_dict()), indent=2, ensure_ascii=False))
    else:
        console.print()
        if result.job_id:  # without a job the summary is the criteria table below
            console.print(result.summary)
        console.criteria(result.criteria)
        console.print(f"Transcript: {result.transcript}")
    raise typer.Exit(0 if result.ok else 130 if result.status == "interrupted" else 1)


@app.command()
def chat(model: ModelOpt = None, backend: BackendOpt = None, yes: YesFlag = False, resume: ResumeFlag = False,
         run_id: RunIdOpt = None, project: str | None = None, region: str | None = None,
         bucket: str | None = None, max_calls: MaxCallsOpt = 40, budget: BudgetOpt = None, timeout: TimeoutOpt = 360,
         max_tokens: MaxTokensOpt = 2_000_000, target: TargetOpt = None) -> None:
    """Talk to the agent: it tunes with you, asks before spending, and answers /status, /jobs and /help."""
    from agent.repl import Repl

    console = Console()
    resume = resume or run_id is not None
    agent = _open(console, model=model, backend=backend, yes=yes, interactive=True, goal="(chat)",
                  resume=(run_id or "latest") if resume else None, project=project, region=region, bucket=bucket,
                  limits=_limits(max_calls, budget, timeout, max_tokens), budget=budget, target=target)
    raise typer.Exit(Repl(agent, console).loop())


def _limits(max_calls: int, budget: float | None, timeout: float, max_tokens: int):  # noqa: ANN202 - agent.loop.Limits
    from agent.loop import Limits

    cost = {"max_cost_usd": budget} if budget is not None else {}
    return Limits(max_model_calls=max_calls, max_seconds=timeout * 60, max_tokens=max_tokens, **cost)


def _open(console: Console, **options: object):  # noqa: ANN202 - returns agent.loop.Agent, imported lazily
    from agent.models import ModelUnavailable
    from agent.runs import open_agent
    from tools.errors import ToolError

    try:
        return open_agent(console=console, **options)  # type: ignore[arg-type]
    except (ModelUnavailable, ToolError, FileNotFoundError, ValueError) as exc:
        console.error(str(exc))
        raise typer.Exit(2) from None


@app.command()
def serve(model: Annotated[str, typer.Argument(help="A local job id, job@checkpoint, or gemma-3-270m for the base.")],
          host: str = "127.0.0.1",
          port: Annotated[int | None, typer.Option(help="Port to listen on (0: any free port; default 8765).")]
          = None) -> None:
    """Serve a local model over HTTP with the Gemini generateContent API shape."""
    from tools.backends.local import serve as run_server
    from tools.reporting.deployment import LOCAL_PORT

    try:
        run_server(model, host=host, port=LOCAL_PORT if port is None else port)
    except ToolError as exc:
        Console(out=sys.stderr).error(exc.message + (f"\n  {exc.hint}" if exc.hint else ""))
        raise typer.Exit(2) from None


@app.command("tools")
def list_tools(as_json: JsonFlag = False) -> None:
    """List every tool the agent, the CLI and the MCP server share."""
    tools = REGISTRY.all()
    if as_json:
        print(json.dumps([t.anthropic_schema() for t in tools], indent=2))
        return
    Console().table("Tools", ["name", "description"], [[t.name, t.description] for t in tools])


@app.command()
def call(tool: str, arguments: Annotated[str, typer.Argument(help="JSON object of arguments.")] = "{}",
         yes: YesFlag = False) -> None:
    """Call any tool directly with JSON arguments and print its JSON result."""
    try:
        args = json.loads(arguments)
    except ValueError as exc:
        Console(out=sys.stderr).error(f"ARGUMENTS is not valid JSON: {exc}")
        raise typer.Exit(2) from None
    if not isinstance(args, dict):
        Console(out=sys.stderr).error(f"ARGUMENTS must be a JSON object of named arguments, e.g. "
                                      f"'{{\"path\": \"data/train.jsonl\"}}', not a {type(args).__name__}.")
        raise typer.Exit(2)
    invoke(tool, args, as_json=True, yes=yes)


@app.command()
def mcp() -> None:
    """Serve every tool over MCP on stdio (for Claude Code and other MCP clients)."""
    from agent.mcp_server import main as serve_mcp

    serve_mcp()


def main() -> None:
    try:
        app()
    except ToolError as exc:  # a setting no command could start with (GTO_BUDGET=abc): one line, not a traceback
        Console(out=sys.stderr).error(str(exc))
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
