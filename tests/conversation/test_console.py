"""What a person watching a long run sees: progress lines say each fact once and a log file does not repeat itself."""

import io

from agent.console import Console
from tools.context import Progress


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(out=out, color=False, can_ask=False), out


def test_progress_line_skips_unknown_and_repeated_fields() -> None:
    console, out = _console()
    console.progress(Progress("running · step 40/120 · train loss 1.235", done=40, total=120,
                              fields={"state": "RUNNING", "step": 40, "train_loss": 1.23456, "eval_loss": None}))
    console.progress(Progress("validating train.jsonl", done=10, total=400, fields={"unit": "bytes"}))
    lines = [line.strip() for line in out.getvalue().strip().splitlines()]
    assert lines == ["… running · step 40/120 · train loss 1.235", "… validating train.jsonl 10/400 bytes"]


def test_identical_polls_are_printed_once_in_a_log() -> None:
    console, out = _console()
    for _ in range(3):
        console.progress(Progress("job-1 PENDING", fields={"state": "PENDING"}))
    console.progress(Progress("job-1 RUNNING", fields={"state": "RUNNING"}))
    lines = out.getvalue().strip().splitlines()
    assert [line.strip() for line in lines] == ["… job-1 PENDING", "… job-1 RUNNING"]


def test_secrets_in_progress_are_redacted() -> None:
    console, out = _console()
    console.progress(Progress("uploading with key AIzaSyA1234567890abcdefghijklmnopqrstuv"))
    assert "AIzaSy" not in out.getvalue()
