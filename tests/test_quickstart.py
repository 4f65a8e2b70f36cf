"""The README's Quickstart is what CI runs: the test command there and in .ci/run must be the same line."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.strip().splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands():
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install") and "gto run" in commands[0]
    assert commands[1].startswith("pip install") and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert quickstart_commands()[1] in [line.strip() for line in ci]


def test_constraints_pin_the_cpu_torch_but_the_package_keeps_a_range():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"torch>=[\d.]+"', pyproject) and "torch==" not in pyproject


def test_the_main_command_names_files_that_exist():
    main = quickstart_commands()[0]
    for path in re.findall(r"[\w/.-]+\.jsonl", main):
        assert (ROOT / path).is_file(), path
