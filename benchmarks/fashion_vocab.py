"""Fashion benchmark of zero-shot tagging against vocabularies (`rtag vocab`, `tag --vocab`).

Needs the split written by fashion_knn.py and an index of the catalog split built with an
aligned image model (see fashion_align.py), e.g.:

    .venv/bin/rtag index benchmarks/results/fashion/catalog.csv --name benchmarks/results/vocab/index \
        --text-cols productDisplayName --image-col image --facet-cols gender,...,usage \
        --image-model benchmarks/results/align/model
    .venv/bin/python benchmarks/fashion_vocab.py --index benchmarks/results/vocab/index

Prints on the dev split: zero-shot facet accuracy by tag names (title only, image only,
title + image; prompt ensemble vs bare names); a three-level taxonomy built from the
catalog (masterCategory > subCategory > articleType): exact-path and per-level accuracy
and consistency; the few-shot curve for articleType (all but N examples of each value
hidden from the index, N = 0, 1, 5, 20) for --mode auto, knn and zeroshot; and tagging
speed against a 5,000-tag vocabulary next to kNN tagging in the same run. Labels of the
evaluated facets are used only to score predictions (and, for the few-shot curve, as the
N examples left visible).

Colour names (issue 13): the ``colour_names`` space (encoders/colour_names.py) next to
the photo and title spaces, at several weights on the catalog sample (to choose its
default) and on dev; and, with ``--signal-percent P``, the colour-names signal of a
catalog: two indexes of the same P% of the catalog (by id hash), built with and without
the signal (fitted fusion, no reranker), and their baseColour accuracy on dev.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_knn import FACETS, SPEC, Cached  # noqa: E402
from fashion_split import split_bucket  # noqa: E402

from retrieval_tagger.build import BuildOptions, build_index  # noqa: E402
from retrieval_tagger.catalog import read_catalog  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402
from retrieval_tagger.signals import registry  # noqa: E402
from retrieval_tagger.tags import TagSet  # noqa: E402
from retrieval_tagger.vocab import scores as vocab_scores  # noqa: E402


def is_consistent(tag_lists: list[list[str]], paths: list[str], sep: str = " > ") -> bool:
    """Every predicted node's ancestors are predicted too (paths are 'A > B > C')."""
    known = set(paths)
    for tags in tag_lists:
        chosen = set(tags)
        for tag in tags:
            parts = tag.split(sep)
            for cut in range(1, len(parts)):
                ancestor = sep.join(parts[:cut])
                if ancestor in known and ancestor not in chosen:
                    return False
    return True


SPACES = {
    "title only": {"text": 1.0},
    "image only, direct": {"image": 1.0},
    "image only, via neighbours' titles": {"image_neighbours": 1.0, "colour_neighbours": 1.0},
    "image only, both": {"image": 1.0, "image_neighbours": 1.0, "colour_neighbours": 1.0},
    "title+image, direct": {"text": 1.0, "image": 1.0},
    "title+image, all spaces equal": {space: 1.0 for space in vocab_scores.SPACES if space != "colour_names"},  # the five of issue 4
    "title+image, neighbours as one": {"text": 1.0, "image": 1.0, "text_neighbours": 1 / 3, "image_neighbours": 1 / 3, "colour_neighbours": 1 / 3},
    "title+image, default weights": None,
    "title+image, default weights without colour names": {k: w for k, w in vocab_scores.DEFAULT_WEIGHTS.items() if k != "colour_names"},
    "image only, colour names alone": {"colour_names": 1.0},
}
COLOUR_WEIGHTS = (0.1, 0.2, 0.3, 0.5, 1.0)  # weights of the colour_names space tried next to the photo (and title)
for _w in COLOUR_WEIGHTS:
    SPACES[f"image only, direct + colour names x{_w}"] = {"image": 1.0, "colour_names": _w}
    SPACES[f"title+image, direct + colour names x{_w}"] = {"text": 1.0, "image": 1.0, "colour_names": _w}
    SPACES[f"title+image, default weights, colour names x{_w}"] = {**SPACES["title+image, default weights without colour names"], "colour_names": _w}
FEW_SHOT_N = (0, 1, 5, 20)
TAX_FACETS = ("masterCategory", "subCategory", "articleType")


def facet_of(products, facet: str) -> list[str]:
    return [next((t.split(":", 1)[1] for t in p.tags if t.startswith(facet + ":")), "") for p in products]


def facet_accuracy(scores: np.ndarray, tags: list[str], products, facets) -> dict:
    view = TagSet(tags, [0] * len(tags))
    out = {}
    for facet in facets:
        cols = view.facets[facet]
        values = [tags[c].split(":", 1)[1] for c in cols]
        truth = facet_of(products, facet)
        pred = [values[j] for j in scores[:, cols].argmax(axis=1)]
        known = [i for i, t in enumerate(truth) if t in set(values)]
        out[facet] = round(float(np.mean([pred[i] == truth[i] for i in known])), 4)
    return out


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def taxonomy_lines(catalog) -> list[str]:
    paths = set()
    for p in catalog:
        values = facet_of([p], TAX_FACETS[0]), facet_of([p], TAX_FACETS[1]), facet_of([p], TAX_FACETS[2])
        parts = [v[0] for v in values]
        if all(parts):
            for depth in range(1, 4):
                paths.add(" > ".join(parts[:depth]))
    return sorted(paths, key=lambda s: (s.count(">"), s))


def few_shot(tagger: Tagger, products, folder: Path, facet: str = "articleType", seed: int = 0) -> dict:
    """Hide the facet's tags in the index for all but N examples per value, then score."""
    index = tagger.index
    cols = index.vocab.facets[facet]
    original_tags, original_counts = index.product_tags.copy(), list(index.vocab.counts)
    lines = [index.vocab.tags[c] for c in cols]
    tagger.add_vocab(write_lines(folder / f"{facet}.txt", lines), f"only-{facet}", force=True)
    rng = np.random.default_rng(seed)
    csc = original_tags.tocsc()
    out = {}
    for n in FEW_SHOT_N:
        keep_rows = []
        for c in cols:
            rows = csc.indices[csc.indptr[c]:csc.indptr[c + 1]]
            keep_rows.append(set(rng.choice(rows, min(n, len(rows)), replace=False).tolist()) if n else set())
        coo = original_tags.tocoo()
        hidden_col = {int(c): k for c, k in zip(cols, keep_rows)}
        mask = np.asarray([(c not in hidden_col) or (r in hidden_col[c]) for r, c in zip(coo.row, coo.col)])
        from scipy import sparse

        index.product_tags = sparse.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=coo.shape)
        counts = np.asarray(index.product_tags.sum(axis=0)).ravel().astype(int).tolist()
        index.vocab.counts = counts
        row = {}
        for mode in ("knn", "zeroshot", "auto"):
            scores, *_ = tagger.score_vocab(products, vocab=f"only-{facet}", mode=mode, progress=False)
            row[mode] = facet_accuracy(scores, lines, products, [facet])[facet]
        out[n] = row
        print(f"  N={n:>2}: " + "  ".join(f"{m} {a:.4f}" for m, a in row.items()), flush=True)
    index.product_tags, index.vocab.counts = original_tags, original_counts
    return out


def colour_signal(tagger: Tagger, work: Path, folder: Path, percent: int, products) -> dict:
    """baseColour accuracy on dev of two indexes of the same ``percent``% of the catalog,
    built with and without the colour-names signal (fitted fusion, no reranker)."""
    subset = folder / f"catalog_{percent}pct.csv"
    with open(work / "catalog.csv", newline="", encoding="utf-8") as src, open(subset, "w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in reader if split_bucket(row["id"], "colour-signal") < percent)
    signal = registry.get("colour_names")
    out = {"percent": percent}
    for label in ("with colour names", "without"):
        if label == "without":
            registry.unregister("colour_names")
        try:
            started = time.perf_counter()
            man = build_index(subset, folder / f"signal-{label.split()[0]}", SPEC, BuildOptions(force=True),
                              encoders=(tagger.text_encoder, tagger.image_encoder))
            built = time.perf_counter() - started
            other = Tagger.load(folder / f"signal-{label.split()[0]}")
            other.text_encoder, other.image_encoder = tagger.text_encoder, tagger.image_encoder
            scores, *_ = other.score(products, progress=False)
            acc = facet_accuracy(scores, other.index.vocab.tags, products, ["baseColour"])["baseColour"]
        finally:
            if label == "without":
                registry.register(signal)
        weights = man["fusion"]["weights"]
        out[label] = {"products": man["counts"]["products"], "build_s": round(built, 1), "baseColour": acc,
                      "baseColour weights": weights["facets"].get("baseColour", weights["default"])}
        print(f"signal, {label}: {json.dumps(out[label])}", flush=True)
    return out


def speed(tagger: Tagger, products, vocab: str, repeats: int = 3) -> dict:
    tagger.tag(products[:64], progress=False)
    tagger.tag(products[:64], vocab=vocab, mode="zeroshot", progress=False)
    runs = {"knn tagging": [], "vocab zeroshot": [], "vocab auto": []}
    for _ in range(repeats):
        for label, kwargs in (("knn tagging", {}), ("vocab zeroshot", {"vocab": vocab, "mode": "zeroshot"}), ("vocab auto", {"vocab": vocab, "mode": "auto"})):
            t = time.perf_counter()
            tagger.tag(products, progress=False, **kwargs)
            runs[label].append(time.perf_counter() - t)
    out = {label: round(len(products) / statistics.median(times), 1) for label, times in runs.items()}
    out["zeroshot share of knn speed"] = round(out["vocab zeroshot"] / out["knn tagging"], 3)
    out["auto share of knn speed"] = round(out["vocab auto"] / out["knn tagging"], 3)
    return out


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=here / "results" / "fashion")
    ap.add_argument("--out", type=Path, default=here / "results" / "vocab" / "report.json")
    ap.add_argument("--speed-products", type=int, default=2000)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: facets,taxonomy,fewshot,speed")
    ap.add_argument("--signal-percent", type=int, default=0, help="measure the colour-names signal on indexes of this share of the catalog (0: skip)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    folder = args.out.parent
    folder.mkdir(parents=True, exist_ok=True)
    catalog, _ = read_catalog(args.work / "catalog.csv", SPEC)
    products = [p for p in read_catalog(args.work / "dev.csv", SPEC, purpose="query")[0] if not p.problem]
    tagger = Tagger.load(args.index)
    real_text, real_image = tagger.text_encoder, tagger.image_encoder
    tagger.text_encoder, tagger.image_encoder = Cached(real_text), Cached(real_image)
    sample = [p for p in catalog if split_bucket(p.id, "vocab-sample") < 6]  # about 2,000 catalog products, self left out
    default_calibration = vocab_scores.CALIBRATION
    report = {"index": str(args.index), "dev_products": len(products), "catalog_sample": len(sample)}

    if "facets" not in skip:
        values = {f: sorted({v for v in facet_of(catalog, f) if v}) for f in FACETS}
        lines = [f"{f}:{v}" for f in FACETS for v in values[f]]
        file = write_lines(folder / "facets.txt", lines)
        report["facets"] = {}
        for name, templates in (("ensemble", None), ("bare names", ["{}"])):
            man = tagger.add_vocab(file, f"facets-{name.replace(' ', '-')}", templates=templates, force=True)
            for split, items, own in (("catalog sample", sample, True), ("dev", products, False)):
                for calibration in vocab_scores.CALIBRATIONS:
                    for label, weights in SPACES.items():
                        if (name == "bare names" or split == "dev") and calibration != default_calibration and not label.startswith("title+image"):
                            continue
                        if "colour names" in label and (name != "ensemble" or calibration != default_calibration):
                            continue
                        scores, *_ = tagger.score_vocab(items, vocab=man["name"], mode="zeroshot", vocab_weights=weights, vocab_calibration=calibration, exclude_self=own, progress=False)
                        acc = facet_accuracy(scores, lines, items, FACETS)
                        key = f"{split} | {label} | {name} | {calibration}"
                        report["facets"][key] = acc
                        print(f"{key:<75} mean {np.mean(list(acc.values())):.4f} " + " ".join(f"{f} {a:.4f}" for f, a in acc.items()), flush=True)

    if args.signal_percent:
        report["colour_signal"] = colour_signal(tagger, args.work, folder, args.signal_percent, products)

    if "taxonomy" not in skip:
        lines = taxonomy_lines(catalog)
        tagger.add_vocab(write_lines(folder / "taxonomy.txt", lines), "fashion-taxonomy", force=True)
        results = tagger.tag(products, vocab="fashion-taxonomy", mode="zeroshot", min_score=0.0, progress=False)
        predicted = [[t["tag"] for t in r.tags] for r in results]
        truth = [[facet_of([p], f)[0] for f in TAX_FACETS] for p in products]
        levels = [round(float(np.mean([len(pr) > d and pr[d].split(" > ")[-1] == tr[d] for pr, tr in zip(predicted, truth)])), 4) for d in range(3)]
        exact = round(float(np.mean([pr and pr[-1] == " > ".join(tr) for pr, tr in zip(predicted, truth)])), 4)
        report["taxonomy"] = {"nodes": len(lines), "exact_path": exact, "levels": dict(zip(TAX_FACETS, levels)),
                              "consistent": is_consistent(predicted, lines), "depth_counts": dict(Counter(len(p) for p in predicted))}
        print(f"taxonomy ({len(lines)} nodes): exact path {exact:.4f}; per level {levels}; consistent {report['taxonomy']['consistent']}", flush=True)

    if "fewshot" not in skip:
        print("few-shot articleType (accuracy on dev):", flush=True)
        report["few_shot_articleType"] = few_shot(tagger, products, folder)

    if "speed" not in skip:
        words = Counter()
        for p in catalog:
            tokens = p.text.lower().split()
            words.update(tokens)
            words.update(" ".join(pair) for pair in zip(tokens, tokens[1:]))
        big = [w for w, _ in words.most_common(5000)]
        tagger.add_vocab(write_lines(folder / "big.txt", big), "big-5000", force=True)
        tagger.text_encoder, tagger.image_encoder = real_text, real_image
        report["speed_5000_tags"] = speed(tagger, products[: args.speed_products], "big-5000")
        print(f"speed, 5,000-tag vocabulary, {args.speed_products} products (text+image), products/s: {report['speed_5000_tags']}", flush=True)

    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
