"""`gto chat` fed through prompt_toolkit's pipe input, like a person typing."""

from __future__ import annotations

import io

from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_loop import loop_tools  # noqa: F401 - fixture

from agent.console import Console
from agent.models.scripted import ScriptedModel, call, say
from agent.runs import open_agent
from agent.repl import Repl


def chat(workspace, model, typed: str) -> tuple[Repl, str]:
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model=model, console=console, workspace=workspace, interactive=True, goal="(chat)")
    with create_pipe_input() as pipe:
        pipe.send_text(typed)
        repl = Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput()))
        assert repl.loop() == 0
    return repl, out.getvalue()


def test_conversation_slash_commands_and_exit(workspace, loop_tools):
    model = ScriptedModel([call("test_double", {"n": 4}), say("Doubled: 8."), say("Bye for now.")])
    repl, out = chat(workspace, model, "double four\r/status\r/help\r/nonsense\rthanks\r/exit\r")
    model.assert_complete()
    assert "Doubled: 8." in out and "Bye for now." in out
    assert "Success criteria" in out and "model calls 2" in out
    assert "/model [NAME]" in out
    assert "Unknown command /nonsense" in out
    assert [m["role"] for m in repl.agent.messages] == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert repl.agent.transcript.path.read_text().splitlines()[-1].startswith('{"type": "end"')


def test_ctrl_d_leaves_and_saves(workspace):
    model = ScriptedModel([])
    repl, out = chat(workspace, model, "\x04")
    assert "Saved:" in out


def test_ctrl_c_during_a_step_returns_to_the_prompt_with_nothing_lost(workspace, loop_tools):
    model = ScriptedModel([call("test_hang", {"n": 1}), say("resumed fine")])
    repl, out = chat(workspace, model, "start\rgo on\r/exit\r")
    model.assert_complete()
    assert "Interrupted. Nothing is lost" in out and "resumed fine" in out
    roles = [m["role"] for m in repl.agent.messages]
    assert roles == ["user", "assistant", "user", "user", "assistant"]


def test_switching_model_by_slash_command(workspace):
    repl, out = chat(workspace, ScriptedModel([]), "/model planner\r/model\r/exit\r")
    assert out.count("Brain: planner") >= 2


def test_a_failed_model_call_is_shown_and_the_chat_goes_on(workspace, loop_tools):
    from agent.models import ModelError

    def unreachable(messages):  # noqa: ANN001, ANN202
        raise ModelError("Could not reach the Anthropic API. Check the network.")

    model = ScriptedModel([unreachable, say("Back again.")])
    repl, out = chat(workspace, model, "hello\rhello again\r/exit\r")
    model.assert_complete()
    assert "Could not reach the Anthropic API" in out and "Back again." in out


def test_save_to_a_missing_folder_says_so_and_the_chat_goes_on(workspace, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "t.jsonl"
    repl, out = chat(workspace, ScriptedModel([]), f"/save {missing}\r/save {tmp_path}\r/save {tmp_path / 'ok.jsonl'}\r"
                                                   "/exit\r")
    assert out.count("Could not save to") == 2
    assert (tmp_path / "ok.jsonl").is_file() and "Saved:" in out


def test_switching_to_the_planner_keeps_the_sessions_project(workspace, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_agent(model=ScriptedModel([]), console=console, workspace=workspace, interactive=True,
                         goal="(chat)", project="acme-prod", region="europe-west4", bucket="acme-data")
    with create_pipe_input() as pipe:
        Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput())).command("/model planner")
    content = agent.model.complete("", [{"role": "user", "content": "Tune on data/t.jsonl"}], []).message["content"]
    check = next(b for b in content if b["type"] == "tool_use")
    assert check["input"] == {"backend": "local", "project": "acme-prod", "region": "europe-west4",
                              "bucket": "acme-data"}


def test_chat_history_on_disk_is_redacted(workspace, monkeypatch):
    from agent.repl import RedactedHistory

    monkeypatch.setenv("GEMINI_API_KEY", "plainsecretvalue12345")
    agent = open_agent(model=ScriptedModel([]), console=Console(out=io.StringIO()), workspace=workspace,
                         interactive=True, goal="(chat)")
    with create_pipe_input() as pipe:
        default = Repl(agent, Console(out=io.StringIO()), prompt=None).prompt.history
        assert isinstance(default, RedactedHistory)
        pipe.send_text("use key plainsecretvalue12345 and sk-ant-api03-abcdefghijkl\r")
        PromptSession(input=pipe, output=DummyOutput(), history=default).prompt("gto> ")
    saved = (workspace.root / "chat_history").read_text()
    assert "use key [REDACTED] and [REDACTED]" in saved and "plainsecret" not in saved and "abcdefghijkl" not in saved


def test_limits_apply_to_each_message_in_chat(workspace, loop_tools):
    from agent.loop import Limits

    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    model = ScriptedModel([call("test_double", {"n": 1}), say("one"), call("test_double", {"n": 2}), say("two")])
    agent = open_agent(model=model, console=console, workspace=workspace, interactive=True, goal="(chat)",
                         limits=Limits(max_model_calls=2))
    with create_pipe_input() as pipe:
        pipe.send_text("first\rsecond\r/exit\r")
        Repl(agent, console, prompt=PromptSession(input=pipe, output=DummyOutput())).loop()
    model.assert_complete()
    assert "Stopped after" not in out.getvalue() and agent.totals.model_calls == 4
