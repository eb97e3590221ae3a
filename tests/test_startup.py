"""Start-up that matches the work: tagging with the ONNX backends, from the exports cached
when the index was built, imports neither torch nor the libraries that build models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from toy_catalog import IMAGE_SPEC

# what only building, exporting or training needs (scikit-learn is not here: the lexical
# signal tags with its TfidfVectorizer, rebuilt from the index's arrays)
HEAVY = ("torch", "transformers", "sentence_transformers", "open_clip", "timm", "onnx", "lightgbm")

PROBE = """
import json, sys
from retrieval_tagger.cli.main import app
try:
    app(["tag", "--index", sys.argv[1], "--text", "red cotton shirt", "--image", sys.argv[2], "--top-n", "3"])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(m for m in sys.argv[3].split(",") if m in sys.modules)), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def onnx_index(tmp_path_factory, catalog_csv, facet_spec, tiny_text_model):
    """An index built with a sentence-transformers text model and the tiny open_clip model,
    both on their ONNX backends (whose exports are in the session's cache)."""
    from retrieval_tagger.build import BuildOptions, build_index

    folder = tmp_path_factory.mktemp("startup") / "index"
    build_index(catalog_csv, folder, facet_spec,
                BuildOptions(text_model=tiny_text_model, image_model=IMAGE_SPEC, device="cpu", text_backend="onnx-int8", image_backend="onnx"))
    return folder


def test_tagging_from_cached_exports_imports_no_torch(onnx_index, catalog_dir):
    from retrieval_tagger.pipeline import Tagger

    image = str(catalog_dir / "images" / "p00.png")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the device is resolved without torch where no GPU can be
    proc = subprocess.run([sys.executable, "-c", PROBE, str(onnx_index), image, ",".join(HEAVY)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    (tagged,) = [json.loads(line) for line in proc.stdout.splitlines()]
    # the same tags and scores as a Tagger whose encoders load the models with torch
    from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
    from retrieval_tagger.index.reader import open_index

    opened = open_index(onnx_index)
    recorded = opened.manifest["encoders"]
    encoders = (load_text_encoder(recorded["text"]["spec"], "cpu", "onnx-int8"), load_image_encoder(IMAGE_SPEC, "cpu", "onnx"))
    assert [type(e).__name__ for e in encoders] == ["OnnxTextEncoder", "ClipImageEncoder"]
    (want,) = Tagger(opened, *encoders).tag([{"id": "query", "text": "red cotton shirt", "image": image}], top_n=3)
    assert tagged == want.to_dict() and tagged["tags"]


@pytest.mark.slow
def test_real_models_from_cached_exports_match_the_loaded_ones(tmp_path):
    """MiniLM and rtag-lite built from their cached exports alone: the same token ids and
    the same embeddings as the encoders that load the models and export them."""
    from sentence_transformers import SentenceTransformer
    from tiny_models import AWKWARD, TEXTS
    from toy_catalog import write_square

    from retrieval_tagger.encoders.lite import minilm_path
    from retrieval_tagger.encoders.onnx.image import OnnxImageEncoder
    from retrieval_tagger.encoders.onnx.text import SavedTokenizer
    from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder

    loaded = load_text_encoder("minilm", "cpu", "onnx-int8")
    cached = load_text_encoder("minilm", "cpu", "onnx-int8", recorded={"checksum": loaded.checksum})
    assert isinstance(cached.tokenize, SavedTokenizer) and cached.checksum == loaded.checksum
    texts = TEXTS + AWKWARD + ["Puma Men Black Running Shoes", "Lino Perros Men Formal Grey Accessory Gift Set"]
    st = SentenceTransformer(minilm_path(), device="cpu")
    want = st.tokenizer(texts, padding=True, truncation=True, max_length=cached.max_length, return_tensors="np")
    got = cached.tokenize(texts)
    for name in cached.inputs:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    reference = type(cached)("minilm", *_export_of(cached), tokenize=lambda batch: {
        name: array.astype(np.int64) for name, array in st.tokenizer(batch, padding=True, truncation=True, max_length=cached.max_length,
                                                                      return_tensors="np").items() if name in cached.inputs})
    assert np.abs(cached.encode(texts) - reference.encode(texts)).max() <= 1e-5

    # product photos (JPEGs decoded at reduced scale, portrait ones padded) and a generated square
    demo = Path(__file__).resolve().parents[1] / "demo" / "fashion_sample" / "images"
    photos = [str(demo / name) for name in ("10012.jpg", "10059.jpg", "10082.jpg") if (demo / name).is_file()]
    photos.append(str(write_square(tmp_path / "square.png", (90, 40, 160), marker=2)))
    loaded = load_image_encoder("rtag-lite", "cpu", "onnx")
    cached = load_image_encoder("rtag-lite", "cpu", "onnx", recorded={"checksum": loaded.checksum, "image_size": loaded.size})
    assert isinstance(cached, OnnxImageEncoder)
    (a, ha, oka), (b, hb, okb) = cached.encode_images_and_colours(photos), loaded.encode_images_and_colours(photos)
    assert oka.all() and okb.all() and np.array_equal(ha, hb)
    assert np.abs(a - b).max() <= 1e-5


def _export_of(encoder):
    from retrieval_tagger.encoders.onnx import cache as onnx_cache
    from retrieval_tagger.encoders.onnx import text as onnx_text

    return onnx_cache.find("onnx-text", onnx_text.export_key(encoder.checksum), onnx_text.FORMAT, onnx_text.FORMAT_VERSION)
