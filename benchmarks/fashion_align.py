"""Fashion benchmark of `rtag align`: retrieval and zero-shot tagging by tag names.

Needs the split written by fashion_knn.py (benchmarks/results/fashion/{catalog,dev}.csv)
and an aligned model trained on the catalog split only:

    .venv/bin/rtag align benchmarks/results/fashion/catalog.csv --text-cols productDisplayName \
        --image-col image --output benchmarks/results/align/model
    .venv/bin/python benchmarks/fashion_align.py --model benchmarks/results/align/model

Prints, on the dev split: image<->title retrieval recall of the aligned and the unaligned
model; zero-shot facet accuracy by tag names (image only, title only, title + image),
raw and calibrated per tag against a label-free sample of catalog products, with a single
prompt and with the prompt ensemble. Tag labels are used only to score the predictions.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_split import split_bucket  # noqa: E402

from retrieval_tagger.align.recall import retrieval_recall  # noqa: E402
from retrieval_tagger.catalog import iter_rows  # noqa: E402
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder  # noqa: E402
from retrieval_tagger.vocab import scores as vocab_scores  # noqa: E402
from retrieval_tagger.vocab.files import Entry  # noqa: E402
from retrieval_tagger.vocab.stored import DEFAULT_TEMPLATES, embed_entries  # noqa: E402

FACETS = ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage"]
TITLE = "productDisplayName"
PROMPT_SETS = {"bare name": ("{}",), "a photo of {}": ("a photo of {}",), "ensemble": DEFAULT_TEMPLATES}


def read_rows(path: Path) -> list[dict]:
    _, rows = iter_rows(path)
    return [row for _, row in rows if row.get(TITLE) and row.get("image")]


def accuracy(scores: np.ndarray, values: list[str], truth: list[str]) -> float:
    index = {v: i for i, v in enumerate(values)}
    known = np.asarray([t in index for t in truth])
    target = np.asarray([index.get(t, -1) for t in truth])
    return float((scores.argmax(axis=1)[known] == target[known]).mean())


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="aligned model folder")
    ap.add_argument("--work", type=Path, default=here / "results" / "fashion")
    ap.add_argument("--calibration-sample", type=int, default=2000, help="catalog products (labels unused) for per-tag statistics")
    ap.add_argument("--out", type=Path, default=here / "results" / "align" / "zeroshot.json")
    args = ap.parse_args()

    catalog, dev = read_rows(args.work / "catalog.csv"), read_rows(args.work / "dev.csv")
    ref = sorted(catalog, key=lambda r: split_bucket(r["id"], "calibration"))[: args.calibration_sample]
    aligned, unaligned = load_image_encoder(str(args.model)), load_image_encoder("rtag-lite")
    minilm = load_text_encoder("minilm")
    t0 = time.perf_counter()
    dev_titles, dev_images = [r[TITLE] for r in dev], [r["image"] for r in dev]
    img = {"aligned": aligned.encode_images(dev_images)[0], "unaligned": unaligned.encode_images(dev_images)[0]}
    ref_img = aligned.encode_images([r["image"] for r in ref])[0]
    title_minilm, ref_title = minilm.encode(dev_titles), minilm.encode([r[TITLE] for r in ref])
    title_clip = {"aligned": aligned.encode(dev_titles), "unaligned": unaligned.encode(dev_titles)}
    encode_s = time.perf_counter() - t0

    report = {"machine": platform.processor() or platform.machine(), "model": str(args.model), "dev_products": len(dev),
              "calibration_sample": len(ref), "encode_s": round(encode_s, 1), "retrieval": {}, "zeroshot": {}}
    for name in ("unaligned", "aligned"):
        report["retrieval"][name] = retrieval_recall(img[name], title_clip[name], dev_titles)
    for facet in FACETS:
        values = sorted({r[facet] for r in catalog if r.get(facet)})
        truth = [r.get(facet, "") for r in dev]
        rows = {}
        for prompts_name, templates in PROMPT_SETS.items():
            entries = [Entry(tag=v, name=v) for v in values]
            names_clip = embed_entries(lambda t: aligned.encode(t), entries, templates)
            names_text = embed_entries(lambda t: minilm.encode(t, progress=False), entries, templates)
            image_raw, title_raw = img["aligned"] @ names_clip.T, title_minilm @ names_text.T
            image_z = vocab_scores.calibrate(image_raw, vocab_scores.statistics(ref_img @ names_clip.T), "z")
            title_z = vocab_scores.calibrate(title_raw, vocab_scores.statistics(ref_title @ names_text.T), "z")
            rows[prompts_name] = {
                "image raw": accuracy(image_raw, values, truth),
                "image calibrated": accuracy(image_z, values, truth),
                "title raw": accuracy(title_raw, values, truth),
                "title calibrated": accuracy(title_z, values, truth),
                "title+image raw": accuracy(image_raw + title_raw, values, truth),
                "title+image calibrated": accuracy(image_z + title_z, values, truth),
            }
        report["zeroshot"][facet] = {"values": len(values), **rows}

    print(f"dev products: {len(dev)}; encoding took {encode_s:.0f}s")
    print("\nretrieval on dev (duplicate titles count as hits)")
    print(f"{'model':<12}{'img->title R@1':>16}{'R@10':>8}{'title->img R@1':>16}{'R@10':>8}")
    for name, m in report["retrieval"].items():
        print(f"{name:<12}{m['i2t_r1']:>16.4f}{m['i2t_r10']:>8.4f}{m['t2i_r1']:>16.4f}{m['t2i_r10']:>8.4f}")
    for prompts_name in PROMPT_SETS:
        print(f"\nzero-shot facet accuracy, prompts: {prompts_name}")
        cols = list(report["zeroshot"][FACETS[0]][prompts_name])
        print(f"{'facet':<16}{'values':>7}" + "".join(f"{c:>24}" for c in cols))
        for facet in FACETS:
            row = report["zeroshot"][facet]
            print(f"{facet:<16}{row['values']:>7}" + "".join(f"{row[prompts_name][c]:>24.4f}" for c in cols))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
