"""The fusion settings an index records (manifest ``fusion``): each signal's parameters,
the signals' weights (a default and per facet), and the report of the leave-one-out fit
that chose them.

Written as version 2: ``{"version": 2, "params": {signal: {...}}, "weights": {"default":
{...}, "facets": {facet: {...}}}, "fit": {...}}``. Version 1 (indexes built before signals
were plug-ins) kept the kNN signals' parameters under ``knn`` and the names signal's under
``names``; it reads into the same settings. Plain Python, so the CLI can read it without
numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval_tagger.errors import IndexFormatError

VERSION = 2


@dataclass
class FusionWeights:
    """Each signal's fusion weight: ``default`` for every tag, ``facets`` for the tags of
    one facet (a signal missing from a facet's weights has weight 0 there)."""

    default: dict[str, float]
    facets: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"default": dict(self.default), "facets": {facet: dict(w) for facet, w in self.facets.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "FusionWeights":
        return cls(dict(data.get("default", {})), {facet: dict(w) for facet, w in data.get("facets", {}).items()})


@dataclass
class FitReport:
    """How the settings were chosen: ``sample`` products fitted on (0: the defaults were
    kept, for ``reason``), each signal's accuracy alone, and the fused accuracy overall
    (``default``) and per fitted facet."""

    sample: int = 0
    signal_accuracy: dict[str, float] = field(default_factory=dict)
    fused_accuracy: dict[str, float] = field(default_factory=dict)
    reason: str | None = None

    def to_json(self) -> dict:
        out: dict = {"sample": self.sample}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.signal_accuracy or self.fused_accuracy:
            out["signal_accuracy"], out["fused_accuracy"] = dict(self.signal_accuracy), dict(self.fused_accuracy)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "FitReport":
        return cls(int(data.get("sample", 0)), dict(data.get("signal_accuracy", {})), dict(data.get("fused_accuracy", {})), data.get("reason"))


@dataclass
class FusionSettings:
    """How an index fuses its signals. ``params`` holds the parameters of the signals that
    have any (a signal's defaults fill what is missing, see ``Signal.params_in``)."""

    params: dict[str, dict]
    weights: FusionWeights
    fit: FitReport = field(default_factory=FitReport)

    def to_json(self) -> dict:
        return {
            "version": VERSION,
            "params": {name: dict(p) for name, p in self.params.items()},
            "weights": self.weights.to_json(),
            "fit": self.fit.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "FusionSettings":
        """Settings from a manifest's ``fusion`` section, version 1 or 2; missing parts are empty."""
        version = data.get("version", 1)
        if version == 1:
            params = {name: dict(p) for name, p in data.get("knn", {}).items()}
            if data.get("names"):
                params["names"] = dict(data["names"])
        elif version == VERSION:
            params = {name: dict(p) for name, p in data.get("params", {}).items()}
        else:
            raise IndexFormatError(
                f"the index records fusion settings of version {version}; this rtag reads versions 1 and {VERSION}: "
                "upgrade rtag, or rebuild the index with `rtag index ... --force`"
            )
        return cls(params, FusionWeights.from_json(data.get("weights") or {}), FitReport.from_json(data.get("fit") or {}))
