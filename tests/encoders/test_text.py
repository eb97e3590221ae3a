"""The real packaged models, once each: MiniLM for text, rtag-lite for images."""

from __future__ import annotations

import shutil

import pytest
from conftest import TEXT_SPEC, catalog_rows

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.pipeline import Tagger


@pytest.fixture(scope="module")
def minilm_tagger(tmp_path_factory, catalog_csv, facet_spec):
    out = tmp_path_factory.mktemp("minilm") / "idx"
    man = build_index(catalog_csv, out, facet_spec, BuildOptions(text_model="minilm", image_model="none"))
    assert man["encoders"]["text"]["dim"] == 384
    assert "image" not in man["stores"]
    return Tagger.load(out)


def test_minilm_tags_a_query_with_the_catalog_words(minilm_tagger):
    (result,) = minilm_tagger.tag([{"id": "q", "text": "blue denim jeans"}], top_n=4)
    tags = [t["tag"] for t in result.tags]
    assert tags[0] in {"article:jeans", "denim"}
    assert {"article:jeans", "denim", "colour:blue"} <= set(tags)


@pytest.mark.parametrize(
    "query, article",
    [("trousers", "jeans"), ("sneakers", "shoes"), ("boots", "shoes"), ("gown", "dress")],
)
def test_minilm_understands_words_the_catalog_never_uses(minilm_tagger, query, article):
    # no word or trigram in common with the catalog titles: the hashing encoder could not do this
    (result,) = minilm_tagger.tag([{"id": "q", "text": query}], top_n=4)
    best_article = next(t["tag"] for t in result.tags if t["tag"].startswith("article:"))
    assert best_article == f"article:{article}"


def test_rtag_lite_finds_the_product_of_a_duplicate_image(tmp_path, catalog_csv, catalog_dir, facet_spec):
    out = tmp_path / "idx"
    man = build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model="rtag-lite"))
    assert man["encoders"]["image"]["spec"] == "rtag-lite"
    assert man["counts"]["with_image"] == 30
    tagger = Tagger.load(out)

    rows = catalog_rows()
    queries = []
    for row in rows:  # byte-identical copies under new names, no text: image neighbours only
        copy = tmp_path / f"copy_of_{row['id']}.png"
        shutil.copy(catalog_dir / row["image"], copy)
        queries.append({"id": f"q{row['id']}", "image": str(copy)})

    # image neighbours alone: the solid-colour squares make colour histograms ambiguous by design
    nearest = tagger.tag(queries, k=1, weights={"image": 1.0})
    voted = tagger.tag(queries, k=20, weights={"image": 1.0})  # the duplicate must dominate the vote

    for row, one, many in zip(rows, nearest, voted):
        expected = set(row["tags"].split("|")) | {f"colour:{row['colour']}", f"article:{row['article']}"}
        assert {t["tag"] for t in one.tags} == expected, row["id"]
        assert one.tags[0]["score"] == 1.0
        facets = [t["tag"] for t in many.tags if ":" in t["tag"]]
        assert set(facets) == {f"colour:{row['colour']}", f"article:{row['article']}"}, row["id"]


def test_align_rtag_lite_writes_a_self_contained_model_folder(tmp_path):
    """The offline default: frozen EfficientNet trunk, MiniLM text tower (copied into
    the folder with its tokenizer), frozen text projection; the folder loads back."""
    import numpy as np
    from shapes import write_shapes_catalog

    from retrieval_tagger.align.train import AlignOptions, align
    from retrieval_tagger.encoders.registry import load_image_encoder

    catalog = write_shapes_catalog(tmp_path / "shapes", per_class=4)
    man = align(catalog, tmp_path / "model", base="rtag-lite", options=AlignOptions(epochs=2, batch_size=32, val_fraction=0.2, text_projection=False))
    assert man["tokenizer"] == {"kind": "hf", "path": "text", "context_length": 128}
    assert {"text/config.json", "text/tokenizer.json", "text/vocab.txt"} <= set(man["files"])
    encoder = load_image_encoder(str(tmp_path / "model"))
    assert encoder.dim == 384 and encoder.text_space
    texts = encoder.encode(["red circle", "blue square"])
    # the text projection stayed the identity: tag names keep their MiniLM meaning
    minilm = load_image_encoder("rtag-lite").model
    with __import__("torch").no_grad():
        tokens = encoder.tokenizer(["red circle", "blue square"])
        raw = minilm.text.transformer(input_ids=tokens, attention_mask=(tokens != 0).long()).last_hidden_state
    mask = (tokens != 0).unsqueeze(-1).float()
    pooled = ((raw * mask).sum(1) / mask.sum(1)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(texts, pooled, atol=1e-4)
    images, ok = encoder.encode_images([str(p) for p in sorted((tmp_path / "shapes" / "images").glob("*.png"))[:3]])
    assert ok.all() and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
