"""Consent for anything that costs money: asked in the terminal, or given in advance with --yes."""

from __future__ import annotations

from dataclasses import dataclass

from agent.console import Console


@dataclass
class Approver:
    console: Console
    yes: bool = False

    def __call__(self, tool: str, question: str) -> bool:
        if self.yes:
            self.console.notice(f"Approved in advance with --yes: {question}")
            approved = True
        elif not self.console.can_ask:
            self.console.notice(f"Needs your approval, and this run cannot ask: {question} "
                                "Run again with --yes to approve in advance.")
            approved = False
        else:
            approved = self.console.confirm(question)
        return approved
