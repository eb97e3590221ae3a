"""The lexical model's files: written without pickle, read back equal, and refused with the
file's name when an array does not fit the index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.index import lexical_store
from retrieval_tagger.index.lexical_store import LexicalArrays


class Refused(Exception):
    pass


def _arrays(n_products: int = 4, n_tags: int = 3) -> LexicalArrays:
    rng = np.random.default_rng(0)
    vocabulary = {"word": ["red", "shirt"], "char": [" r", "re", "ed"]}
    oof = sparse.csr_matrix(np.where(rng.random((n_products, n_tags)) > 0.5, rng.random((n_products, n_tags)), 0).astype(np.float32))
    return LexicalArrays({"C": 1.0}, vocabulary, {"word": np.ones(2, np.float32), "char": np.full(3, 2.0, np.float32)},
                         rng.standard_normal((5, n_tags)).astype(np.float32), rng.standard_normal(n_tags).astype(np.float32),
                         np.asarray([True, True, False]), oof, seconds=1.5)


def _load(folder, section, n_products=4, n_tags=3) -> LexicalArrays:
    def read_array(name, ndim, kinds):
        array = np.load(folder / name, allow_pickle=False)
        assert array.ndim == ndim and array.dtype.kind in kinds
        return array

    def require(ok, name, what):
        if not ok:
            raise Refused(f"{name}: {what}")

    return lexical_store.load(section, read_array, lambda name: json.loads((folder / name).read_text()), require, n_products, n_tags)


def test_saved_arrays_read_back_equal(tmp_path):
    saved = _arrays()
    section = lexical_store.save(saved, tmp_path)
    assert section["features"] == 5 and section["classifiers"] == 2 and section["train_s"] == 1.5
    assert section["bytes"] == sum(p.stat().st_size for p in tmp_path.iterdir())
    loaded = _load(tmp_path, section)
    assert loaded.vocabulary == saved.vocabulary and loaded.params == saved.params
    for name in ("coef", "intercept", "modelled"):
        assert np.array_equal(getattr(loaded, name), getattr(saved, name))
    assert np.array_equal(loaded.oof.toarray(), saved.oof.toarray())
    assert all(np.array_equal(loaded.idf[b], saved.idf[b]) for b in lexical_store.BLOCKS)


def test_arrays_that_do_not_fit_the_index_are_refused_by_name(tmp_path):
    section = lexical_store.save(_arrays(), tmp_path)
    with pytest.raises(Refused, match="lexical_coef.npy: its shape"):
        _load(tmp_path, section, n_tags=4)
    with pytest.raises(Refused, match="lexical_oof_indptr.npy"):
        _load(tmp_path, section, n_products=5)
    np.save(tmp_path / "lexical_idf_char.npy", np.ones(2, np.float32))
    with pytest.raises(Refused, match="lexical_idf_char.npy: it has 2 values for 3 terms"):
        _load(tmp_path, section)
