"""Shared fixtures: the tiny generated catalog (toy_catalog.py), indexes built from it with
the fast test encoders, and the artifacts that several test folders read (a tiny text
model with its ONNX export, an index built by the CLI, a trained reranker, an aligned
model). Each is built once per session; treat them as read-only and copy before changing.

Every index and model lives under a pytest temporary folder, never in the repository's
``indexes/``; ONNX exports go to a fresh cache, not the user's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from shapes import ALIGN_BASE, ALIGN_OPTS, write_shapes_catalog
from toy_catalog import (
    COLUMNS,
    FACET_VOCAB,
    IMAGE_SPEC,
    TAXONOMY,
    TEXT_SPEC,
    catalog_rows,
    write_catalog,
    write_file,
)

os.environ["RTAG_NO_PROGRESS"] = "1"
# One thread per library (torch, faiss, ONNX Runtime), set before any of them loads: the
# tests' arrays are tiny, so threads cost more than they save, and on a shared machine a
# second thread that waits for a core stalls every operation (measured on 2 busy cores:
# the tests not marked slow ran in 40 s instead of 66 s). Subprocesses inherit it.
os.environ["OMP_NUM_THREADS"] = "1"
# backends are chosen by the tests, never by the environment they run in
os.environ.pop("RTAG_TEXT_BACKEND", None)
os.environ.pop("RTAG_IMAGE_BACKEND", None)
os.environ["RTAG_CACHE_DIR"] = tempfile.mkdtemp(prefix="rtag-test-cache-")


@pytest.fixture(scope="session")
def catalog_dir(tmp_path_factory) -> Path:
    """A folder holding ``catalog.csv`` and ``images/`` with the 30 tiny products."""
    folder = tmp_path_factory.mktemp("catalog")
    write_catalog(folder / "catalog.csv", catalog_rows(folder / "images"), COLUMNS)
    return folder


@pytest.fixture(scope="session")
def catalog_csv(catalog_dir) -> Path:
    return catalog_dir / "catalog.csv"


@pytest.fixture(scope="session")
def facet_spec():
    from retrieval_tagger.catalog import CatalogSpec

    return CatalogSpec(tags_col="tags", facet_cols=["colour", "article"])


@pytest.fixture(scope="session")
def text_index(tmp_path_factory, catalog_csv, facet_spec) -> Path:
    """A text-only index (hash:64, no image model). Treat as read-only: copy before changing."""
    from retrieval_tagger.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("indexes") / "text"
    build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model="none"))
    return out


@pytest.fixture(scope="session")
def both_index(tmp_path_factory, catalog_csv, facet_spec) -> Path:
    """A text + image index (hash:64, rtag-tiny:random). Treat as read-only."""
    from retrieval_tagger.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("indexes") / "both"
    build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model=IMAGE_SPEC))
    return out


@pytest.fixture(scope="session")
def both_tagger(both_index):
    """A Tagger of ``both_index``, loaded once. Tests may monkeypatch it (monkeypatch undoes
    the change) but must leave it as they found it."""
    from retrieval_tagger.pipeline import Tagger

    return Tagger.load(both_index)


@pytest.fixture()
def text_index_copy(text_index, tmp_path) -> Path:
    """A private copy of the text-only index that a test may change or damage."""
    out = tmp_path / "index"
    shutil.copytree(text_index, out)
    return out


@pytest.fixture()
def vocab_tagger(text_index_copy):
    """A Tagger of ``text_index_copy`` with two stored vocabularies: ``facets`` (FACET_VOCAB)
    and the taxonomy ``tax`` (TAXONOMY)."""
    from retrieval_tagger.pipeline import Tagger

    tagger = Tagger.load(text_index_copy)
    tagger.add_vocab(write_file(text_index_copy.parent / "facets.txt", FACET_VOCAB), "facets")
    tagger.add_vocab(write_file(text_index_copy.parent / "tax.txt", TAXONOMY), "tax")
    return tagger


@pytest.fixture()
def index_home(tmp_path, monkeypatch) -> Path:
    """Bare index names resolve under a temporary folder for this test."""
    home = tmp_path / "index_home"
    monkeypatch.setenv("RTAG_INDEX_DIR", str(home))
    return home


@pytest.fixture(scope="session")
def encoders():
    """The fast test encoders, loaded once: pass as ``build_index(..., encoders=encoders)``."""
    from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder

    return load_text_encoder(TEXT_SPEC), load_image_encoder(IMAGE_SPEC)


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory) -> str:
    """A tiny sentence-transformers model folder whose int8 ONNX export is in the session's
    cache (``RTAG_CACHE_DIR``); see tiny_models.py."""
    from tiny_models import tiny_sentence_model

    from retrieval_tagger.encoders.registry import load_text_encoder

    model = tiny_sentence_model(tmp_path_factory.mktemp("tiny-st"))
    load_text_encoder(model, "cpu", backend="onnx-int8")
    return model


@pytest.fixture()
def private_cache(tmp_path, monkeypatch) -> Path:
    """A copy of the session's ONNX export cache that this test may change or delete."""
    cache = tmp_path / "cache"
    shutil.copytree(os.environ["RTAG_CACHE_DIR"], cache)
    monkeypatch.setenv("RTAG_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def cli_index(tmp_path_factory, catalog_csv) -> Path:
    """The tiny catalog indexed by ``rtag index`` (hash:64 + rtag-tiny:random)."""
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    folder = tmp_path_factory.mktemp("cli") / "shop"
    args = ["index", str(catalog_csv), "--name", str(folder), "--tags-col", "tags", "--facet-cols", "colour,article",
            "--text-model", TEXT_SPEC, "--image-model", IMAGE_SPEC]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"index {folder}: 30 products, 19 tags; text 30 vectors (flat), image 30 vectors (flat)" in result.stdout
    assert "catalog: 30 rows read, 30 kept, 0 skipped" in result.stderr
    return folder


@pytest.fixture(scope="session")
def reranked(both_index, tmp_path_factory) -> tuple[Path, dict]:
    """A copy of ``both_index`` with a reranker trained by ``train_index``, and what it returned."""
    from retrieval_tagger.jobs.train_reranker import train_index

    folder = tmp_path_factory.mktemp("rerank") / "index"
    shutil.copytree(both_index, folder)
    return folder, train_index(folder, progress=False)


@pytest.fixture(scope="session")
def shapes_csv(tmp_path_factory) -> Path:
    return write_shapes_catalog(tmp_path_factory.mktemp("shapes"), per_class=16)


@pytest.fixture(scope="session")
def shapes_features(tmp_path_factory) -> Path:
    """A shared ``cache_dir`` for alignment runs on the shapes: the frozen features of the
    same images under the same model are computed once, not once per run."""
    return tmp_path_factory.mktemp("shapes-features")


@pytest.fixture(scope="session")
def aligned(shapes_csv, shapes_features, tmp_path_factory) -> tuple[Path, dict]:
    """A model folder aligned on the shapes (ALIGN_BASE, ALIGN_OPTS) and its manifest."""
    from retrieval_tagger.align.train import AlignOptions, align

    out = tmp_path_factory.mktemp("models") / "shapes"
    return out, align(shapes_csv, out, base=ALIGN_BASE, options=AlignOptions(**ALIGN_OPTS), cache_dir=shapes_features)
