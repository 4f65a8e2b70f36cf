"""`gto chat` fed through prompt_toolkit's pipe input, like a person typing."""

from __future__ import annotations

import io

from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_loop import loop_tools  # noqa: F401 - fixture

from agent.console import Console
from agent.models.scripted import ScriptedModel, call, say
from agent.orchestrator import open_session
from agent.repl import Repl


def chat(workspace, model, typed: str) -> tuple[Repl, str]:
    out = io.StringIO()
    console = Console(out=out, color=False, can_ask=False)
    agent = open_session(model=model, console=console, workspace=workspace, interactive=True, goal="(chat)")
    with create_pipe_input() as pipe:
        pipe.send_text(typed)
        repl = Repl(agent, console, session=PromptSession(input=pipe, output=DummyOutput()))
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
