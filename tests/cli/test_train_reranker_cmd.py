"""``rtag train-reranker``, then tagging and evaluating with the reranker."""

from __future__ import annotations

import json
import shutil


def test_cli_trains_and_uses_the_reranker(both_index, catalog_csv, tmp_path):
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    runner = CliRunner()
    folder = tmp_path / "index"
    shutil.copytree(both_index, folder)
    trained = runner.invoke(app, ["train-reranker", "--index", str(folder)])
    assert trained.exit_code == 0, trained.output
    assert "facet accuracy voting" in trained.output and (folder / "reranker" / "model.txt").is_file()
    args = ["tag", "--index", str(folder), "--text", "blue denim jeans", "--top-n", "3"]
    reranked = json.loads(runner.invoke(app, args).stdout)
    plain = json.loads(runner.invoke(app, args + ["--no-rerank"]).stdout)
    assert reranked["tags"] and plain["tags"] and reranked != plain
    assert "reranks (held-out accuracy fused -> reranked):" in trained.output and "keeps fused scores:" in trained.output
    marked = json.loads(runner.invoke(app, args + ["--min-score", "0.5"]).stdout)["tags"]
    assert all((t["score"] < 0.5) == bool(t.get("review")) for t in marked)  # a facet below it is marked, not dropped
    dropped = json.loads(runner.invoke(app, args + ["--min-score", "0.5", "--drop-review"]).stdout)["tags"]
    assert all(t["score"] >= 0.5 for t in dropped)
    info = runner.invoke(app, ["info", str(folder)]).output
    assert "  reranks (held-out accuracy fused -> reranked):" in info and "signals skipped at tag time:" in info
    table = runner.invoke(app, ["eval", "--index", str(folder), str(catalog_csv), "--compare", "--diversity", "0.5"])
    assert table.exit_code == 0, table.output
    for method in ("most frequent value", "text kNN voting", "voting (fused)", "reranked", "reranked + MMR (lambda=0.5)"):
        assert method in table.output
    bad = runner.invoke(app, ["tag", "--index", str(folder), "--text", "x", "--diversity", "2"])
    assert bad.exit_code != 0 and "diversity" in str(bad.exception)
