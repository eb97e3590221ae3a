"""The fusion settings an index records: version 2 written and read back, version 1
(indexes built before signals were plug-ins) read into the same settings and tagged the
same, and a newer version refused with what to do."""

from __future__ import annotations

import json
import shutil

import pytest

from retrieval_tagger.errors import IndexFormatError
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.settings import FitReport, FusionSettings, FusionWeights

# the layout of a fitted version-1 manifest, as rtag wrote it before version 2
V1 = {
    "version": 1,
    "knn": {"text": {"k": 20, "temperature": 0.1}, "image": {"k": 40, "temperature": 0.05}},
    "names": {"temperature": 0.02},
    "fit": {"sample": 1690, "signal_accuracy": {"text": 0.81, "image": 0.75, "names": 0.56, "mentions": 0.39},
            "fused_accuracy": {"default": 0.9, "gender": 0.98}},
    "weights": {"default": {"text": 0.4, "image": 0.3, "names": 0.1, "mentions": 0.2},
                "facets": {"gender": {"text": 0.2, "image": 0.5, "names": 0.1, "mentions": 0.2}}},
}


def as_v1(v2: dict) -> dict:
    """A version-2 section written the version-1 way (kNN signals under knn, names apart)."""
    params = dict(v2["params"])
    names = params.pop("names", {})
    return {"version": 1, "knn": params, "names": names, "weights": v2["weights"], "fit": v2["fit"]}


def test_version_1_reads_into_per_signal_parameters():
    fusion = FusionSettings.from_json(V1)
    assert fusion.params == {"text": {"k": 20, "temperature": 0.1}, "image": {"k": 40, "temperature": 0.05}, "names": {"temperature": 0.02}}
    assert fusion.weights == FusionWeights(V1["weights"]["default"], V1["weights"]["facets"])
    assert fusion.fit == FitReport(1690, V1["fit"]["signal_accuracy"], V1["fit"]["fused_accuracy"])
    written = fusion.to_json()
    assert written["version"] == 2 and written["params"] == fusion.params
    assert {key: written[key] for key in ("weights", "fit")} == {key: V1[key] for key in ("weights", "fit")}
    assert FusionSettings.from_json(written) == fusion


def test_an_unfitted_version_1_keeps_no_names_parameters():
    fusion = FusionSettings.from_json({**V1, "names": {}, "fit": {"sample": 0, "reason": "fewer than 50 tagged products"}})
    assert "names" not in fusion.params and fusion.fit == FitReport(0, reason="fewer than 50 tagged products")
    assert fusion.fit.to_json() == {"sample": 0, "reason": "fewer than 50 tagged products"}
    assert registry.get("names").params_in(fusion) == registry.get("names").defaults


def test_a_newer_version_is_refused_with_what_to_do():
    with pytest.raises(IndexFormatError, match="version 3.*upgrade rtag, or rebuild the index"):
        FusionSettings.from_json({**V1, "version": 3})


def test_an_index_with_version_1_settings_tags_as_with_version_2(both_index, catalog_dir, tmp_path):
    from retrieval_tagger.pipeline import Tagger

    old = tmp_path / "old"
    shutil.copytree(both_index, old)
    path = old / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["fusion"]["version"] == 2
    # give the old layout parameters that differ from the defaults, so reading them counts
    manifest["fusion"]["params"] = {name: {"k": 3, "temperature": 0.2} for name in ("text", "image", "colour")} | {"names": {"temperature": 0.01}}
    path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "seal"}))  # edited: unsealed
    new = Tagger.load(old)
    manifest["fusion"] = as_v1(manifest["fusion"])
    path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "seal"}))  # edited: unsealed
    legacy = Tagger.load(old)

    assert legacy.fusion == new.fusion and legacy.fusion.params["text"] == {"k": 3, "temperature": 0.2}
    products = [{"id": "a", "text": "blue denim jeans"}, {"id": "b", "text": "white wool hat", "image": str(catalog_dir / "images" / "p07.png")}]
    assert [r.to_dict() for r in legacy.tag(products, top_n=6)] == [r.to_dict() for r in new.tag(products, top_n=6)]
