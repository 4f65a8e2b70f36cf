"""What may leave the machine: upload_to_gcs sends only tuning datasets, never a key, a dotfile or /proc; and under
confinement (gto mcp) every path-taking tool stays inside the allowed folders."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tools.context import ToolContext
from tools.registry import REGISTRY, dispatch


def gemini_example(i: int) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": f"Question {i}?"}]},
                         {"role": "model", "parts": [{"text": f"Answer {i}."}]}]}


def _write(path: Path, rows: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def upload(ctx: ToolContext, path: Path | str):
    return dispatch("upload_to_gcs", {"path": str(path), "backend": "local"}, ctx)


def test_gemini_and_openai_datasets_are_uploaded(ctx: ToolContext, tmp_path: Path) -> None:
    gemini = _write(tmp_path / "g.jsonl", [gemini_example(i) for i in range(3)])
    openai = _write(tmp_path / "o.jsonl", [{"messages": [{"role": "user", "content": "hi"},
                                                          {"role": "assistant", "content": "hello"}]}])
    for path in (gemini, openai):
        result = upload(ctx, path)
        assert not result.is_error, result.content


@pytest.mark.parametrize("content", [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
    '{"type": "service_account", "private_key": "x"}\n',
    "[1, 2, 3]\n",
    "",
    "\n\n",
])
def test_a_file_that_is_not_a_dataset_stays_here(ctx: ToolContext, tmp_path: Path, content: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(content)
    result = upload(ctx, path)
    assert result.is_error and "not uploaded" in result.content
    assert not (ctx.workspace.root / "local" / "datasets").exists()


def test_a_bad_line_after_good_ones_is_refused(ctx: ToolContext, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.jsonl", [gemini_example(0), {"user": "x"}])
    assert "line 2" in upload(ctx, path).content


def test_hidden_home_folders_and_system_trees_are_refused_even_through_a_link(
        ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    secret = _write(home / ".ssh" / "notes.jsonl", [gemini_example(0)])  # dataset-shaped, still private
    link = tmp_path / "project" / "train.jsonl"
    link.parent.mkdir()
    link.symlink_to(secret)
    for path in (secret, link, Path("/proc/self/environ"), Path("/dev/null")):
        result = upload(ctx, path)
        assert result.is_error, path
    assert "private folder" in upload(ctx, link).content
    assert not (ctx.workspace.root / "local" / "datasets").exists()


def test_a_workspace_in_a_hidden_home_folder_is_still_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.settings import Settings
    from tools.workspace import Workspace

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    ctx = ToolContext(workspace=Workspace(home / ".gto"), settings=Settings())
    staged = _write(home / ".gto" / "split" / "train.jsonl", [gemini_example(0)])
    assert not upload(ctx, staged).is_error


def _outside_arguments(outside: str) -> dict[str, dict[str, object]]:
    """For every path-taking tool, arguments that point one of its paths outside the allowed folders."""
    return {
        "validate_dataset": {"path": outside},
        "fix_dataset": {"path": outside},
        "split_dataset": {"path": outside},
        "upload_to_gcs": {"path": outside, "backend": "local"},
        "estimate_cost": {"training_path": outside, "base_model": "gemini-3.5-flash-lite"},
        "recommend_hyperparameters": {"training_path": outside},
        "create_tuning_job": {"training_dataset_uri": outside, "base_model": "gemma-3-270m", "backend": "local"},
        "measure_base": {"training_path": outside, "base_model": "gemma-3-270m", "backend": "local"},
        "convert_preference_dataset": {"path": outside},
        "run_preference_job": {"path": outside, "base_model": "gemma-3-270m", "backend": "local"},
    }


def test_confinement_covers_every_tool_that_takes_a_path(ctx: ToolContext, tmp_path: Path) -> None:
    project = tmp_path / "project"
    outside = _write(tmp_path / "elsewhere" / "train.jsonl", [gemini_example(i) for i in range(20)])
    confined = replace(ctx, allowed_roots=(project, ctx.workspace.root))
    cases = _outside_arguments(str(outside))
    path_fields = {t.name for t in REGISTRY.all() for f in t.input_model.model_fields
                   if f.endswith(("path", "_dir", "dataset_uri"))}
    # Found, not listed: a new tool that takes a path must be added here (and must confine it).
    # compare_models and compare_retuned read prompts_path through held_out_examples, which confines it.
    assert path_fields <= set(cases) | {"write_report", "compare_models", "compare_retuned"}, path_fields - set(cases)
    for name, arguments in cases.items():
        result = dispatch(name, arguments, confined)
        assert result.is_error and "outside the folders" in result.content, (name, result.content)
    inside = _write(project / "train.jsonl", [gemini_example(i) for i in range(20)])
    assert not dispatch("validate_dataset", {"path": str(inside)}, confined).is_error
    escaped = dispatch("fix_dataset", {"path": str(inside), "output_path": str(tmp_path / "out.jsonl")}, confined)
    assert "outside the folders" in escaped.content and not (tmp_path / "out.jsonl").exists()
    link = project / "link.jsonl"
    link.symlink_to(outside)
    assert "outside the folders" in dispatch("validate_dataset", {"path": str(link)}, confined).content


def test_a_report_folder_outside_is_refused(ctx: ToolContext, tmp_path: Path) -> None:
    from tools.dataset.paths import confined
    from tools.errors import ToolError

    limited = replace(ctx, allowed_roots=(tmp_path / "project",))
    with pytest.raises(ToolError, match="outside the folders"):
        confined("/etc/cron.d", limited, "report folder")
    assert confined(tmp_path / "project" / "r", limited, "report folder") == (tmp_path / "project" / "r").resolve()
    assert confined("/etc", ctx, "x") == Path("/etc")  # unconfined: the CLI's person may name any path


def test_a_model_folder_and_a_prompt_file_outside_are_refused(ctx: ToolContext, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    folder = tmp_path / "models" / "mine"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    confined = replace(ctx, allowed_roots=(project, ctx.workspace.root))
    inside = _write(project / "train.jsonl", [gemini_example(i) for i in range(20)])
    job = dispatch("create_tuning_job", {"training_dataset_uri": str(inside), "base_model": str(folder),
                                         "backend": "local"}, confined)
    assert job.is_error and "base model folder" in job.content and "outside the folders" in job.content
    prompts = dispatch("compare_models", {"job_id": "local-none", "prompts_path": str(tmp_path / "p.jsonl")},
                       confined)
    assert prompts.is_error


def test_long_lines_are_judged_by_their_start(ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.dataset.paths as paths

    monkeypatch.setattr(paths, "SNIFF_BYTES", 1024)
    inline = {"contents": [{"role": "user", "parts": [{"text": "x" * 5000}]},
                           {"role": "model", "parts": [{"text": "ok"}]}]}
    good = _write(tmp_path / "inline.jsonl", [inline, gemini_example(1)])
    assert not upload(ctx, good).is_error
    blob = tmp_path / "blob.jsonl"
    blob.write_text("A" * 5000 + "\n")
    assert "not an example" in upload(ctx, blob).content
