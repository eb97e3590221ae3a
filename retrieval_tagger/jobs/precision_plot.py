"""``rtag eval --plot``: the precision–coverage curve of each facet as a PNG (matplotlib,
an optional dependency: `pip install 'retrieval-tagger[plot]'`)."""

from __future__ import annotations

from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import RtagError


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise RtagError("--plot needs matplotlib: pip install 'retrieval-tagger[plot]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def write_plot(section: dict, path: Path, title: str = "") -> Path:
    """Draw ``section`` (jobs/evaluate.at_precision) to ``path``: per facet, precision
    against coverage on the evaluated products as the score threshold falls, with a dot
    where the index's threshold for each target precision lands."""
    if "error" in section:
        raise RtagError(f"no precision–coverage curve to plot: {section['error']}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for facet, curve in section["curves"].items():
        (line,) = ax.plot(curve["coverage"], curve["precision"], label=facet, linewidth=1.4)
        dots = [row for row in section["facets"][facet].values() if row["precision"] is not None]
        ax.scatter([r["coverage"] for r in dots], [r["precision"] for r in dots], color=line.get_color(), s=18, zorder=3)
    for target in section["targets"]:
        ax.axhline(target, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("coverage (share of products whose value is kept)")
    ax.set_ylabel("precision of the kept values")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(min(0.5, *[min(c["precision"], default=1.0) for c in section["curves"].values()]), 1.005)
    ax.set_title(title or "precision against coverage; dots: the index's thresholds for " + ", ".join(f"{t:g}" for t in section["targets"]))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    with artifacts.atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
