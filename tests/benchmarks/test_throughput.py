"""benchmarks/throughput.py (which the GPU benchmark drives) end to end on the tiny
catalog, so that a change of the package cannot break it unseen before a GPU run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from toy_catalog import IMAGE_SPEC, TEXT_SPEC

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import throughput  # noqa: E402


def test_throughput_measures_encoders_index_and_tagging_in_one_run(catalog_csv, tmp_path, capsys):
    out = tmp_path / "figures.json"
    code = throughput.main([
        "--catalog", str(catalog_csv), "--queries-file", str(catalog_csv), "--catalog-size", "20", "--queries", "45",
        "--device", "cpu", "--text-model", TEXT_SPEC, "--image-model", IMAGE_SPEC, "--text-cols", "title",
        "--facet-cols", "colour,article", "--repeats", "1", "--json", str(out),
    ])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["index"]["products"] == 20
    assert report["tag"]["products"] == 45 and report["tag"]["failed"] == 0  # 30 products, cycled under new ids
    enc = report["encoders"]
    assert enc["texts"] == enc["images"] == 45
    assert all(enc[k] > 0 for k in ("text_per_s", "images_per_s", "forward_images_per_s", "products_per_s"))
    assert report["share_of_encoder_speed"]["tag"] > 0 and report["target_share"] == throughput.TARGET_SHARE["cpu"]
    assert 0 <= report["quality"]["facet_accuracy"] <= 1 and set(report["quality"]["facets"]) == {"colour", "article"}
    assert "rtag tag, end to end" in capsys.readouterr().out


def test_query_products_cycle_under_new_ids(catalog_csv):
    from retrieval_tagger.catalog import CatalogSpec

    products = throughput.query_products(catalog_csv, CatalogSpec(facet_cols=["colour"]), 65)
    ids = [p.id for p in products]
    assert len(set(ids)) == 65 and ids[30] == f"{ids[0]}~1" and products[30].text == products[0].text
