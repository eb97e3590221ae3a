"""A signal defined here, outside the library, joins everything a built-in signal does
once it is registered: the fusion fit, tagging, the reranker's features and the CLI.
Nothing else in the library is told about it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval_tagger.signals import fit, registry
from retrieval_tagger.signals.base import Scored, Signal
from retrieval_tagger.tags import split_facet

BUILT_IN = ["text", "image", "colour", "names", "mentions", "colour_names", "lexical"]


class LeadWords(Signal):
    """Tags whose value is one of the first ``words`` words of the product text (the toy
    catalog's titles read "<colour> <material> <article>")."""

    inputs = frozenset({"words"})
    defaults = {"words": 1}
    GRID = (1, 2, 3)

    def prepare(self, index) -> dict[str, list[int]]:
        columns: dict[str, list[int]] = {}
        for col, tag in enumerate(index.vocab.tags):
            columns.setdefault(split_facet(tag)[1].lower(), []).append(col)
        return columns

    def score(self, index, queries, params, columns, keep) -> Scored:
        scores = np.zeros((len(queries.texts), len(index.vocab)), np.float32)
        for row, text in enumerate(queries.texts):
            for word in text.lower().split()[: params["words"]]:
                scores[row, columns.get(word, [])] = 1.0
        return Scored(queries.text_at, scores)

    def fit(self, index, sample, columns) -> fit.Fitted:
        best = None
        for words in self.GRID:
            scores, present = self.dense(self.score(index, sample.queries(), {"words": words}, columns, False), len(sample.rows), len(index.vocab))
            accuracy = fit.micro_accuracy(scores[present], sample.groups, sample.truth[present])
            if best is None or accuracy > best.accuracy:
                best = fit.Fitted({"words": words}, scores, present, accuracy)
        return best

    def feature_names(self, index) -> list[str]:
        return ["lead_score"]

    def features(self, found, candidates) -> dict[str, np.ndarray]:
        return {"lead_score": candidates.gather(found.scores[self.name])}


@pytest.fixture(scope="module")
def lead_index(tmp_path_factory, catalog_csv, facet_spec, encoders):
    """An index of the 30 toy products built with the signal registered; the 30 products
    are fitted (the minimum is lowered from 50). The signal is unregistered afterwards."""
    from retrieval_tagger.build import build_index

    registry.register(LeadWords("lead"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fit, "MIN_FIT_PRODUCTS", 20)
            folder = tmp_path_factory.mktemp("plugin") / "index"
            manifest = build_index(catalog_csv, folder, facet_spec, encoders=encoders)
        yield folder, manifest
    finally:
        registry.unregister("lead")


def test_the_fit_chooses_the_signals_parameters_and_weighs_it(lead_index):
    _, manifest = lead_index
    fusion = manifest["fusion"]
    assert fusion["fit"]["sample"] == 30
    # one word names the colour, two add the material (a free tag), three the article
    assert fusion["params"]["lead"] == {"words": 3}
    assert fusion["fit"]["signal_accuracy"]["lead"] == 1.0
    weightings = [fusion["weights"]["default"], *fusion["weights"]["facets"].values()]
    assert set(fusion["weights"]["facets"]) == {"colour", "article"}
    assert all(list(w) == BUILT_IN + ["lead"] and sum(w.values()) == pytest.approx(1.0) for w in weightings)


def test_tagging_computes_it_and_applies_its_weight(lead_index):
    from retrieval_tagger.pipeline import Tagger

    folder, _ = lead_index
    tagger = Tagger.load(folder)
    assert tagger.signals == BUILT_IN + ["lead"]
    product = [{"id": "q", "text": "green denim hat"}]

    (lead_only,) = tagger.tag(product, weights={"lead": 1.0})
    (text_only,) = tagger.tag(product, weights={"text": 1.0}, top_n=3)

    assert {t["tag"]: t["score"] for t in lead_only.tags} == {"colour:green": 1.0, "denim": 1.0, "article:hat": 1.0}
    assert lead_only.tags != text_only.tags
    scores, _, _, _ = tagger.score(product, weights={"lead": 0.5, "text": 0.5})
    hat = tagger.index.vocab.index["article:hat"]
    assert scores[0, hat] >= 0.5  # at least the lead signal's half


def test_the_cli_takes_its_weight(lead_index):
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    folder, _ = lead_index
    result = CliRunner().invoke(app, ["tag", "--index", str(folder), "--text", "blue silk dress", "--weights", "lead=1", "--no-rerank"])
    assert result.exit_code == 0, result.output
    assert {t["tag"] for t in json.loads(result.stdout)["tags"]} == {"colour:blue", "silk", "article:dress"}


def test_the_reranker_trains_on_its_features(lead_index, tmp_path):
    import shutil

    from retrieval_tagger.jobs.train_reranker import train_index
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path / "index"
    shutil.copytree(lead_index[0], folder)
    info = train_index(folder, progress=False)

    features = info["features"]
    assert features[features.index("lexical_rank") + 1:][:2] == ["lead_score", "fused"]  # after the built-in signals' own
    saved = json.loads((folder / "reranker" / "manifest.json").read_text())
    assert saved["signals"] == BUILT_IN + ["lead"] and saved["features"] == features
    tagger = Tagger.load(folder)
    assert tagger.reranker is not None and "lead_score" in tagger.reranker.features
    (result,) = tagger.tag([{"id": "q", "text": "red wool hat"}])
    assert result.tags and all(0.0 <= t["score"] <= 1.0 for t in result.tags)
