"""Same input, same tags: a product gets identical scores and tags whether it is tagged in
one batch with others or alone (faiss switches to a BLAS scan at 20 queries, numpy's
kernels treat rows apart; see retrieval_tagger/index/exact.py)."""

from __future__ import annotations

import numpy as np
import pytest
from toy_catalog import catalog_rows


@pytest.fixture(scope="module")
def queries(catalog_dir) -> list[dict]:
    """The 30 catalog products as new products (own photo, reworded title) and 10 text-only
    ones: more than faiss's BLAS threshold of 20 queries."""
    rows = catalog_rows()
    photos = [{"id": f"q{r['id']}", "text": f"{r['title']} for sale", "image": str(catalog_dir / r["image"])} for r in rows]
    texts = [{"id": f"t{i}", "text": f"{r['colour']} {r['article']} with pockets"} for i, r in enumerate(rows[:10])]
    return photos + texts


@pytest.mark.parametrize("options", [{}, {"rerank": False, "diversity": 1.0}, {"top_n": 10}], ids=["default", "plain", "top10"])
def test_tags_in_one_batch_equal_tags_one_at_a_time(both_tagger, queries, options):
    batch = [r.to_dict() for r in both_tagger.tag(queries, **options)]
    alone = [both_tagger.tag([q], **options)[0].to_dict() for q in queries]
    assert batch == alone


def test_fused_scores_bit_identical_in_any_batching(both_tagger, queries):
    whole, *_ = both_tagger.score(queries)
    alone = np.concatenate([both_tagger.score([q])[0] for q in queries])
    halves = np.concatenate([both_tagger.score(queries[i:i + 7])[0] for i in range(0, len(queries), 7)])
    np.testing.assert_array_equal(whole, alone)
    np.testing.assert_array_equal(whole, halves)


def test_stored_vocabulary_scores_bit_identical_alone_and_in_a_batch(vocab_tagger, queries):
    texts = [{"id": q["id"], "text": q["text"]} for q in queries]
    for name in ("facets", "tax"):
        whole, *_ = vocab_tagger.score_vocab(texts, vocab=name)
        alone = np.concatenate([vocab_tagger.score_vocab([q], vocab=name)[0] for q in texts])
        np.testing.assert_array_equal(whole, alone)
