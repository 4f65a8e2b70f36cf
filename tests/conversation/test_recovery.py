"""Failures that must not lose a run: a model call that fails, a tool that crashes, a process that dies mid-tool.
Each ends with a consistent transcript, a recorded status and a run that --resume can continue."""

from __future__ import annotations

import io
import json

import pytest
from test_loop import CountInput, CountOutput, loop_tools, tool_results  # noqa: F401 - fixture and tool models

from agent.console import Console
from agent.models import ModelError
from agent.models.scripted import ScriptedModel, call, say
from agent.runs import drive, open_agent
from agent.transcript import UNFINISHED, Transcript
from tools.registry import REGISTRY, tool


def fails(message: str):  # noqa: ANN201 - a scripted step whose model call fails
    def step(messages):  # noqa: ANN001, ANN202
        raise ModelError(message)

    return step


def quiet() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(out=out, color=False, can_ask=False), out


def run_status(workspace, run_id: str) -> str:  # noqa: ANN001
    with workspace.connect() as db:
        return db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()["status"]


def records(path) -> list[dict]:  # noqa: ANN001
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def crashing_tool(scratch_registry):
    @tool
    def test_crash(args: CountInput) -> CountOutput:
        """Stand in for a tool with a bug."""
        raise RuntimeError("disk on fire")

    yield


def test_a_failed_model_call_is_an_error_said_plainly_and_the_run_is_recorded(workspace, loop_tools):
    console, out = quiet()
    model = ScriptedModel([call("test_double", {"n": 2}),
                           fails("Could not reach the Anthropic API. Check the network.")])
    agent = open_agent(model=model, console=console, workspace=workspace, goal="go")
    result = drive(agent, "go", console)

    assert result.status == "error" and not result.ok
    assert "Could not reach the Anthropic API" in out.getvalue() and "gto run --resume" in out.getvalue()
    assert "Traceback" not in out.getvalue()
    assert run_status(workspace, result.run_id) == "error"
    end = records(result.transcript)[-1]
    assert end["type"] == "end" and end["status"] == "error"


def test_a_crashing_tool_closes_its_call_records_the_error_and_resume_works(workspace, loop_tools, crashing_tool):
    console, out = quiet()
    model = ScriptedModel([call("test_crash", {"n": 1})])
    agent = open_agent(model=model, console=console, workspace=workspace, goal="go")
    result = drive(agent, "go", console)

    assert result.status == "error" and run_status(workspace, result.run_id) == "error"
    assert "Unexpected error, a bug in gto: RuntimeError: disk on fire" in out.getvalue()
    (closed,) = tool_results(agent.messages)
    assert closed["is_error"] and "RuntimeError" in closed["content"]
    assert "disk on fire" in records(result.transcript)[-1]["summary"]["traceback"]

    again = ScriptedModel([say("picked up")])
    resumed = open_agent(model=again, console=console, workspace=workspace, resume=result.run_id)
    drive(resumed, "continue", console)
    sent = again.seen[0]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "user"]  # the tool_use was answered


def test_a_keyboard_interrupt_between_steps_still_records_the_run(workspace, loop_tools):
    def interrupt(messages):  # noqa: ANN001, ANN202 - Ctrl-C outside the model call and the tools
        raise KeyboardInterrupt

    console, _ = quiet()
    agent = open_agent(model=ScriptedModel([]), console=console, workspace=workspace, goal="go")
    agent.step = lambda: interrupt(None)  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        drive(agent, "go", console)
    assert run_status(workspace, agent.transcript.run_id) == "interrupted"


def _died_mid_tool(workspace) -> Transcript:  # noqa: ANN001
    """A transcript as a killed process leaves it: the assistant's tool_use saved, its result never written."""
    transcript = Transcript.start(workspace, "go", "scripted", REGISTRY.schema_hash(), "local")
    transcript.append({"role": "user", "content": "go"})
    transcript.append({"role": "assistant", "content": [
        {"type": "text", "text": "Creating the job."},
        {"type": "tool_use", "id": "toolu_a", "name": "test_double", "input": {"n": 1}},
        {"type": "tool_use", "id": "toolu_b", "name": "test_double", "input": {"n": 2}}]})
    return transcript


def test_resume_after_a_process_died_mid_tool_answers_the_open_calls(workspace, loop_tools):
    path = _died_mid_tool(workspace).path
    model = ScriptedModel([say("I will ask before creating it again.")])
    console, _ = quiet()
    agent = open_agent(model=model, console=console, workspace=workspace, resume="latest")
    drive(agent, "continue", console)

    closing, text = model.seen[0][-2:]
    assert [(b["tool_use_id"], b["is_error"], b["content"]) for b in closing["content"]] == [
        ("toolu_a", True, UNFINISHED), ("toolu_b", True, UNFINISHED)]
    assert text == {"role": "user", "content": "continue"}
    # the closing is in the file, once: loading again adds nothing
    assert sum(1 for r in records(path) if r.get("message") == closing) == 1
    assert Transcript.load(path).messages == agent.messages


def test_an_older_transcript_with_a_message_after_open_calls_is_repaired_in_memory(workspace):
    transcript = _died_mid_tool(workspace)
    transcript.append({"role": "user", "content": "Continue where you stopped."})
    loaded = Transcript.load(transcript.path)
    assert [m["role"] for m in loaded.messages] == ["user", "assistant", "user", "user"]
    assert {b["tool_use_id"] for b in loaded.messages[2]["content"]} == {"toolu_a", "toolu_b"}


def test_a_torn_last_line_is_dropped_with_a_notice_and_resume_appends_cleanly(workspace, loop_tools):
    transcript = _died_mid_tool(workspace)
    whole = transcript.path.read_bytes()
    with transcript.path.open("ab") as f:  # the process died half-way through writing the next record
        f.write(b'{"type": "message", "message": {"role": "user", "content": [{"type": "tool_res')
    loaded = Transcript.load(transcript.path)
    assert [m["role"] for m in loaded.messages] == ["user", "assistant", "user"]
    assert loaded.notices and "cut off" in loaded.notices[0]
    assert transcript.path.read_bytes().startswith(whole)  # reading alone changes nothing

    model = ScriptedModel([say("Picking up.")])
    console, out = quiet()
    agent = open_agent(model=model, console=console, workspace=workspace, resume="latest")
    drive(agent, "continue", console)
    assert "cut off" in out.getvalue()
    again = Transcript.load(transcript.path)  # the torn text is gone from the file; every line is whole
    assert again.notices == [] and again.messages == agent.messages


def test_a_damaged_line_in_the_middle_is_still_an_error(workspace):
    transcript = _died_mid_tool(workspace)
    lines = transcript.path.read_text().splitlines()
    lines[1] = lines[1][:20]
    transcript.path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        Transcript.load(transcript.path)
