"""Writing results as JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from retrieval_tagger.errors import RtagError
from retrieval_tagger.output import write_results
from retrieval_tagger.pipeline import TagResult

RESULTS = [
    TagResult("1", [{"tag": "colour:red", "score": 0.91}, {"tag": "café", "score": 0.5}]),
    TagResult("2, with comma", error="no text and no image"),
    TagResult("3", [{"tag": "x", "score": 1.0}], warning="image could not be read: a.png"),
]


def test_jsonl_has_one_object_per_result_without_null_fields():
    fh = io.StringIO()
    assert write_results(RESULTS, fh, "jsonl") == 3
    rows = [json.loads(line) for line in fh.getvalue().splitlines()]
    assert rows == [
        {"id": "1", "tags": [{"tag": "colour:red", "score": 0.91}, {"tag": "café", "score": 0.5}]},
        {"id": "2, with comma", "tags": [], "error": "no text and no image"},
        {"id": "3", "tags": [{"tag": "x", "score": 1.0}], "warning": "image could not be read: a.png"},
    ]
    assert "café" in fh.getvalue()  # UTF-8 text, not \\u escapes


def test_csv_joins_tags_and_scores_with_pipes():
    fh = io.StringIO()
    assert write_results(iter(RESULTS), fh, "csv") == 3
    rows = list(csv.reader(io.StringIO(fh.getvalue())))
    assert rows == [
        ["id", "tags", "scores", "review", "error", "warning"],
        ["1", "colour:red|café", "0.9100|0.5000", "", "", ""],
        ["2, with comma", "", "", "", "no text and no image", ""],
        ["3", "x", "1.0000", "", "", "image could not be read: a.png"],
    ]


def test_unknown_format_is_refused():
    with pytest.raises(RtagError, match="unknown output format 'xml': choose one of jsonl, csv"):
        write_results(RESULTS, io.StringIO(), "xml")
