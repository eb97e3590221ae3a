"""Fitting the fusion by leave-one-out: the search over weights on hand-made cases, and the
``fusion`` section a build records."""

from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np
import pytest
from toy_catalog import COLOURS, COLUMNS, catalog_rows, write_catalog, write_square

from retrieval_tagger.build import build_index
from retrieval_tagger.catalog import CatalogSpec
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.signals import fit, knn, registry
from retrieval_tagger.signals.fit import (
    MIN_FIT_PRODUCTS,
    fit_weights,
    group_hits,
    micro_accuracy,
    simplex,
)
from retrieval_tagger.signals.knn import GRID_K, GRID_T
from retrieval_tagger.signals.names import GRID_T as GRID_NAMES_T
from retrieval_tagger.signals.settings import VERSION, FusionSettings

SPEC = CatalogSpec(tags_col="tags", facet_cols=["colour", "article"])


def test_simplex_lists_every_weighting_in_steps(monkeypatch):
    four = simplex(["text", "image", "colour", "names"])
    assert len(four) == math.comb(fit.WEIGHT_STEPS + 3, 3)  # the ways to share the steps among 4 signals
    assert all(sum(w.values()) == pytest.approx(1.0) for w in four)
    assert len({tuple(w.values()) for w in four}) == len(four)
    monkeypatch.setattr(fit, "WEIGHT_STEPS", 2)
    assert simplex(["a", "b"]) == [{"a": 0.0, "b": 1.0}, {"a": 0.5, "b": 0.5}, {"a": 1.0, "b": 0.0}]


TRUTH = np.array([
    [0, 1, 0, 1],  # group [0, 1, 2]: col 1 true, ranked first -> hit; group [3]: hit
    [1, 0, 0, 0],  # col 0 true, col 1 ranked first -> miss
    [0, 0, 0, 0],  # no true tag in either group: not counted
    [0, 1, 1, 0],  # two true tags (free tags may have several); col 2 ranked first -> hit
], dtype=bool)


SCORES = np.array([
    [0.1, 0.7, 0.2, 0.3],
    [0.2, 0.5, 0.3, 0.0],
    [0.9, 0.0, 0.0, 0.1],
    [0.1, 0.3, 0.6, 0.9],
], dtype=np.float32)


def test_group_hits_by_hand():
    assert group_hits(SCORES, np.array([0, 1, 2]), TRUTH) == (2, 3)
    assert group_hits(SCORES, np.array([3]), TRUTH) == (1, 1)
    assert group_hits(SCORES, np.array([3]), np.zeros_like(TRUTH)) == (0, 0)


def test_micro_accuracy_pools_the_groups():
    groups = [np.array([0, 1, 2]), np.array([3])]
    assert micro_accuracy(SCORES, groups, TRUTH) == pytest.approx(3 / 4)  # not the mean of 2/3 and 1/1
    assert micro_accuracy(SCORES, groups, np.zeros_like(TRUTH)) == 0.0


def test_fit_weights_favours_each_facets_own_signal(two_facets):
    truth, scores, groups = two_facets
    present = {name: np.ones(len(truth), dtype=bool) for name in scores}

    weights, report = fit_weights(scores, present, groups, truth, prior={})

    x, y = weights.facets["x"], weights.facets["y"]
    assert x["A"] > x["B"] and y["B"] > y["A"]
    assert report["x"] == report["y"] == 1.0
    # z has too few examples and free tags are no facet: both keep the default
    assert set(weights.facets) == {"x", "y"}
    assert set(report) == {"default", "x", "y"}
    assert sum(weights.default.values()) == pytest.approx(1.0)


def test_a_row_of_zero_scores_is_no_hit_even_when_the_first_column_is_true():
    truth = np.array([[True, False]])
    assert group_hits(np.zeros((1, 2), np.float32), np.array([0, 1]), truth) == (0, 1)


def test_tied_weightings_fall_back_to_the_one_nearest_the_prior(two_facets):
    truth, scores, groups = two_facets
    same = {"text": scores["A"], "names": scores["A"]}  # two equally good signals
    present = {name: np.ones(len(truth), dtype=bool) for name in same}
    prior = {name: registry.get(name).default_weight for name in same}
    weights, _ = fit_weights(same, present, groups, truth, prior)
    # the prior favours text over names: the tie is broken that way, not towards the last signal
    assert prior["text"] > prior["names"]
    assert weights.default["text"] > weights.default["names"]
    flipped, _ = fit_weights(same, present, groups, truth, {"text": 0.1, "names": 0.5})
    assert flipped.default["names"] > flipped.default["text"]


def test_wide_groups_are_fitted_on_candidates_with_the_same_result(monkeypatch):
    # 600 free tags: signal A puts the true tag among its top scores, B is noise
    rng = np.random.default_rng(7)
    n, width = 120, 600
    truth = np.zeros((n, width), dtype=bool)
    truth[np.arange(n), rng.integers(0, width, n)] = True
    a = rng.random((n, width)).astype(np.float32) * 0.5 + truth * 0.6
    b = rng.random((n, width)).astype(np.float32)
    scores = {"A": a, "B": b}
    present = {name: np.ones(n, dtype=bool) for name in scores}
    groups = {"*free*": np.arange(width)}

    assert width > fit.WIDE_GROUP
    cut_weights, cut_report = fit_weights(scores, present, groups, truth, prior={})
    monkeypatch.setattr(fit, "WIDE_GROUP", width)  # no cut: every tag is a candidate
    full_weights, full_report = fit_weights(scores, present, groups, truth, prior={})
    assert cut_weights == full_weights and cut_report == full_report
    assert cut_weights.default["A"] > cut_weights.default["B"]
    assert cut_report["default"] == pytest.approx(1.0)


# -- the fusion a build records ---------------------------------------------------------


def twin_catalog(folder, tagged: int | None = None, shuffle: int | None = None, without_image: int = 0):
    """60 products: the 30 of conftest and a "slim" twin of each, with its own image.

    Only the first ``tagged`` rows keep their tags; the last ``without_image`` twins have
    no image; ``shuffle`` seeds a reordering.
    """
    rows = catalog_rows(folder / "images")
    twins = []
    for n, row in enumerate(rows):
        twin = {**row, "id": f"t{n:02d}", "title": f"slim {row['title']}", "image": f"images/t{n:02d}.png"}
        write_square(folder / twin["image"], COLOURS[row["colour"]], marker=n % 6 + 1)
        twins.append(twin)
    for twin in twins[len(twins) - without_image:]:
        twin["image"] = ""
    rows = rows + twins
    if tagged is not None:
        rows = rows[:tagged] + [{**row, "tags": "", "colour": "", "article": ""} for row in rows[tagged:]]
    if shuffle is not None:
        random.Random(shuffle).shuffle(rows)
    return write_catalog(folder / "catalog.csv", rows, COLUMNS)


@pytest.fixture(scope="module")
def twins_csv(tmp_path_factory):
    return twin_catalog(tmp_path_factory.mktemp("twins"))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, twins_csv, encoders):
    out = tmp_path_factory.mktemp("fitted") / "idx"
    build_index(twins_csv, out, SPEC, encoders=encoders)
    return out


def read_fusion(folder):
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["fusion"]


def test_catalog_large_enough_gets_a_fitted_fusion(fitted):
    fusion = read_fusion(fitted)

    assert fusion["version"] == VERSION
    assert fusion["fit"]["sample"] == 60 and "reason" not in fusion["fit"]
    assert list(fusion["params"]) == ["text", "image", "colour", "names"]  # mentions has no parameters
    for name in ("text", "image", "colour"):
        assert fusion["params"][name]["k"] in GRID_K and fusion["params"][name]["temperature"] in GRID_T
    assert fusion["params"]["names"]["temperature"] in GRID_NAMES_T
    assert set(fusion["weights"]["facets"]) == {"colour", "article"}
    for weights in [fusion["weights"]["default"], *fusion["weights"]["facets"].values()]:
        assert set(weights) == {"text", "image", "colour", "names", "mentions", "colour_names", "lexical"}
        assert sum(weights.values()) == pytest.approx(1.0)
    accuracy = fusion["fit"]["signal_accuracy"]
    assert set(accuracy) == {"text", "image", "colour", "names", "mentions", "colour_names", "lexical"}
    assert all(0.0 <= a <= 1.0 for a in accuracy.values())
    # every product has every signal, so all weight on the best one is among the candidates
    assert fusion["fit"]["fused_accuracy"]["default"] >= max(accuracy.values())


def test_fitted_fusion_is_what_the_tagger_uses(fitted):
    tagger = Tagger.load(fitted)
    assert tagger.fusion == FusionSettings.from_json(read_fusion(fitted))
    (result,) = tagger.tag([{"id": "q", "text": "blue denim jeans"}])
    assert {"colour:blue", "article:jeans"} <= {t["tag"] for t in result.tags}


def test_fitting_is_deterministic(fitted, twins_csv, tmp_path, encoders):
    build_index(twins_csv, tmp_path / "again", SPEC, encoders=encoders)
    assert read_fusion(tmp_path / "again") == read_fusion(fitted)


def sampled_ids(catalog, out, monkeypatch, encoders, size):
    """Build with a sample of ``size`` and return the ids of the products it fitted on."""
    seen = []
    drop_self = knn.drop_self

    def spy(sims, rows, self_rows, k):
        seen.append(self_rows.copy())
        return drop_self(sims, rows, self_rows, k)

    monkeypatch.setattr(fit, "MAX_SAMPLE", size)
    monkeypatch.setattr(knn, "drop_self", spy)
    manifest = build_index(catalog, out, SPEC, encoders=encoders)
    monkeypatch.undo()
    assert manifest["fusion"]["fit"]["sample"] == size
    ids = json.loads((out / "ids.json").read_text(encoding="utf-8"))
    seen = [rows for rows in seen if len(rows) == size]  # the fit's; the precision tables after it score every product
    assert all(np.array_equal(rows, seen[0]) for rows in seen)  # one sample for every signal
    return [ids[r] for r in seen[0]]


def test_sample_is_chosen_by_a_hash_of_the_id_not_by_row_order(tmp_path, twins_csv, monkeypatch, encoders):
    shuffled = twin_catalog(tmp_path / "shuffled", shuffle=3)

    first = sampled_ids(twins_csv, tmp_path / "a", monkeypatch, encoders, size=52)
    second = sampled_ids(shuffled, tmp_path / "b", monkeypatch, encoders, size=52)

    all_ids = [f"p{n:02d}" for n in range(30)] + [f"t{n:02d}" for n in range(30)]
    by_hash = sorted(all_ids, key=lambda pid: hashlib.sha1(pid.encode()).digest()[:8])[:52]
    assert sorted(first) == sorted(second) == sorted(by_hash)


def test_small_catalog_records_the_default_with_a_reason(both_index):
    fusion = read_fusion(both_index)  # 30 tagged products
    assert fusion == registry.default_fusion(f"fewer than {MIN_FIT_PRODUCTS} tagged products").to_json()
    assert fusion["fit"] == {"sample": 0, "reason": f"fewer than {MIN_FIT_PRODUCTS} tagged products"}
    assert fusion["weights"] == {"default": {"text": 0.5, "image": 0.2, "colour": 0.1, "names": 0.1, "mentions": 0.1, "colour_names": 0.0, "lexical": 0.3}, "facets": {}}


def test_untagged_products_do_not_count_towards_fitting(tmp_path, encoders):
    catalog = twin_catalog(tmp_path, tagged=MIN_FIT_PRODUCTS - 1)
    manifest = build_index(catalog, tmp_path / "idx", SPEC, encoders=encoders)
    assert manifest["counts"]["products"] == 60
    assert manifest["fusion"]["fit"]["sample"] == 0
    assert str(MIN_FIT_PRODUCTS) in manifest["fusion"]["fit"]["reason"]
    assert manifest["fusion"]["weights"] == registry.default_fusion().weights.to_json()


def test_products_without_an_image_are_fitted_on_their_text(tmp_path, encoders):
    catalog = twin_catalog(tmp_path, without_image=20)
    manifest = build_index(catalog, tmp_path / "idx", SPEC, encoders=encoders)
    assert manifest["counts"]["with_image"] == 40
    fusion = manifest["fusion"]
    assert fusion["fit"]["sample"] == 60 and {"text", "image", "colour"} <= set(fusion["params"])
    for accuracy in fusion["fit"]["signal_accuracy"].values():
        assert 0.0 <= accuracy <= 1.0
