"""What `rtag tag`, `rtag eval` and `rtag vocab` can check without a model is checked
before any model loads (loading takes tens of seconds): options, files, the index, the
vocabulary name, Parquet support. `vocab list`/`remove` need an index that exists."""

from __future__ import annotations

import importlib.util

import pytest
from cli_runner import rtag
from toy_catalog import FACET_VOCAB, write_file

from retrieval_tagger.errors import (
    CatalogError,
    IndexNotFoundError,
    RtagError,
    VocabError,
)
from retrieval_tagger.pipeline import Tagger


@pytest.fixture()
def no_models(monkeypatch):
    """Fail the test if anything loads a Tagger (and with it the encoders)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the cheap checks failed")

    monkeypatch.setattr(Tagger, "load", refuse)


def fails(*args, error=RtagError) -> str:
    result = rtag(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, error), repr(result.exception)
    return str(result.exception)


@pytest.fixture()
def products(tmp_path):
    return write_file(tmp_path / "in.csv", "id,title\n1,red shirt\n")


def test_tag_checks_before_loading(no_models, text_index, products, tmp_path):
    assert "unknown --format 'xml'" in fails("tag", "--index", text_index, products, "--format", "xml")
    assert "top_n must be at least 1" in fails("tag", "--index", text_index, products, "--top-n", "0")
    assert "--weights takes name=number" in fails("tag", "--index", text_index, products, "--weights", "text")
    assert "--mode and --depth apply to tagging against a vocabulary" in fails("tag", "--index", text_index, products, "--mode", "knn")
    assert "mode must be auto, knn or zeroshot" in fails("tag", "--index", text_index, products, "--vocab", "v", "--mode", "fast")
    assert fails("tag", "--index", text_index, tmp_path / "nope.csv") == f"input file not found: {tmp_path / 'nope.csv'}: check the path"
    assert "cannot tell the format of in.txt" in fails("tag", "--index", text_index, write_file(tmp_path / "in.txt", "x"), error=CatalogError)
    assert "no index at" in fails("tag", "--index", tmp_path / "missing", products, error=IndexNotFoundError)


def test_tag_checks_the_vocabulary_name_before_loading(no_models, text_index_copy, products):
    message = fails("tag", "--index", text_index_copy, products, "--vocab", "shop", error=VocabError)
    assert message == (f"index {text_index_copy} has no vocabulary 'shop' (it has: none); "
                       f"add one with `rtag vocab add --index {text_index_copy} FILE --name shop`")


def test_parquet_without_pyarrow_fails_before_loading(no_models, text_index, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    path = write_file(tmp_path / "in.parquet", "not really parquet")
    assert "needs pyarrow: pip install 'retrieval-tagger[parquet]'" in fails("tag", "--index", text_index, path, error=CatalogError)


def test_eval_checks_before_loading(no_models, text_index, tmp_path):
    assert fails("eval", "--index", text_index, tmp_path / "test.csv") == f"test file not found: {tmp_path / 'test.csv'}: check the path"
    assert "diversity (MMR lambda) must lie in [0, 1]" in fails("eval", "--index", text_index, tmp_path / "t.csv", "--diversity", "2")
    assert "no index at" in fails("eval", "--index", tmp_path / "missing", write_file(tmp_path / "t.csv", "id\n1\n"), error=IndexNotFoundError)


def test_vocab_add_checks_before_loading(no_models, text_index, tmp_path):
    vocab = write_file(tmp_path / "facets.txt", FACET_VOCAB)
    assert "unknown vocabulary format 'yaml'" in fails("vocab", "add", vocab, "--index", text_index, "--format", "yaml", error=VocabError)
    assert fails("vocab", "add", tmp_path / "none.txt", "--index", text_index) == f"vocabulary file not found: {tmp_path / 'none.txt'}: check the path"
    cycle = write_file(tmp_path / "tax.csv", "id,name,parent\n1,a,2\n2,b,1\n")
    fails("vocab", "add", cycle, "--index", text_index, "--format", "taxonomy-csv", error=VocabError)
    assert "no index at" in fails("vocab", "add", vocab, "--index", tmp_path / "missing", error=IndexNotFoundError)


@pytest.mark.parametrize("command", [["list"], ["remove", "shop"]])
def test_vocab_list_and_remove_need_an_index(command, tmp_path):
    result = rtag("vocab", *command, "--index", tmp_path / "missing")
    assert result.exit_code != 0
    assert isinstance(result.exception, IndexNotFoundError)
    assert str(result.exception).startswith(f"no index at {tmp_path / 'missing'}")
