"""Vocabularies stored inside an index folder, for zero-shot tagging (``rtag vocab``).

``<index>/vocabs/<name>/`` holds the parsed entries, each tag embedded in every space the
index has (the text model's, and the image model's text space when it has a meaningful
one), the per-tag similarity statistics over a sample of the catalog's own products (for
label-free calibration), and a manifest with the source file's sha256 and the encoder
checksums. Everything is computed when the vocabulary is added, so switching is instant.

A vocabulary is written as one folder (artifacts.write_folder) while the index is not
being rebuilt, and read from the index as it was opened (reader.open_index holds every
stored vocabulary's files), so a rebuild does not reach a Tagger that is running.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval_tagger import artifacts, language
from retrieval_tagger.encoders import colour, colour_names
from retrieval_tagger.errors import VocabError
from retrieval_tagger.index import manifest
from retrieval_tagger.index.exact import inner_products
from retrieval_tagger.queries import CatalogQueries
from retrieval_tagger.signals.settings import FusionSettings
from retrieval_tagger.tags import TagSet
from retrieval_tagger.vocab import scores as vocab_scores
from retrieval_tagger.vocab.files import Entry, VocabDefinition, read_vocab_file

VOCAB = manifest.VOCAB
FOLDER, FORMAT, FORMAT_VERSION = manifest.VOCAB_DIR, VOCAB.name, VOCAB.version
CALIBRATION_SAMPLE = 5000
CORRECTIONS = "corrections.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# An ensemble of prompts per tag name: the bare name matches how titles name things, the
# templated ones how captions do; averaging their embeddings smooths over both.
DEFAULT_TEMPLATES = ("{}", "a photo of {}", "a product photo of {}", "{} product")
# The same per language (the vocabulary's: VocabDefinition.language); a language without
# its own falls back to the bare name, which any language's titles use
TEMPLATES = {"en": DEFAULT_TEMPLATES, "zh": ("{}", "{}的照片", "{}的商品照片", "{}商品")}
BARE_NAME = ("{}",)
# A taxonomy node is embedded as its place under its parent, "Jigsaws, a kind of Saws"
# (a root as its name; see entry_texts): one text instead of five makes adding Google's
# 5,595-node taxonomy 3-4x faster (wall; CPU 3x), for 2.7 points of level-2 accuracy on
# the Google evaluation set (benchmarks/google_map.py; benchmarks/README.md)
TAXONOMY_TEMPLATES = ()
# the node phrase per language; elsewhere the path "Saws > Jigsaws", which needs no words
NODE_PHRASES = {"en": "{name}, a kind of {parent}", "zh": "{name}，一种{parent}"}
NODE_PATH = "{parent} > {name}"


@dataclass
class StoredVocab:
    name: str
    manifest: dict
    entries: list[Entry]
    vectors: dict[str, np.ndarray]  # space -> (tags, dim) unit vectors
    stats: dict[str, np.ndarray]  # space -> (3, tags): vocab_scores.statistics over catalog products
    corrections: dict[str, str] = field(default_factory=dict)  # catalog tag -> node path, by a human (rtag vocab map)

    @property
    def tags(self) -> list[str]:
        return [e.tag for e in self.entries]

    @property
    def is_taxonomy(self) -> bool:
        return self.manifest["kind"] == "taxonomy"


def entry_texts(entry: Entry, parent_name: str, templates, language: str = "en") -> list[str]:
    """What is embedded for a tag: its name and synonyms in each template, a phrase
    placing a taxonomy node under its parent (in ``language``), and its description.
    Without templates a node under a parent is its phrase alone, and any other tag its
    bare name."""
    templates = templates or (() if parent_name else BARE_NAME)
    texts = [t.format(n) for n in [entry.name, *entry.synonyms] for t in templates]
    if parent_name:
        texts.append(NODE_PHRASES.get(language, NODE_PATH).format(name=entry.name, parent=parent_name))
    if entry.description:
        texts.append(entry.description)
    return texts


def embed_entries(encode, entries: list[Entry], templates, language: str = "en") -> np.ndarray:
    """One unit vector per entry: the mean of its texts' embeddings."""
    texts, offsets = [], [0]
    for entry in entries:
        parent = entries[entry.parent].name if entry.parent >= 0 else ""
        texts.extend(entry_texts(entry, parent, templates, language))
        offsets.append(len(texts))
    vectors = np.asarray(encode(texts), dtype=np.float32)
    sums = np.add.reduceat(vectors, np.asarray(offsets[:-1]), axis=0)
    sums /= np.diff(offsets)[:, None]
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def _folder(index_folder: Path, name: str) -> Path:
    if not _NAME_RE.match(name):
        raise VocabError(f"invalid vocabulary name {name!r}: use letters, digits, '.', '_' and '-'")
    return index_folder / FOLDER / name


def calibration_statistics(index, tag_vectors: dict, titles: np.ndarray | None, seed: int = 0) -> dict:
    """Per space, each tag's similarity statistics over a sample of catalog products,
    each left out of its own neighbours (vocab_scores.statistics); ``titles`` are the
    catalog's title vectors (bridge.catalog_titles)."""
    n = len(index.ids)
    rows = np.arange(n) if n <= CALIBRATION_SAMPLE else np.sort(np.random.default_rng(seed).choice(n, CALIBRATION_SAMPLE, replace=False))
    queries = CatalogQueries(index).batch(rows)
    fusion = FusionSettings.from_json(index.manifest.get("fusion") or {})
    spaces = vocab_scores.space_queries(index, queries, fusion, titles, queries.self_rows)
    stats = {}
    for space, (_, vectors) in spaces.items():
        target = vocab_scores.tag_space(space)
        if target in tag_vectors and len(vectors):
            stats[space] = vocab_scores.statistics(inner_products(vectors, tag_vectors[target]))
    return stats


def add_vocab(index, text_encoder, image_encoder, titles: np.ndarray | None, vocab_file: str | Path, name: str | None = None,
              fmt: str = "auto", templates=None, force: bool = False) -> dict:
    """Parse ``vocab_file``, embed its tags with the index's encoders, calibrate them
    against the catalog (``titles``: bridge.catalog_titles) and store it in the index."""
    vocab_file = Path(vocab_file)
    definition: VocabDefinition = read_vocab_file(vocab_file, fmt)
    name = name or re.sub(r"[^A-Za-z0-9._-]+", "-", vocab_file.stem).strip("-.") or "vocab"
    opened = index
    out = _folder(opened.folder, name)
    if out.exists() and not force:
        raise VocabError(f"index {opened.folder.name} already has a vocabulary {name!r}: pass --force to replace it, or choose another --name")
    artifacts.check_replaceable(out, VOCAB.name, VOCAB.what)
    lang = _vocab_language(definition, opened)
    templates = tuple(templates) if templates else TAXONOMY_TEMPLATES if definition.kind == "taxonomy" else TEMPLATES.get(lang, BARE_NAME)
    if any("{}" not in t for t in templates):
        raise VocabError("every prompt template needs a {} where the tag name goes, e.g. 'a photo of {}'")
    encoders = {"text": lambda texts: text_encoder.encode(texts, progress=False)}
    if image_encoder is not None and getattr(image_encoder, "text_space", False):
        encoders["image"] = lambda texts: image_encoder.encode(texts)
    with artifacts.writer_lock(opened.folder, shared=True), artifacts.write_folder(out) as tmp:
        _check_unchanged(opened)
        vectors = {space: embed_entries(encode, definition.entries, templates, lang) for space, encode in encoders.items()}
        if "colour" in opened.modalities:  # the colour tags' share of each colour-histogram bin
            colours = colour_names.tag_bins(encoders["text"], TagSet([e.tag for e in definition.entries], [0] * len(definition.entries)))
            if colours is not None:
                vectors["colour_names"] = colours
        for space, matrix in vectors.items():
            np.save(tmp / f"{space}.npy", matrix)
        stats = calibration_statistics(index, vectors, titles)
        for space, values in stats.items():
            np.save(tmp / f"{space}_stats.npy", values)
        (tmp / "entries.json").write_text(json.dumps([e.to_json() for e in definition.entries], ensure_ascii=False), encoding="utf-8")
        depth = _depths(definition.entries)
        man = {
            **artifacts.header(VOCAB),
            "name": name,
            "source": {"file": str(vocab_file.resolve()), "sha256": artifacts.sha256_file(vocab_file), "format": fmt},
            "kind": definition.kind,
            "counts": {"tags": len(definition.entries), "depth": int(depth.max()) + 1 if len(depth) else 0},
            "notes": definition.notes,
            "templates": list(templates),
            "language": lang,
            "tag_spaces": sorted(vectors),
            "spaces": sorted(stats),
            "calibration": {"sample": min(CALIBRATION_SAMPLE, len(opened.ids))},
            "encoders": {space: opened.manifest["encoders"][space]["checksum"] for space in vectors if space in encoders},
        }
        artifacts.write_manifest(tmp, man)
    if getattr(opened, "snapshot", None) is not None:  # the opened index now holds it too
        opened.vocabs[name] = opened.snapshot.child(f"{FOLDER}/{name}", VOCAB)
    return man


def _vocab_language(definition: VocabDefinition, opened) -> str:
    """The language of a vocabulary's names: their script's when it tells one (zh, ja,
    ko), else the index's when that is not a CJK one either (a German catalog, German
    tags), else English. An index that recorded no language is English."""
    index_language = ((getattr(opened, "manifest", None) or {}).get("language") or {}).get("code", "en")
    if language.is_cjk(definition.language) or language.is_cjk(index_language):
        return definition.language
    return index_language


def _check_unchanged(opened) -> None:
    snap = getattr(opened, "snapshot", None)
    if snap is not None and not snap.is_current():
        raise VocabError(f"index {opened.folder} was rebuilt since it was opened: add the vocabulary again, to the new index")


def _depths(entries: list[Entry]) -> np.ndarray:
    depth = np.zeros(len(entries), dtype=np.int64)
    for i, entry in enumerate(entries):  # parents come before children
        depth[i] = depth[entry.parent] + 1 if entry.parent >= 0 else 0
    return depth


def list_vocabs(index_folder: Path) -> list[dict]:
    """The manifests of the index's stored vocabularies; ``{"name", "broken": True}`` for
    one that cannot be read or is incomplete."""
    root = index_folder / FOLDER
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            out.append(artifacts.read_manifest(folder, VOCAB, verify="none"))
        except VocabError:
            out.append({"name": folder.name, "broken": True})
    return out


def remove_vocab(index_folder: Path, name: str) -> None:
    """Remove a stored vocabulary in one step (artifacts.remove_folder)."""
    folder = _folder(index_folder, name)
    if not index_folder.is_dir():
        raise VocabError(f"no index at {index_folder}")
    with artifacts.writer_lock(index_folder, shared=True):
        if not artifacts.remove_folder(folder):
            raise VocabError(f"index {index_folder.name} has no vocabulary {name!r}; see `rtag vocab list --index {index_folder.name}`")


def load_vocab(opened, name: str) -> StoredVocab:
    """A stored vocabulary as the index held it when opened (reader.open_index), checked
    against its manifest (sizes, sha256, array shapes) and the index's encoders."""
    folder = _folder(opened.folder, name)
    if getattr(opened, "snapshot", None) is not None:
        held = opened.vocabs.get(name)
    else:  # an index object that holds none (built by hand): read it now
        held = artifacts.open_snapshot(folder, VOCAB) if (folder / artifacts.MANIFEST).is_file() else None
    if held is None:
        known = ", ".join(sorted(getattr(opened, "vocabs", {}))) or "none"
        raise VocabError(f"index {opened.folder.name} has no vocabulary {name!r} (it has: {known}); add one with `rtag vocab add`")
    if isinstance(held, Exception):  # found damaged when the index was opened
        raise held
    man = held.manifest
    try:
        for space, checksum in man["encoders"].items():
            recorded = opened.manifest["encoders"].get(space, {}).get("checksum")
            if recorded != checksum:
                raise VocabError(f"vocabulary {name!r} was embedded with another {space} model than the index now has; add it again with `rtag vocab add --force`")
        entries = [Entry(**e) for e in json.loads(held.read("entries.json").decode("utf-8"))]
        if not all(isinstance(e.parent, int) and -1 <= e.parent < i for i, e in enumerate(entries)):
            raise ValueError("entries.json names a parent that does not come before its child")
        dims = {s: colour.DIM if s == "colour_names" else opened.manifest["encoders"][s]["dim"] for s in man["tag_spaces"]}
        vectors = {s: _array(held, f"{s}.npy", (len(entries), dims[s])) for s in man["tag_spaces"]}
        stats = {s: _array(held, f"{s}_stats.npy", (3, len(entries))) for s in man["spaces"]}
        corrections = _corrections(held)
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise VocabError(f"{folder} is corrupt ({type(exc).__name__}: {exc}); {VOCAB.fix}") from None
    return StoredVocab(name, man, entries, vectors, stats, corrections)


def _corrections(held) -> dict[str, str]:
    if CORRECTIONS not in held.names():
        return {}
    found = json.loads(held.read(CORRECTIONS).decode("utf-8"))
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        raise ValueError(f"{CORRECTIONS} is not an object of catalog tag -> node path")
    return found


def save_corrections(opened, name: str, corrections: dict[str, str]) -> dict:
    """Store a human's catalog tag -> node corrections (rtag vocab map --corrections) with
    vocabulary ``name``: its folder is written again, with everything it held, as one step."""
    folder = _folder(opened.folder, name)
    held = artifacts.open_snapshot(folder, VOCAB) if (folder / artifacts.MANIFEST).is_file() else None
    if held is None:
        raise VocabError(f"index {opened.folder.name} has no vocabulary {name!r}; add one with `rtag vocab add`")
    man = {k: v for k, v in held.manifest.items() if k not in ("files", "seal")}
    with artifacts.writer_lock(opened.folder, shared=True), artifacts.write_folder(folder) as tmp:
        for file in held.names():
            if file != CORRECTIONS:
                (tmp / file).write_bytes(held.read(file))
        (tmp / CORRECTIONS).write_text(json.dumps(corrections, ensure_ascii=False, indent=1), encoding="utf-8")
        man.update(artifacts.header(VOCAB), corrections=len(corrections))
        artifacts.write_manifest(tmp, man)
    if getattr(opened, "snapshot", None) is not None:
        opened.vocabs[name] = opened.snapshot.child(f"{FOLDER}/{name}", VOCAB)
    return man


def _array(held, name: str, shape: tuple) -> np.ndarray:
    """A finite float array of the vocabulary, of ``shape``."""
    try:
        array = np.load(io.BytesIO(held.read(name)), allow_pickle=False)
    except VocabError:
        raise
    except Exception as exc:  # numpy's reader raises several kinds on malformed bytes
        raise ValueError(f"{name} is not a readable .npy array ({exc})") from None
    if array.dtype.kind != "f" or array.ndim != len(shape) or array.shape != shape:
        raise ValueError(f"{name} holds a {array.dtype} array of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds values that are not finite")
    return array
