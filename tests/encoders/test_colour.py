"""The signals fused into a product's tags: colour histograms, zero-shot tag-name scores,
per-facet weights, and how the pipeline applies the user's overrides of the fitted fusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import COLOURS, write_square
from PIL import Image

from retrieval_tagger.encoders import colour
from retrieval_tagger.encoders.colour import colour_histogram
from retrieval_tagger.encoders.pixels import load_rgb
from retrieval_tagger.errors import RtagError
from retrieval_tagger.pipeline import DEFAULT_MIN_SCORE, Tagger, TagOptions
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.fuse import column_weights, fuse
from retrieval_tagger.signals.names import group_softmax
from retrieval_tagger.signals.settings import FusionSettings, FusionWeights
from retrieval_tagger.tags import TagSet, tag_groups


def bin_of(rgb) -> int:
    """The histogram bin of one colour, worked out independently of colour.py."""
    r, g, b = (c * colour.BINS // 256 for c in rgb)
    return (r * colour.BINS + g) * colour.BINS + b


# -- colour histograms -------------------------------------------------------------


def test_red_square_on_white_puts_all_mass_in_the_red_bin():
    img = Image.new("RGB", (40, 30), (255, 255, 255))
    img.paste((220, 20, 30), (10, 5, 25, 20))
    hist = colour_histogram(img)
    assert hist.shape == (colour.DIM,) and hist.dtype == np.float32
    expected = np.zeros(colour.DIM, np.float32)
    expected[bin_of((220, 20, 30))] = 1.0  # the white background counts for nothing
    np.testing.assert_array_equal(hist, expected)


def test_histogram_is_the_square_root_of_the_colour_shares():
    img = Image.new("RGB", (40, 40), (250, 250, 250))  # near-white background
    img.paste((220, 20, 30), (0, 0, 30, 10))  # 300 red pixels
    img.paste((30, 60, 220), (0, 10, 10, 20))  # 100 blue pixels
    hist = colour_histogram(img)
    expected = np.zeros(colour.DIM)
    expected[bin_of((220, 20, 30))] = math.sqrt(0.75)
    expected[bin_of((30, 60, 220))] = math.sqrt(0.25)
    np.testing.assert_allclose(hist, expected, rtol=1e-6)
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_all_white_image_is_a_white_unit_vector():
    hist = colour_histogram(Image.new("RGB", (16, 16), COLOURS["white"]))
    assert np.all(np.isfinite(hist))
    assert np.flatnonzero(hist).tolist() == [bin_of(COLOURS["white"])]
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_noisy_image_has_unit_norm():
    pixels = np.random.default_rng(0).integers(0, 256, size=(24, 24, 3), dtype=np.uint8)
    hist = colour_histogram(Image.fromarray(pixels))
    assert np.linalg.norm(hist) == pytest.approx(1.0, rel=1e-5)
    assert np.count_nonzero(hist) > 30  # many colours, many bins


@pytest.mark.parametrize(
    "img, rgb",
    [
        (Image.new("L", (8, 8), 100), (100, 100, 100)),
        (Image.new("RGBA", (8, 8), (0, 0, 255, 255)), (0, 0, 255)),
        (Image.new("P", (8, 8), 0), (0, 0, 0)),
    ],
    ids=["greyscale", "rgba", "palette"],
)
def test_other_image_modes_are_read_as_rgb(img, rgb):
    hist = colour_histogram(img)
    assert np.flatnonzero(hist).tolist() == [bin_of(rgb)]
    assert np.linalg.norm(hist) == pytest.approx(1.0)


def test_encoder_returns_the_histograms_of_the_decoded_files(encoders, tmp_path):
    _, image_enc = encoders
    red = write_square(tmp_path / "red.png", COLOURS["red"], marker=1)
    blue = write_square(tmp_path / "blue.png", COLOURS["blue"], marker=3)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths = [str(red), str(broken), str(blue), str(tmp_path / "missing.png")]

    vectors, hists, ok = image_enc.encode_images_and_colours(paths, batch_size=3, workers=0)

    assert ok.tolist() == [True, False, True, False]
    assert vectors.shape == (4, image_enc.dim) and hists.shape == (4, colour.DIM)
    for row in (0, 2):
        np.testing.assert_allclose(hists[row], colour_histogram(load_rgb(paths[row], image_enc.size)), rtol=1e-6)
    assert hists[0, bin_of(COLOURS["red"])] > 0.9 and hists[2, bin_of(COLOURS["blue"])] > 0.9
    assert np.all(hists[[1, 3]] == 0) and np.all(vectors[[1, 3]] == 0)
    alone, _ = image_enc.encode_images([str(red)])
    np.testing.assert_allclose(alone[0], vectors[0], atol=1e-5)  # same vectors as encode_images


def test_encoder_of_no_images_returns_empty_histograms(encoders):
    _, image_enc = encoders
    vectors, hists, ok = image_enc.encode_images_and_colours([])
    assert vectors.shape == (0, image_enc.dim) and hists.shape == (0, colour.DIM) and ok.shape == (0,)


# -- zero-shot tag-name scores ----------------------------------------------------

VOCAB = TagSet(
    ["colour:red", "colour:blue", "article:shirt", "cotton", "article:jeans", "colour:green", "summer"],
    [7, 6, 5, 4, 3, 2, 1],
)  # colour: 0, 1, 5; article: 2, 4; free: 3, 6


def test_tag_groups_are_the_facets_then_the_free_tags():
    groups = [g.tolist() for g in tag_groups(VOCAB)]
    assert groups == [[0, 1, 5], [2, 4], [3, 6]]
    assert [g.tolist() for g in tag_groups(TagSet(["colour:red", "colour:blue"], [1, 1]))] == [[0, 1]]


def test_group_softmax_by_hand():
    sims = np.array([[1.0, 0.0, 0.3]], dtype=np.float32)
    out = group_softmax(sims, [np.array([0, 1]), np.array([2])], temperature=0.5)
    e = math.exp(2.0)
    np.testing.assert_allclose(out, [[e / (e + 1), 1 / (e + 1), 1.0]], rtol=1e-6)


def test_group_softmax_sums_to_one_per_group_and_groups_are_independent():
    rng = np.random.default_rng(1)
    sims = rng.uniform(-1, 1, size=(5, len(VOCAB))).astype(np.float32)
    groups = tag_groups(VOCAB)

    out = group_softmax(sims, groups, temperature=0.05)

    for cols in groups:
        np.testing.assert_allclose(out[:, cols].sum(axis=1), 1.0, rtol=1e-5)
    changed = sims.copy()
    changed[:, VOCAB.facets["colour"]] += rng.uniform(-1, 1, size=(5, 3)).astype(np.float32)
    again = group_softmax(changed, groups, temperature=0.05)
    others = np.r_[VOCAB.facets["article"], VOCAB.free]
    np.testing.assert_array_equal(again[:, others], out[:, others])
    assert not np.allclose(again[:, VOCAB.facets["colour"]], out[:, VOCAB.facets["colour"]])


def test_group_softmax_temperature_sharpens_and_large_values_do_not_overflow():
    sims = np.array([[0.5, 0.4]], dtype=np.float32)
    cols = [np.array([0, 1])]
    soft, sharp = group_softmax(sims, cols, 1.0), group_softmax(sims, cols, 0.01)
    assert 0.5 < soft[0, 0] < 0.6 and sharp[0, 0] > 0.99
    huge = group_softmax(np.array([[1000.0, 999.0]], dtype=np.float32), cols, 0.01)
    assert np.all(np.isfinite(huge)) and huge[0, 0] == pytest.approx(1.0)


def test_flat_weights_apply_to_every_column():
    weights = column_weights(FusionWeights({"text": 0.7, "image": 0.3}), VOCAB, ["text", "image", "names"])
    assert list(weights) == ["text", "image", "names"]
    np.testing.assert_array_equal(weights["text"], np.full(len(VOCAB), 0.7, np.float32))
    np.testing.assert_array_equal(weights["image"], np.full(len(VOCAB), 0.3, np.float32))
    np.testing.assert_array_equal(weights["names"], np.zeros(len(VOCAB)))  # not named: no weight


def test_facet_weights_override_only_that_facets_columns():
    weights = column_weights(
        FusionWeights(
            {"text": 0.6, "image": 0.4},
            {"colour": {"image": 0.9, "colour": 0.1}, "size": {"text": 1.0}},  # size: not in the vocab
        ),
        VOCAB,
        ["text", "image", "colour"],
    )
    colour_cols, rest = VOCAB.facets["colour"], [2, 3, 4, 6]
    assert weights["text"][colour_cols].tolist() == [0.0, 0.0, 0.0]  # missing from the facet's dict: 0
    np.testing.assert_allclose(weights["image"][colour_cols], 0.9)
    np.testing.assert_allclose(weights["colour"][colour_cols], 0.1)
    np.testing.assert_allclose(weights["text"][rest], 0.6)
    np.testing.assert_allclose(weights["image"][rest], 0.4)
    np.testing.assert_array_equal(weights["colour"][rest], 0.0)


def test_fuse_with_per_tag_weights_and_a_missing_signal():
    text = np.array([[0.8, 0.4, 0.2], [0.6, 0.6, 0.9]], dtype=np.float32)
    image = np.array([[0.2, 0.8, 1.0], [0.5, 0.5, 0.5]], dtype=np.float32)
    names = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=np.float32)
    scores = {"text": text, "image": image, "names": names}
    present = {"text": np.array([True, True]), "image": np.array([True, False]), "names": np.array([True, True])}
    weights = {"text": np.array([1.0, 0.5, 0.0]), "image": np.array([0.0, 0.5, 1.0]), "names": 0.25}

    fused = fuse(scores, present, weights)

    np.testing.assert_allclose(fused, [
        # product 0 has every signal: a weighted mean per tag
        [(0.8 + 0.25 * 0.5) / 1.25, (0.5 * 0.4 + 0.5 * 0.8 + 0.25 * 0.3) / 1.25, (1.0 + 0.25 * 0.2) / 1.25],
        # product 1 has no image: the weights of the others are renormalised per tag
        [(0.6 + 0.25 * 0.1) / 1.25, (0.5 * 0.6 + 0.25 * 0.1) / 0.75, 0.8],
    ], rtol=1e-6)
    no_names = fuse(scores, present, {**weights, "names": 0.0})
    assert no_names[1, 2] == 0.0  # only the absent image weighs on this tag: no score, not NaN


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


def test_a_signal_without_fitted_parameters_scores_with_its_defaults():
    names = registry.get("names")
    assert names.params_in(FusionSettings({}, FusionWeights({}))) == names.defaults == {"temperature": 0.05}
    assert names.params_in(FITTED) == {"temperature": 0.02}


@pytest.mark.parametrize("weights", [{"audio": 1.0}, {"text": 0.0, "names": 0.0}, {}, {"image": -0.5, "text": 1.0}])
def test_bad_weights_are_refused_with_the_valid_names(weights):
    with pytest.raises(RtagError, match="weights must be") as info:
        TagOptions.from_kwargs(weights=weights)
    assert ", ".join(registry.names()) in str(info.value)
    assert "text, image, colour, names, mentions" in str(info.value)


@pytest.fixture(scope="module")
def tagger(both_index):
    return Tagger.load(both_index)


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


def test_transparent_background_is_read_as_white(tmp_path):
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))  # transparent pixels stored as black
    img.paste((200, 10, 10, 255), (5, 5, 15, 15))
    path = tmp_path / "cutout.png"
    img.save(path)
    rgb = load_rgb(str(path), 20)
    assert rgb.getpixel((0, 0)) == (255, 255, 255)
    hist = colour_histogram(rgb)
    assert hist[bin_of((200, 10, 10))] == pytest.approx(1.0)


def test_weights_naming_only_signals_the_index_lacks_are_refused(tmp_path, catalog_csv):
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.catalog import CatalogSpec

    out = tmp_path / "text_only"
    build_index(catalog_csv, out, CatalogSpec(tags_col="tags", facet_cols=["colour", "article"]), BuildOptions("hash:64", "none"))
    with pytest.raises(RtagError, match="no weight to a signal this index has: text, names"):
        Tagger.load(out).tag([{"id": "a", "text": "red shirt"}], weights={"colour": 1.0})


# -- mentions ----------------------------------------------------------------------

def test_mentions_prefer_the_longest_value_named_in_the_text():
    from retrieval_tagger.signals.mentions import MentionMatcher, words

    vocab = TagSet(["colour:Blue", "colour:Navy Blue", "gender:Men", "gender:Women", "article:Casual Shoes", "cotton"], [1] * 6)
    scores = MentionMatcher(vocab).scores(["Turtle Men Navy Blue Casual Shoe", "Women's COTTON dress", ""])
    np.testing.assert_allclose(scores[0], [0.5, 1.0, 1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(scores[1], [0.0, 0.0, 0.0, 1.0, 0.0, 1.0])  # "Women" is not "Men"
    np.testing.assert_allclose(scores[2], 0.0)
    assert words("Shoes & T-Shirts") == words("shoe t shirt") == ["shoe", "t", "shirt"]
    assert words("Dress") == ["dress"] and words("Sunglasses") == words("SUNGLASSES")


def test_mentions_reach_the_tags_through_the_pipeline(tagger):
    # a weight on mentions alone: the colour and article named in the text win
    (result,) = tagger.tag([{"id": "m", "text": "a green hat"}], weights={"mentions": 1.0}, min_score=0.5)
    assert {t["tag"] for t in result.tags} == {"colour:green", "article:hat"}


def test_names_signal_ranks_the_tag_equal_to_the_query_first():
    rng = np.random.default_rng(2)
    tag_vectors = rng.normal(size=(len(VOCAB), 16)).astype(np.float32)
    tag_vectors /= np.linalg.norm(tag_vectors, axis=1, keepdims=True)
    queries = tag_vectors[[0, 4, 6]]  # colour:red, article:jeans, summer

    scores = group_softmax(queries @ tag_vectors.T, tag_groups(VOCAB), temperature=0.05)

    assert scores.shape == (3, len(VOCAB))
    for query, (tag, cols) in enumerate([(0, VOCAB.facets["colour"]), (4, VOCAB.facets["article"]), (6, VOCAB.free)]):
        assert cols[np.argmax(scores[query, cols])] == tag
        np.testing.assert_allclose(scores[query, cols].sum(), 1.0, rtol=1e-5)
