"""Zero-shot scores: similarity of a product to the names of the tags.

Raw cosine similarities are not comparable across products, so within each group of
competing tags (the values of one facet, or all free tags) they are turned into a
distribution by a softmax at ``temperature``.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.vocab import TagVocab


def tag_groups(vocab: TagVocab) -> list[np.ndarray]:
    """Column groups of competing tags: one per facet, plus one of all free tags."""
    groups = list(vocab.facets.values())
    if len(vocab.free):
        groups.append(vocab.free)
    return groups


def group_softmax(sims: np.ndarray, groups: list[np.ndarray], temperature: float) -> np.ndarray:
    """Softmax of ``sims`` (queries x tags) within each column group."""
    out = np.zeros_like(sims, dtype=np.float32)
    for cols in groups:
        sub = sims[:, cols] / max(temperature, 1e-6)
        sub = np.exp(sub - sub.max(axis=1, keepdims=True))
        out[:, cols] = sub / sub.sum(axis=1, keepdims=True)
    return out


def name_scores(query_vectors: np.ndarray, tag_vectors: np.ndarray, vocab: TagVocab, temperature: float) -> np.ndarray:
    """Zero-shot scores (queries x tags) of unit query vectors against unit tag vectors."""
    return group_softmax(query_vectors @ tag_vectors.T, tag_groups(vocab), temperature)


# An ensemble of prompts per tag name: the bare name matches how titles name things, the
# templated ones how captions do; averaging their embeddings smooths over both.
DEFAULT_TEMPLATES = ("{}", "a photo of {}", "a product photo of {}", "{} product")


def prompt_vectors(encode, names: list[str], templates=DEFAULT_TEMPLATES) -> np.ndarray:
    """Unit vectors of ``names``, each the mean of its prompt ``templates`` embedded by ``encode``
    (a function from a list of texts to unit row vectors)."""
    templates = list(templates) or ["{}"]
    texts = [t.format(name) for name in names for t in templates]
    vectors = np.asarray(encode(texts), dtype=np.float32).reshape(len(names), len(templates), -1).mean(axis=1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def tag_statistics(reference_sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of each tag's similarity over reference products (no labels needed)."""
    mean = reference_sims.mean(axis=0)
    std = reference_sims.std(axis=0)
    return mean.astype(np.float32), np.maximum(std, 1e-4).astype(np.float32)


def standardise(sims: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Per-tag z-scores: how unusually close a product is to a tag, compared with the
    catalog. Raw image-text similarities favour a few generic tag names for every
    product; z-scores put all tags on one scale."""
    return (sims - mean) / std
