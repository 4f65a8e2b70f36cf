"""Token counting: a real tokenizer.json through the `tokenizers` library when one is at hand, otherwise an estimate
that says so; and validate_dataset's token statistics with each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools.tokens import EstimateCounter, TokenizerCounter, get_counter

WORDS = "hello world tuning gemini model answer question the a of".split()


@pytest.fixture
def tokenizer_json(tmp_path: Path) -> Path:
    """A word-level tokenizer trained here on a few words: small, offline, and exact to reason about."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(WORDS)], trainers.WordLevelTrainer(special_tokens=["<unk>"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


def test_estimate_is_about_four_characters_a_token_and_says_so():
    counter = EstimateCounter()
    assert counter.estimated is True and "estimate" in counter.name
    assert counter.count("a" * 40) == 10
    assert counter.count("a" * 41) == 11
    assert counter.count_many(["abcd", "abcdefgh", ""]) == [1, 2, 0]
    assert counter.count_total(["ab", "ab"]) == 1  # one sequence, rounded once
    # Chinese takes about a token per two characters in Gemma's vocabulary (23 for 39 measured), not one per four.
    assert counter.count("\u6570\u636e" * 20) == 20
    assert counter.count("caf\u00e9 cr\u00e8me") == 3  # accented Latin stays near four characters a token
    # Cyrillic (two bytes a letter) comes out near three characters a token, as tools/tokens.py says.
    assert counter.count("\u041f\u0440\u0438\u0432\u0435\u0442 " * 10) == 22  # 70 characters


def test_a_tokenizer_json_gives_exact_counts(tokenizer_json, monkeypatch):
    monkeypatch.setenv("GTO_TOKENIZER", str(tokenizer_json))
    counter = get_counter("gemini-2.5-flash")
    assert isinstance(counter, TokenizerCounter) and counter.estimated is False
    assert counter.count("hello world") == 2
    assert counter.count("hello, unknownword!") == 4  # hello , <unk> !
    assert counter.count_many(["gemini model", "a", ""]) == [2, 1, 0]
    assert counter.count_total(["the answer", "of the question"]) == 5


@pytest.mark.parametrize("setting", ["estimate", "/no/such/tokenizer.json"])
def test_explicit_settings_that_give_the_estimate(setting, monkeypatch):
    monkeypatch.setenv("GTO_TOKENIZER", setting)
    assert get_counter().estimated is True


def test_without_a_built_tokenizer_the_estimate_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv("GTO_TOKENIZER")
    monkeypatch.setenv("GTO_CACHE", str(tmp_path / "empty-cache"))  # the local backend has built nothing here
    assert get_counter().estimated is True


def test_without_the_local_backend_the_estimate_is_used(monkeypatch, tmp_path):
    monkeypatch.delenv("GTO_TOKENIZER")
    monkeypatch.setitem(sys.modules, "tools.backends.local.weights", None)  # the local extra is not installed
    monkeypatch.setenv("GTO_CACHE", str(tmp_path / "never-built"))
    assert get_counter().estimated is True


def test_the_local_backends_tokenizer_is_picked_up(monkeypatch, tmp_path, tokenizer_json):
    weights = pytest.importorskip("tools.backends.local.weights")
    monkeypatch.delenv("GTO_TOKENIZER")
    monkeypatch.setenv("GTO_CACHE", str(tmp_path / "cache"))
    target = weights.tokenizer_json_path(build=False)
    assert target is None
    cached = weights.package_model_dir() / "tokenizer.json"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(tokenizer_json.read_bytes())
    counter = get_counter("gemini-2.5-flash")
    assert counter.estimated is False and counter.count("hello world") == 2


def test_an_unreadable_tokenizer_falls_back_to_the_estimate(monkeypatch, tmp_path):
    broken = tmp_path / "broken-tokenizer.json"
    broken.write_text("{not a tokenizer")
    monkeypatch.setenv("GTO_TOKENIZER", str(broken))
    assert get_counter().estimated is True


def test_validation_counts_with_the_tokenizer(tokenizer_json, monkeypatch, write_jsonl, call):
    monkeypatch.setenv("GTO_TOKENIZER", str(tokenizer_json))
    rows = [{"systemInstruction": {"parts": [{"text": "the model"}]},
             "contents": [{"role": "user", "parts": [{"text": "hello world " * i}]},
                          {"role": "model", "parts": [{"text": "a answer"}]}]} for i in range(1, 101)]
    rows.append({"contents": [{"role": "user", "parts": [{"text": "hello " * 33_000}]},
                              {"role": "model", "parts": [{"text": "a"}]}]})
    rows.append({"id": 1, **rows[-1]})  # an error and over the limit: still one invalid example
    report = call("validate_dataset", path=write_jsonl("t.jsonl", rows), base_model="gemma-3-270m").output
    tokens = report.train.tokens
    assert tokens.estimated is False and report.tokens_estimated is False
    expected = [2 + 2 * i + 2 for i in range(1, 101)] + [33_001, 33_001]
    assert tokens.total == sum(expected) and tokens.max == 33_001 and tokens.min == 6
    assert tokens.avg_output_tokens == pytest.approx((2 * 100 + 2) / 102, abs=0.05)
    assert tokens.billable_per_epoch == sum(expected[:-2]) + 2 * 32_768  # an over-long example is cut at the limit
    over = report.train.errors_by_kind["tokens_over_limit"]
    assert over.examples[0].message == ("line 101: the example has 33,001 tokens; the base model takes at most "
                                        "32,768 per example")
    assert report.train.valid_examples == 100 and tokens.over_limit == 2


def test_big_inputs_use_the_estimate_and_say_why(tokenizer_json, monkeypatch):
    from tools.tokens import EXACT_MAX_BYTES

    monkeypatch.setenv("GTO_TOKENIZER", str(tokenizer_json))
    assert get_counter("gemini-2.5-flash", EXACT_MAX_BYTES).estimated is False
    big = get_counter("gemini-2.5-flash", EXACT_MAX_BYTES + 1)
    assert big.estimated is True and "would take minutes" in big.name
