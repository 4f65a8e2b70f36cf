"""`gto chat`: talk to the agent. Enter sends, Alt+Enter adds a line; Ctrl-C stops the current step and keeps
everything; Ctrl-D or /exit leaves."""

from __future__ import annotations

import shutil
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings

from agent.console import Console
from agent.criteria import all_hold
from agent.loop import Agent, Interrupted, LimitReached
from agent.models import ModelError, load_model
from tools.registry import dispatch
from tools.secrets import redact
from tools.workspace import open_private

HELP = """Talk in plain words, e.g. "tune gemini-2.5-flash on data/train.jsonl". Commands:
  /status        success criteria and the current job
  /jobs          every tuning job in this workspace
  /model [NAME]  show the brain, or switch to claude[:MODEL], gemini[:MODEL] or planner
  /save [PATH]   copy the transcript to PATH (it is saved as you go anyway)
  /help          this text
  /exit          leave (Ctrl-D too)"""


class RedactedHistory(FileHistory):
    """The prompt history file, with secrets masked: a key pasted into the chat is not kept on disk."""

    def store_string(self, string: str) -> None:
        super().store_string(redact(string))


def _keys() -> KeyBindings:
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event) -> None:  # noqa: ANN001 - prompt_toolkit's event type
        event.current_buffer.insert_text("\n")

    return keys


class Repl:
    def __init__(self, agent: Agent, console: Console, session: PromptSession | None = None):
        self.agent, self.console = agent, console
        path = agent.ctx.workspace.root / "chat_history"
        open_private(path, "a").close()  # made owner-only before prompt_toolkit appends to it
        history = RedactedHistory(str(path))
        self.session = session or PromptSession(history=history, key_bindings=_keys())

    def loop(self) -> int:
        self.console.print(f"gto chat — run {self.agent.transcript.run_id}. /help for commands.", style="bold")
        while True:
            try:
                text = self.session.prompt("gto> ").strip()
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            if not text:
                continue
            if text.startswith("/"):
                if not self.command(text):
                    break
                continue
            self.send(text)
        status = "succeeded" if all_hold(self.agent.criteria()) else "incomplete"
        self.agent.transcript.finish(self.agent.ctx.workspace, status, {"criteria": [
            {"key": c.key, "met": c.met} for c in self.agent.criteria()]})
        self.console.print(f"Saved: {self.agent.transcript.path}")
        return 0

    def send(self, text: str) -> None:
        try:
            criteria = self.agent.run(text)
        except Interrupted:
            self.console.notice("Interrupted. Nothing is lost: jobs keep running; ask me to continue.")
            return
        except LimitReached as exc:
            self.console.notice(str(exc))
            return
        except ModelError as exc:
            self.console.error(f"{exc} Nothing is lost: send the message again when that is fixed, or /model to "
                               "switch brains.")
            return
        except Exception as exc:  # a bug in a tool or the loop must not end the conversation
            self.console.error(f"Unexpected error, a bug in gto: {type(exc).__name__}: {exc}. The conversation is "
                               "saved; you can go on.")
            return
        if all_hold(criteria):
            self.console.print("Every success criterion holds.", style="bold green")

    def command(self, text: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.console.print(HELP)
        elif name == "/status":
            self.console.criteria(self.agent.criteria())
            t = self.agent.totals
            self.console.print(f"model calls {t.model_calls}, tool calls {t.tool_calls}, "
                               f"model tokens {t.usage.input_tokens + t.usage.output_tokens:,}")
        elif name == "/jobs":
            from agent.views import show_jobs

            result = dispatch("list_jobs", {}, self.agent.ctx)
            show_jobs(self.console, result.data or {}) if not result.is_error else self.console.error(result.content)
        elif name == "/model":
            self._switch_model(arg)
        elif name == "/save":
            target = Path(arg or f"{self.agent.transcript.run_id}.jsonl").expanduser()
            try:
                shutil.copyfile(self.agent.transcript.path, target)
            except OSError as exc:
                self.console.error(f"Could not save to {target}: {exc.strerror or exc}. Give a file path in an "
                                   "existing folder.")
            else:
                self.console.print(f"Transcript copied to {target}")
        else:
            self.console.error(f"Unknown command {name}. /help lists them.")
        return True

    def _switch_model(self, name: str) -> None:
        if not name:
            self.console.print(f"Brain: {self.agent.model.name}")
            return
        s = self.agent.ctx.settings
        try:
            self.agent.model, _ = load_model(name, backend=self.agent.ctx.backend_name(), interactive=True,
                                             project=s.project, region=s.region, bucket=s.bucket, settings=s)
        except (ModelError, ImportError) as exc:
            self.console.error(str(exc))
            return
        self.console.print(f"Brain: {self.agent.model.name}")
