"""Tag co-occurrence on a hand-made catalog: PMI, priors and the tag-tag similarity,
checked against the formulas worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.cooccurrence import SMOOTHING, Cooccurrence

RED, BLUE, SHIRT, HAT, COTTON = range(5)
# four products: red shirt cotton, red hat, blue shirt, blue hat cotton; a weight of 2 counts once
PRODUCT_TAGS = sparse.csr_matrix(np.array([
    [1, 0, 2, 0, 1],
    [1, 0, 0, 1, 0],
    [0, 1, 1, 0, 0],
    [0, 1, 0, 1, 1],
], dtype=np.float32))
S = SMOOTHING


def test_counts_are_products_tagged_not_weights():
    cooc = Cooccurrence.from_product_tags(PRODUCT_TAGS)
    assert cooc.n == 4
    np.testing.assert_array_equal(cooc.counts, [2, 2, 2, 2, 2])
    assert cooc.pairs[RED, SHIRT] == cooc.pairs[SHIRT, RED] == 1 and cooc.pairs[RED, BLUE] == 0
    assert cooc.pairs[SHIRT, SHIRT] == 2


def test_pmi_and_prior_by_hand():
    cooc = Cooccurrence.from_product_tags(PRODUCT_TAGS)
    pmi = cooc.pmi(np.array([RED, RED]), np.array([SHIRT, BLUE]))
    assert pmi.dtype == np.float32
    assert pmi[0] == pytest.approx(math.log(1 + S) + math.log(4 + S) - 2 * math.log(2 + S), rel=1e-6)
    assert pmi[1] == pytest.approx(math.log(0 + S) + math.log(4 + S) - 2 * math.log(2 + S), rel=1e-6)
    assert pmi[0] > pmi[1]  # met once beats never met
    # broadcast: one tag against every tag
    assert cooc.pmi(np.array([[RED]]), np.arange(5)[None, :]).shape == (1, 5)
    np.testing.assert_allclose(cooc.log_prior(np.array([RED, HAT])), [math.log((2 + S) / (4 + S))] * 2, rtol=1e-6)


def test_similarity_is_normalised_pmi_clipped_to_0_and_1():
    sim = Cooccurrence.from_product_tags(PRODUCT_TAGS).similarity()
    np.testing.assert_allclose(np.diag(sim), 1.0, rtol=1e-5)  # a tag always occurs with itself
    np.testing.assert_allclose(sim, sim.T)
    assert sim[RED, BLUE] == 0.0  # never together: negative PMI, clipped
    joint, alone = (1 + S) / (4 + S), (2 + S) / (4 + S)
    assert sim[RED, SHIRT] == pytest.approx((math.log(joint) - 2 * math.log(alone)) / -math.log(joint), rel=1e-5)
    assert 0.0 < sim[RED, SHIRT] < 1.0
