"""Multilingual benchmark (issue 17): text models on English and Chinese-derived titles.

For each text model (``--models``), one text-only index of the English fashion catalog
(``--image-model none``, fitted fusion, no reranker) and:

- English dev titles: fused facet accuracy, and the model's speed (texts/s while indexing);
- Chinese-derived dev titles (zh/derive_titles.py) against the English catalog:
  cross-lingual kNN + fusion, facet accuracy;
- zero-shot (``--mode zeroshot``, no labels used) on the Chinese titles with the glossary
  as a ``facet:value`` vocabulary in Chinese, and with the English one (the catalog's
  facet values); per-facet accuracy with the default space weights (title and the
  neighbours' titles) and with the title alone.

    nice -n 10 .venv/bin/python benchmarks/zh/derive_titles.py benchmarks/results/fashion/dev.csv \
        benchmarks/results/fashion/dev_zh.csv
    nice -n 10 .venv/bin/python benchmarks/multilingual.py --models minilm,use-multilingual

prints a table and writes benchmarks/results/multilingual/report.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "zh"))
from derive_titles import load_glossary  # noqa: E402
from fashion_vocab import facet_accuracy, write_lines  # noqa: E402

from retrieval_tagger.build import BuildOptions, build_index  # noqa: E402
from retrieval_tagger.catalog import CatalogSpec, read_catalog  # noqa: E402
from retrieval_tagger.jobs.evaluate import evaluate  # noqa: E402
from retrieval_tagger.pipeline import Tagger  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
SPEC = CatalogSpec(text_cols=["productDisplayName"], facet_cols=FACETS)
WEIGHTS = {"default spaces": None, "title only": {"text": 1.0}}


def vocab_lines(glossary: list[dict], chinese: bool) -> tuple[list[str], list[str]]:
    """The vocabulary file's lines, and the same tags in English (to score against)."""
    lines = [f"{r['facet']}:{r['zh'] if chinese else r['value']}" for r in glossary]
    return lines, [f"{r['facet']}:{r['value']}" for r in glossary]


def run_model(model: str, args, glossary: list[dict], dev, dev_zh) -> dict:
    folder = args.work / f"index-{model}"
    started = time.perf_counter()
    man = build_index(args.catalog, folder, SPEC, BuildOptions(text_model=model, image_model="none", force=True, language="en", progress=False))
    timings = man["build"]["timings"]
    out = {
        "build_s": round(time.perf_counter() - started, 1),
        "texts_per_s": round(man["counts"]["with_text"] / timings["encode_text_s"], 1),
        "fit_accuracy": man["fusion"].get("fit", {}).get("fused_accuracy", {}).get("default"),
    }
    tagger = Tagger.load(folder)
    for split, products in (("en", dev), ("zh", dev_zh)):
        metrics = evaluate(tagger, products, rerank=False, progress=False)
        out[f"dev {split} fused"] = {"facet_accuracy": round(metrics["facet_accuracy"], 4),
                                     **{f: round(v["accuracy"], 4) for f, v in metrics["facets"].items()}}
        print(f"{model:<18} dev {split}: fused facet accuracy {metrics['facet_accuracy']:.4f}", flush=True)
    for vocab_language in ("zh", "en"):
        lines, english = vocab_lines(glossary, vocab_language == "zh")
        name = f"fashion-{vocab_language}"
        tagger.add_vocab(write_lines(args.work / f"{name}.txt", lines), name, force=True)
        for label, weights in WEIGHTS.items():
            scores, *_ = tagger.score_vocab(dev_zh, vocab=name, mode="zeroshot", vocab_weights=weights, progress=False)
            acc = facet_accuracy(scores, english, dev_zh, FACETS)
            out[f"zeroshot zh titles, {vocab_language} vocab, {label}"] = acc
            print(f"{model:<18} zero-shot zh titles, {vocab_language} vocab, {label}: mean {np.mean(list(acc.values())):.4f} "
                  + " ".join(f"{f} {a:.4f}" for f, a in acc.items()), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=HERE / "results/fashion/catalog.csv")
    parser.add_argument("--dev", type=Path, default=HERE / "results/fashion/dev.csv")
    parser.add_argument("--dev-zh", type=Path, default=HERE / "results/fashion/dev_zh.csv")
    parser.add_argument("--glossary", type=Path, default=HERE / "zh/glossary.csv")
    parser.add_argument("--models", default="minilm,use-multilingual")
    parser.add_argument("--work", type=Path, default=HERE / "results/multilingual")
    parser.add_argument("--dev-sample", type=int, default=0, help="Every k-th dev product, k chosen to leave about this many [default: all].")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    query = CatalogSpec(text_cols=["productDisplayName"], facet_cols=FACETS)
    dev, _ = read_catalog(args.dev, query, purpose="query")
    dev_zh, _ = read_catalog(args.dev_zh, query, purpose="query")
    if args.dev_sample:  # the same products in both languages (the derived file keeps the order)
        step = max(1, len(dev) // args.dev_sample)
        dev, dev_zh = dev[::step], dev_zh[::step]
    glossary = load_glossary(args.glossary)
    report = {"catalog": str(args.catalog), "dev": len(dev), "models": {}}
    report_file = args.work / "report.json"
    for model in args.models.split(","):
        report["models"][model] = run_model(model, args, glossary, dev, dev_zh)
        report_file.write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
