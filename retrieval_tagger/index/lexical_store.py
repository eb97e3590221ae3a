"""The lexical model's files in an index folder (signals/lexical.py is the signal).

No pickle: the vectorizers' vocabularies are one JSON file, everything else ``.npy``
arrays (idf per block, coefficients, intercepts, which tags have a classifier, and the
catalog's out-of-fold scores as the three arrays of a CSR matrix). The manifest's
``lexical`` section names the files and holds the settings; the index's manifest lists
their sizes and sha256 like every other file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

BLOCKS = ("word", "char")
VOCABULARY = "lexical_vocabulary.json"
# array -> (file, dimensions, numpy kinds)
ARRAYS = {
    "idf_word": ("lexical_idf_word.npy", 1, "f"),
    "idf_char": ("lexical_idf_char.npy", 1, "f"),
    "coef": ("lexical_coef.npy", 2, "f"),
    "intercept": ("lexical_intercept.npy", 1, "f"),
    "modelled": ("lexical_modelled.npy", 1, "b"),
    "oof_data": ("lexical_oof_data.npy", 1, "f"),
    "oof_indices": ("lexical_oof_indices.npy", 1, "i"),
    "oof_indptr": ("lexical_oof_indptr.npy", 1, "i"),
}


@dataclass
class LexicalArrays:
    """A lexical model: ``coef`` is (features x tags), the word block's features first;
    ``oof`` is the (products x tags) out-of-fold scores of the catalog."""

    params: dict
    vocabulary: dict[str, list[str]]
    idf: dict[str, np.ndarray]
    coef: np.ndarray
    intercept: np.ndarray
    modelled: np.ndarray  # (tags,) whether the tag has a classifier (rare free tags do not)
    oof: sparse.csr_matrix
    seconds: float = 0.0  # training time, for the manifest
    extra: dict = field(default_factory=dict)


def save(arrays: LexicalArrays, folder: Path) -> dict:
    """Write the model's files into ``folder`` (an index being written) and return the
    manifest's ``lexical`` section."""
    (folder / VOCABULARY).write_text(json.dumps(arrays.vocabulary, ensure_ascii=False), encoding="utf-8")
    values = {
        "idf_word": arrays.idf["word"], "idf_char": arrays.idf["char"], "coef": arrays.coef,
        "intercept": arrays.intercept, "modelled": arrays.modelled, "oof_data": arrays.oof.data,
        "oof_indices": arrays.oof.indices, "oof_indptr": arrays.oof.indptr,
    }
    for key, (name, _, _) in ARRAYS.items():
        np.save(folder / name, np.ascontiguousarray(values[key]))
    files = [VOCABULARY] + [name for name, _, _ in ARRAYS.values()]
    return {
        "params": arrays.params,
        "features": int(arrays.coef.shape[0]),
        "classifiers": int(arrays.modelled.sum()),
        "train_s": round(float(arrays.seconds), 2),
        "bytes": int(sum((folder / name).stat().st_size for name in files)),
    }


def load(section: dict, read_array, read_json, require, n_products: int, n_tags: int) -> LexicalArrays:
    """The model an index's ``lexical`` section describes, every array checked.

    ``read_array(name, ndim, kinds)`` and ``read_json(name)`` read a file of the index;
    ``require(ok, name, what)`` raises the index's format error when ``ok`` is false.
    """
    vocabulary = read_json(VOCABULARY)
    require(isinstance(vocabulary, dict) and all(isinstance(vocabulary.get(b), list) for b in BLOCKS), VOCABULARY,
            "it is not the vocabularies of the word and char blocks")
    a = {key: read_array(name, ndim, kinds) for key, (name, ndim, kinds) in ARRAYS.items()}
    n_features = sum(len(vocabulary[b]) for b in BLOCKS)
    for b in BLOCKS:
        require(len(a[f"idf_{b}"]) == len(vocabulary[b]), ARRAYS[f"idf_{b}"][0], f"it has {len(a[f'idf_{b}'])} values for {len(vocabulary[b])} terms")
    require(a["coef"].shape == (n_features, n_tags), ARRAYS["coef"][0], f"its shape {a['coef'].shape} is not ({n_features} features x {n_tags} tags)")
    for key in ("intercept", "modelled"):
        require(len(a[key]) == n_tags, ARRAYS[key][0], f"it has {len(a[key])} entries for {n_tags} tags")
    indptr, indices = a["oof_indptr"], a["oof_indices"]
    require(len(indptr) == n_products + 1 and indptr[0] == 0 and indptr[-1] == len(indices) == len(a["oof_data"])
            and (np.diff(indptr) >= 0).all(), ARRAYS["oof_indptr"][0], f"it is not the row pointer of {n_products} products' scores")
    require(len(indices) == 0 or (indices.min() >= 0 and indices.max() < n_tags), ARRAYS["oof_indices"][0], f"it names tags outside the {n_tags}")
    finite = all(np.isfinite(a[key]).all() for key in ("idf_word", "idf_char", "coef", "intercept", "oof_data"))
    require(finite, ARRAYS["coef"][0], "the lexical model holds values that are not finite")
    oof = sparse.csr_matrix((a["oof_data"].astype(np.float32), indices, indptr), shape=(n_products, n_tags))
    return LexicalArrays(dict(section["params"]), vocabulary, {b: a[f"idf_{b}"] for b in BLOCKS}, a["coef"].astype(np.float32, copy=False),
                         a["intercept"].astype(np.float32, copy=False), a["modelled"], oof, float(section.get("train_s", 0.0)))
