"""Why a product got a tag: each signal's share of the fused score, the catalog products
that voted for it, the words of the product's text found in the tag's name, and what the
reranker changed.

For a tag column ``c`` of product ``i`` (fusion is a weighted mean over the signals the
product has, signals/fuse.py): ``signals[s] = w_s[c] * score_s[i, c] / sum of w[c] over
the product's signals``, so the shares add up to ``fused``; ``rerank`` is the final score
minus ``fused`` (0 where the reranker did not rescore). Neighbours come from every signal
that kept its neighbours (``sims`` and ``rows`` extras, the kNN signals) and has weight
on ``c``, weighted as in voting (knn.neighbour_weights), those tagged with ``c`` only,
strongest first.
"""

from __future__ import annotations

import numpy as np

from retrieval_tagger.language import words as language_words
from retrieval_tagger.signals.knn import neighbour_weights
from retrieval_tagger.tags import split_facet

MAX_NEIGHBOURS = 5


def words(text: str) -> list[str]:
    """The words of a text as the mentions signal sees them (Chinese segmented: language.py)."""
    return language_words(text)


def explain_batch(index, found, weights: dict[str, np.ndarray], params: dict[str, dict], fused: np.ndarray, final: np.ndarray,
                  texts: list[str], picked: list[list[tuple[int, float]]]) -> list[dict[int, dict]]:
    """Per product, ``{tag column: why}`` for the tags in ``picked``.

    ``found`` is the batch's ``compute.Signals`` computed with similarities; ``weights``
    the per-tag fusion weights (fuse.column_weights) of the signals fused; ``params`` each
    signal's parameters as tagged (for the vote temperature); ``fused`` and ``final`` the
    (n x tags) scores before and after the reranker; ``texts`` the products' texts.
    """
    names = [name for name in weights if name in found.scores]
    voters = {name: found.extras[name] for name in names
              if {"sims", "rows"} <= set(found.extras.get(name, {})) and "temperature" in params.get(name, {})}
    out = []
    for i, tags in enumerate(picked):
        present = [name for name in names if found.present[name][i]]
        vote_weights = {name: neighbour_weights(extras["sims"][i:i + 1], extras["rows"][i:i + 1], params[name]["temperature"])[0]
                        for name, extras in voters.items() if found.present[name][i]}
        text_words = set(words(texts[i]))
        whys = {}
        for col, _ in tags:
            w = {name: float(weights[name][col]) for name in present}
            norm = sum(w.values())
            shares = {name: (w[name] * float(found.scores[name][i, col]) / norm if norm > 0 else 0.0) for name in present if w[name] > 0}
            _, value = split_facet(index.vocab.tags[col])
            whys[col] = {
                "fused": round(float(fused[i, col]), 4),
                "signals": {name: round(share, 4) for name, share in shares.items()},
                "rerank": round(float(final[i, col] - fused[i, col]), 4),
                "neighbours": _neighbours(index, voters, {name: v for name, v in vote_weights.items() if w.get(name, 0) > 0}, i, col),
                "words": sorted(text_words & set(words(value))),
            }
        out.append(whys)
    return out


def _neighbours(index, voters: dict, vote_weights: dict, i: int, col: int) -> list[dict]:
    """The catalog products tagged ``col`` among product ``i``'s neighbours, by voting weight."""
    found = []
    for name, weights in vote_weights.items():
        rows = voters[name]["rows"][i]
        valid = rows >= 0
        if not valid.any():
            continue
        tagged = np.zeros(len(rows), dtype=bool)
        tagged[valid] = np.asarray(index.product_tags[rows[valid], col].todense()).ravel() > 0
        for j in np.flatnonzero(tagged & (weights > 0)):
            found.append({"id": index.ids[rows[j]], "signal": name, "similarity": round(float(voters[name]["sims"][i, j]), 4),
                          "weight": round(float(weights[j]), 4)})
    found.sort(key=lambda n: (-n["weight"], n["id"]))
    return found[:MAX_NEIGHBOURS]
