"""Annif's omikuji backend per facet, for catalogs.py: run with the Python of an
environment where ``annif`` and ``omikuji`` import (it never imports retrieval_tagger).

One Annif project per facet (its values are the vocabulary, snowball English analyzer),
trained on the catalog split's texts, then asked for each dev product's best value.
Writes JSON ``{facet: [predicted value or null per dev row]}``.

    ANNIF_PY benchmarks/annif_omikuji.py CATALOG.csv DEV.csv --text title --facets a,b --work DIR --out preds.json

NLTK data: set NLTK_DATA (catalogs.py points it at ../shared/peers/nltk_data).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

BATCH = 512


def rows_of(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def write_project(work: Path, facet: str, catalog: list[dict], text_col: str) -> list[str]:
    """The facet's vocabulary and training files and its projects.cfg section; returns its values."""
    values = sorted({r[facet] for r in catalog if r[facet]})
    uri = {v: f"<http://rtag.example/{facet}/{i}>" for i, v in enumerate(values)}
    (work / f"{facet}.vocab.tsv").write_text("".join(f"{uri[v]}\t{clean(v)}\n" for v in values), encoding="utf-8")
    (work / f"{facet}.train.tsv").write_text("".join(f"{clean(r[text_col])}\t{uri[r[facet]]}\n" for r in catalog if r[facet] and r[text_col].strip()),
                                             encoding="utf-8")
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog")
    parser.add_argument("dev")
    parser.add_argument("--text", required=True)
    parser.add_argument("--facets", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    work, out = Path(args.work).resolve(), Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    catalog, dev = rows_of(args.catalog), rows_of(args.dev)
    facets = args.facets.split(",")
    values = {f: write_project(work, f, catalog, args.text) for f in facets}
    config = "".join(f"[p-{f}]\nname={f}\nlanguage=en\nbackend=omikuji\nanalyzer=snowball(english)\nvocab=v-{f}\n\n" for f in facets)
    (work / "projects.cfg").write_text(config, encoding="utf-8")
    env = {**os.environ, "ANNIF_PROJECTS": str(work / "projects.cfg")}
    annif = str(Path(sys.executable).parent / "annif")
    for f in facets:
        subprocess.run([annif, "load-vocab", "--force", "--language", "en", f"v-{f}", str(work / f"{f}.vocab.tsv")], cwd=work, env=env, check=True)
        subprocess.run([annif, "train", f"p-{f}", str(work / f"{f}.train.tsv")], cwd=work, env=env, check=True)
    os.environ["ANNIF_PROJECTS"] = str(work / "projects.cfg")
    os.chdir(work)
    import annif as annif_lib
    from annif import registry
    from annif.corpus import Document

    app = annif_lib.create_flask_app()
    predictions = {}
    with app.app_context():
        for f in facets:
            project = registry.get_project(f"p-{f}")
            label = {f"<http://rtag.example/{f}/{i}>": v for i, v in enumerate(values[f])}
            best = []
            for start in range(0, len(dev), BATCH):
                docs = [Document(text=clean(r[args.text])) for r in dev[start:start + BATCH]]
                for hits in project.suggest(docs).filter(limit=1):
                    hits = list(hits)
                    best.append(label.get(f"<{project.subjects[hits[0].subject_id].uri}>") if hits else None)
            predictions[f] = best
    out.write_text(json.dumps(predictions), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
