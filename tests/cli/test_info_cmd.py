"""``rtag info``: what an index holds, with --verify and --json."""

from __future__ import annotations

import json

from cli_runner import ok


def test_info(cli_index):
    text = ok("info", cli_index).stdout
    assert f"index {cli_index} (format 1" in text
    assert "counts: products 30, with_text 30, with_image 30, tags 19" in text
    assert "text encoder: hash:64 (64-d" in text
    assert "image encoder: rtag-tiny:random (32-d" in text
    assert 'text store: flat (faiss "Flat"), 30 vectors\n' in text
    assert "top tags:" in text

    verified = ok("info", cli_index, "--verify").stdout
    assert "verified sha256 of 20 files: ok" in verified
    assert json.loads(ok("info", cli_index, "--json").stdout)["counts"]["products"] == 30
