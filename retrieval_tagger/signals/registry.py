"""The table of signals, in fusion order: what ``compute``, the fusion fit, the reranker's
features, the tagging options and the CLI help all iterate.

Built-in signals are named here and imported on first use (so ``rtag --help`` lists them
without loading numpy). Adding a signal is one module with a :class:`~.base.Signal`
subclass and one line in ``_BUILTIN``, or a :func:`register` call at run time.
"""

from __future__ import annotations

import importlib

from retrieval_tagger.errors import RtagError
from retrieval_tagger.signals.settings import FitReport, FusionSettings, FusionWeights

# name -> "module:factory"; the factory takes the name (the kNN class also reads its store from it)
_BUILTIN = {
    "text": "retrieval_tagger.signals.knn:KnnSignal",
    "image": "retrieval_tagger.signals.knn:KnnSignal",
    "colour": "retrieval_tagger.signals.knn:KnnSignal",
    "names": "retrieval_tagger.signals.names:NamesSignal",
    "mentions": "retrieval_tagger.signals.mentions:MentionsSignal",
    "colour_names": "retrieval_tagger.signals.colour_names:ColourNamesSignal",
    "lexical": "retrieval_tagger.signals.lexical:LexicalSignal",
}
_table: dict[str, object] = dict(_BUILTIN)  # name -> "module:factory", or the signal once loaded


def names() -> list[str]:
    """Every signal's name, in fusion order."""
    return list(_table)


def get(name: str):
    """The signal called ``name``; an unknown name is refused with the list of known ones."""
    if name not in _table:
        raise RtagError(f"unknown signal {name!r}; known signals: {', '.join(_table)}")
    entry = _table[name]
    if isinstance(entry, str):
        module, factory = entry.split(":")
        entry = _table[name] = getattr(importlib.import_module(module), factory)(name)
    return entry


def signals() -> list:
    """Every signal, in fusion order."""
    return [get(name) for name in _table]


def register(signal) -> None:
    """Add ``signal`` (a :class:`~.base.Signal`) after the others; its name must be new."""
    if signal.name in _table:
        raise RtagError(f"a signal called {signal.name!r} is already registered; unregister it first or pick another name")
    _table[signal.name] = signal


def unregister(name: str) -> None:
    """Remove signal ``name`` (a built-in one comes back only with a new process)."""
    get(name)  # refuses an unknown name with the list of known ones
    del _table[name]


def available(index) -> list:
    """The signals ``index`` can compute, in fusion order."""
    return [signal for signal in signals() if signal.available(index)]


def signals_of(index) -> list[str]:
    """The names of the signals ``index`` can compute, in fusion order."""
    return [signal.name for signal in available(index)]


def inputs_of(wanted) -> set[str]:
    """What the ``wanted`` signals read from a query batch (see ``base.INPUTS``), so only
    the encoders they need run. Names of no registered signal need nothing."""
    return {needed for signal in signals() if signal.name in wanted for needed in signal.inputs}


def default_fusion(reason: str | None = None) -> FusionSettings:
    """The settings used before (or instead of) fitting: every signal's default parameters
    and weight. ``reason`` says why they were kept."""
    every = signals()
    params = {signal.name: dict(signal.defaults) for signal in every if signal.defaults}
    weights = FusionWeights({signal.name: signal.default_weight for signal in every})
    return FusionSettings(params, weights, FitReport(reason=reason))


def fusion_of(manifest: dict) -> FusionSettings:
    """An index's fitted fusion settings, or the defaults when its manifest has none."""
    return FusionSettings.from_json(manifest["fusion"]) if manifest.get("fusion") else default_fusion()
