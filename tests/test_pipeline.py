"""``Tagger``: tagging through the Python API with the fast test encoders."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.catalog import Product
from retrieval_tagger.errors import RtagError
from retrieval_tagger.pipeline import Tagger, TagOptions, as_product
from retrieval_tagger.tags import split_facet


@pytest.fixture(scope="module")
def tagger(both_index):
    return Tagger.load(both_index)


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
    assert with_self.tags[0]["score"] == 1.0
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
