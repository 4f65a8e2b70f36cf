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
from agent.loop import Agent
from agent.models import ModelError, load_model
from agent.runs import Outcome, attempt, finish, show
from tools.registry import dispatch
from tools.secrets import redact
from tools.workspace import open_private

HELP = """Talk in plain words, e.g. "tune gemini-3.5-flash-lite on data/train.jsonl". Commands:
  /status        success criteria and the current job
  /jobs          every tuning job in this workspace
  /spend         what this workspace has spent, and the budget (gto spend for the tables)
  /model [NAME]  show the brain, or switch to claude[:MODEL], gemini[:MODEL] or planner
  /save [PATH]   copy the transcript to PATH (it is saved as you go anyway)
  /help          this text
  /exit          leave (Ctrl-D too)"""


# After a stop in chat: the conversation is saved and goes on at the next message.
AGAIN = "Nothing is lost: jobs keep running; send a message to go on (/model switches brains)."


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
    def __init__(self, agent: Agent, console: Console, prompt: PromptSession | None = None):
        self.agent, self.console = agent, console
        path = agent.ctx.workspace.root / "chat_history"
        open_private(path, "a").close()  # made owner-only before prompt_toolkit appends to it
        history = RedactedHistory(str(path))
        self.prompt = prompt or PromptSession(history=history, key_bindings=_keys())

    def loop(self) -> int:
        self.console.print(f"gto chat — run {self.agent.transcript.run_id}. /help for commands.", style="bold")
        while True:
            try:
                text = self.prompt.prompt("gto> ").strip()
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
        finish(self.agent, Outcome("succeeded" if all_hold(self.agent.criteria()) else "incomplete"))
        self.console.print(f"Saved: {self.agent.transcript.path}")
        return 0

    def send(self, text: str) -> None:
        outcome = attempt(self.agent, text, AGAIN)
        show(self.console, outcome)
        if outcome.status == "succeeded" and self.agent.request and self.agent.request.understood:
            criteria = [c for c in self.agent.criteria() if c.applicable]
            if criteria:
                self.console.criteria(criteria)

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

            result = dispatch("list_jobs", {}, self.agent.ctx)  # refreshes the workspace's records
            if result.is_error:
                self.console.error(result.content)
            show_jobs(self.console, self.agent.ctx, wide=arg == "--wide")
        elif name == "/spend":
            result = dispatch("spend_summary", {}, self.agent.ctx)
            self.console.print(result.output.summary if result.output is not None else result.content)
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
