"""Zero-shot scores: similarity of a product to the names of the tags.

Raw cosine similarities are not comparable across products, so within each group of
competing tags (the values of one facet, or all free tags) they are turned into a
distribution by a softmax at ``temperature``: :class:`NamesSignal`.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.index.exact import inner_products
from retrieval_tagger.signals.base import Candidates, Scored, Signal
from retrieval_tagger.signals.fit import FitSample, Fitted, micro_accuracy, true_tag_nll
from retrieval_tagger.tags import tag_groups

GRID_T = (0.01, 0.02, 0.05, 0.1)


def group_softmax(sims: np.ndarray, groups: list[np.ndarray], temperature: float) -> np.ndarray:
    """Softmax of ``sims`` (queries x tags) within each column group, in float64 so that
    numpy's vector kernels (which treat an array's last few elements apart) cannot make a
    row's values depend on the other rows."""
    out = np.zeros_like(sims, dtype=np.float32)
    for cols in groups:
        sub = np.asarray(sims[:, cols], np.float64) / max(temperature, 1e-6)
        sub = np.exp(sub - sub.max(axis=1, keepdims=True))
        out[:, cols] = sub / sub.sum(axis=1, keepdims=True)
    return out


def fit_names(sims: np.ndarray, groups, truth) -> tuple[dict, np.ndarray, float]:
    """Zero-shot temperature, scores and accuracy.

    The softmax keeps the order of tags, so accuracy cannot choose the temperature;
    the likelihood of the true tags (calibration) does.
    """
    best = None
    for temp in GRID_T:
        scores = group_softmax(sims, groups, temp)
        nll = true_tag_nll(scores, groups, truth)
        if best is None or nll < best[2]:
            best = ({"temperature": temp}, scores, nll)
    params, scores, _ = best
    return params, scores, micro_accuracy(scores, groups, truth)


def has_image_names(index) -> bool:
    """Whether ``index`` has tag names in its image model's space, comparable with its photos."""
    if "image" not in index.modalities or "image" not in index.vocab_vectors:
        return False
    encoder = index.manifest["encoders"].get("image")
    return encoder is not None and index.vocab_vectors["image"].shape[1] == encoder["dim"]


class NamesSignal(Signal):
    """Zero-shot: the product text's similarity to each tag's name, as a softmax within
    each group of competing tags."""

    inputs = frozenset({"text"})
    defaults = {"temperature": 0.05}
    default_weight = 0.1
    shortlists = True

    def prepare(self, index) -> list[np.ndarray]:
        return tag_groups(index.vocab)

    def score(self, index, queries, params: dict, groups, keep: bool) -> Scored:
        at, n_tags = queries.text_at, len(index.vocab)
        extras = {}
        if len(at) and queries.text_vectors is not None:
            sims = inner_products(queries.text_vectors, index.vocab_vectors["text"])
            scores = group_softmax(sims, groups, params["temperature"])
            if keep:
                extras["text_sims"] = _spread(queries.n, at, sims)
        else:  # rows with text but no text vectors are present, with no evidence
            scores = np.zeros((len(at), n_tags), np.float32)
        tag_vectors, image_vectors = index.vocab_vectors.get("image"), queries.image_vectors
        if keep and len(queries.image_at) and tag_vectors is not None and image_vectors is not None and tag_vectors.shape[1] == image_vectors.shape[1]:
            extras["image_sims"] = _spread(queries.n, queries.image_at, inner_products(image_vectors, tag_vectors))
        return Scored(at, scores, extras)

    def fit(self, index, sample: FitSample, groups) -> Fitted:
        """The temperature of :func:`fit_names` on the sample's products with text; the
        others score a softmax of zero similarities and do not count."""
        present = sample.has["text"]
        sims = np.where(present[:, None], inner_products(sample.vectors["text"], index.vocab_vectors["text"]), 0.0).astype(np.float32)
        params, _, acc = fit_names(sims[present], groups, sample.truth[present])
        return Fitted(params, group_softmax(sims, groups, params["temperature"]), present, acc)

    def feature_names(self, index) -> list[str]:
        return ["names_score", "names_rank", "name_sim"] + (["image_name_sim"] if has_image_names(index) else [])

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        scores = candidates.gather(found.scores[self.name])
        extras = found.extras.get(self.name, {})

        def sims(key: str) -> np.ndarray:
            return candidates.gather(extras[key]) if key in extras else np.full(candidates.cols.shape, np.nan, np.float32)

        return {"names_score": scores, "names_rank": candidates.ranks(scores), "name_sim": sims("text_sims"), "image_name_sim": sims("image_sims")}


def _spread(n: int, at: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """(n x tags) similarities: ``sims`` on rows ``at``, NaN elsewhere."""
    out = np.full((n, sims.shape[1]), np.nan, dtype=np.float32)
    out[at] = sims
    return out
