"""``rtag vocab add/list/remove`` and tagging with ``--vocab``."""

from __future__ import annotations

import json

from toy_catalog import TAXONOMY, write_file


def test_cli_vocab_add_list_tag_remove(text_index_copy, tmp_path):
    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    runner = CliRunner()
    vocab = write_file(tmp_path / "tax.txt", TAXONOMY)
    out = runner.invoke(app, ["vocab", "add", str(vocab), "--index", str(text_index_copy), "--name", "shop"])
    assert out.exit_code == 0, out.output
    assert "8 taxonomy of depth 3" in out.output
    listed = runner.invoke(app, ["vocab", "list", "--index", str(text_index_copy)])
    assert listed.exit_code == 0 and listed.output.startswith("shop\ttaxonomy\t8 tags")
    tagged = runner.invoke(app, ["tag", "--index", str(text_index_copy), "--vocab", "shop", "--depth", "2", "--min-score", "0", "--text", "blue denim jeans"])
    assert tagged.exit_code == 0, tagged.output
    row = json.loads(tagged.stdout.splitlines()[0])
    assert [t["tag"] for t in row["tags"]] == ["Clothing", "Clothing > Bottoms"]
    bad = runner.invoke(app, ["tag", "--index", str(text_index_copy), "--mode", "zeroshot", "--text", "jeans"])
    assert bad.exit_code != 0 and "add --vocab" in str(bad.exception)
    removed = runner.invoke(app, ["vocab", "remove", "shop", "--index", str(text_index_copy)])
    assert removed.exit_code == 0 and not (text_index_copy / "vocabs" / "shop").exists()


def test_cli_vocab_map_prints_saves_and_loads_corrections(text_index_copy, tmp_path):
    import csv

    from typer.testing import CliRunner

    from retrieval_tagger.cli.main import app

    runner = CliRunner()
    index = str(text_index_copy)
    assert runner.invoke(app, ["vocab", "add", str(write_file(tmp_path / "tax.txt", TAXONOMY)), "--index", index, "--name", "shop"]).exit_code == 0
    out = runner.invoke(app, ["vocab", "map", "--index", index, "--vocab", "shop", "--output", str(tmp_path / "map.csv")])
    assert out.exit_code == 0, out.output
    assert "article:jeans" in out.output and "-> 5 Clothing > Bottoms > jeans" in out.output and "saved to" in out.output
    rows = list(csv.DictReader(open(tmp_path / "map.csv", newline="", encoding="utf-8")))
    for row in rows:
        if row["catalog_tag"] == "article:jeans":
            row.update(node="Accessories > bag", node_id="")
    with open(tmp_path / "map.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fixed = runner.invoke(app, ["vocab", "map", "--index", index, "--vocab", "shop", "--corrections", str(tmp_path / "map.csv")])
    assert fixed.exit_code == 0, fixed.output
    assert "stored 1 correction(s)" in fixed.output and "-> 8 Accessories > bag [1.000] (corrected)" in fixed.output
    tagged = runner.invoke(app, ["tag", "--index", index, "--vocab", "shop", "--mode", "knn", "--min-score", "0", "--text", "blue denim jeans"])
    assert json.loads(tagged.stdout.splitlines()[0])["tags"][-1]["tag"] == "Accessories > bag"
