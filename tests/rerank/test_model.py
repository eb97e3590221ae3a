"""A trained reranker: saved and loaded back, used by the Tagger, and refused when its
features or its index build differ."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from toy_catalog import edit_manifest

from retrieval_tagger.errors import RerankerError


def test_train_save_load_round_trip(reranked, catalog_dir):
    from retrieval_tagger.pipeline import Tagger
    from retrieval_tagger.rerank import model

    folder, info = reranked
    man = json.loads((folder / "reranker" / "manifest.json").read_text())
    assert man["format"] == "rtag-reranker" and man["features"] == info["features"]
    assert man["files"]["model.txt"]["sha256"] and man["training"]["report"]["reranked"]["facet_accuracy"] is not None
    tagger = Tagger.load(folder)
    assert tagger.reranker is not None and tagger.reranker.features == info["features"]
    products = [{"id": "q1", "text": "red cotton shirt"}, {"id": "q2", "image": str(catalog_dir / "images" / "p07.png")}]
    again = Tagger.load(folder)
    scores, _, _, _ = tagger.score(products)
    assert np.array_equal(scores, again.score(products)[0])
    assert scores.min() >= 0 and scores.max() <= 1
    plain, _, _, _ = tagger.score(products, rerank=False)
    assert not np.array_equal(scores, plain)
    assert Tagger.load(folder, rerank=False).reranker is None
    reloaded = model.load(tagger.index)
    assert reloaded.booster.model_to_string() == tagger.reranker.booster.model_to_string()


def test_a_reranker_with_other_features_is_refused(reranked, tmp_path):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    folder, _ = reranked
    copy = tmp_path / "index"
    shutil.copytree(folder, copy)
    edit_manifest(copy / "reranker", lambda man: man.update(features=[f for f in man["features"] if f != "pmi_min"] + ["brand_match"]))
    with pytest.raises(RerankerError, match="missing: pmi_min; unexpected: brand_match.*train-reranker"):
        model.load(open_index(copy))
    (copy / "reranker" / "model.txt").write_text("tampered")
    with pytest.raises(RerankerError, match="model.txt has 8 bytes"):
        model.load(open_index(copy))


def test_a_reranker_of_another_index_build_is_refused(reranked, tmp_path):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    folder, _ = reranked
    copy = tmp_path / "index"
    shutil.copytree(folder, copy)
    edit_manifest(copy / "reranker", lambda man: man["index"].update(created="2020-01-01T00:00:00+00:00"))
    with pytest.raises(RerankerError, match="another build of this index"):
        model.load(open_index(copy))
