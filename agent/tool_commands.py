"""The tool commands of `gto`: each a thin call through the registry's dispatch(), so a tool behaves the same
here as for the agent and over MCP. Exit codes: 0 done, 1 the tool failed or found a problem, 2 usage error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from agent.approvals import Approver
from agent.console import Console
from agent.views import show_result
from tools.context import ToolContext
from tools.settings import Settings
from tools.registry import ToolResult, dispatch
from tools.workspace import Workspace

commands = typer.Typer()

ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON for scripts.")]
YesFlag = Annotated[bool, typer.Option("--yes", "-y", help="Approve billable actions in advance.")]
BackendOpt = Annotated[str | None, typer.Option(help="local or vertex (default: vertex when Google "
                                                "credentials and a project are configured, else local).")]


def tool_context(yes: bool = False) -> ToolContext:
    """The context a tool command runs in: this workspace, settings from the environment, questions on stderr."""
    console = Console(out=sys.stderr)
    return ToolContext(workspace=Workspace.default(), settings=Settings.from_env(),
                       approve=Approver(console, yes=yes), progress=console.progress)


def invoke(tool: str, arguments: dict[str, Any], as_json: bool = False, yes: bool = False) -> ToolResult:
    """Run one tool for a person or a script; exit 1 with the tool's own explanation when it fails."""
    args = {k: v for k, v in arguments.items() if v is not None}
    result = dispatch(tool, args, tool_context(yes=yes))
    if result.is_error:
        if as_json:
            print(json.dumps({"ok": False, "error": result.content}))
        else:
            Console(out=sys.stderr).error(result.content)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(result.data, indent=2, ensure_ascii=False))
    else:
        show_result(Console(), result)
    return result


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


@commands.command()
def validate(train: ExistingFile,
             validation: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Validation JSONL.")] = None,
             base_model: Annotated[str | None, typer.Option(help="Base model whose limits apply (default: the "
                                                            "catalog's default tuning model).")] = None,
             as_json: JsonFlag = False) -> None:
    """Check a Gemini tuning dataset. Exit 0: tunable (warnings allowed); 1: it has errors; 2: usage error."""
    result = invoke("validate_dataset", {"path": str(train), "validation_path": validation and str(validation),
                                         "base_model": base_model}, as_json)
    _exit(0 if result.data["ok"] else 1)


@commands.command()
def fix(path: ExistingFile, output: Annotated[Path | None, typer.Option(help="Where to write the repaired copy.")] = None,
        as_json: JsonFlag = False) -> None:
    """Write a repaired copy of a dataset (the original is never changed) with a change log."""
    invoke("fix_dataset", {"path": str(path), "output_path": output and str(output)}, as_json)


@commands.command()
def split(path: ExistingFile, fraction: Annotated[float, typer.Option(help="Share of examples to hold out.")] = 0.1,
          seed: int = 0, output_dir: Annotated[Path | None, typer.Option(file_okay=False)] = None,
          as_json: JsonFlag = False) -> None:
    """Hold a random validation set out of a training file: NAME.train.jsonl and NAME.val.jsonl beside it."""
    invoke("split_dataset", {"path": str(path), "validation_fraction": fraction, "seed": seed,
                             "output_dir": output_dir and str(output_dir)}, as_json)


@commands.command()
def estimate(training: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
             base_model: str | None = None, tokens: int | None = None, epochs: int | None = None,
             requests_per_month: int | None = None, as_json: JsonFlag = False) -> None:
    """Estimate training cost and the cost per inference request."""
    invoke("estimate_cost", {"base_model": base_model, "training_path": training and str(training),
                             "training_tokens": tokens, "epochs": epochs, "requests_per_month": requests_per_month},
           as_json)


@commands.command()
def recommend(training: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
              base_model: str | None = None, examples: int | None = None, avg_tokens: float | None = None,
              as_json: JsonFlag = False) -> None:
    """Recommend epochs, adapter size and learning-rate multiplier, each with its reason."""
    invoke("recommend_hyperparameters", {"base_model": base_model, "training_path": training and str(training),
                                         "example_count": examples, "avg_tokens": avg_tokens}, as_json)


@commands.command()
def preflight(project: str | None = None, region: str | None = None, bucket: str | None = None,
              backend: BackendOpt = None, as_json: JsonFlag = False) -> None:
    """Check that everything a Vertex AI tuning job needs is in place (--backend local for this machine).
    Exit 0 when it is, 1 otherwise."""
    result = invoke("check_environment", {"project": project, "region": region, "bucket": bucket,
                                          "backend": backend or "vertex"}, as_json)
    _exit(0 if result.data["ok"] else 1)


@commands.command()
def models(tuned: Annotated[bool, typer.Option("--tuned", help="The tuned models this workspace knows, with their "
                                               "base model's status.")] = False,
           as_json: JsonFlag = False) -> None:
    """List base models with their lifecycle today (current, retiring, blocked, retired), limits and prices."""
    if as_json:
        invoke("list_models", {"tuned": tuned}, as_json=True)
        return
    result = dispatch("list_models", {"tuned": tuned}, tool_context())
    if result.is_error:
        Console(out=sys.stderr).error(result.content)
        raise typer.Exit(1)
    data, console = result.data, Console()
    if tuned:
        console.table(f"Tuned models ({data['on']})", ["job", "base model", "base status", "endpoint", "note"], [
            [r["display_name"] or r["job_id"], r["base_model"], r["base_status"], r["endpoint"] or "", r["note"]]
            for r in data["tuned_models"]])
    else:
        console.table(f"Base models on {data['on']} (catalog as of {data['catalog_as_of']}; --json for limits)",
                      ["model", "status", "retires", "successor", "default", "tune $/1M", "in/out $/1M"], [
            [r["id"], r["status"], r["lifecycle"]["retirement"].replace(" or later", "+"),
             r["lifecycle"]["successor"] or "", ",".join(r["default_for"]), _usd(r["tuning_per_m"]),
             f"{_usd(r['input_per_m'])}/{_usd(r['output_per_m'])}"] for r in data["base_models"]])
    console.print(data["summary"])


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


@commands.command()
def upload(path: ExistingFile, bucket: str | None = None, destination: str | None = None,
           create_bucket: bool = False, backend: BackendOpt = None, yes: YesFlag = False,
           as_json: JsonFlag = False) -> None:
    """Upload a dataset to Cloud Storage (skipped when an identical copy is there)."""
    invoke("upload_to_gcs", {"path": str(path), "bucket": bucket, "destination": destination,
                             "create_bucket": create_bucket, "backend": backend}, as_json, yes=yes)


@commands.command()
def jobs(backend: BackendOpt = None, as_json: JsonFlag = False,
         wide: Annotated[bool, typer.Option("--wide", help="Every column (needs a wide terminal).")] = False) -> None:
    """List tuning jobs with their state and key metrics."""
    if as_json:
        invoke("list_jobs", {"backend": backend}, as_json=True)
        return
    from agent.views import show_jobs

    ctx = tool_context()
    result = dispatch("list_jobs", {"backend": backend} if backend else {}, ctx)  # refreshes the workspace's records
    if result.is_error:
        Console(out=sys.stderr).error(result.content)
    show_jobs(Console(), ctx, wide=wide)


@commands.command()
def status(job: str, as_json: JsonFlag = False) -> None:
    """Show one job: state, progress, checkpoints, endpoint, cost."""
    invoke("get_job", {"job_id": job}, as_json)


@commands.command()
def watch(job: str, timeout: Annotated[float, typer.Option(help="Seconds to watch.")] = 24 * 3600,
          as_json: JsonFlag = False) -> None:
    """Watch a job live until it ends or something needs attention."""
    result = invoke("poll_metrics", {"job_id": job, "timeout_s": timeout, "return_on_anomaly": False}, as_json)
    _exit(0 if result.data["job"]["state"] == "SUCCEEDED" else 1)


@commands.command()
def cancel(job: str, yes: YesFlag = False, as_json: JsonFlag = False) -> None:
    """Cancel a running tuning job (asks first unless --yes)."""
    console = Console(out=sys.stderr)
    if not yes and not console.confirm(f"Cancel tuning job {job}? Training stops (a local job can be resumed from its "
                                       "last checkpoint with gto resume)."):
        console.error("Not cancelled (pass --yes to cancel without asking).")
        raise typer.Exit(1)
    invoke("cancel_job", {"job_id": job}, as_json)


@commands.command()
def resume(job: str, as_json: JsonFlag = False) -> None:
    """Continue a local job that stopped early (a killed trainer) from its last checkpoint to the end."""
    invoke("resume_job", {"job_id": job}, as_json)


@commands.command()
def retune(job: str, base_model: Annotated[str | None, typer.Option(help="New base model (default: the successor of "
                                                                     "the job's base model).")] = None,
           yes: YesFlag = False, as_json: JsonFlag = False) -> None:
    """Tune a past job again on its base model's successor (or --base-model), same data and settings; asks first."""
    invoke("retune_job", {"job_id": job, "base_model": base_model}, as_json, yes=yes)


@commands.command()
def checkpoints(job: str, choose: Annotated[bool, typer.Option(help="Pick the best and make it the default.")] = False,
                as_json: JsonFlag = False) -> None:
    """List a job's checkpoints, or choose the best one."""
    if choose:
        invoke("choose_checkpoint", {"job_id": job}, as_json)
    else:
        invoke("list_checkpoints", {"job_id": job}, as_json)


@commands.command()
def compare(job: str, prompts: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
            max_examples: int = 20, as_json: JsonFlag = False) -> None:
    """Compare the tuned model with its base model on held-out examples."""
    invoke("compare_models", {"job_id": job, "prompts_path": prompts and str(prompts),
                              "max_examples": max_examples}, as_json)


@commands.command("compare-retuned")
def compare_retuned(job: Annotated[str, typer.Argument(help="The re-tuned job.")],
                    previous: Annotated[str | None, typer.Option(help="The job it was re-tuned from (default: the "
                                                                 "one `gto retune` recorded).")] = None,
                    prompts: Annotated[Path | None, typer.Option(exists=True, dir_okay=False)] = None,
                    max_examples: int = 20, as_json: JsonFlag = False) -> None:
    """Compare a re-tuned model with the previous tuned model and its new base on the same held-out examples."""
    invoke("compare_retuned", {"job_id": job, "previous_job_id": previous, "prompts_path": prompts and str(prompts),
                               "max_examples": max_examples}, as_json)


@commands.command()
def report(jobs: Annotated[list[str], typer.Argument(help="One job, or several to compare (a sweep).")],
           as_json: JsonFlag = False) -> None:
    """Write the Markdown report (with plots) for one job or several."""
    invoke("write_report", {"job_ids": jobs}, as_json)
    if len(jobs) == 1 and not as_json:
        from tools.reporting.report import render_summary

        Console().print(render_summary(tool_context(), jobs[0]))


@commands.command("compare-jobs")
def compare_jobs(jobs: Annotated[list[str] | None, typer.Argument(help="Jobs to compare (default: all).")] = None,
                 as_json: JsonFlag = False) -> None:
    """Compare several jobs (a sweep over epochs or adapter sizes) in one table."""
    invoke("compare_jobs", {"job_ids": jobs or None}, as_json)


@commands.command("test-endpoint")
def test_endpoint(job: Annotated[str | None, typer.Argument(help="The job whose endpoint to test.")] = None,
                  endpoint: str | None = None,
                  prompt: Annotated[list[str] | None, typer.Option(help="A prompt to send (repeatable).")] = None,
                  n: int = 3, as_json: JsonFlag = False) -> None:
    """Send sample requests to a tuned endpoint; show answers, latency and outcome."""
    result = invoke("test_endpoint", {"job_id": job, "endpoint": endpoint, "prompts": prompt or None, "n": n}, as_json)
    _exit(0 if result.data["ok"] else 1)
