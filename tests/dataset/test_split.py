"""split_dataset: a held-out set carved from the training file, reproducible, disjoint, and the input untouched."""

from __future__ import annotations

import hashlib
import json


def _lines(path) -> list[str]:  # noqa: ANN001
    return path.read_text(encoding="utf-8").splitlines()


def test_split_is_disjoint_complete_reproducible_and_leaves_the_input(write_jsonl, good_rows, call, tmp_path) -> None:
    source = write_jsonl("train.jsonl", good_rows(100), newline=b"\r\n")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = call("split_dataset", path=source, validation_fraction=0.15, seed=7)
    assert not result.is_error, result.content
    data = result.data
    assert (data["train_examples"], data["validation_examples"]) == (85, 15)
    train, val = _lines(tmp_path / "train.train.jsonl"), _lines(tmp_path / "train.val.jsonl")
    original = [json.dumps(r, ensure_ascii=False) for r in good_rows(100)]
    assert sorted(train + val) == sorted(original) and not set(train) & set(val)
    assert train == [line for line in original if line in set(train)], "original order kept"
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before

    again = call("split_dataset", path=source, validation_fraction=0.15, seed=7)
    assert _lines(tmp_path / "train.val.jsonl") == val and again.data == data
    call("split_dataset", path=source, validation_fraction=0.15, seed=8, output_dir=tmp_path / "s8")
    assert _lines(tmp_path / "s8" / "train.val.jsonl") != val


def test_split_output_validates(write_jsonl, good_rows, call, tmp_path) -> None:
    source = write_jsonl("data.jsonl", good_rows(40))
    split = call("split_dataset", path=source).data
    checked = call("validate_dataset", path=split["train_path"], validation_path=split["validation_path"],
                   base_model="gemini-3.5-flash-lite")
    assert checked.data["ok"] is True, checked.content
    assert split["validation_examples"] == 4


def test_cap_on_the_held_out_set(write_jsonl, good_rows, call) -> None:
    source = write_jsonl("big.jsonl", good_rows(400))
    data = call("split_dataset", path=source, validation_fraction=0.5, max_validation_examples=30).data
    assert (data["train_examples"], data["validation_examples"]) == (370, 30)


def test_too_few_examples_is_a_clear_error(write_jsonl, good_rows, call) -> None:
    result = call("split_dataset", path=write_jsonl("small.jsonl", good_rows(5)))
    assert result.is_error and "5 examples" in result.content and "at least 20" in result.content


def test_a_broken_line_is_named_and_nothing_is_written(write_jsonl, good_rows, call, tmp_path) -> None:
    rows = [*good_rows(30), b'{"contents": [', *good_rows(3, start=30)]
    result = call("split_dataset", path=write_jsonl("broken.jsonl", rows))
    assert result.is_error and "line 31" in result.content and "fix_dataset" in result.content
    assert not (tmp_path / "broken.train.jsonl").exists()


def test_bad_arguments_name_the_field(write_jsonl, good_rows, call) -> None:
    result = call("split_dataset", path=write_jsonl("d.jsonl", good_rows(30)), validation_fraction=0.9)
    assert result.is_error and "validation_fraction" in result.content


def test_split_memory_stays_flat_in_the_file_size(tmp_path) -> None:
    import tracemalloc

    from tools.context import ToolContext
    from tools.registry import dispatch
    from tools.settings import Settings
    from tools.workspace import Workspace

    line = json.dumps({"contents": [{"role": "user", "parts": [{"text": "q" * 60}]},
                                    {"role": "model", "parts": [{"text": "a" * 60}]}]})
    big = tmp_path / "big.jsonl"
    with big.open("w") as f:
        for i in range(60_000):
            f.write(line.replace("qqqq", f"{i:04d}", 1) + "\n")
    ctx = ToolContext(workspace=Workspace(tmp_path / "ws"), settings=Settings())
    tracemalloc.start()
    result = dispatch("split_dataset", {"path": str(big), "max_validation_examples": 500}, ctx)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not result.is_error, result.content
    assert result.data["train_examples"] + result.data["validation_examples"] == 60_000
    assert peak < big.stat().st_size / 8, (peak, big.stat().st_size)  # ~9 MB file; the old split held it all


def test_a_file_broken_between_the_passes_leaves_no_output(write_jsonl, good_rows, call, tmp_path, monkeypatch) -> None:
    import tools.dataset.split as split

    path = write_jsonl("moving.jsonl", good_rows(30))
    real = split._examples
    passes = []

    def second_pass_breaks(source):  # noqa: ANN001, ANN202 - the file changes while the split runs
        passes.append(source)
        for index, line in enumerate(real(source)):
            if len(passes) == 2 and index == 15:
                raise OSError(5, "Input/output error", str(source))
            yield line

    monkeypatch.setattr(split, "_examples", second_pass_breaks)
    result = call("split_dataset", path=path)
    assert result.is_error and "Input/output error" in result.content
    assert sorted(p.name for p in tmp_path.iterdir() if "moving" in p.name) == ["moving.jsonl"]  # no half files
