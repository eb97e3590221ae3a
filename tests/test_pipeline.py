"""``Tagger``: tagging through the Python API with the fast test encoders, and the user's
options over the fusion the index fitted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from toy_catalog import COLOURS, VOCAB_QUERIES, write_file, write_square

from retrieval_tagger.catalog import Product
from retrieval_tagger.errors import RtagError
from retrieval_tagger.pipeline import DEFAULT_MIN_SCORE, Tagger, TagOptions, as_product
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.settings import FusionSettings, FusionWeights
from retrieval_tagger.tags import split_facet


@pytest.fixture(scope="module")
def tagger(both_tagger):
    return both_tagger


def tag_names(result):
    return [t["tag"] for t in result.tags]


def test_text_query_gets_the_tags_of_matching_products(tagger):
    (result,) = tagger.tag([{"id": "q", "text": "red cotton shirt"}], diversity=1.0)  # plain ranking, no MMR
    assert result.error is None
    assert {"colour:red", "article:shirt", "cotton"} <= set(tag_names(result)[:4])
    scores = [t["score"] for t in result.tags]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)


def test_one_value_per_facet_unless_asked_otherwise(tagger):
    (exclusive,) = tagger.tag([{"id": "q", "text": "blue denim jeans"}], top_n=20)
    facets = [split_facet(t)[0] for t in tag_names(exclusive) if split_facet(t)[0]]
    assert sorted(facets) == ["article", "colour"]
    (every,) = tagger.tag([{"id": "q", "text": "blue denim jeans"}], top_n=20, exclusive=False, temperature=1.0)
    assert sum(t.startswith("colour:") for t in tag_names(every)) > 1


def test_top_n_and_min_score(tagger):
    query = [{"id": "q", "text": "green wool hat"}]
    (three,) = tagger.tag(query, top_n=3)
    assert len(three.tags) == 3
    (all_tags,) = tagger.tag(query, top_n=50, temperature=1.0)
    cut = 0.2
    (above,) = tagger.tag(query, top_n=50, temperature=1.0, min_score=cut)
    assert tag_names(above) == [t["tag"] for t in all_tags.tags if t["score"] >= cut]
    assert 0 < len(above.tags) < len(all_tags.tags)


def test_every_input_appears_in_order_with_errors_and_warnings(tagger, catalog_dir, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    good_image = str(catalog_dir / "images" / "p00.png")
    products = [
        {"id": "text", "text": "black leather shoes"},
        {"id": "empty"},
        {"id": "image", "image": good_image},
        {"id": "text+broken", "text": "black leather shoes", "image": str(broken)},
        {"id": "broken only", "image": str(broken)},
        {"id": "missing only", "image": str(tmp_path / "gone.png")},
        Product(id="product", text="white silk dress"),
        {"id": "title", "title": "white silk", "description": "dress"},
    ]

    results = tagger.tag(products)

    assert [r.id for r in results] == [p["id"] if isinstance(p, dict) else p.id for p in products]
    by_id = {r.id: r for r in results}
    assert by_id["empty"].error == "no text and no image" and by_id["empty"].tags == []
    assert by_id["image"].error is None and by_id["image"].tags
    assert by_id["text+broken"].tags == by_id["text"].tags  # text alone carries it
    assert "image could not be read" in by_id["text+broken"].warning
    assert "image could not be read" in by_id["broken only"].error
    assert "image could not be read" in by_id["missing only"].error
    assert by_id["title"].tags == by_id["product"].tags
    assert by_id["text"].to_dict() == {"id": "text", "tags": by_id["text"].tags}  # no null fields


def test_exclude_self_leaves_the_product_out_of_its_own_neighbours(tagger):
    product = {"id": "p00", "text": "red cotton shirt A red shirt made of cotton."}
    (with_self,) = tagger.tag([product], k=1)
    (without,) = tagger.tag([product], k=1, exclude_self=True, weights={"text": 1.0, "image": 0.0})
    assert with_self.tags[0]["score"] == pytest.approx(1.0, abs=1e-3)  # the lexical signal never says 1 exactly
    assert set(tag_names(with_self)) == {"cotton", "winter", "colour:red", "article:shirt"}
    assert tag_names(without) != tag_names(with_self)
    assert "colour:red" not in tag_names(without)  # no other red cotton shirt exists


def test_zero_weight_switches_a_modality_off(tagger, catalog_dir):
    image_only = [{"id": "i", "image": str(catalog_dir / "images" / "p00.png")}]
    (off,) = tagger.tag(image_only, weights={"text": 1.0, "image": 0.0})
    assert off.error == "nothing to tag from" and off.tags == []
    text_only = [{"id": "t", "text": "red cotton shirt"}]
    with_image_off = tagger.tag(text_only, weights={"text": 1.0, "names": 0.5, "image": 0.0, "colour": 0.0})
    assert with_image_off == tagger.tag(text_only, weights={"text": 1.0, "names": 0.5})


def test_chunking_does_not_change_the_result(tagger, catalog_dir):
    products = [{"id": str(i), "text": t, "image": str(catalog_dir / "images" / f"p{i:02d}.png")}
                for i, t in enumerate(["red shirt", "", "blue jeans", "hat", "green bag"])]
    assert tagger.tag(products, chunk_size=2) == tagger.tag(products, chunk_size=512)


def test_score_returns_the_fused_matrix(tagger):
    scores, signal, items, warnings = tagger.score([{"id": "a", "text": "red"}, {"id": "b"}])
    assert scores.shape == (2, len(tagger.index.vocab))
    assert signal.tolist() == [True, False]
    assert np.all(scores[1] == 0)
    assert items[1].problem == "no text and no image"
    assert warnings == [None, None]
    empty_scores, empty_signal, _, _ = tagger.score([])
    assert empty_scores.shape == (0, len(tagger.index.vocab)) and len(empty_signal) == 0


def test_nothing_to_tag_gives_no_results(tagger):
    assert tagger.tag([]) == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kk": 3}, "unknown tagging option.*kk.*valid:.*top_n"),
        ({"k": 0}, "k must be at least 1"),
        ({"temperature": 0}, "temperature must be positive"),
        ({"top_n": 0}, "top_n must be at least 1"),
        ({"weights": {"text": 1, "audio": 1}}, "weights must be"),
        ({"weights": {"text": -1}}, "weights must be"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(RtagError, match=message):
        TagOptions.from_kwargs(**options)


def test_as_product_refuses_other_types():
    with pytest.raises(RtagError, match="must be a dict or Product, got str"):
        as_product("red shirt")
    assert as_product({"id": 5, "text": " <b>Red</b> shirt "}) == Product(id="5", text="Red shirt")


def test_text_only_index_ignores_images(text_index, catalog_dir):
    tagger = Tagger.load(text_index)
    assert tagger.image_encoder is None
    (result,) = tagger.tag([{"id": "q", "image": str(catalog_dir / "images" / "p00.png")}])
    assert result.error == "nothing to tag from"


# -- user options over the fitted fusion -------------------------------------------


FITTED = FusionSettings(
    {"text": {"k": 10, "temperature": 0.1}, "image": {"k": 40, "temperature": 0.02}, "names": {"temperature": 0.02}},
    FusionWeights({"text": 0.7, "image": 0.3}, {"colour": {"image": 1.0}}),
)


def test_without_options_the_fitted_fusion_is_used():
    assert TagOptions().fusion(FITTED) == FITTED


def test_k_and_temperature_override_every_knn_signal_but_keep_the_weights():
    params = TagOptions(k=3).fusion(FITTED).params
    assert params["text"] == {"k": 3, "temperature": 0.1} and params["image"] == {"k": 3, "temperature": 0.02}
    assert params["colour"] == {"k": 3, "temperature": registry.get("colour").defaults["temperature"]}  # not fitted: its default
    both = TagOptions(k=3, temperature=0.5).fusion(FITTED)
    assert all(both.params[name] == {"k": 3, "temperature": 0.5} for name in ("text", "image", "colour"))
    assert both.weights == FITTED.weights and both.params["names"] == FITTED.params["names"]  # names has no k


def test_user_weights_replace_the_fitted_ones_for_every_facet():
    fusion = TagOptions(weights={"text": 1.0}).fusion(FITTED)
    assert fusion.weights == FusionWeights({"text": 1.0}, {})
    assert fusion.params == FITTED.params


@pytest.mark.parametrize("weights", [{"audio": 1.0}, {"text": 0.0, "names": 0.0}, {}, {"image": -0.5, "text": 1.0}])
def test_bad_weights_are_refused_with_the_valid_names(weights):
    with pytest.raises(RtagError, match="weights must be") as info:
        TagOptions.from_kwargs(weights=weights)
    assert ", ".join(registry.names()) in str(info.value)
    assert "text, image, colour, names, mentions" in str(info.value)


def test_fitted_fusion_reaches_the_scores_and_options_override_it(tagger, monkeypatch):
    assert tagger.fusion == FusionSettings.from_json(tagger.index.manifest["fusion"])
    text_only = FusionSettings({name: {"k": 1, "temperature": 0.05} for name in ("text", "image", "colour")}, FusionWeights({"text": 1.0}))
    monkeypatch.setattr(tagger, "fusion", text_only)
    query = [{"id": "q", "text": "red cotton shirt A red shirt made of cotton."}]  # product p00's text

    (fitted,) = tagger.tag(query)
    (overridden,) = tagger.tag(query, k=30, temperature=1.0)

    # k=1: the product's own tags, each with the whole vote
    assert {t["tag"]: t["score"] for t in fitted.tags} == {"cotton": 1.0, "winter": 1.0, "colour:red": 1.0, "article:shirt": 1.0}
    # 30 neighbours at temperature 1 share the vote: no tag keeps all of it
    assert overridden.tags and max(t["score"] for t in overridden.tags) < 0.9


def test_per_facet_weights_take_each_facet_from_its_own_signal(tagger, monkeypatch, tmp_path):
    monkeypatch.setattr(tagger, "fusion", FusionSettings(
        {name: {"k": 5, "temperature": 0.05} for name in ("text", "image", "colour")},
        FusionWeights({"text": 1.0}, {"colour": {"colour": 1.0}}),
    ))
    blue = write_square(tmp_path / "blue.png", COLOURS["blue"], marker=2)
    product = [{"id": "q", "text": "red cotton shirt", "image": str(blue)}]

    (result,) = tagger.tag(product)
    (text_weights,) = tagger.tag(product, weights={"text": 1.0})

    tags = {t["tag"] for t in result.tags}
    assert {"colour:blue", "article:shirt"} <= tags and "colour:red" not in tags  # colour from the photo
    assert "colour:red" in {t["tag"] for t in text_weights.tags}  # the user's weights apply to every facet


def test_default_min_score_drops_tags_below_five_percent(tagger):
    assert TagOptions().min_score == DEFAULT_MIN_SCORE == 0.05
    query = [{"id": "q", "text": "green wool hat"}]
    (default,) = tagger.tag(query, top_n=50)
    (everything,) = tagger.tag(query, top_n=50, min_score=0.0)
    assert all(t["score"] >= 0.05 for t in default.tags)
    assert any(t["score"] < 0.05 for t in everything.tags)  # the zero-shot signal gives every tag a little
    assert default.tags == [t for t in everything.tags if t["score"] >= 0.05]


def test_weights_naming_only_signals_the_index_lacks_are_refused(tmp_path, catalog_csv):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.catalog import CatalogSpec

    out = tmp_path / "text_only"
    build_index(catalog_csv, out, CatalogSpec(tags_col="tags", facet_cols=["colour", "article"]), BuildOptions("hash:64", "none"))
    with pytest.raises(RtagError, match="no weight to a signal this index has: text, names"):
        Tagger.load(out).tag([{"id": "a", "text": "red shirt"}], weights={"colour": 1.0})


def test_a_stored_vocabulary_is_read_once_then_kept_in_memory(vocab_tagger, text_index_copy):
    first = vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", min_score=0.0)
    shutil.rmtree(text_index_copy / "vocabs" / "tax")  # a second call that read any of its files would fail
    assert vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", min_score=0.0) == first
    # replacing it through the Tagger drops the copy in memory
    vocab_tagger.add_vocab(write_file(text_index_copy.parent / "tax.txt", "Clothing\nClothing > jeans\n"), "tax", force=True)
    assert {t["tag"] for r in vocab_tagger.tag(VOCAB_QUERIES, vocab="tax", min_score=0.0) for t in r.tags} <= {"Clothing", "Clothing > jeans"}
