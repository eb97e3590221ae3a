"""``rtag info``: what an index holds and what built it."""

from __future__ import annotations

import json

import typer

from retrieval_tagger.cli import common
from retrieval_tagger.cli.index_cmd import tree_lines

SHORT = {"temperature": "T"}  # parameter names as `rtag info` prints them


def info(
    index: str = typer.Argument(..., help=f"The index: {common.INDEX_NAMING}."),
    verify: bool = typer.Option(False, "--verify", help="Check the index as loading does (every file's sha256, every array's structure), and its reranker and stored vocabularies."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole manifest."),
) -> None:
    """Show an index's manifest: encoders, counts, stores and top tags."""
    from retrieval_tagger.index import location, manifest

    man = manifest.read_manifest(location.resolve(index), verify="sha256" if verify else "size")
    if as_json:
        typer.echo(json.dumps(man, indent=2, ensure_ascii=False))
        return
    lines = [
        f"index {index} (format {man['format_version']}, rtag {man['rtag_version']}, created {man['created']})",
        f"catalog: {man['catalog']['path']} (sha256 {man['catalog']['sha256'][:12]}…)",
        "counts: " + ", ".join(f"{k} {v}" for k, v in man["counts"].items()),
    ]
    for role, enc in man["encoders"].items():
        lines.append(f"{role} encoder: {enc['spec']} ({enc['dim']}-d, weights {enc['checksum'][:12]}…)")
    lines += [_store_line(name, st) for name, st in man["stores"].items()]
    lines += tree_lines(man.get("hierarchy"))
    lines += _fusion_lines(man.get("fusion"))
    reranker = _reranker_manifest(location.resolve(index))
    lines += _reranker_lines(reranker)
    lines.append(_skipped_line(man, reranker))
    top = ", ".join(f"{t['tag']} ({t['count']})" for t in man["vocabulary"][:8])
    lines.append(f"top tags: {top}")
    if verify:
        lines += _verify(location.resolve(index))
    typer.echo("\n".join(lines))


def _verify(folder) -> list[str]:
    """Open the index, its reranker and each stored vocabulary as tagging would (raising
    the error tagging would raise), and say what was checked."""
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.rerank import model as rerank_model
    from retrieval_tagger.vocab.stored import load_vocab

    opened = open_index(folder, verify="sha256")
    lines = [f"verified sha256 of {len(opened.manifest.get('files', {}))} files: ok, and the structure of every array and store"]
    reranker = rerank_model.load(opened)
    if reranker is not None:
        lines.append("verified the reranker: ok")
    for name in opened.vocabs:
        load_vocab(opened, name)
        lines.append(f"verified vocabulary {name}: ok")
    return lines


def _fusion_lines(recorded: dict | None) -> list[str]:
    """The fitted fusion: each signal's parameters, then its weights by default and per facet."""
    from retrieval_tagger.signals.settings import FusionSettings

    if not recorded:
        return []
    fusion = FusionSettings.from_json(recorded)
    if not fusion.fit.sample:
        return [f"fusion: defaults ({fusion.fit.reason or 'not fitted'})"]
    params = ", ".join(f"{name} " + " ".join(f"{SHORT.get(key, key)}={value}" for key, value in p.items()) for name, p in fusion.params.items())
    lines = [f"fusion: fitted by leave-one-out on {fusion.fit.sample} products (accuracy {fusion.fit.fused_accuracy['default']:.4f}); {params}"]
    for facet, weights in [("default", fusion.weights.default), *fusion.weights.facets.items()]:
        lines.append(f"  {facet:<18} " + " ".join(f"{name}={w:.1f}" for name, w in weights.items()))
    return lines


def _store_line(name: str, st: dict) -> str:
    """One store: type, faiss factory string, vectors, then its build and search settings
    (manifests written before factory strings keep those at the top level)."""
    factory = f' (faiss "{st["factory"]}")' if "factory" in st else ""
    known = ("type", "factory", "vectors", "file", "rows", "build", "search")
    settings = {**st.get("build", {}), **st.get("search", {}), **{k: v for k, v in st.items() if k not in known}}
    line = f"{name} store: {st['type']}{factory}, {st['vectors']} vectors"
    return line + ("; " + ", ".join(f"{k}={v}" for k, v in settings.items()) if settings else "")


def _reranker_manifest(folder) -> dict | None:
    path = folder / "reranker" / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _reranker_lines(man: dict | None) -> list[str]:
    """The index's trained reranker, read from its own manifest, and where tagging uses it."""
    if man is None:
        return ["reranker: none (train one with `rtag train-reranker`)"]
    training = man.get("training", {})
    rep = training.get("report") or {}
    line = f"reranker: {training.get('rounds')} trees over {len(man.get('features', []))} features, trained {man.get('created')} ({training.get('source')})"
    if rep:
        line += (f"; held-out facet accuracy {rep['voting']['facet_accuracy']:.4f} voting -> {rep['reranked']['facet_accuracy']:.4f} reranked, "
                 f"ECE {rep['ece']['chosen_tags']:.4f}")
    return [line, *helps_lines(training.get("helps"), "  ")]


def helps_lines(helps: dict | None, indent: str = "") -> list[str]:
    """Where tagging reranks: the facets whose held-out accuracy reranking did not lower."""
    if helps is None:
        return [f"{indent}reranks every facet (trained before the per-facet held-out check: retrain it to use it only where it helps)"]

    def cell(name: str, row: dict) -> str:
        return f"{name} {row['fused']:.4f} -> {row['reranked']:.4f}"

    used = [cell(name, row) for name, row in helps.items() if row["use"]]
    unused = [cell(name, row) for name, row in helps.items() if not row["use"]]
    return [f"{indent}reranks (held-out accuracy fused -> reranked): {'; '.join(used) or 'nothing'}",
            f"{indent}keeps fused scores: {'; '.join(unused) or 'nowhere'}"]


def _skipped_line(man: dict, reranker: dict | None) -> str:
    """The signals tagging leaves out: those whose fitted weight is 0 for every facet,
    unless the reranker runs (its features read every signal)."""
    from retrieval_tagger.signals.settings import FusionSettings
    from retrieval_tagger.tags import split_facet

    if not man.get("fusion"):
        return "signals skipped at tag time: none"
    weights = FusionSettings.from_json(man["fusion"]).weights
    facets = {split_facet(t["tag"])[0] for t in man["vocabulary"]}
    used = [weights.facets.get(f, weights.default) if f is not None else weights.default for f in facets] or [weights.default]
    skipped = [name for name in weights.default if all(w.get(name, 0.0) == 0 for w in used)]
    helps = (reranker or {}).get("training", {}).get("helps")
    if skipped and reranker is not None and (helps is None or any(row["use"] for row in helps.values())):
        return f"signals skipped at tag time: none (fitted weight 0 for every facet: {', '.join(skipped)}, but the reranker's features read them; --no-rerank skips them)"
    return f"signals skipped at tag time: {', '.join(skipped) or 'none'}" + (" (fitted weight 0 for every facet)" if skipped else "")


def register(app: typer.Typer) -> None:
    app.command("info")(info)
