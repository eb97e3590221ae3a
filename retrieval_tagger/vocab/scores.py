"""Scores of products against a stored vocabulary: calibrated zero-shot similarity,
blended with neighbour votes where the catalog has examples of a tag.

Zero-shot spaces, each compared with the tag vectors:

- ``text``: the product's title vs the tags in the text model's space;
- ``image``: the photo vs the tags in the image model's text space (aligned models only);
- ``text_neighbours``, ``image_neighbours``, ``colour_neighbours``: the mean title of
  the product's nearest catalog products in that store (see title_bridge.py) vs the tags
  in the text space;
- ``colour_names``: the share of the photo's pixels named as each colour tag
  (encoders/colour_names.py); it scores only the tags of colour groups, and a tag that a
  space does not score (a zero tag vector) is averaged over the other spaces.

In each space similarities are put on one scale with statistics of the catalog's own
products (no labels needed; see ``calibrate``), and the spaces a product has are
averaged. ``score = sigmoid(SLOPE * (z - CENTRE))`` maps the result to [0, 1] the same
way for every vocabulary, so ``--min-score`` means the same everywhere: 0.5 is a product
``CENTRE`` typical spreads above the catalog's average similarity to the vocabulary.

Per-tag calibration (centring each tag on its catalog mean, or z-scoring it) makes tags
comparable in the sense of "unusually close for this tag", but it also removes each
tag's prior: measured on a fashion catalog sample (benchmarks/fashion_vocab.py, products
left out of their own neighbours) it lowered title+image facet accuracy from 0.60 (raw)
to 0.50 (centred) and 0.44 (z). So the default keeps each tag's similarity and only
shifts and scales each space as a whole; ``vocab_calibration`` selects the others.

Few-shot (``mode="auto"``): a tag with ``n`` tagged catalog examples gets
``w * votes + (1 - w) * zero-shot`` with ``w = n / (n + FEW_SHOT_PRIOR)``: frequent tags
lean on their neighbours' votes, rare and new ones on their names.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.encoders import colour
from retrieval_tagger.index.exact import inner_products
from retrieval_tagger.signals.settings import FusionSettings
from retrieval_tagger.vocab import bridge as title_bridge

MODES = ("auto", "knn", "zeroshot")
SPACES = ("text", "image", "text_neighbours", "image_neighbours", "colour_neighbours", "colour_names")
# "raw": minus the space's mean similarity, over its typical spread (one shift and scale
# per space); "centred": minus each tag's own mean; "z": each tag's own mean and spread
CALIBRATIONS = ("raw", "centred", "z")
CALIBRATION = "raw"
# the product's own title and photo count fully, the three neighbour spaces together as
# one: measured on a fashion catalog sample, mean facet accuracy 0.622 against 0.621 with
# all spaces equal and 0.598 with title and photo alone (benchmarks/fashion_vocab.py);
# colour names at 0.2 (of 0.1-1.0, same catalog sample): baseColour 0.717 against 0.658
DEFAULT_WEIGHTS = {"text": 1.0, "image": 1.0, "text_neighbours": 1 / 3, "image_neighbours": 1 / 3, "colour_neighbours": 1 / 3,
                   "colour_names": 0.2}
CENTRE = 2.0
SLOPE = 1.5
FEW_SHOT_PRIOR = 5.0
# a taxonomy reached through the catalog's tags (catalog_map.py): the share of the
# neighbours' mapped votes in the final subtree mass, the rest from the product's own
# zero-shot scores, made a distribution over nodes at this temperature (z units)
BRIDGE_WEIGHT = 0.8
ZERO_SHOT_TEMPERATURE = 0.25


def tag_space(space: str) -> str:
    """Which tag vectors a space compares with: the image model's for ``image``, else the text model's."""
    return space if space in ("image", "colour_names") else "text"


def space_queries(index, queries, fusion: FusionSettings, titles: np.ndarray | None, self_rows: np.ndarray | None = None) -> dict:
    """``space -> (rows, unit vectors)`` of a batch for every zero-shot space it has.

    ``queries`` holds the batch's text, image and colour vectors (queries.Queries); a
    neighbour space takes k and temperature from the same-named kNN signal's parameters
    in ``fusion`` (k=10, temperature 0.05 when it records none); ``self_rows`` leaves each
    product out of its own neighbours (calibration on the catalog).
    """
    out = {}
    if queries.text_vectors is not None and len(queries.text_at):
        out["text"] = (queries.text_at, queries.text_vectors)
    if queries.image_vectors is not None and len(queries.image_at):
        out["image"] = (queries.image_at, queries.image_vectors)
    if queries.colour_vectors is not None and len(queries.image_at):
        out["colour_names"] = (queries.image_at, colour.bin_shares(queries.colour_vectors))
    if titles is None:
        return out
    for store, at, vectors in (("text", queries.text_at, queries.text_vectors), ("image", queries.image_at, queries.image_vectors),
                               ("colour", queries.image_at, queries.colour_vectors)):
        if store not in index.modalities or vectors is None or not len(at):
            continue
        params = fusion.params.get(store) or {"k": 10, "temperature": 0.05}
        own = None if self_rows is None else self_rows[at]
        out[f"{store}_neighbours"] = (at, title_bridge.bridged(index, store, vectors, titles, params["k"], params["temperature"], own))
    return out


def statistics(sims: np.ndarray) -> np.ndarray:
    """(3, tags): each tag's mean and spread over reference products, and the space's
    typical spread (the mean of the tags' spreads) repeated."""
    mean, std = sims.mean(axis=0), np.maximum(sims.std(axis=0), 1e-4)
    scored = sims.any(axis=0)  # colour_names leaves the tags it does not score at 0: they take the others' average
    if scored.any() and not scored.all():
        mean[~scored], std[~scored] = mean[scored].mean(), std[scored].mean()
    return np.stack([mean, std, np.full_like(std, std.mean())]).astype(np.float32)


def calibrate(sims: np.ndarray, stats: np.ndarray, how: str | None = None) -> np.ndarray:
    how = how or CALIBRATION
    if how == "raw":
        return (sims - stats[0].mean()) / stats[2][0]
    if how == "z":
        return (sims - stats[0]) / stats[1]
    return (sims - stats[0]) / stats[2]


def zero_shot_z(n: int, spaces: dict, tag_vectors: dict, stats: dict, weights: dict | None = None,
                calibration: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fused calibrated scores (n x tags) over the spaces each product has, and which
    products had any. ``spaces`` maps a space to ``(rows, unit vectors)``; ``weights``
    (space -> weight, missing = 0) defaults to ``DEFAULT_WEIGHTS``."""
    n_tags = len(tag_vectors["text"])
    total = np.zeros((n, n_tags), dtype=np.float32)
    weight_sum = np.zeros((n, n_tags), dtype=np.float32)
    for space, (rows, vecs) in spaces.items():
        if space not in stats or tag_space(space) not in tag_vectors or vecs is None or len(rows) == 0:
            continue
        w = float((DEFAULT_WEIGHTS if weights is None else weights).get(space, 0.0))
        if w <= 0:
            continue
        targets = tag_vectors[tag_space(space)]
        part = w * calibrate(inner_products(vecs, targets), stats[space], calibration)
        scored = targets.any(axis=1)
        if scored.all():
            total[rows] += part
            weight_sum[rows] += w
        else:  # a space that scores some tags only (colour_names)
            block = np.ix_(rows, np.flatnonzero(scored))
            total[block] += part[:, scored]
            weight_sum[block] += w
    weighted = weight_sum > 0
    total[weighted] /= weight_sum[weighted]
    return total, weighted.any(axis=1)


def to_score(z: np.ndarray) -> np.ndarray:
    """Calibrated z-scores as scores in [0, 1], the same mapping for every vocabulary."""
    return (1.0 / (1.0 + np.exp(-SLOPE * (np.asarray(z, dtype=np.float32) - CENTRE)))).astype(np.float32)


def blend(z: np.ndarray, votes: np.ndarray | None, counts: np.ndarray, mode: str, groups: list[np.ndarray] = ()) -> np.ndarray:
    """Final scores for ``mode`` from calibrated zero-shot ``z``: votes only, zero-shot only
    (``to_score(z)``), or the few-shot blend.

    Votes are shares within a facet, so in the blend the zero-shot side of each exclusive
    group (``groups``: column arrays) becomes a share too, a softmax of ``z``; blending a
    share with a sigmoid score favoured whichever values had fewer examples (measured:
    articleType with 20 examples per value fell from 0.73 to 0.55).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    zero_shot = to_score(z)
    if mode == "zeroshot" or votes is None:
        return zero_shot
    if mode == "knn":
        return votes
    for cols in groups:
        sub = z[:, cols]
        sub = np.exp(sub - sub.max(axis=1, keepdims=True))
        zero_shot[:, cols] = sub / sub.sum(axis=1, keepdims=True)
    w = (counts / (counts + FEW_SHOT_PRIOR)).astype(np.float32)
    return w[None, :] * votes + (1.0 - w[None, :]) * zero_shot


def blend_bridged(bridged: np.ndarray, zero_shot: np.ndarray, mode: str) -> np.ndarray:
    """Final subtree masses of a taxonomy mapped through the catalog's tags: the mapped
    votes alone (``knn``), or mixed with the zero-shot mass (``auto``); both are
    distributions summed over subtrees, so their mixture is one too."""
    if mode == "knn":
        return bridged
    return (BRIDGE_WEIGHT * bridged + (1.0 - BRIDGE_WEIGHT) * zero_shot).astype(np.float32)
