"""What a product's tag list says: every facet answered, and which tags need a human look.

A chosen list may lack a facet (its best value scored below ``min_score``, or free tags
and other facets took the ``top_n`` places). :func:`every_facet` adds each missing
facet's best value, so no facet is silently dropped; :func:`tag_dicts` marks the tags that
score below their threshold (``min_score``, or the score that gives a chosen precision)
``"review": true``, or leaves them out when asked to.
"""

from __future__ import annotations

import numpy as np


def every_facet(picked: list[list[tuple[int, float]]], scores: np.ndarray, vocab) -> list[list[tuple[int, float]]]:
    """``picked`` (each product's (column, score) list) with the best value of every facet
    the list lacks appended, in the vocabulary's facet order; a facet whose values all
    score 0 (no evidence, or below the end of a decoded tree path) is not invented."""
    if not vocab.facets or not len(picked):
        return picked
    facet_of = np.full(len(vocab), -1, dtype=np.int64)
    best = np.zeros((len(picked), len(vocab.facets)), dtype=np.int64)
    for f, cols in enumerate(vocab.facets.values()):
        facet_of[cols] = f
        best[:, f] = cols[np.argmax(scores[:, cols], axis=1)]
    out = []
    for i, row in enumerate(picked):
        answered = {int(facet_of[c]) for c, _ in row}
        # a facet with no evidence at all (every value 0: e.g. the levels below where a
        # decoded category path ends) has no answer to give: argmax would pick any value
        missing = [int(best[i, f]) for f in range(best.shape[1]) if f not in answered and scores[i, best[i, f]] > 0]
        out.append(row + [(c, float(scores[i, c])) for c in missing])
    return out


def tag_dicts(row: list[tuple[int, float]], floor: np.ndarray, tags: list[str], drop_review: bool = False) -> list[dict]:
    """A product's list as ``{"tag", "score"}`` dicts; a tag scoring 0 or below ``floor``
    (per tag column) gets ``"review": true``, or is left out with ``drop_review``."""
    out = []
    for c, s in row:
        review = bool(s < floor[c] or s <= 0)
        if review and drop_review:
            continue
        entry = {"tag": tags[c], "score": round(s, 4)}
        if review:
            entry["review"] = True
        out.append(entry)
    return out
