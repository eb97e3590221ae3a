"""Same input, same vector, same tags: every text backend (int8 ONNX, torch, hashing)
embeds a text alike alone and in batches of any size and company (short and long mates,
so the padding differs), and a file tagged one product at a time gets exactly the tags,
order and scores it gets when tagged at once."""

from __future__ import annotations

import numpy as np
import pytest
from batch_checks import assert_batch_independent
from tiny_models import AWKWARD, TEXTS
from toy_catalog import IMAGE_SPEC, write_catalog

from retrieval_tagger.encoders.registry import load_text_encoder

LONG = "Men Navy Blue Slim Fit Cotton Casual Shirt with Button-Down Collar " * 12  # truncated at the model's length
MIXED = TEXTS + AWKWARD + ["Puma Men Black Running Shoes", "blue", LONG, "red " * 30]


@pytest.mark.parametrize("backend", ["onnx-int8", "torch", "hash"])
def test_text_embeddings_do_not_depend_on_the_batch(backend, tiny_text_model):
    encoder = load_text_encoder("hash:64") if backend == "hash" else load_text_encoder(tiny_text_model, "cpu", backend=backend)
    assert_batch_independent(encoder.encode, MIXED, [len(t) for t in MIXED])
    # the encoder's own batching (sorted by length, cut at batch_size) changes nothing either
    np.testing.assert_allclose(encoder.encode(MIXED, batch_size=3), encoder.encode(MIXED), atol=1e-5)


@pytest.mark.slow
def test_minilm_int8_embeddings_do_not_depend_on_the_batch():
    """The real model, whose activations are far from uniform (per-batch scales moved its
    embeddings by up to 0.05)."""
    encoder = load_text_encoder("minilm", "cpu", backend="onnx-int8")
    assert_batch_independent(encoder.encode, MIXED, [len(t) for t in MIXED])


@pytest.fixture(scope="module")
def onnx_tagger(tmp_path_factory, catalog_csv, facet_spec, tiny_text_model):
    """A Tagger of the tiny catalog indexed with the tiny sentence-transformers model on
    the int8 ONNX backend and rtag-tiny on the ONNX image backend."""
    from retrieval_tagger.build import BuildOptions, build_index
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path_factory.mktemp("batches") / "index"
    build_index(catalog_csv, folder, facet_spec,
                BuildOptions(text_model=tiny_text_model, image_model=IMAGE_SPEC, device="cpu", text_backend="onnx-int8", image_backend="onnx"))
    tagger = Tagger.load(folder, device="cpu", text_backend="onnx-int8", image_backend="onnx")
    assert tagger.text_encoder.backend == "onnx-int8"
    return tagger


def test_a_file_tagged_one_product_at_a_time_gets_the_same_tags(onnx_tagger, catalog_dir, tmp_path):
    from retrieval_tagger.catalog import read_catalog, spec_from_manifest

    rows = [{"id": f"q{i}", "title": text, "description": LONG if i % 4 == 1 else "",
             "image": str(catalog_dir / "images" / f"p{i % 30:02d}.png") if i % 3 else ""} for i, text in enumerate(MIXED * 2)]
    path = write_catalog(tmp_path / "queries.csv", rows, ["id", "title", "description", "image"])
    spec = spec_from_manifest(onnx_tagger.index.manifest["catalog"]["columns"])
    spec.facet_cols, spec.tags_col = (), None
    products, _ = read_catalog(path, spec, purpose="query")
    assert len(products) == len(rows)
    at_once = [r.to_dict() for r in onnx_tagger.tag(products)]
    one_by_one = [r.to_dict() for r in onnx_tagger.tag(products, chunk_size=1)]
    assert one_by_one == at_once
    assert sum(1 for r in at_once if r.get("tags")) >= len(rows) - 4  # blank titles without a photo have nothing to tag
