"""Vocabularies for zero-shot tagging: file formats, malformed files, storage,
calibration, taxonomies and tagging with --vocab."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval_tagger.errors import RtagError, VocabError
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.vocab import scores as vocab_scores
from retrieval_tagger.vocab.files import Entry, read_vocab_file
from retrieval_tagger.vocab.stored import (
    embed_entries,
    list_vocabs,
    load_vocab,
    remove_vocab,
)
from retrieval_tagger.vocab.taxonomy import Tree, best_paths

TAXONOMY = """# a tiny product taxonomy
1 - Clothing
2 - Clothing > Tops
3 - Clothing > Tops > shirt
4 - Clothing > Bottoms
5 - Clothing > Bottoms > jeans
6 - Accessories
7 - Accessories > hat
8 - Accessories > bag
"""


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# -- file formats -------------------------------------------------------------------

def test_plain_list_with_facets_free_tags_comments_and_blank_lines(tmp_path):
    d = read_vocab_file(write(tmp_path / "v.txt", "# colours\ncolour:red\n\ncolour:blue\nsummer sale\n  \n"))
    assert d.kind == "tags" and d.tags == ["colour:red", "colour:blue", "summer sale"]
    assert [e.name for e in d.entries] == ["red", "blue", "summer sale"]
    assert d.notes and "2 empty line(s): 3, 6" in d.notes[0]


def test_csv_with_facet_description_and_synonyms(tmp_path):
    d = read_vocab_file(write(tmp_path / "v.csv", "tag,facet,description,synonyms\nTshirts,article,a short-sleeved top,tee|t-shirt\nRed,colour,,\n"))
    assert d.tags == ["article:Tshirts", "colour:Red"]
    assert d.entries[0].description == "a short-sleeved top" and d.entries[0].synonyms == ["tee", "t-shirt"]


def test_taxonomy_paths_with_ids(tmp_path):
    d = read_vocab_file(write(tmp_path / "tax.txt", TAXONOMY))
    assert d.kind == "taxonomy" and len(d.entries) == 8
    shirt = d.entries[2]
    assert shirt.tag == "Clothing > Tops > shirt" and shirt.name == "shirt" and shirt.node_id == "3"
    assert d.entries[shirt.parent].tag == "Clothing > Tops"


def test_taxonomy_csv_in_any_order(tmp_path):
    d = read_vocab_file(write(tmp_path / "tax.csv", "id,name,parent\n3,shirt,2\n1,Clothing,\n2,Tops,1\n"))
    assert d.tags == ["Clothing", "Clothing > Tops", "Clothing > Tops > shirt"]
    assert [e.parent for e in d.entries] == [-1, 0, 1]


@pytest.mark.parametrize("name, content, message", [
    ("dup.txt", "red\nblue\nred\n", "line 3: duplicate tag 'red' \\(first on line 1\\)"),
    ("orphan.txt", "A\nA > B\nC > D\n", "line 3: the parent 'C' of 'C > D' is not listed"),
    ("dup_path.txt", "A\nA > B\nA  >  B\n", "line 3: duplicate path 'A > B'"),
    ("segment.txt", "A\nA >  > B\n", "line 2: empty segment"),
    ("cycle.csv", "id,name,parent\n1,A,\n2,B,3\n3,C,2\n", "cycle: 2 -> 3 -> 2"),
    ("orphan.csv", "id,name,parent\n1,A,\n2,B,9\n", "line 3: parent id '9'"),
    ("nocol.csv", "name,description\nred,a colour\n", "no tag column"),
    ("empty.txt", "\n\n# nothing\n", "holds no tags"),
    ("latin1.txt", "red\nblue\ngr\xfcn\n".encode("latin-1"), "line 3: not valid UTF-8"),
])
def test_malformed_files_name_the_line(tmp_path, name, content, message):
    with pytest.raises(VocabError, match=message):
        read_vocab_file(write(tmp_path / name, content))


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(VocabError, match="unknown vocabulary format"):
        read_vocab_file(write(tmp_path / "v.txt", "red\n"), fmt="yaml")
    with pytest.raises(VocabError, match="not found"):
        read_vocab_file(tmp_path / "nope.txt")


# -- calibration maths --------------------------------------------------------------

def test_calibration_centres_each_tag_and_scales_by_the_space():
    sims = np.array([[0.1, 0.8], [0.3, 0.6], [0.2, 0.7]], dtype=np.float32)
    stats = vocab_scores.statistics(sims)
    np.testing.assert_allclose(stats[0], [0.2, 0.7], atol=1e-6)
    np.testing.assert_allclose(stats[2], [sims.std(0).mean()] * 2, rtol=1e-5)
    query = np.array([[0.3, 0.7]], dtype=np.float32)
    np.testing.assert_allclose(vocab_scores.calibrate(query, stats, "centred"), [[0.1 / sims.std(0).mean(), 0.0]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(vocab_scores.calibrate(query, stats, "z"), [[0.1 / sims[:, 0].std(), 0.0]], rtol=1e-4, atol=1e-5)
    raw = vocab_scores.calibrate(query, stats, "raw")
    assert raw[0, 1] > raw[0, 0]  # raw keeps the order of the similarities


def test_zero_shot_fuses_the_spaces_a_product_has():
    vectors = {"text": np.eye(2, dtype=np.float32), "image": np.eye(2, dtype=np.float32)}
    stats = {s: np.stack([np.zeros(2), np.ones(2), np.ones(2)]).astype(np.float32) for s in vectors}
    queries = {"text": (np.array([0, 1]), np.array([[1, 0], [0, 1]], np.float32)),
               "image": (np.array([1]), np.array([[1, 0]], np.float32))}
    z, present = vocab_scores.zero_shot_z(3, queries, vectors, stats)
    np.testing.assert_allclose(z, [[1, 0], [0.5, 0.5], [0, 0]])
    assert present.tolist() == [True, True, False]
    z, _ = vocab_scores.zero_shot_z(2, queries, vectors, stats, weights={"text": 1.0, "image": 0.0})
    np.testing.assert_allclose(z, [[1, 0], [0, 1]])


def test_score_mapping_is_monotone_and_centred():
    z = np.linspace(-5, 10, 200)
    scores = vocab_scores.to_score(z)
    assert np.all(np.diff(scores) > 0) and 0 < scores.min() and scores.max() < 1
    assert vocab_scores.to_score(np.array([vocab_scores.CENTRE]))[0] == pytest.approx(0.5)


def test_few_shot_blend_leans_on_votes_as_examples_grow():
    z = np.array([[vocab_scores.CENTRE] * 3])
    votes = np.zeros((1, 3))
    counts = np.array([0.0, vocab_scores.FEW_SHOT_PRIOR, 1000.0])
    blended = vocab_scores.blend(z, votes, counts, "auto")[0]
    assert blended[0] == pytest.approx(0.5) and blended[1] == pytest.approx(0.25) and blended[2] < 0.01
    assert np.array_equal(vocab_scores.blend(z, votes, counts, "knn"), votes)
    np.testing.assert_allclose(vocab_scores.blend(z, votes, counts, "zeroshot"), [[0.5, 0.5, 0.5]])
    # within an exclusive group the zero-shot side is a share, comparable with vote shares
    grouped = vocab_scores.blend(np.array([[3.0, 1.0, 1.0]]), np.array([[0.0, 0.5, 0.5]]), np.array([0.0, 1e6, 1e6]), "auto", [np.arange(3)])[0]
    assert grouped[0] == pytest.approx(np.exp(3) / (np.exp(3) + 2 * np.e), rel=1e-4)
    np.testing.assert_allclose(grouped[1:], [0.5, 0.5], atol=1e-4)


def test_prompt_ensemble_averages_templates():
    def encode(texts):
        return np.asarray([[1.0, 0.0] if t.startswith("a photo") else [0.0, 1.0] for t in texts], dtype=np.float32)

    vecs = embed_entries(encode, [Entry(tag="red", name="red")], ("{}", "a photo of {}"))
    np.testing.assert_allclose(vecs, [[2 ** -0.5, 2 ** -0.5]], rtol=1e-6)


# -- hierarchy ----------------------------------------------------------------------

def test_tree_paths_choose_the_best_leaf_by_path_mean():
    tree = Tree([-1, 0, 0, 1, -1])  # 0 > 1 > 3, 0 > 2, 4
    z = np.array([[1.0, 0.0, 2.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0]])
    ends, means = best_paths(z, tree)
    assert ends.tolist() == [3, 4] and means[0, 3] == pytest.approx(2.0)
    assert tree.leaves().tolist() == [2, 3, 4] and tree.depth.tolist() == [0, 1, 1, 2, 0]
    assert tree.path(3) == [0, 1, 3]
    with pytest.raises(ValueError, match="before its parent"):
        Tree([1, -1])


# -- stored vocabularies and tagging ---------------------------------------------------

@pytest.fixture()
def index_copy(text_index, tmp_path) -> Path:
    out = tmp_path / "index"
    shutil.copytree(text_index, out)
    return out


@pytest.fixture()
def tagger(index_copy) -> Tagger:
    tagger = Tagger.load(index_copy)
    tagger_vocab = index_copy.parent / "facets.txt"
    write(tagger_vocab, "colour:red\ncolour:blue\ncolour:green\narticle:shirt\narticle:jeans\narticle:scarf\n")
    tagger.add_vocab(tagger_vocab, "facets")
    tagger.add_vocab(write(index_copy.parent / "tax.txt", TAXONOMY), "tax")
    return tagger


QUERIES = [{"id": "a", "title": "red cotton shirt"}, {"id": "b", "title": "blue denim jeans"}, {"id": "c", "title": "blue canvas bag"}]


def test_stored_vocabulary_is_versioned_with_its_source(tagger, index_copy):
    man = json.loads((index_copy / "vocabs" / "facets" / "manifest.json").read_text())
    assert man["format"] == "rtag-vocab" and man["format_version"] == 1 and len(man["source"]["sha256"]) == 64
    assert man["tag_spaces"] == ["text"] and man["spaces"] == ["text", "text_neighbours"] and man["counts"] == {"tags": 6, "depth": 1}
    assert {"entries.json", "text.npy", "text_stats.npy"} <= set(man["files"])
    assert [m["name"] for m in list_vocabs(index_copy)] == ["facets", "tax"]
    stored = load_vocab(tagger.index, "tax")
    assert stored.is_taxonomy and stored.vectors["text"].shape == (8, 64)


def test_zero_shot_tagging_with_a_facet_vocabulary(tagger):
    results = tagger.tag(QUERIES, vocab="facets", mode="zeroshot", min_score=0.0)
    tags = [{t["tag"] for t in r.tags} for r in results]
    assert {"colour:red", "article:shirt"} <= tags[0] and {"colour:blue", "article:jeans"} <= tags[1]
    assert all(sum(t.startswith("colour:") for t in ts) == 1 for ts in tags)  # facets stay exclusive


def test_taxonomy_predictions_are_whole_paths(tagger):
    results = tagger.tag(QUERIES, vocab="tax", min_score=0.0)
    paths = [e.tag for e in load_vocab(tagger.index, "tax").entries]
    predicted = [[t["tag"] for t in r.tags] for r in results]
    assert predicted[0][-1] == "Clothing > Tops > shirt" and predicted[1][-1] == "Clothing > Bottoms > jeans"
    assert predicted[2][-1] == "Accessories > bag"
    for tags in predicted:  # every node comes with all its ancestors
        for tag in tags:
            parts = tag.split(" > ")
            assert all(" > ".join(parts[:cut]) in tags for cut in range(1, len(parts))), tags
    assert all(t in paths for tags in predicted for t in tags)
    for r in results:  # scores never rise with depth
        scores = [t["score"] for t in r.tags]
        assert scores == sorted(scores, reverse=True)
    shallow = tagger.tag(QUERIES, vocab="tax", depth=1, min_score=0.0)
    assert [[t["tag"] for t in r.tags] for r in shallow] == [["Clothing"], ["Clothing"], ["Accessories"]]


def test_modes_knn_auto_zeroshot(tagger):
    knn, *_ = tagger.score_vocab(QUERIES, vocab="facets", mode="knn")
    own, *_ = tagger.score(QUERIES)
    tags = load_vocab(tagger.index, "facets").tags
    for j, tag in enumerate(tags):  # knn mode: the index's own scores of the vocabulary's tags
        col = tagger.index.vocab.index.get(tag)
        np.testing.assert_allclose(knn[:, j], own[:, col] if col is not None else 0.0, atol=1e-6)
    scarf = load_vocab(tagger.index, "facets").tags.index("article:scarf")
    scores, *_ = tagger.score_vocab(QUERIES, vocab="facets", mode="auto")
    zs, *_ = tagger.score_vocab(QUERIES, vocab="facets", mode="zeroshot")
    # no examples: names only, as a share of the article facet (the scale of vote shares)
    from retrieval_tagger.vocab.tagging import _score_to_z

    article = [j for j, t in enumerate(load_vocab(tagger.index, "facets").tags) if t.startswith("article:")]
    z = _score_to_z(zs[:, article])
    share = np.exp(z - z.max(axis=1, keepdims=True))
    share /= share.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(scores[:, scarf], share[:, article.index(scarf)], rtol=1e-3, atol=1e-5)
    with pytest.raises(RtagError, match="shares none"):
        tagger.tag(QUERIES, vocab="tax", mode="knn")
    with pytest.raises(RtagError, match="mode must be"):
        tagger.tag(QUERIES, vocab="facets", mode="magic")


def test_missing_replaced_and_removed_vocabularies(tagger, index_copy):
    with pytest.raises(VocabError, match="has no vocabulary 'nope' \\(it has: facets, tax\\)"):
        tagger.tag(QUERIES, vocab="nope")
    with pytest.raises(VocabError, match="--force"):
        tagger.add_vocab(write(index_copy.parent / "facets.txt", "colour:red\n"), "facets")
    tagger.add_vocab(index_copy.parent / "facets.txt", "facets", force=True)
    assert load_vocab(tagger.index, "facets").tags == ["colour:red"]
    remove_vocab(index_copy, "facets")
    with pytest.raises(VocabError, match="has no vocabulary"):
        remove_vocab(index_copy, "facets")
    with pytest.raises(VocabError, match="template"):
        tagger.add_vocab(index_copy.parent / "facets.txt", "t", templates=["no slot"])


def test_vocabulary_embedded_with_another_model_is_refused(tagger, index_copy):
    man_path = index_copy / "vocabs" / "facets" / "manifest.json"
    man = json.loads(man_path.read_text())
    man["encoders"]["text"] = "0" * 64
    man_path.write_text(json.dumps(man))
    with pytest.raises(VocabError, match="another text model"):
        tagger.tag(QUERIES, vocab="facets")


def test_cli_vocab_add_list_tag_remove(index_copy, tmp_path):
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    runner = CliRunner()
    vocab = write(tmp_path / "tax.txt", TAXONOMY)
    out = runner.invoke(app, ["vocab", "add", str(vocab), "--index", str(index_copy), "--name", "shop"])
    assert out.exit_code == 0, out.output
    assert "8 taxonomy of depth 3" in out.output
    listed = runner.invoke(app, ["vocab", "list", "--index", str(index_copy)])
    assert listed.exit_code == 0 and listed.output.startswith("shop\ttaxonomy\t8 tags")
    tagged = runner.invoke(app, ["tag", "--index", str(index_copy), "--vocab", "shop", "--depth", "2", "--min-score", "0", "--text", "blue denim jeans"])
    assert tagged.exit_code == 0, tagged.output
    row = json.loads(tagged.stdout.splitlines()[0])
    assert [t["tag"] for t in row["tags"]] == ["Clothing", "Clothing > Bottoms"]
    bad = runner.invoke(app, ["tag", "--index", str(index_copy), "--mode", "zeroshot", "--text", "jeans"])
    assert bad.exit_code != 0 and "add --vocab" in str(bad.exception)
    removed = runner.invoke(app, ["vocab", "remove", "shop", "--index", str(index_copy)])
    assert removed.exit_code == 0 and not (index_copy / "vocabs" / "shop").exists()
