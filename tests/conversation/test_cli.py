"""The command line: usage errors exit 2, `gto --help` stays light, and commands go through the registry."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()
# google.cloud itself is a namespace package that google-cloud-aiplatform's .pth file imports at start-up.
HEAVY = ("torch", "transformers", "peft", "anthropic", "google.genai", "google.cloud.storage",
         "google.cloud.aiplatform", "google.auth", "vertexai", "mcp", "matplotlib")


def test_help_imports_no_heavy_sdk():
    code = (
        "import sys\n"
        "from agent.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {HEAVY!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_usage_errors_exit_2(tmp_path):
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.jsonl")]).exit_code == 2
    assert runner.invoke(app, ["validate", "--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["run"]).exit_code == 2
    bad = runner.invoke(app, ["call", "validate_dataset", "{not json"])
    assert bad.exit_code == 2


def test_unknown_tool_through_call_exits_1_with_the_reason():
    result = runner.invoke(app, ["call", "no_such_tool", "{}"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"].startswith("Unknown tool 'no_such_tool'")


def test_tools_lists_the_registry_as_json():
    result = runner.invoke(app, ["tools", "--json"])
    assert result.exit_code == 0
    names = {t["name"] for t in json.loads(result.stdout)}
    assert {"validate_dataset", "estimate_cost"} <= names


def test_call_needs_a_json_object():
    result = runner.invoke(app, ["call", "validate_dataset", "[1]"])
    assert result.exit_code == 2 and "must be a JSON object" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_run_id_alone_resumes_that_run(workspace):
    first = runner.invoke(app, ["run", "tune something", "--model", "planner", "--backend", "local"])
    assert first.exit_code == 1  # one-shot, no dataset: it stops and says so
    with workspace.connect() as db:
        (run_id,) = [r["run_id"] for r in db.execute("SELECT run_id FROM runs")]
    again = runner.invoke(app, ["run", "--run-id", run_id, "--model", "planner", "--backend", "local"])
    assert f"Resuming run {run_id}" in again.output


def test_chat_and_run_take_every_limit_the_limit_messages_name():
    import re

    from agent import loop

    named = set(re.findall(r"--[a-z-]+", open(loop.__file__).read()))
    assert named >= {"--max-calls", "--budget", "--timeout", "--max-tokens"}
    for command in ("run", "chat"):
        options = {o for p in typer_command(command).params for o in p.opts}
        assert named <= options, (command, named - options)


def typer_command(name: str):  # noqa: ANN201 - the click command behind a typer command
    import typer.main

    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def test_split_writes_both_halves_beside_the_input(tmp_path):
    rows = [{"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]},
                          {"role": "model", "parts": [{"text": f"a{i}"}]}]} for i in range(30)]
    source = tmp_path / "d.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(app, ["split", str(source), "--fraction", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["train_examples"], data["validation_examples"]) == (24, 6)
    assert len((tmp_path / "d.val.jsonl").read_text().splitlines()) == 6


def test_a_bad_setting_is_one_line_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("GTO_BUDGET", "abc")
    data = tmp_path / "d.jsonl"
    data.write_text('{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, '
                    '{"role": "model", "parts": [{"text": "hello"}]}]}\n')
    done = subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", "validate", str(data)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "GTO_BUDGET='abc' is not a number of USD" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
