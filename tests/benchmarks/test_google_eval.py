"""benchmarks/google_eval.py: the sample rule, the label checks and the scoring, on tiny
inputs (the real taxonomy and dev split live in ../shared and are not needed)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import google_eval  # noqa: E402

TAXONOMY = {
    "1": "Toys & Games",
    "2": "Toys & Games > Toys",
    "3": "Toys & Games > Toys > Play Vehicles",
    "4": "Toys & Games > Toys > Play Vehicles > Toy Cars",
    "5": "Toys & Games > Puzzles",
    "6": "Toys & Games > Puzzles > Jigsaw Puzzles",
    "7": "Hardware",
    "8": "Hardware > Tools",
    "9": "Hardware > Tools > Saws",
}
LABELS = {
    "car": TAXONOMY["4"].split(" > "),  # depth 4
    "jigsaw": TAXONOMY["6"].split(" > "),  # depth 3
    "toys": TAXONOMY["2"].split(" > "),  # depth 2: matched on 2 nodes at level 3
    "unpredicted": TAXONOMY["6"].split(" > "),
}


def test_levels_count_a_shallow_label_at_its_own_depth_and_missing_predictions_as_wrong():
    predictions = {
        "car": "3",  # right to level 3 (the label goes one deeper)
        "jigsaw": "Hardware > Tools > Saws",  # wrong from level 1
        "toys": "Toys & Games > Toys > Play Vehicles > Toy Cars",  # deeper than a depth-2 label: right at 3
        "unknown": "4",  # not labelled: ignored
    }
    result = google_eval.score(predictions, labels=LABELS, taxonomy=TAXONOMY)
    assert result["n"] == 4 and result["predicted"] == 3
    assert result["level1"] == result["level2"] == result["level3"] == pytest.approx(2 / 4)
    assert result["auc_level2"] is None and result["scored"] == 0

    shallow = google_eval.score({"car": "Toys & Games", "jigsaw": "5"}, labels=LABELS, taxonomy=TAXONOMY)
    assert (shallow["level1"], shallow["level2"], shallow["level3"]) == (0.5, 0.25, 0.0)


def test_auc_ranks_scores_against_level2_correctness():
    predictions = {"car": "4", "jigsaw": "9", "toys": "3", "unpredicted": "8"}
    separating = {"car": 0.9, "toys": 0.8, "jigsaw": 0.3, "unpredicted": 0.1}
    assert google_eval.score(predictions, separating, labels=LABELS, taxonomy=TAXONOMY)["auc_level2"] == 1.0
    inverted = {"car": 0.1, "toys": 0.2, "jigsaw": 0.9, "unpredicted": 0.8}
    result = google_eval.score(predictions, inverted, labels=LABELS, taxonomy=TAXONOMY)
    assert result["auc_level2"] == 0.0 and result["scored"] == 4


def test_an_id_outside_the_taxonomy_is_an_error():
    with pytest.raises(google_eval.EvalSetError, match="not in the taxonomy"):
        google_eval.score({"car": "424242"}, labels=LABELS, taxonomy=TAXONOMY)


def test_sample_takes_the_smallest_hashes_and_skips_empty_titles():
    rows = [{"id": f"p{i}", "title": "" if i % 5 == 0 else f"product {i}"} for i in range(40)]
    picked = google_eval.sample_ids(rows, size=10)
    titled = sorted((r["id"] for r in rows if r["title"]), key=google_eval.sample_key)
    assert picked == titled[:10]
    assert google_eval.sample_ids(list(reversed(rows)), size=10) == picked  # order-free


def _label_rows(dev: list[dict], ids: list[str]) -> list[dict]:
    by_id = {row["id"]: row for row in dev}
    return [{"id": i, "title": by_id[i]["title"], "brand": "", "category": "", "google_id": "6",
             "google_path": TAXONOMY["6"], "confidence": "sure", "note": ""} for i in ids]


def test_check_finds_wrong_paths_ids_and_sample_mismatches():
    dev = [{"id": f"d{i}", "title": f"t{i}", "brand": "", "category": ""} for i in range(8)]
    rows = _label_rows(dev, google_eval.sample_ids(dev, 3))
    assert google_eval.check_labels(rows, TAXONOMY, dev, size=3) == []
    rows[0]["google_path"] = "Hardware > Tools > Saws"
    rows[1]["google_id"] = "999"
    rows[2]["confidence"] = "maybe"
    rows.append(dict(rows[2]))
    problems = "\n".join(google_eval.check_labels(rows, TAXONOMY, dev, size=3))
    for expected in ("is not the path of 6", "'999' is not in the taxonomy", "'maybe'", "4 rows, expected 3", "1 duplicate ids"):
        assert expected in problems


def test_committed_labels_have_the_documented_shape():
    with open(google_eval.LABELS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 and len({r["id"] for r in rows}) == 300
    assert list(rows[0]) == google_eval.COLUMNS
    assert {r["confidence"] for r in rows} <= set(google_eval.CONFIDENCE)
    assert all(r["google_id"].isdigit() and r["google_path"].strip() for r in rows)


def test_score_command_reads_a_predictions_file(tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "google_path"])
        writer.writeheader()
        writer.writerows({"id": k, "google_path": " > ".join(v)} for k, v in LABELS.items())
    taxonomy = tmp_path / "taxonomy.txt"
    taxonomy.write_text("# test\n" + "".join(f"{k} - {v}\n" for k, v in TAXONOMY.items()), encoding="utf-8")
    predictions = tmp_path / "pred.csv"
    predictions.write_text("id,google,score\ncar,4,0.9\njigsaw,9,0.2\ntoys,2,0.7\n", encoding="utf-8")
    code = google_eval.main(["--score", str(predictions), "--labels", str(labels), "--taxonomy", str(taxonomy)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["level2"] == 0.5 and result["auc_level2"] == 1.0
