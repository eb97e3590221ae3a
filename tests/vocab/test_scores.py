"""Zero-shot scoring maths: calibration per tag, the spaces a product has fused, the score
mapping, and the few-shot blend with votes."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.vocab import scores as vocab_scores


def test_calibration_centres_each_tag_and_scales_by_the_space():
    sims = np.array([[0.1, 0.8], [0.3, 0.6], [0.2, 0.7]], dtype=np.float32)
    stats = vocab_scores.statistics(sims)
    np.testing.assert_allclose(stats[0], [0.2, 0.7], atol=1e-6)
    np.testing.assert_allclose(stats[2], [sims.std(0).mean()] * 2, rtol=1e-5)
    query = np.array([[0.3, 0.7]], dtype=np.float32)
    np.testing.assert_allclose(vocab_scores.calibrate(query, stats, "centred"), [[0.1 / sims.std(0).mean(), 0.0]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(vocab_scores.calibrate(query, stats, "z"), [[0.1 / sims[:, 0].std(), 0.0]], rtol=1e-4, atol=1e-5)
    raw = vocab_scores.calibrate(query, stats, "raw")
    assert raw[0, 1] > raw[0, 0]  # raw keeps the order of the similarities


def test_zero_shot_fuses_the_spaces_a_product_has():
    vectors = {"text": np.eye(2, dtype=np.float32), "image": np.eye(2, dtype=np.float32)}
    stats = {s: np.stack([np.zeros(2), np.ones(2), np.ones(2)]).astype(np.float32) for s in vectors}
    queries = {"text": (np.array([0, 1]), np.array([[1, 0], [0, 1]], np.float32)),
               "image": (np.array([1]), np.array([[1, 0]], np.float32))}
    z, present = vocab_scores.zero_shot_z(3, queries, vectors, stats)
    np.testing.assert_allclose(z, [[1, 0], [0.5, 0.5], [0, 0]])
    assert present.tolist() == [True, True, False]
    z, _ = vocab_scores.zero_shot_z(2, queries, vectors, stats, weights={"text": 1.0, "image": 0.0})
    np.testing.assert_allclose(z, [[1, 0], [0, 1]])


def test_score_mapping_is_monotone_and_centred():
    z = np.linspace(-5, 10, 200)
    scores = vocab_scores.to_score(z)
    assert np.all(np.diff(scores) > 0) and 0 < scores.min() and scores.max() < 1
    assert vocab_scores.to_score(np.array([vocab_scores.CENTRE]))[0] == pytest.approx(0.5)


def test_few_shot_blend_leans_on_votes_as_examples_grow():
    z = np.array([[vocab_scores.CENTRE] * 3])
    votes = np.zeros((1, 3))
    counts = np.array([0.0, vocab_scores.FEW_SHOT_PRIOR, 1000.0])
    blended = vocab_scores.blend(z, votes, counts, "auto")[0]
    assert blended[0] == pytest.approx(0.5) and blended[1] == pytest.approx(0.25) and blended[2] < 0.01
    assert np.array_equal(vocab_scores.blend(z, votes, counts, "knn"), votes)
    np.testing.assert_allclose(vocab_scores.blend(z, votes, counts, "zeroshot"), [[0.5, 0.5, 0.5]])
    # within an exclusive group the zero-shot side is a share, comparable with vote shares
    grouped = vocab_scores.blend(np.array([[3.0, 1.0, 1.0]]), np.array([[0.0, 0.5, 0.5]]), np.array([0.0, 1e6, 1e6]), "auto", [np.arange(3)])[0]
    assert grouped[0] == pytest.approx(np.exp(3) / (np.exp(3) + 2 * np.e), rel=1e-4)
    np.testing.assert_allclose(grouped[1:], [0.5, 0.5], atol=1e-4)


def test_a_space_that_scores_some_tags_is_averaged_over_those_only():
    # colour_names scores tag 0 only (tag 1's vector is zero): tag 1 keeps the text z alone
    vectors = {"text": np.eye(2, dtype=np.float32), "colour_names": np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)}
    stats = {s: np.stack([np.zeros(2), np.ones(2), np.ones(2)]).astype(np.float32) for s in vectors}
    queries = {"text": (np.array([0]), np.array([[0.0, 1.0]], np.float32)),
               "colour_names": (np.array([0, 1]), np.array([[3.0, 0.0], [1.0, 0.0]], np.float32))}
    z, present = vocab_scores.zero_shot_z(2, queries, vectors, stats, weights={"text": 1.0, "colour_names": 1.0})
    np.testing.assert_allclose(z, [[1.5, 1.0], [1.0, 0.0]])
    assert present.tolist() == [True, True]


def test_statistics_of_a_space_ignore_the_tags_it_never_scores():
    sims = np.array([[0.5, 0.0, 0.1], [0.1, 0.0, 0.3]], np.float32)
    stats = vocab_scores.statistics(sims)
    np.testing.assert_allclose(stats[0], [0.3, 0.25, 0.2], atol=1e-6)  # tag 1 takes the scored tags' mean
    np.testing.assert_allclose(stats[2], [0.15] * 3, atol=1e-6)  # the typical spread of the scored tags
    assert vocab_scores.tag_space("colour_names") == "colour_names" and vocab_scores.tag_space("text_neighbours") == "text"
