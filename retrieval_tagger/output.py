"""Write tagging results as JSON Lines or CSV, and the closing line of a tagging run."""

from __future__ import annotations

import csv
import json
from typing import IO, Iterable

from retrieval_tagger.errors import RtagError

FORMATS = ("jsonl", "csv")


def write_results(results: Iterable, fh: IO[str], fmt: str = "jsonl") -> int:
    """Write results (TagResult) to an open text file; returns how many were written."""
    if fmt not in FORMATS:
        raise RtagError(f"unknown output format {fmt!r}: choose one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "jsonl":
        for result in results:
            fh.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.writer(fh)
    writer.writerow(["id", "tags", "scores", "review", "error", "warning"])
    for result in results:
        writer.writerow([
            result.id,
            "|".join(t["tag"] for t in result.tags),
            "|".join(f"{t['score']:.4f}" for t in result.tags),
            "|".join(t["tag"] for t in result.tags if t.get("review")),  # the tags marked for review
            result.error or "",
            result.warning or "",
        ])
        count += 1
    return count


def throughput(products: int, seconds: float) -> str:
    """The line a tagging run ends with on stderr: products, wall time, products/s."""
    rate = products / seconds if seconds > 0 else float("inf")
    return f"{products} products in {seconds:.1f} s ({rate:.0f} products/s)"
