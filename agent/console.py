"""All terminal output and questions, in one place, with injectable streams so front ends are testable."""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

from rich.console import Console as RichConsole
from rich.markup import escape
from rich.table import Table

from agent.criteria import Criterion
from tools.context import Progress
from tools.registry import ToolResult
from tools.secrets import redact

# The fields that best say what a tool result means, in order of preference, for the one-line display.
_HEADLINE_KEYS = ("ok", "returned_because", "state", "uri", "path", "output_path", "verdict", "summary", "reason")


class Console:
    def __init__(self, out: IO[str] | None = None, input: IO[str] | None = None, color: bool | None = None,
                 quiet: bool = False, can_ask: bool | None = None):
        stream = out or sys.stdout
        self.rich = RichConsole(file=stream, force_terminal=color, no_color=color is False, highlight=False,
                                soft_wrap=True)
        self.input = input or sys.stdin
        self.quiet = quiet
        self.can_ask = self.input.isatty() if can_ask is None else can_ask
        self._pending = ""  # streamed text after the last line break, held until the line ends
        self._progress_shown = False
        self._last_progress = ""
        self._logged_state: tuple[str, Any] | None = None
        self._logged_tenth: int | None = None
        self._logged_at = 0.0

    def print(self, text: str = "", style: str | None = None) -> None:
        if not self.quiet:
            self._end_stream()
            self.rich.print(escape(redact(text)), style=style)

    def notice(self, text: str) -> None:
        self.print(text, style="yellow")

    def error(self, text: str) -> None:
        self._end_stream()
        self.rich.print(escape(redact(text)), style="bold red")

    def assistant_text(self, text: str) -> None:
        """Streamed model text, shown a line at a time: a secret split across two chunks is whole when redacted."""
        if self.quiet:
            return
        self._pending += text
        done, newline, self._pending = self._pending.rpartition("\n")
        if newline:  # whole lines only, so the cursor is at a line start afterwards
            self.rich.print(escape(redact(done + newline)), end="", style="cyan")

    def end_text(self) -> None:
        """The model's turn ended: show what is left of its text."""
        if self._pending and not self.quiet:
            self._end_progress()
            self.rich.print(escape(redact(self._pending)), style="cyan")  # a turn's text ends its line
        self._pending = ""

    def tool_call(self, name: str, arguments: dict[str, Any]) -> None:
        # Redacted before it is cut: a secret cut in half would no longer look like one.
        args = redact(", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items()))
        self.print(f"→ {name}({args[:300]})", style="dim")

    def tool_result(self, result: ToolResult) -> None:
        self._end_progress()
        if result.is_error:
            content = redact(result.content)
            self.print(f"✗ {result.tool}: {(content.splitlines() or [''])[0][:400]}", style="red")
            for line in content.splitlines()[1:8]:
                self.print(f"    {line[:300]}", style="red")
            return
        if (result.data or {}).get("ok") is False:  # it ran, and found problems: not a green tick
            self.print(f"! {result.tool}: {headline(result.data or {})}", style="yellow")
            return
        self.print(f"✓ {result.tool}: {headline(result.data or {})}", style="green")

    def progress(self, update: Progress) -> None:
        """A live line for long tools (training progress); overwritten in place on a terminal."""
        if self.quiet:
            return
        self._end_stream()
        fields = dict(update.fields)
        unit = fields.pop("unit", None)
        fraction = f"{update.done:.0f}/{update.total:.0f}" if update.done is not None and update.total else ""
        shown = [f"{fraction} {unit}" if unit else fraction] if fraction and fraction not in update.message else []
        shown += [f"{k}={_fmt(v)}" for k, v in fields.items() if not _said(update.message, v)]
        extras = " ".join(shown)
        line = escape(redact(f"  … {update.message} {extras}".rstrip()))
        if line == self._last_progress:
            return  # a poll that learned nothing new; a log file should not repeat it
        if not self.rich.is_terminal and not self._worth_logging(update):
            return
        self._last_progress = line
        if self.rich.is_terminal:
            self.rich.print(f"\r{line}\x1b[K", end="", style="magenta")
        else:
            self.rich.print(line, style="magenta")
        self._progress_shown = True

    def _worth_logging(self, update: Progress) -> bool:
        """Off a terminal (a log, CI), progress is written when its state changes, every tenth of the way, or once a
        minute: a job's log holds a dozen lines, not one per poll."""
        state = (update.message.split(" ")[0], update.fields.get("state"))
        tenth = int(10 * update.done / update.total) if update.done is not None and update.total else None
        now = time.monotonic()
        if ("anomaly" in update.fields or state != self._logged_state or tenth != self._logged_tenth
                or now - self._logged_at >= 60):
            self._logged_state, self._logged_tenth, self._logged_at = state, tenth, now
            return True
        return False

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question; anything but yes is no."""
        if not self.can_ask:
            return False
        self._end_stream()
        self.rich.print(escape(redact(question)), style="bold yellow")
        self.rich.print("Proceed? [y/N] ", end="")
        answer = self.input.readline()
        return answer.strip().lower() in ("y", "yes")

    def criteria(self, criteria: list[Criterion]) -> None:
        if not criteria:  # a request answered in words ("help") has no checklist
            return
        table = Table(title="Success criteria", show_lines=False)
        table.add_column("")
        table.add_column("criterion")
        table.add_column("evidence")
        for c in criteria:
            mark = "✓" if c.met else ("–" if not c.applicable else "✗")
            table.add_row(mark, c.label, escape(redact(c.detail)))
        if not self.quiet:
            self._end_stream()
            self.rich.print(table)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(escape(redact("" if v is None else str(v))) for v in row))
        self._end_stream()
        self.rich.print(table)

    def _end_stream(self) -> None:
        self.end_text()
        self._end_progress()

    def _end_progress(self) -> None:
        if self._progress_shown and self.rich.is_terminal:
            self.rich.print()
        self._progress_shown = False


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _said(message: str, value: Any) -> bool:
    """Whether a progress field is unknown or the message already states it (no `state=RUNNING` after `running`)."""
    return value is None or _fmt(value).lower() in message.lower()


def headline(data: dict[str, Any]) -> str:
    """One short line saying what a tool returned."""
    parts = []
    job = data.get("job")
    if isinstance(job, dict):
        parts.append(f"{job.get('job_id')} {job.get('state')}")
    for key in _HEADLINE_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            parts.append(f"{key}={value}" if not isinstance(value, str) or len(value) < 120 else f"{key}={value[:117]}…")
        if len(parts) >= 3:
            break
    if not parts:
        counts = [f"{k}={len(v)}" for k, v in data.items() if isinstance(v, list)]
        parts = counts[:3] or [", ".join(list(data)[:4])]
    return "; ".join(parts)
