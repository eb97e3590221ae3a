"""The reranker: features on a hand-made case, leave-one-out, calibration, MMR, saving."""

from __future__ import annotations

import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse

from retrieval_tagger import mmr
from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.rerank import calibrate, features
from retrieval_tagger.signals.compute import Signals
from retrieval_tagger.signals.fuse import select
from retrieval_tagger.tags import TagSet

TAGS = ["colour:red", "colour:blue", "article:shirt", "article:hat", "cotton"]
RED, BLUE, SHIRT, HAT, COTTON = range(5)


def hand_index():
    """Four catalog products: red shirt cotton, red hat, blue shirt, blue hat cotton."""
    rows = [[RED, SHIRT, COTTON], [RED, HAT], [BLUE, SHIRT], [BLUE, HAT, COTTON]]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    tags = sparse.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate(rows), indptr), shape=(4, len(TAGS)))
    return SimpleNamespace(vocab=TagSet(TAGS, [2, 2, 2, 2, 2]), product_tags=tags, modalities={}, vocab_vectors={})


def hand_batch(self_rows=None):
    index = hand_index()
    fused = np.asarray([[0.7, 0.3, 0.6, 0.4, 0.5]], dtype=np.float32)
    votes = np.asarray([[0.8, 0.2, 0.9, 0.1, 0.4]], dtype=np.float32)
    found = Signals(
        scores={"text": votes, "names": np.full((1, 5), 0.5, np.float32), "mentions": np.zeros((1, 5), np.float32)},
        present={name: np.ones(1, bool) for name in ("text", "names", "mentions")},
        extras={"text": {"sims": np.asarray([[0.9, 0.8, 0.5]], np.float32), "rows": np.asarray([[0, 2, 1]])},
                "names": {"text_sims": np.full((1, 5), 0.3, np.float32)}},
    )
    names = features.feature_names(index, ["text", "names", "mentions"])
    batch = features.build(found, fused, features.TagTable.from_index(index), index, names, self_rows)
    by_tag = {int(c): batch.x[0, p] for p, c in enumerate(batch.cand[0]) if batch.valid[0, p]}
    return {tag: dict(zip(names, by_tag[tag])) for tag in by_tag}, batch


def pmi(pair, a, b, n):
    return math.log(pair + 0.5) + math.log(n + 0.5) - math.log(a + 0.5) - math.log(b + 0.5)


def test_features_by_hand():
    f, batch = hand_batch()
    assert sorted(f) == list(range(5))
    assert batch.cand[0].tolist() == [RED, SHIRT, COTTON, HAT, BLUE]  # best fused first
    # neighbours 0 (0.9), 2 (0.8), 1 (0.5): red is on 0 and 1, blue on 2, hat on 1, cotton on 0
    assert [f[t]["text_voters"] for t in range(5)] == pytest.approx([2 / 3, 1 / 3, 2 / 3, 1 / 3, 1 / 3])
    assert [f[t]["text_best_sim"] for t in range(5)] == pytest.approx([0.9, 0.8, 0.9, 0.5, 0.9])
    assert all(f[t]["text_top_sim"] == pytest.approx(0.9) for t in range(5))
    assert [f[t]["text_rank"] for t in range(5)] == [0, 1, 0, 1, 0]
    assert [f[t]["fused_rank"] for t in range(5)] == [0, 1, 0, 1, 0]
    assert [f[t]["fused_margin"] for t in range(5)] == pytest.approx([0.4, -0.4, 0.2, -0.2, 0.5])
    assert f[RED]["log_prior"] == pytest.approx(math.log(2.5 / 4.5))
    assert f[RED]["facet"] == f[BLUE]["facet"] != f[SHIRT]["facet"]
    assert f[COTTON]["group_size"] == 1 and f[RED]["group_size"] == 2
    # red's context is the best article (shirt) and the free tag cotton: each together once
    assert f[RED]["pmi_mean"] == pytest.approx(pmi(1, 2, 2, 4), rel=1e-5)
    # hat's context is red (the best colour) and cotton; hat and red share product 1 only
    assert f[HAT]["pmi_min"] == pytest.approx(pmi(1, 2, 2, 4), rel=1e-5)
    assert f[BLUE]["name_sim"] == pytest.approx(0.3)


def test_catalog_queries_take_tag_statistics_from_the_other_half_of_the_catalog():
    f, _ = hand_batch(self_rows=np.asarray([0]))  # the query is catalog product 0 (even row)
    # the odd rows are products 1 (red hat) and 3 (blue hat cotton)
    assert f[RED]["log_prior"] == pytest.approx(math.log(1.5 / 2.5))
    assert f[SHIRT]["log_prior"] == pytest.approx(math.log(0.5 / 2.5))
    # red's context is shirt and cotton, which it never meets there
    assert f[RED]["pmi_mean"] == pytest.approx((pmi(0, 1, 0, 2) + pmi(0, 1, 1, 2)) / 2, rel=1e-5)
    outside, _ = hand_batch(self_rows=np.asarray([-1]))  # not in the catalog: all of it counts
    assert outside[RED]["log_prior"] == pytest.approx(math.log(2.5 / 4.5))


def test_leave_one_out_examples_exclude_the_query_itself(both_index):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.queries import CatalogQueries
    from retrieval_tagger.signals.compute import compute
    from retrieval_tagger.signals.registry import fusion_of

    index = open_index(both_index)
    rows = np.arange(len(index.ids))
    queries = CatalogQueries(index).batch(rows, ["" for _ in rows])
    found = compute(index, queries, {"text", "image", "colour"}, fusion_of(index.manifest), similarities=True)
    for name, extras in found.extras.items():
        nb_rows = extras["rows"]
        assert (nb_rows != rows[:, None]).all(), name
        assert (nb_rows >= 0).all()  # the k nearest others, none missing
    # the same search without leaving out finds each product itself first
    queries.self_rows = None
    found_self = compute(index, queries, {"text"}, fusion_of(index.manifest), similarities=True)
    assert (found_self.extras["text"]["rows"][:, 0] == rows).mean() > 0.9


def test_isotonic_calibration_is_monotone_and_calibrated():
    rng = np.random.default_rng(0)
    raw = rng.random(20000)
    labels = (rng.random(20000) < raw ** 2).astype(float)  # true probability raw^2
    cal = calibrate.fit_isotonic(raw, labels, bins=200)
    grid = np.linspace(-0.5, 1.5, 1001)
    probs = cal(grid)
    assert np.all(np.diff(probs) >= 0) and probs.min() >= 0 and probs.max() <= 1
    assert np.all(np.diff(cal(np.linspace(cal.x[0], cal.x[-1], 500))) > 0)  # strictly between knots
    assert calibrate.expected_calibration_error(cal(raw), labels) < 0.02
    assert calibrate.expected_calibration_error(raw, labels) > 0.1  # raw scores overstate
    assert calibrate.Calibrator.from_json(cal.to_json())(grid) == pytest.approx(probs)
    with pytest.raises(RerankerError, match="both right and wrong"):
        calibrate.fit_isotonic(raw, np.ones_like(raw))


def pool_adjacent_violators(y, w):
    """The hand-written fit rtag used before scipy's: each block's first position and mean."""
    starts, means, weights = [], [], []
    for i in range(len(y)):
        starts.append(i)
        means.append(float(y[i]))
        weights.append(float(w[i]))
        while len(means) > 1 and means[-2] >= means[-1]:
            total = weights[-2] + weights[-1]
            means[-2] = (means[-2] * weights[-2] + means[-1] * weights[-1]) / total
            weights[-2] = total
            del starts[-1], means[-1], weights[-1]
    return np.asarray(starts), np.asarray(means)


@pytest.mark.parametrize("seed, n, bins", [(0, 5000, 1000), (1, 300, 1000), (2, 20000, 97), (3, 40, 40)])
def test_isotonic_fit_equals_the_hand_written_pool_adjacent_violators(seed, n, bins):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=n)
    # coarse scores make ties and runs of equal bin means, which both fits must pool alike
    raw = np.round(raw, 1) if seed % 2 else raw
    labels = (rng.random(n) < 1 / (1 + np.exp(-2 * raw))).astype(np.float64)
    cal = calibrate.fit_isotonic(raw, labels, bins=bins)

    order = np.argsort(raw, kind="stable")
    edges = np.linspace(0, n, min(bins, n) + 1).astype(np.int64)
    sums_x, sums_y = np.add.reduceat(raw[order], edges[:-1]), np.add.reduceat(labels[order], edges[:-1])
    counts = np.diff(edges).astype(np.float64)
    starts, means = pool_adjacent_violators(sums_y / counts, counts)
    knots = np.add.reduceat(sums_x, starts) / np.add.reduceat(counts, starts)
    assert len(cal.x) == len(knots) > 1
    np.testing.assert_allclose(cal.x, knots, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cal.y, means, rtol=1e-12, atol=1e-12)
    grid = np.linspace(raw.min() - 1, raw.max() + 1, 1001)
    np.testing.assert_allclose(cal(grid), np.interp(grid, knots, means).astype(np.float32), rtol=1e-6)


def test_mmr_at_lambda_one_is_plain_ranking():
    rng = np.random.default_rng(1)
    vocab = TagSet(["a:1", "a:2", "a:3", "b:1", "b:2", "c:1", "x", "y", "z", "w"], [1] * 10)
    scores = rng.random((50, 10)).astype(np.float32)
    scores[rng.random((50, 10)) < 0.2] = 0
    sim = rng.random((10, 10)).astype(np.float32)
    for exclusive in (True, False):
        for top_n, min_score in ((3, 0.0), (10, 0.3)):
            assert mmr.select(scores, vocab, sim, 1.0, top_n, min_score, exclusive) == select(scores, vocab, top_n, min_score, exclusive)


def test_mmr_at_lambda_zero_picks_the_least_similar():
    vocab = TagSet(["p", "q", "r", "s"], [1] * 4)
    scores = np.asarray([[0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    sim = np.asarray([[1, 0.9, 0.2, 0.5], [0.9, 1, 0.1, 0.5], [0.2, 0.1, 1, 0.6], [0.5, 0.5, 0.6, 1]], dtype=np.float32)
    (picked,) = mmr.select(scores, vocab, sim, 0.0, top_n=3)
    # the likeliest first, then the tag least like p (r), then the one least like both (q: max(0.9, 0.1) vs s: 0.6)
    assert [c for c, _ in picked] == [0, 2, 3]
    assert picked[1][1] == pytest.approx(0.7)  # scores stay the tags' own
    (middle,) = mmr.select(scores, vocab, sim, 0.5, top_n=2)
    assert [c for c, _ in middle] == [0, 2]  # 0.5*0.8-0.5*0.9 < 0.5*0.7-0.5*0.2


def test_mmr_keeps_facets_exclusive_and_never_swaps_a_facet_value():
    vocab = TagSet(["a:1", "a:2", "b:1", "b:2"], [1] * 4)
    scores = np.asarray([[0.9, 0.8, 0.5, 0.4]], dtype=np.float32)
    sim = np.asarray([[1, 0, 0.9, 0], [0, 1, 0, 0], [0.9, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    (picked,) = mmr.select(scores, vocab, sim, 0.0, top_n=3)
    assert [c for c, _ in picked] == [0, 2]  # b:2 is unlike a:1, but b:1 is b's likelier value


def test_tag_similarity_blends_names_and_cooccurrence():
    index = hand_index()
    vectors = np.eye(5, dtype=np.float32)
    sim = mmr.tag_similarity(vectors, Cooccurrence.from_product_tags(index.product_tags))
    assert np.allclose(np.diag(sim), 1) and np.allclose(sim, sim.T) and sim.min() >= 0
    assert sim[RED, SHIRT] > sim[RED, BLUE]  # red and shirt occur together; red and blue never


@pytest.fixture(scope="module")
def trained(both_index, tmp_path_factory):
    from retrieval_tagger.jobs.train_reranker import train_index

    folder = tmp_path_factory.mktemp("rerank") / "index"
    shutil.copytree(both_index, folder)
    info = train_index(folder, progress=False)
    return folder, info


def test_train_save_load_round_trip(trained, catalog_dir):
    from retrieval_tagger.pipeline import Tagger
    from retrieval_tagger.rerank import model

    folder, info = trained
    man = json.loads((folder / "reranker" / "manifest.json").read_text())
    assert man["format"] == "rtag-reranker" and man["features"] == info["features"]
    assert man["files"]["model.txt"]["sha256"] and man["training"]["report"]["reranked"]["facet_accuracy"] is not None
    tagger = Tagger.load(folder)
    assert tagger.reranker is not None and tagger.reranker.features == info["features"]
    products = [{"id": "q1", "text": "red cotton shirt"}, {"id": "q2", "image": str(catalog_dir / "images" / "p07.png")}]
    again = Tagger.load(folder)
    scores, _, _, _ = tagger.score(products)
    assert np.array_equal(scores, again.score(products)[0])
    assert scores.min() >= 0 and scores.max() <= 1
    plain, _, _, _ = tagger.score(products, rerank=False)
    assert not np.array_equal(scores, plain)
    assert Tagger.load(folder, rerank=False).reranker is None
    reloaded = model.load(tagger.index)
    assert reloaded.booster.model_to_string() == tagger.reranker.booster.model_to_string()


def test_a_reranker_with_other_features_is_refused(trained, tmp_path):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    folder, _ = trained
    copy = tmp_path / "index"
    shutil.copytree(folder, copy)
    path = copy / "reranker" / "manifest.json"
    man = json.loads(path.read_text())
    man["features"] = [f for f in man["features"] if f != "pmi_min"] + ["brand_match"]
    path.write_text(json.dumps(man))
    with pytest.raises(RerankerError, match="missing: pmi_min; unexpected: brand_match.*train-reranker"):
        model.load(open_index(copy))
    (copy / "reranker" / "model.txt").write_text("tampered")
    with pytest.raises(RerankerError, match="model.txt has 8 bytes"):
        model.load(open_index(copy))


def test_a_reranker_of_another_index_build_is_refused(trained, tmp_path):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model

    folder, _ = trained
    copy = tmp_path / "index"
    shutil.copytree(folder, copy)
    path = copy / "reranker" / "manifest.json"
    man = json.loads(path.read_text())
    man["index"]["created"] = "2020-01-01T00:00:00+00:00"
    path.write_text(json.dumps(man))
    with pytest.raises(RerankerError, match="another build of this index"):
        model.load(open_index(copy))


def test_cli_trains_and_uses_the_reranker(both_index, catalog_csv, tmp_path):
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    runner = CliRunner()
    folder = tmp_path / "index"
    shutil.copytree(both_index, folder)
    trained = runner.invoke(app, ["train-reranker", "--index", str(folder)])
    assert trained.exit_code == 0, trained.output
    assert "facet accuracy voting" in trained.output and (folder / "reranker" / "model.txt").is_file()
    args = ["tag", "--index", str(folder), "--text", "blue denim jeans", "--top-n", "3"]
    reranked = json.loads(runner.invoke(app, args).output)
    plain = json.loads(runner.invoke(app, args + ["--no-rerank"]).output)
    assert reranked["tags"] and plain["tags"] and reranked != plain
    assert all(t["score"] >= 0.5 for t in json.loads(runner.invoke(app, args + ["--min-score", "0.5"]).output)["tags"])
    table = runner.invoke(app, ["eval", "--index", str(folder), str(catalog_csv), "--compare", "--diversity", "0.5"])
    assert table.exit_code == 0, table.output
    for method in ("most frequent value", "text kNN voting", "voting (fused)", "reranked", "reranked + MMR (lambda=0.5)"):
        assert method in table.output
    bad = runner.invoke(app, ["tag", "--index", str(folder), "--text", "x", "--diversity", "2"])
    assert bad.exit_code != 0 and "diversity" in str(bad.exception)
