"""``rtag info --verify`` checks what tagging would load: the index's files and arrays, its
reranker and its stored vocabularies; it says ok only when tagging would work."""

from __future__ import annotations

import shutil

from cli_runner import ok, rtag
from toy_catalog import FACET_VOCAB, write_file

from retrieval_tagger.errors import RerankerError, VocabError


def test_verify_covers_the_reranker_and_the_vocabularies(reranked, tmp_path, encoders):
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path / "index"
    shutil.copytree(reranked[0], folder)
    Tagger(open_index(folder), *encoders).add_vocab(write_file(tmp_path / "facets.txt", FACET_VOCAB), "facets")
    text = ok("info", folder, "--verify").stdout
    assert "verified sha256 of 20 files: ok, and the structure of every array and store" in text
    assert "verified the reranker: ok" in text and "verified vocabulary facets: ok" in text

    entries = folder / "vocabs" / "facets" / "entries.json"
    original = entries.read_bytes()
    entries.write_bytes(original.replace(b"red", b"rad"))
    result = rtag("info", folder, "--verify")
    assert isinstance(result.exception, VocabError) and "entries.json does not match its sha256" in str(result.exception)
    assert ok("info", folder).exit_code == 0  # without --verify: sizes only
    entries.write_bytes(original)

    model = folder / "reranker" / "model.txt"
    model.write_bytes(model.read_bytes()[:-10] + b"0" * 10)
    result = rtag("info", folder, "--verify")
    assert isinstance(result.exception, RerankerError) and "model.txt does not match its sha256" in str(result.exception)
