"""Compare `rtag align` recipes on the fashion catalog split, without touching dev.

Each recipe trains on the catalog split (features cached once in --cache-dir) and is
scored on its own 5% held-out validation pairs: retrieval recall, and zero-shot facet
accuracy by tag names from the image alone and from title + image, using the catalog's
labels of those held-out products only to score. This is how the default recipe was
chosen; dev is reported by fashion_align.py.

    .venv/bin/python benchmarks/align_recipes.py --cache-dir /tmp/align/cache
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fashion_knn import FACETS  # noqa: E402

from retrieval_tagger.align.features import load_or_compute, tokenize  # noqa: E402
from retrieval_tagger.align.pairs import data_sha256, read_pairs  # noqa: E402
from retrieval_tagger.align.towers import ImageTower, TextTower  # noqa: E402
from retrieval_tagger.align.train import AlignOptions, align, starting_model  # noqa: E402
from retrieval_tagger.catalog import CatalogSpec, iter_rows  # noqa: E402
from retrieval_tagger.encoders.model_dir import load_model_dir  # noqa: E402
from retrieval_tagger.vocab.stored import DEFAULT_TEMPLATES  # noqa: E402

SPEC = CatalogSpec(text_cols=["productDisplayName"], image_col="image")
RECIPES = {
    "text projection trained": dict(),
    "text projection frozen": dict(text_projection=False),
    "frozen, MLP image head": dict(text_projection=False, image_head="mlp"),
    "frozen, no colour head": dict(text_projection=False, colour=False),
    "frozen, colour lr 1e-2": dict(text_projection=False, colour_lr=1e-2),
    "frozen, colour lr 3e-2": dict(text_projection=False, colour_lr=3e-2),
}


CALIBRATIONS = ("raw", "centred", "z")


def calibrate(sims: np.ndarray, n_val: int, how: str) -> np.ndarray:
    """Scores of the first n_val rows, calibrated per tag against the remaining rows."""
    query, reference = sims[:n_val], sims[n_val:]
    if how == "raw":
        return query
    if how == "centred":
        return query - reference.mean(0)
    return (query - reference.mean(0)) / np.maximum(reference.std(0), 1e-4)


def embed(model, colour_head, feats, hists, text_feats, tokenizer, prompts: list[str]):
    with torch.no_grad():
        image = ImageTower(model).head(torch.from_numpy(feats))
        if colour_head is not None:
            image = image + torch.from_numpy(hists) @ colour_head.T
        tower = TextTower(model)
        titles = tower.head(torch.from_numpy(text_feats))
        names = model.encode_text(tokenize(tokenizer, prompts))
    norm = lambda x: torch.nn.functional.normalize(x.float(), dim=-1).numpy()  # noqa: E731
    return norm(image), norm(titles), norm(names)


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", type=Path, default=here / "results" / "fashion" / "catalog.csv")
    ap.add_argument("--cache-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=here / "results" / "align" / "recipes")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--only", default="", help="recipe names separated by ;")
    args = ap.parse_args()
    labels = {row["id"]: row for _, row in iter_rows(args.catalog)[1]}
    pairs, _, _ = read_pairs(args.catalog, SPEC)
    built, _ = starting_model("rtag-lite", AlignOptions())
    feats = load_or_compute(built, pairs, data_sha256(pairs), args.cache_dir, "cpu", True)
    val = np.flatnonzero(pairs.val & feats.ok)
    report = {}
    for name, overrides in RECIPES.items():
        if args.only and name not in args.only.split(";"):
            continue
        out = args.out / name.replace(" ", "-").replace(",", "")
        t = time.perf_counter()
        man = align(args.catalog, out, SPEC, "rtag-lite", AlignOptions(epochs=args.epochs, patience=3, **overrides), force=True,
                    progress=False, cache_dir=args.cache_dir)
        seconds = time.perf_counter() - t
        loaded = load_model_dir(out)
        row = {"epochs": man["training"]["epochs_run"], "best_epoch": man["training"]["best_epoch"], "train_s": round(seconds, 1),
               **{k: man["training"]["best"][k] for k in ("i2t_r1", "t2i_r1", "i2t_r10", "t2i_r10")}}
        train = np.flatnonzero(~pairs.val & feats.ok)[:5000]  # label-free calibration sample
        for facet in FACETS:
            truth = [labels[pairs.ids[i]].get(facet, "") for i in val]
            values = sorted({r.get(facet, "") for r in labels.values()} - {""})
            prompts = [t.format(v) for v in values for t in DEFAULT_TEMPLATES]
            rows = np.concatenate([val, train])
            image, titles, names = embed(loaded.model, loaded.colour_head, feats.image[rows], feats.colour[rows], feats.text[rows], loaded.tokenizer, prompts)
            names = names.reshape(len(values), len(DEFAULT_TEMPLATES), -1).mean(axis=1)
            names /= np.linalg.norm(names, axis=1, keepdims=True)
            target = np.asarray([values.index(t) if t in values else -1 for t in truth])
            known = target >= 0
            sims = {"image": image @ names.T, "title": titles @ names.T}
            for label, raw in (("image", sims["image"]), ("title", sims["title"]), ("title+image", None)):
                for calibration in CALIBRATIONS:
                    if raw is None:
                        scored = sum(calibrate(sims[s], len(val), calibration) for s in ("image", "title"))
                    else:
                        scored = calibrate(raw, len(val), calibration)
                    row[f"{facet} {label} {calibration}"] = round(float((scored.argmax(1) == target)[known].mean()), 4)
        report[name] = row
        print(name, json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "report.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**previous, **report}, indent=2) + "\n")


if __name__ == "__main__":
    main()
