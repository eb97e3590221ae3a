"""Retrieval recall between paired embeddings, by hand: a retrieved item counts when its
title equals the query's, and k is capped at the number of pairs."""

from __future__ import annotations

import numpy as np

from retrieval_tagger.align.recall import KS, retrieval_recall

# image i is most like text PERM[i]: image 0 finds its own text, images 1 and 2 each other's
PERM = [0, 2, 1]
IMAGES = np.eye(3, dtype=np.float32)
TEXTS = np.eye(3, dtype=np.float32)[np.argsort(PERM)]


def test_recall_at_1_counts_only_the_right_title():
    recall = retrieval_recall(IMAGES, TEXTS, ["red circle", "blue square", "green triangle"])
    assert recall["i2t_r1"] == recall["t2i_r1"] == recall["mean_r1"] == round(1 / 3, 4)
    # k past the number of pairs sees every title
    assert recall["i2t_r10"] == recall["t2i_r10"] == 1.0
    assert set(recall) == {f"{d}_r{k}" for d in ("i2t", "t2i", "mean") for k in KS}


def test_a_retrieved_item_with_the_same_title_counts():
    # products 1 and 2 share a title: retrieving either one's is right
    recall = retrieval_recall(IMAGES, TEXTS, ["red circle", "blue square", "blue square"])
    assert recall["i2t_r1"] == recall["t2i_r1"] == 1.0


def test_directions_are_measured_apart():
    images = np.array([[1.0, 0.0], [0.9, 0.1]], np.float32)  # both images look most like text 0
    texts = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    recall = retrieval_recall(images, texts, ["a", "b"])
    assert recall["i2t_r1"] == 0.5  # image 1 finds text 0
    assert recall["t2i_r1"] == 1.0  # yet text 1 finds image 1 (0.1 against 0)
    assert recall["mean_r1"] == 0.75
