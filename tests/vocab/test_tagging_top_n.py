"""`top_n` with a taxonomy keeps the first nodes of the predicted path from the root, as
it keeps the first tags of a flat list."""

from __future__ import annotations

import pytest
from toy_catalog import VOCAB_QUERIES


@pytest.mark.parametrize("top_n", [1, 2])
def test_top_n_cuts_a_taxonomy_path_from_the_root(vocab_tagger, top_n):
    full = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="zeroshot")
    cut = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", mode="zeroshot", top_n=top_n)
    assert any(len(r.tags) > top_n for r in full)  # the toy taxonomy's paths are deeper than the cut
    for whole, part in zip(full, cut):
        assert part.tags == whole.tags[:top_n]
