"""Both given catalogs side by side: rtag per signal, fused and reranked, with and without
the lexical signal, against TF-IDF + logistic regression per facet and Annif's omikuji
backend (annif_omikuji.py, where an environment with ``annif`` is given or this one has
it), on the fixed catalog/dev splits.

For each catalog it builds two indexes of the catalog split with the same (memoised)
encoders, one without the lexical signal (rtag before it) and one with it, trains the
reranker of each as `rtag train-reranker` does (leave-one-out on the catalog), and scores
the dev split: facet accuracy (is the top value of each true facet right), per facet and
overall, for every method. Then it times tagging the dev products with each index
(fresh encoders, the same products, alternating, median of the repeats): products/s
without and with the lexical signal, in the same run. Nothing is fitted on dev.

    .venv/bin/python benchmarks/catalogs.py [--catalogs fashion,amazon_uk] [--images] [--work DIR] [--annif-python PY]

Fashion is text-only by default (`--images` adds photos: building that index takes long
on 2 cores). The splits are benchmarks/results/{fashion,amazon_uk}/{catalog,dev}.csv
(fashion_split.py, amazon_split.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import FACETS as FASHION_FACETS  # noqa: E402
from baselines import tags_of, tfidf_lr_scores  # noqa: E402
from fashion_knn import Cached  # noqa: E402

from retrieval_tagger.build import BuildOptions, build_index  # noqa: E402
from retrieval_tagger.catalog import CatalogSpec, read_catalog  # noqa: E402
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder  # noqa: E402
from retrieval_tagger.index.reader import open_index  # noqa: E402
from retrieval_tagger.jobs.evaluate import evaluate  # noqa: E402
from retrieval_tagger.jobs.train_reranker import train_index  # noqa: E402
from retrieval_tagger.metrics import facet_accuracy  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402
from retrieval_tagger.signals.registry import signals_of  # noqa: E402
from retrieval_tagger.tags import TagSet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CATALOGS = {
    "fashion": {"text": "productDisplayName", "facets": FASHION_FACETS, "image": "image"},
    "amazon_uk": {"text": "title", "facets": ["level1", "level2", "level3"], "image": None},
}
KS = (1, 3, 5)
NLTK_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "peers" / "nltk_data"


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def spec_of(info: dict, images: bool) -> CatalogSpec:
    return CatalogSpec(text_cols=[info["text"]], image_col=info["image"] if images else None, facet_cols=info["facets"])


def accuracy_row(metrics: dict) -> dict:
    """Overall and per-facet facet accuracy from a metrics dict (metrics.facet_accuracy)."""
    return {"overall": metrics["facet_accuracy"], **{f: v["accuracy"] for f, v in metrics["facets"].items()}}


def baseline(info: dict, catalog: list[dict], dev: list[dict]) -> dict:
    """TF-IDF + logistic regression per facet (baselines.py), trained on the catalog split."""
    facets = info["facets"]
    vocab = TagSet.from_tag_lists([tags_of(r, facets) for r in catalog])
    t = time.perf_counter()
    scores = tfidf_lr_scores(catalog, dev, vocab, info["text"], facets)
    row = accuracy_row(facet_accuracy(scores, vocab, [tags_of(r, facets) for r in dev]))
    return {**row, "seconds": time.perf_counter() - t}


def annif_python(given: str | None) -> str | None:
    """The Python to run annif_omikuji.py with: ``given``, else this one if ``annif`` imports here."""
    if given:
        return given
    try:
        import annif  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def annif_row(name: str, info: dict, python: str, work: Path, dev: list[dict]) -> dict:
    """Annif's omikuji backend per facet (annif_omikuji.py in ``python``'s environment):
    facet accuracy of its best value, the same metric as the others."""
    out = work.resolve() / f"{name}-annif.json"
    t = time.perf_counter()
    done = subprocess.run([python, str(Path(__file__).resolve().parent / "annif_omikuji.py"), str(RESULTS / name / "catalog.csv"),
                    str(RESULTS / name / "dev.csv"), "--text", info["text"], "--facets", ",".join(info["facets"]),
                    "--work", str(work.resolve() / f"{name}-annif"), "--out", str(out)],
                   env={**os.environ, "NLTK_DATA": os.environ.get("NLTK_DATA", str(NLTK_DATA))}, capture_output=True, text=True)
    if done.returncode:
        print(f"note: annif_omikuji.py failed, its row is left out:\n{done.stderr[-2000:]}")
        return {}
    predicted = json.loads(out.read_text())
    hits = {f: [p == r[f] for p, r in zip(predicted[f], dev) if r[f]] for f in info["facets"]}
    row = {f: sum(h) / len(h) for f, h in hits.items() if h}
    row["overall"] = sum(sum(h) for h in hits.values()) / max(sum(len(h) for h in hits.values()), 1)
    return {**row, "seconds": time.perf_counter() - t}


def build_pair(name: str, info: dict, work: Path, images: bool, encoders, reuse: bool) -> dict:
    """The catalog split indexed without and with the lexical signal (same encoders), each
    with its reranker trained; build figures per index. With ``reuse`` an index (and
    reranker) left by an earlier run is kept."""
    catalog_csv = RESULTS / name / "catalog.csv"
    out = {}
    for label, lexical in (("before", False), ("lexical", True)):
        folder = work / f"{name}-{label}"
        t = time.perf_counter()
        if reuse and (folder / "reranker" / "manifest.json").is_file():
            man, trained = json.loads((folder / "manifest.json").read_text()), json.loads((folder / "reranker" / "manifest.json").read_text())
            built = man["build"]["timings"]["total_s"]
        else:
            man = build_index(catalog_csv, folder, spec_of(info, images), BuildOptions(force=True, lexical=lexical, progress=False), encoders=encoders)
            built = time.perf_counter() - t
            t = time.perf_counter()
            trained = train_index(folder, progress=False)
        out[label] = {
            "folder": str(folder),
            "build_s": built,
            "timings": man["build"]["timings"],
            "lexical": man.get("lexical"),
            "index_mb": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20,
            "fusion": man["fusion"],
            "reranker_s": time.perf_counter() - t,
            "reranker_report": trained.get("report"),
        }
        print(f"[{name}] index {label}: built in {built:.0f}s, reranker in {out[label]['reranker_s']:.0f}s", flush=True)
    return out


def dev_scores(folder: str, dev, encoders) -> dict:
    """Dev facet accuracy of each signal alone, fused and reranked (the default)."""
    tagger = Tagger(open_index(folder), *encoders)
    out = {}
    for signal in signals_of(tagger.index):
        out[f"{signal} only"] = accuracy_row(evaluate(tagger, dev, KS, progress=False, weights={signal: 1.0}, rerank=False))
    out["fused"] = accuracy_row(evaluate(tagger, dev, KS, progress=False, rerank=False))
    out["reranked (default)"] = accuracy_row(evaluate(tagger, dev, KS, progress=False))
    return out


def throughput(folders: dict[str, str], dev, repeats: int = 3) -> dict:
    """Tagging products/s of each index on the same dev products with fresh encoders,
    the indexes alternating within each repeat; the median of the repeats."""
    taggers = {label: Tagger.load(folder) for label, folder in folders.items()}
    runs: dict[str, list[float]] = {label: [] for label in taggers}
    for tagger in taggers.values():
        tagger.tag(dev[:64], progress=False)  # warm-up
    for _ in range(repeats):
        for label, tagger in taggers.items():
            t = time.perf_counter()
            tagger.tag(dev, progress=False)
            runs[label].append(len(dev) / (time.perf_counter() - t))
    out = {label: statistics.median(r) for label, r in runs.items()}
    out["ratio"] = out["lexical"] / out["before"]
    return out


def table(title: str, rows: dict[str, dict], facets: list[str]) -> str:
    head = ["method", "overall", *facets]
    lines = [f"\n== {title}", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for method, row in rows.items():
        lines.append("| " + " | ".join([method, *(f"{row[c]:.4f}" if c in row else "-" for c in head[1:])]) + " |")
    return "\n".join(lines)


def run_catalog(name: str, work: Path, images: bool, repeats: int, annif: str | None, reuse: bool) -> dict:
    info = CATALOGS[name]
    catalog_rows, dev_rows = rows_of(RESULTS / name / "catalog.csv"), rows_of(RESULTS / name / "dev.csv")
    encoders = (Cached(load_text_encoder("minilm")), Cached(load_image_encoder("rtag-lite")) if images else None)
    built = build_pair(name, info, work, images, encoders, reuse)
    dev, _ = read_catalog(RESULTS / name / "dev.csv", spec_of(info, images), purpose="query")
    rows = {"TF-IDF + logistic regression": baseline(info, catalog_rows, dev_rows)}
    if annif and (row := annif_row(name, info, annif, work, dev_rows)):
        rows["Annif omikuji"] = row
    for label, what in (("before", "rtag before"), ("lexical", "rtag with lexical")):
        for method, row in dev_scores(built[label]["folder"], dev, encoders).items():
            rows[f"{what}: {method}"] = row
    speed = throughput({label: b["folder"] for label, b in built.items()}, [p for p in dev if not p.problem], repeats)
    print(table(f"{name} dev ({len(dev)} products, {'text + image' if images else 'text only'}): facet accuracy", rows, info["facets"]))
    weights = {facet: w.get("lexical", 0.0) for facet, w in built["lexical"]["fusion"]["weights"]["facets"].items()}
    lexical = built["lexical"]["lexical"]
    print(f"fitted lexical weight per facet: {weights}; default {built['lexical']['fusion']['weights']['default'].get('lexical')}")
    print(f"lexical model: trained in {lexical['train_s']:.1f}s, {lexical['features']} features, {lexical['bytes'] / 2**20:.1f} MB on disk; "
          f"index {built['before']['index_mb']:.1f} MB without, {built['lexical']['index_mb']:.1f} MB with")
    print(f"tagging products/s: without lexical {speed['before']:.1f}, with {speed['lexical']:.1f} (ratio {speed['ratio']:.2f})", flush=True)
    return {"dev": rows, "build": built, "throughput": speed, "lexical_weights": weights}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalogs", default="fashion,amazon_uk")
    parser.add_argument("--images", action="store_true", help="fashion with its photos (slow to index on a CPU)")
    parser.add_argument("--work", default=str(RESULTS / "catalogs"))
    parser.add_argument("--repeats", type=int, default=3, help="throughput repeats")
    parser.add_argument("--reuse", action="store_true", help="keep the indexes and rerankers an earlier run left in --work")
    parser.add_argument("--annif-python", help="a Python whose environment has annif[omikuji] [default: this one, if annif imports]")
    args = parser.parse_args(argv)
    names = [n for n in args.catalogs.split(",") if n]
    unknown = [n for n in names if n not in CATALOGS or not (RESULTS / n / "dev.csv").is_file()]
    if unknown:
        print(f"error: no split for {', '.join(unknown)}: write it with benchmarks/fashion_split.py or amazon_split.py", file=sys.stderr)
        return 2
    os.environ.setdefault("RTAG_NO_PROGRESS", "1")
    work = Path(args.work)
    report = {"date": date.today().isoformat(), "machine": f"{platform.node()} {os.cpu_count()} cores", "images": args.images,
              "load_average": os.getloadavg()}
    annif = annif_python(args.annif_python)
    if annif is None:
        print("note: annif does not import here and no --annif-python was given: the Annif omikuji row is left out")
    work.mkdir(parents=True, exist_ok=True)
    for name in names:
        report[name] = run_catalog(name, work, args.images and name == "fashion", args.repeats, annif, args.reuse)
    (work / "report.json").write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwritten {work / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
