"""The registry of signals: the inputs each needs, the default fusion assembled from every
signal's defaults, and registering and unregistering a signal."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.errors import RtagError
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.base import Scored, Signal
from retrieval_tagger.signals.settings import FusionSettings, FusionWeights


class Blank(Signal):
    """A signal that scores no rows: enough to stand in the table."""

    inputs = frozenset({"image"})
    defaults = {"depth": 2}
    default_weight = 0.3

    def score(self, index, queries, params, prepared, keep) -> Scored:
        return Scored(np.zeros(0, np.int64), np.zeros((0, len(index.vocab)), np.float32))


@pytest.fixture()
def blank():
    registry.register(Blank("blank"))
    yield registry.get("blank")
    registry.unregister("blank")


def test_each_signal_names_the_inputs_to_encode(blank):
    assert registry.inputs_of({"names", "mentions"}) == {"text", "words"}
    assert registry.inputs_of({"colour"}) == {"colour"}
    assert registry.inputs_of({"unknown"}) == set()
    assert registry.inputs_of({"blank", "mentions"}) == {"image", "words"}


def test_the_defaults_are_every_signals_defaults(blank):
    fusion = registry.default_fusion("why")
    every = registry.signals()
    assert [s.name for s in every] == registry.names() and every[-1] is blank
    assert fusion.weights.default == {s.name: s.default_weight for s in every}
    assert fusion.weights.facets == {} and fusion.weights.default["blank"] == 0.3
    # signals without parameters (mentions) have no entry
    assert fusion.params == {s.name: s.defaults for s in every if s.defaults} and fusion.params["blank"] == {"depth": 2}
    assert "mentions" not in fusion.params and fusion.fit.reason == "why"


def test_an_index_without_fitted_settings_gets_the_defaults():
    assert registry.fusion_of({}) == registry.default_fusion()
    fitted = FusionSettings({"text": {"k": 3, "temperature": 0.2}}, FusionWeights({"text": 1.0}, {"colour": {"image": 1.0}}))
    assert registry.fusion_of({"fusion": fitted.to_json()}) == fitted


def test_registering_and_unregistering_leave_the_table_as_it_was():
    before = registry.names()
    registry.register(Blank("other"))
    assert registry.names() == before + ["other"] and registry.get("other").name == "other"
    with pytest.raises(RtagError, match="already registered"):
        registry.register(Blank("other"))
    registry.unregister("other")
    assert registry.names() == before
    with pytest.raises(RtagError, match="unknown signal 'other'; known signals: text, image, colour, names, mentions"):
        registry.get("other")
