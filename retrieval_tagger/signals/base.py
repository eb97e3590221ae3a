"""What a signal is: one source of evidence for a product's tags, scored for a batch of
queries against an index, fitted on the catalog by leave-one-out, and read by the
reranker as features. The registry (registry.py) lists the signals; ``compute``, the
fusion fit, the reranker's features and the tagging options iterate it.

A signal sees an index through five attributes (an ``OpenIndex`` has them, and a build
makes an :class:`IndexView` of the index it is writing): ``vocab`` (TagSet),
``product_tags`` ((products x tags) 0/1 csr matrix), ``modalities`` (store name ->
``Modality`` with a FAISS searcher and the product row of each vector),
``vocab_vectors`` (space -> (tags x dim) tag-name vectors), and ``models`` (signal ->
its trained model, where the index holds one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals.fit import FitSample, Fitted, micro_accuracy
from retrieval_tagger.tags import TagSet

# What a query batch holds: text vectors, the text's words, image vectors, colour histograms.
INPUTS = ("text", "words", "image", "colour")


def input_of(queries: Queries, name: str) -> tuple[np.ndarray, object]:
    """The batch rows that have input ``name`` and its values there (vectors, or words)."""
    if name == "text":
        return queries.text_at, queries.text_vectors
    if name == "words":
        return queries.text_at, queries.texts
    if name == "image":
        return queries.image_at, queries.image_vectors
    if name == "colour":
        return queries.image_at, queries.colour_vectors
    raise ValueError(f"unknown input {name!r}; inputs are {', '.join(INPUTS)}")


@dataclass
class IndexView:
    """The parts of an index that signals read (see the module docstring)."""

    vocab: TagSet
    product_tags: sparse.csr_matrix
    modalities: dict
    vocab_vectors: dict
    models: dict = field(default_factory=dict)  # trained signal models (an OpenIndex's ``models``)


@dataclass
class Scored:
    """One signal's scores for the rows of a batch that have its inputs.

    ``scores`` is (len(at) x tags) in [0, 1]; ``extras`` is what its reranker features
    read (arrays over the whole batch), kept only when asked for.
    """

    at: np.ndarray
    scores: np.ndarray
    extras: dict = field(default_factory=dict)


@dataclass
class Candidates:
    """The reranker's candidate tags of a batch, as a signal's features see them."""

    cols: np.ndarray  # (n x C) tag columns
    valid: np.ndarray  # (n x C) whether each is a real candidate
    same_group: np.ndarray  # (n x C x C) whether two real candidates compete (same facet, or both free)
    position: np.ndarray  # (n x tags) each tag's place among the candidates, -1 if none
    product_tags: sparse.csr_matrix  # the index's (products x tags) matrix

    def gather(self, matrix: np.ndarray) -> np.ndarray:
        """The candidates' entries of a (n x tags) matrix."""
        return np.take_along_axis(matrix, self.cols, axis=1)

    def ranks(self, values: np.ndarray) -> np.ndarray:
        """Each candidate's rank (0 = best) by ``values`` (n x C) among the real candidates of its group."""
        return (self.same_group & (values[:, None, :] > values[:, :, None])).sum(axis=2).astype(np.float32)


class Signal:
    """Base class of signals: subclasses set the attributes and implement :meth:`score`;
    :meth:`fit`, :meth:`feature_names` and :meth:`features` have plain defaults."""

    name: str
    inputs: frozenset[str] = frozenset()  # among INPUTS
    defaults: dict = {}  # parameters used until fitted
    default_weight: float = 0.0  # fusion weight before fitting; also the prior that breaks ties in fitting
    options: tuple[str, ...] = ()  # tagging options (TagOptions fields) that override parameters of the same name
    shortlists: bool = False  # its best tags join the reranker's candidates

    def __init__(self, name: str):
        self.name = name

    def available(self, index) -> bool:
        """Whether ``index`` can compute this signal."""
        return True

    def prepare(self, index):
        """What scoring needs of ``index`` that is worth building once (None by default)."""
        return None

    def params_in(self, fusion) -> dict:
        """This signal's parameters in ``fusion`` (a FusionSettings), its defaults filling the gaps."""
        return {**self.defaults, **fusion.params.get(self.name, {})}

    def score(self, index, queries: Queries, params: dict, prepared, keep: bool) -> Scored:
        """Scores of the batch's rows that have this signal's inputs (see :func:`input_of`);
        with ``keep`` also the extras its reranker features read."""
        raise NotImplementedError

    def fit(self, index, sample: FitSample, prepared) -> Fitted:
        """Parameters chosen by leave-one-out on ``sample``, with the sample's scores under
        them and their accuracy. By default the defaults, scored once."""
        params = dict(self.defaults)
        scores, present = self.dense(self.score(index, sample.queries(), params, prepared, keep=False), len(sample.truth), sample.truth.shape[1])
        return Fitted(params, scores, present, micro_accuracy(scores[present], sample.groups, sample.truth[present]))

    @staticmethod
    def dense(scored: Scored, n: int, n_tags: int) -> tuple[np.ndarray, np.ndarray]:
        """(n x tags) scores, 0 outside ``scored.at``, and which rows were scored."""
        scores = np.zeros((n, n_tags), dtype=np.float32)
        present = np.zeros(n, dtype=bool)
        scores[scored.at], present[scored.at] = scored.scores, True
        return scores, present

    def feature_names(self, index) -> list[str]:
        """The reranker features this signal gives for ``index``, in order."""
        return []

    def features(self, found, candidates: Candidates) -> dict[str, np.ndarray]:
        """Its features (name -> (n x C)) for a batch's candidates; ``found`` is the batch's
        ``compute.Signals``, computed with ``similarities``."""
        return {}
