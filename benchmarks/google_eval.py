"""The hand-labelled Google-taxonomy evaluation set of issue 14: 300 amazon_uk dev products,
each with the Google product taxonomy node it belongs to (benchmarks/google_eval/).

The 300 are the dev products (benchmarks/results/amazon_uk/dev.csv) with the smallest
sha1 of ``"google-eval:" + id``; products with an empty title are skipped by the rule
(dev has none today). How they were labelled and checked: benchmarks/google_eval/README.md.

Scoring API (what a benchmark that tags the 300 calls):

    from google_eval import score
    figures = score(predictions, scores=None)

``predictions`` maps a product id to its predicted node: a Google id (``3551`` or
``"3551"``) or a path (``"Toys & Games > Toys > Play Vehicles > Toy Cars"``); ``scores``
optionally maps a product id to the prediction's score. The result holds ``n`` (labelled
products), ``predicted`` (those with a prediction), ``level1``..``level3`` (accuracy over
all ``n``; a missing prediction counts as wrong) and ``auc_level2`` (ROC AUC of score
against correctness at level 2, over the predicted products with a score; None without
scores or when all are right or all wrong).

Level rule: a prediction is right at level L when its first L nodes equal the label's
first L nodes; a label shallower than L counts at its own depth (a depth-2 label is
matched on 2 nodes at level 3), so a prediction must reach at least the label's depth up
to L. Ids are resolved with the taxonomy file; paths need no file.

    python benchmarks/google_eval.py --check          # validate labels.csv (needs ../shared)
    python benchmarks/google_eval.py --sample         # print the 300 sampled ids
    python benchmarks/google_eval.py --score PRED.csv # columns id, google (id or path)[, score]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

from sklearn.metrics import roc_auc_score

from retrieval_tagger.errors import RtagError
from retrieval_tagger.vocab.files import PATH_SEP, read_vocab_file

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "benchmarks" / "google_eval" / "labels.csv"
DEV = ROOT / "benchmarks" / "results" / "amazon_uk" / "dev.csv"
TAXONOMY = ROOT.parent / "shared" / "data" / "google_taxonomy" / "taxonomy-with-ids.en-US.txt"
SALT = "google-eval:"
SIZE = 300
LEVELS = (1, 2, 3)
COLUMNS = ["id", "title", "brand", "category", "google_id", "google_path", "confidence", "note"]
CONFIDENCE = ("sure", "likely")


class EvalSetError(RtagError):
    """The evaluation set, its inputs or a prediction file is missing or malformed."""


def sample_key(product_id: str) -> str:
    """The sha1 hex digest that orders products for the sample."""
    return hashlib.sha1((SALT + str(product_id)).encode("utf-8")).hexdigest()


def sample_ids(rows: list[dict], size: int = SIZE) -> list[str]:
    """The ``size`` ids with the smallest sample_key among rows with a non-empty title."""
    eligible = [row["id"] for row in rows if row.get("title", "").strip()]
    return sorted(eligible, key=sample_key)[:size]


def read_csv(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"no file {path}: run from the repository root (dev.csv comes from benchmarks/amazon_split.py)")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_taxonomy(path: str | Path = TAXONOMY) -> dict[str, str]:
    """Google id -> full path, from a ``ID - A > B > C`` taxonomy file."""
    if not Path(path).is_file():
        raise EvalSetError(f"no taxonomy file {path}: pass --taxonomy the Google taxonomy-with-ids file")
    return {entry.node_id: entry.tag for entry in read_vocab_file(path, "taxonomy").entries}


def read_labels(path: str | Path = LABELS) -> dict[str, list[str]]:
    """Product id -> the label's path as a list of nodes."""
    return {row["id"]: row["google_path"].split(PATH_SEP) for row in read_csv(path)}


def _nodes(value, taxonomy: dict[str, str] | None) -> tuple[list[str], dict[str, str] | None]:
    text = str(value).strip()
    if not text.isdigit():
        return [n.strip() for n in text.split(PATH_SEP.strip()) if n.strip()], taxonomy
    taxonomy = taxonomy if taxonomy is not None else read_taxonomy()
    if text not in taxonomy:
        raise EvalSetError(f"predicted Google id {text} is not in the taxonomy: predict an id or path of the file")
    return taxonomy[text].split(PATH_SEP), taxonomy


def correct_at(predicted: list[str], label: list[str], level: int) -> bool:
    """Whether ``predicted`` matches ``label`` at ``level`` (a shallower label at its own depth)."""
    depth = min(level, len(label))
    return predicted[:depth] == label[:depth]


def score(predictions: dict, scores: dict | None = None, *, labels: dict[str, list[str]] | None = None,
          taxonomy: dict[str, str] | None = None) -> dict:
    """Accuracy at levels 1-3 and ROC AUC at level 2 of ``predictions`` (see the module docstring)."""
    labels = labels if labels is not None else read_labels()
    hits = {level: 0 for level in LEVELS}
    truth, given = [], []
    for product_id, label in labels.items():
        if product_id not in predictions or predictions[product_id] in (None, ""):
            continue
        nodes, taxonomy = _nodes(predictions[product_id], taxonomy)
        for level in LEVELS:
            hits[level] += correct_at(nodes, label, level)
        if scores is not None and product_id in scores:
            truth.append(correct_at(nodes, label, 2))
            given.append(float(scores[product_id]))
    n = len(labels)
    result = {"n": n, "predicted": sum(1 for p in labels if predictions.get(p) not in (None, ""))}
    result.update({f"level{level}": hits[level] / n if n else 0.0 for level in LEVELS})
    result["scored"] = len(given)
    result["auc_level2"] = float(roc_auc_score(truth, given)) if len(set(truth)) == 2 else None
    return result


def check_labels(rows: list[dict], taxonomy: dict[str, str], dev_rows: list[dict], size: int = SIZE) -> list[str]:
    """Every problem of the label rows: size, columns, ids against the sample, ids and paths."""
    problems = []
    if rows and list(rows[0]) != COLUMNS:
        problems.append(f"columns are {list(rows[0])}, expected {COLUMNS}")
    if len(rows) != size:
        problems.append(f"{len(rows)} rows, expected {size}")
    ids = [row.get("id", "") for row in rows]
    if len(set(ids)) != len(ids):
        problems.append(f"{len(ids) - len(set(ids))} duplicate ids")
    dev = {row["id"]: row for row in dev_rows}
    missing = [i for i in ids if i not in dev]
    if missing:
        problems.append(f"{len(missing)} ids not in dev, e.g. {missing[:3]}")
    sample = set(sample_ids(dev_rows, size))
    if set(ids) != sample:
        problems.append(f"{len(sample - set(ids))} sampled ids unlabelled, {len(set(ids) - sample)} labelled ids not sampled")
    for row in rows:
        where = f"id {row.get('id')}"
        path = taxonomy.get(row.get("google_id", ""))
        if path is None:
            problems.append(f"{where}: google_id {row.get('google_id')!r} is not in the taxonomy")
        elif path != row.get("google_path"):
            problems.append(f"{where}: google_path {row.get('google_path')!r} is not the path of {row['google_id']} ({path!r})")
        if row.get("confidence") not in CONFIDENCE:
            problems.append(f"{where}: confidence {row.get('confidence')!r} is not one of {CONFIDENCE}")
        source = dev.get(row.get("id"))
        if source and any(row.get(k) != source[k] for k in ("title", "brand", "category")):
            problems.append(f"{where}: title, brand or category differ from dev.csv")
    return problems


def read_predictions(path: str | Path) -> tuple[dict, dict | None]:
    """A CSV with columns ``id``, ``google`` (id or path) and optional ``score``."""
    rows = read_csv(path)
    if rows and not {"id", "google"} <= set(rows[0]):
        raise EvalSetError(f"{path} needs columns id and google (a Google id or path), optional score")
    predictions = {row["id"]: row["google"] for row in rows}
    has_scores = bool(rows) and "score" in rows[0]
    return predictions, ({row["id"]: float(row["score"]) for row in rows if row["score"]} if has_scores else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="validate labels.csv")
    action.add_argument("--sample", action="store_true", help="print the sampled ids")
    action.add_argument("--score", metavar="PRED.csv", help="score a predictions file")
    parser.add_argument("--labels", default=str(LABELS))
    parser.add_argument("--dev", default=str(DEV))
    parser.add_argument("--taxonomy", default=str(TAXONOMY))
    args = parser.parse_args(argv)
    try:
        if args.sample:
            print("\n".join(sample_ids(read_csv(args.dev))))
        elif args.check:
            rows = read_csv(args.labels)
            problems = check_labels(rows, read_taxonomy(args.taxonomy), read_csv(args.dev))
            for problem in problems:
                print(f"problem: {problem}", file=sys.stderr)
            if problems:
                return 1
            print(f"ok: {len(rows)} labels, ids unique and the sample of dev, every google_id and path in the taxonomy")
        else:
            predictions, scores = read_predictions(args.score)
            taxonomy = read_taxonomy(args.taxonomy) if any(str(v).strip().isdigit() for v in predictions.values()) else None
            print(json.dumps(score(predictions, scores, labels=read_labels(args.labels), taxonomy=taxonomy), indent=2))
    except RtagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
