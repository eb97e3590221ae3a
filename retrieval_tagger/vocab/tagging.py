"""Tagging against a stored vocabulary (``rtag tag --vocab V``): the vocabulary branch of
the pipeline.

products -> encoders (once) -> zero-shot z-scores per space -> fused -> [neighbour votes
for tags the catalog has] -> few-shot blend -> facet-exclusive tags, or whole taxonomy
paths. No file I/O; :meth:`pipeline.Tagger.tag` calls it when ``vocab`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval_tagger.errors import RtagError
from retrieval_tagger.signals import compute as signal_stage
from retrieval_tagger.signals import fuse
from retrieval_tagger.signals.settings import FusionSettings
from retrieval_tagger.tags import TagSet
from retrieval_tagger.vocab import catalog_map
from retrieval_tagger.vocab import scores as vocab_scores
from retrieval_tagger.vocab.stored import StoredVocab, load_vocab
from retrieval_tagger.vocab.taxonomy import (
    Tree,
    best_paths,
    greedy_paths,
    path_softmax,
    subtree_mass,
)


@dataclass
class VocabRun:
    """A stored vocabulary prepared for scoring against one index."""

    stored: StoredVocab
    view: TagSet  # the vocabulary's tags with facets, for facet-exclusive selection
    index_cols: np.ndarray  # column of each tag in the index's own vocabulary, -1 if absent
    counts: np.ndarray  # tagged catalog examples of each tag
    tree: Tree | None
    titles: np.ndarray | None  # the catalog's title vectors, for the neighbour spaces
    mapping: catalog_map.CatalogMap | None = None  # a taxonomy the catalog shares no tags with, reached through its facets

    @classmethod
    def prepare(cls, index, name: str, titles: np.ndarray | None) -> "VocabRun":
        """Read stored vocabulary ``name`` of ``index`` (once: callers keep the run);
        ``titles`` are the catalog's title vectors (bridge.catalog_titles)."""
        stored = load_vocab(index, name)
        own = index.vocab
        cols = np.asarray([own.index.get(t, -1) for t in stored.tags], dtype=np.int64)
        counts = np.asarray([own.counts[c] if c >= 0 else 0 for c in cols], dtype=np.float32)
        view = TagSet(stored.tags, [int(c) for c in counts])
        tree = Tree([e.parent for e in stored.entries]) if stored.is_taxonomy else None
        mapped = None
        if tree is not None and not (cols >= 0).any() and own.facets and titles is not None and "text" in stored.stats:
            rows = {e.tag: i for i, e in enumerate(stored.entries)}
            corrections = {tag: rows[path] for tag, path in stored.corrections.items() if path in rows}
            mapped = catalog_map.align(index, stored.vectors["text"], stored.stats["text"], tree, titles, corrections)
        return cls(stored, view, cols, counts, tree, titles, mapped)

    def bridged(self, mode: str) -> bool:
        """Whether scores in ``mode`` are subtree masses through the catalog's tags."""
        return self.mapping is not None and mode != "zeroshot"


def wanted_votes(index, run: VocabRun, mode: str, weights: dict) -> set[str]:
    """The vote signals a run blends in: none in zero-shot mode, or when the catalog has
    none of the vocabulary's tags."""
    if mode == "zeroshot" or not ((run.index_cols >= 0).any() or run.mapping is not None):
        return set()
    return {name for name, w in weights.items() if len(index.vocab) and (w > 0).any()}


def score_chunk(index, prepared: dict, queries, opts, run: VocabRun, mode: str, fusion: FusionSettings, weights: dict, votes_wanted: set[str]):
    """(final scores, which products could be scored) for a batch of encoded queries;
    ``prepared`` is the index's signal state (compute.prepare), ``votes_wanted`` comes
    from :func:`wanted_votes`."""
    spaces = vocab_scores.space_queries(index, queries, fusion, run.titles, queries.self_rows)
    z, present = vocab_scores.zero_shot_z(queries.n, spaces, run.stored.vectors, run.stored.stats, opts.vocab_weights, opts.vocab_calibration)
    votes = None
    if votes_wanted:
        found = signal_stage.compute(index, queries, votes_wanted, fusion, prepared)
        own = found.fused(weights)
        votes = np.zeros_like(z)
        hit = run.index_cols >= 0
        votes[:, hit] = own[:, run.index_cols[hit]]
        present = present | found.any_signal(queries.n)
    if run.bridged(mode) and votes is not None:
        bridged = catalog_map.node_mass(own, run.mapping, run.tree)
        zero_shot = subtree_mass(path_softmax(z, run.tree, vocab_scores.ZERO_SHOT_TEMPERATURE), run.tree)
        return vocab_scores.blend_bridged(bridged, zero_shot, mode), present
    scores = vocab_scores.blend(z, votes, run.counts, mode, list(run.view.facets.values()))
    return scores, present


def select(run: VocabRun, scores: np.ndarray, opts) -> list[list[tuple[int, float]]]:
    """Each product's (column, score) picks: facet-exclusive top tags, or for a taxonomy
    one whole path from a root.

    The path is chosen by its mean evidence; a node's reported score is the best score
    at or below it on the path (whatever implies a node supports it), so scores never
    rise with depth and ``min_score`` cuts the path without breaking it; ``top_n`` keeps
    its first nodes from the root.
    """
    if run.tree is None:
        return fuse.select(scores, run.view, opts.top_n, opts.min_score, opts.exclusive)
    if run.bridged(opts.mode):  # subtree masses: descend into the likeliest child
        return [[(node, float(scores[i, node])) for node in path[: opts.depth] if scores[i, node] >= opts.min_score and scores[i, node] > 0][: opts.top_n]
                for i, path in enumerate(greedy_paths(scores, run.tree))]
    # paths average z-like evidence: the inverse of to_score, so blended votes count too
    ends, _ = best_paths(_score_to_z(scores), run.tree)
    picks = []
    for i, end in enumerate(ends):
        path = run.tree.path(int(end))[: opts.depth]
        supported = np.maximum.accumulate(scores[i, path][::-1])[::-1]
        picks.append([(node, float(s)) for node, s in zip(path, supported) if s >= opts.min_score and s > 0][: opts.top_n])
    return picks


def _score_to_z(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(scores, 1e-6, 1 - 1e-6)
    return vocab_scores.CENTRE + np.log(clipped / (1 - clipped)) / vocab_scores.SLOPE


def check_mode(mode: str, run: VocabRun) -> None:
    if mode not in vocab_scores.MODES:
        raise RtagError(f"unknown mode {mode!r}; valid: {', '.join(vocab_scores.MODES)}")
    if mode == "knn" and not (run.index_cols >= 0).any() and run.mapping is None:
        raise RtagError(
            f"--mode knn needs tags the catalog has, and vocabulary {run.stored.name!r} shares none with the index: "
            "use --mode zeroshot or auto"
        )
