"""The classic baseline on the fashion split: TF-IDF (word 1-2 grams) + logistic
regression per facet, on titles, scored with rtag's own metrics (``tfidf_lr_scores``
takes any catalog's rows; catalogs.py runs it on amazon_uk too).

Needs scikit-learn (`pip install -e '.[bench]'`). Same 90/10 split by id hash as
fashion_knn.py, so the figures sit side by side with rtag's.

    .venv/bin/python benchmarks/baselines.py [--root ../shared/data/fashion]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_split import split_rows  # noqa: E402

from retrieval_tagger.jobs.evaluate import format_report  # noqa: E402
from retrieval_tagger.metrics import facet_accuracy, ranking_metrics  # noqa: E402
from retrieval_tagger.signals.fuse import select  # noqa: E402
from retrieval_tagger.tags import TagSet  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]


def tags_of(row: dict, facets: list[str] = FACETS) -> list[str]:
    return [f"{f}:{row[f]}" for f in facets if row[f]]


def tfidf_lr_scores(catalog: list[dict], dev: list[dict], vocab: TagSet, text_col: str = "productDisplayName",
                    facets: list[str] = FACETS) -> np.ndarray:
    """(dev x tags) class probabilities of one logistic regression per facet, on the
    ``text_col`` column (any catalog: rows are dicts of strings, a facet's value "" when
    the product has none)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vectorizer.fit_transform([r[text_col] for r in catalog])
    x_dev = vectorizer.transform([r[text_col] for r in dev])
    scores = np.zeros((len(dev), len(vocab)), dtype=np.float32)
    for facet in facets:
        labelled = [i for i, r in enumerate(catalog) if r[facet]]
        y = [f"{facet}:{catalog[i][facet]}" for i in labelled]
        model = LogisticRegression(C=10.0, max_iter=2000)
        model.fit(x_train[labelled], y)
        probs = model.predict_proba(x_dev)
        cols = [vocab.index[c] for c in model.classes_]
        scores[:, cols] = probs
    return scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fashion"))
    args = parser.parse_args(argv)
    catalog, dev = split_rows(args.root)
    vocab = TagSet.from_tag_lists([tags_of(r) for r in catalog])
    truths = [tags_of(r) for r in dev]
    t = time.perf_counter()
    scores = tfidf_lr_scores(catalog, dev, vocab)
    seconds = time.perf_counter() - t
    ks = (1, 3, 5, 7)
    ranked = [[vocab.tags[c] for c, _ in row] for row in select(scores, vocab, top_n=10, min_score=0.0)]
    metrics = ranking_metrics(ranked, truths, ks)
    metrics.update(facet_accuracy(scores, vocab, truths))
    print(f"== TF-IDF (word 1-2 grams) + logistic regression per facet, titles only; train+predict {seconds:.1f}s")
    print(format_report(metrics))
    out = Path(__file__).resolve().parent / "results" / "baselines.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"tfidf_lr": metrics, "seconds": seconds}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
