"""`rtag serve` under load, on loopback, bounded in time: single-product requests at
concurrency 1, 8 and 32 (text only, then with photos): p50 and p99 latency and requests/s;
in-process batch tagging of the same titles on the same index, in the same run; and, side
by side, Annif's REST API with an omikuji project trained on the same catalog (when an
Annif installation is given with --annif).

    .venv/bin/python benchmarks/serve_load.py --index demo --dev demo/fashion_sample/dev.csv \
        [--title-col title --image-col image] [--annif /path/to/annif-venv/bin/annif --annif-catalog CATALOG.csv --annif-facet articleType]

Every request and server is on 127.0.0.1; each level runs at most --seconds seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RTAG = Path(sys.executable).with_name("rtag")
NLTK_DATA = ROOT.parent / "shared" / "peers" / "nltk_data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready at {url} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(make_request, payloads: list, concurrency: int, seconds: float, max_requests: int) -> dict:
    """Requests from ``payloads`` (in turn) by ``concurrency`` clients until ``max_requests``
    or ``seconds``: latency percentiles (ms), requests/s, failures."""
    latencies, failures, sent = [], 0, 0
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker():
            nonlocal failures, sent
            while sent < max_requests and time.monotonic() < deadline:
                payload = payloads[sent % len(payloads)]
                sent += 1
                start = time.perf_counter()
                response = await make_request(client, payload)
                latencies.append(time.perf_counter() - start)
                failures += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {"requests": len(latencies), "failures": failures, "rps": len(latencies) / wall,
            "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]}


def line(label: str, r: dict) -> str:
    return f"{label:<34} p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  {r['rps']:7.1f} req/s  ({r['requests']} requests, {r['failures']} failed)"


def read_dev(path: Path, title_col: str, image_col: str | None, limit: int) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    titles = [r[title_col] for r in rows if r.get(title_col)]
    photos = []
    for r in rows:
        if image_col and r.get(image_col):
            p = Path(r[image_col]) if Path(r[image_col]).is_absolute() else path.parent / r[image_col]
            if p.is_file():
                photos.append(base64.b64encode(p.read_bytes()).decode())
    return titles, photos


def rtag_rows(args, titles: list[str], photos: list[str]) -> list[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(RTAG), "serve", "--index", args.index, "--port", str(port), "--reload-every", "0"], cwd=ROOT)
    out = []
    try:
        wait_ready(f"{base}/ready", proc)
        name = Path(args.index).name

        async def text_request(client, title):
            return await client.post(f"{base}/v1/indexes/{name}/tag", json={"products": [{"title": title}]})

        async def photo_request(client, pair):
            title, photo = pair
            return await client.post(f"{base}/v1/indexes/{name}/tag", json={"products": [{"title": title, "image_base64": photo}]})

        asyncio.run(load(text_request, titles[:20], 4, 10, 40))  # warm-up
        results = {}
        for c in (1, 8, 32):
            results[c] = asyncio.run(load(text_request, titles, c, args.seconds, args.requests))
            out.append(line(f"rtag serve, text, concurrency {c}", results[c]))
        if photos:
            pairs = list(zip(titles, photos))
            for c in (1, 8, 32):
                out.append(line(f"rtag serve, text+photo, concurrency {c}", asyncio.run(load(photo_request, pairs, c, args.seconds, args.requests))))
    finally:
        stop(proc)
    from retrieval_tagger.pipeline import Tagger

    tagger = Tagger.load(args.index)
    tagger.tag([{"title": t} for t in titles[:64]])
    start = time.perf_counter()
    tagger.tag([{"title": t} for t in titles])
    batch_rate = len(titles) / (time.perf_counter() - start)
    out.append(f"{'rtag in-process batch, text':<34} {batch_rate:7.1f} products/s ({len(titles)} titles in one call)")
    out.append(f"concurrency 32 / in-process batch: {results[32]['rps'] / batch_rate:.2f}")
    return out


def annif_rows(args, titles: list[str]) -> list[str]:
    """Annif's REST API with an omikuji project trained on the catalog's ``--annif-facet``."""
    annif = Path(args.annif)
    work = Path(tempfile.mkdtemp(prefix="annif-serve-"))
    with open(args.annif_catalog, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get(args.annif_facet) and r.get(args.annif_title_col)]
    values = sorted({r[args.annif_facet] for r in rows})
    uri = {v: f"http://example.org/tag/{i}" for i, v in enumerate(values)}
    (work / "vocab.tsv").write_text("".join(f"<{uri[v]}>\t{v}\n" for v in values), encoding="utf-8")
    (work / "train.tsv").write_text("".join(f"{r[args.annif_title_col].replace(chr(9), ' ')}\t<{uri[r[args.annif_facet]]}>\n" for r in rows), encoding="utf-8")
    (work / "projects.cfg").write_text("[bench]\nname=bench\nlanguage=en\nbackend=omikuji\nanalyzer=snowball(english)\nvocab=bench\n", encoding="utf-8")
    env = {**os.environ, "NLTK_DATA": str(NLTK_DATA), "ANNIF_PROJECTS": str(work / "projects.cfg")}
    for step in (["load-vocab", "--language", "en", "bench", str(work / "vocab.tsv")], ["train", "bench", str(work / "train.tsv")]):
        subprocess.run([str(annif), *step], cwd=work, env=env, check=True, capture_output=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # as Annif is run in production: its app factory on uvicorn (`annif run` is its development server)
    proc = subprocess.Popen([str(annif.with_name("uvicorn")), "annif:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = []
    try:
        wait_ready(f"{base}/v1/projects", proc)

        async def suggest(client, title):
            return await client.post(f"{base}/v1/projects/bench/suggest", data={"text": title, "limit": 5})

        asyncio.run(load(suggest, titles[:20], 4, 10, 40))
        for c in (1, 32):
            out.append(line(f"Annif omikuji REST, concurrency {c}", asyncio.run(load(suggest, titles, c, args.seconds, args.requests))))
    finally:
        stop(proc)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default="demo")
    ap.add_argument("--dev", type=Path, default=ROOT / "demo" / "fashion_sample" / "dev.csv")
    ap.add_argument("--title-col", default="title")
    ap.add_argument("--image-col", default="image")
    ap.add_argument("--limit", type=int, default=1000, help="dev products used")
    ap.add_argument("--seconds", type=float, default=30, help="longest run per level")
    ap.add_argument("--requests", type=int, default=600, help="most requests per level")
    ap.add_argument("--annif", help="the annif executable of an Annif installation (side by side)")
    ap.add_argument("--annif-catalog", type=Path, default=ROOT / "demo" / "fashion_sample" / "catalog.csv")
    ap.add_argument("--annif-title-col", default="title")
    ap.add_argument("--annif-facet", default="articleType")
    args = ap.parse_args()
    titles, photos = read_dev(args.dev, args.title_col, args.image_col, args.limit)
    print(f"# serve_load: {len(titles)} titles, {len(photos)} photos from {args.dev}; index {args.index}; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}")
    rows = rtag_rows(args, titles, photos)
    if args.annif:
        rows += annif_rows(args, titles)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
