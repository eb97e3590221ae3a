"""What every signal shares: the inputs of a query batch, scores spread over the batch,
parameters with defaults filling the gaps, the default fit, and candidates' ranks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.base import Candidates, Scored, Signal, input_of
from retrieval_tagger.signals.fit import FitSample, micro_accuracy
from retrieval_tagger.signals.settings import FusionSettings, FusionWeights

BATCH = Queries(4, np.array([0, 2]), ["red shirt", "blue hat"], np.eye(2, 3, dtype=np.float32), np.array([1, 2, 3]),
                np.full((3, 5), 0.5, np.float32), np.ones((3, 8), np.float32))


def test_each_input_is_the_rows_that_have_it_and_their_values():
    at, vectors = input_of(BATCH, "text")
    assert at.tolist() == [0, 2] and vectors.shape == (2, 3)
    assert input_of(BATCH, "words")[1] == ["red shirt", "blue hat"]
    assert input_of(BATCH, "image")[0].tolist() == [1, 2, 3] and input_of(BATCH, "image")[1].shape == (3, 5)
    assert input_of(BATCH, "colour")[1].shape == (3, 8)
    with pytest.raises(ValueError, match="unknown input 'audio'; inputs are text, words, image, colour"):
        input_of(BATCH, "audio")


def test_scores_of_some_rows_spread_over_the_batch():
    scores, present = Signal.dense(Scored(np.array([1, 3]), np.array([[0.2, 0.8], [0.6, 0.4]], np.float32)), 4, 2)
    np.testing.assert_array_equal(scores, np.array([[0, 0], [0.2, 0.8], [0, 0], [0.6, 0.4]], np.float32))
    assert present.tolist() == [False, True, False, True] and scores.dtype == np.float32


def test_a_signal_without_fitted_parameters_scores_with_its_defaults():
    names = registry.get("names")
    fitted = FusionSettings({"names": {"temperature": 0.02}}, FusionWeights({"text": 1.0}))
    assert names.params_in(FusionSettings({}, FusionWeights({}))) == names.defaults
    assert names.params_in(fitted) == {**names.defaults, "temperature": 0.02}


class FirstTag(Signal):
    """Puts all its score on tag 0, for rows with text."""

    inputs = frozenset({"text"})
    defaults = {"unused": 1}

    def score(self, index, queries, params, prepared, keep) -> Scored:
        scores = np.zeros((len(queries.text_at), 2), np.float32)
        scores[:, 0] = 1.0
        return Scored(queries.text_at, scores)


def test_the_default_fit_scores_the_sample_once_with_the_defaults():
    truth = np.array([[True, False], [False, True], [True, False]])
    sample = FitSample(np.arange(3), {"text": np.eye(3, dtype=np.float32)}, {"text": np.array([True, True, False])},
                       ["a", "b", ""], truth, [np.array([0, 1])])

    fitted = FirstTag("first").fit(None, sample, None)

    assert fitted.params == {"unused": 1}
    assert fitted.present.tolist() == [True, True, False]
    np.testing.assert_array_equal(fitted.scores, [[1, 0], [1, 0], [0, 0]])
    assert fitted.accuracy == micro_accuracy(fitted.scores[:2], sample.groups, truth[:2]) == 0.5


def test_candidates_gather_their_columns_and_rank_within_their_group():
    cols = np.array([[3, 0, 1]])
    same_group = np.array([[[True, False, True], [False, True, False], [True, False, True]]])
    cands = Candidates(cols, np.ones((1, 3), bool), same_group, np.array([[1, 2, -1, 0]]), sparse.csr_matrix((1, 4)))
    np.testing.assert_array_equal(cands.gather(np.array([[0.1, 0.2, 0.3, 0.4]])), [[0.4, 0.1, 0.2]])
    # columns 3 and 1 compete: 3 (0.4) ranks first; column 0 is alone in its group
    np.testing.assert_array_equal(cands.ranks(np.array([[0.4, 0.1, 0.2]])), [[0, 0, 1]])
