"""Open an index folder: manifest, FAISS stores, ids, tags, vocabulary embeddings, and the
reranker and stored vocabularies it holds, as one generation.

Everything is checked before it is used, so that no damaged file can crash the process
or give a wrong answer: each file's size and sha256 against the sealed manifest (hashed
once per process), then the structure of every array (shapes, dtypes, index ranges) and
each FAISS store's header before FAISS reads it. A failed check is an IndexFormatError
naming the file and the command that rebuilds the index.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger import artifacts
from retrieval_tagger.errors import EncoderMismatchError, IndexFormatError, RtagError
from retrieval_tagger.hierarchy import Hierarchy
from retrieval_tagger.index import lexical_store, location, manifest, store
from retrieval_tagger.tags import TagSet

_OPEN_TRIES = 3


@dataclass
class Modality:
    """One modality's store: the FAISS index and the product row of each vector."""

    index: object
    rows: np.ndarray


@dataclass
class OpenIndex:
    folder: Path
    manifest: dict
    ids: list[str]
    id_rows: dict[str, int]
    vocab: TagSet
    product_tags: sparse.csr_matrix
    modalities: dict[str, Modality]
    vocab_vectors: dict[str, np.ndarray]
    # the folder as opened, and the reranker and stored vocabularies it held then (each an
    # open artifacts.Snapshot, or the RtagError that reading it raised); see open_index
    snapshot: artifacts.Snapshot | None = None
    reranker: object = None
    vocabs: dict[str, object] = field(default_factory=dict)
    hierarchy: Hierarchy | None = None  # the catalog's tag tree (hierarchy.py); None in indexes without one
    models: dict[str, object] = field(default_factory=dict)  # trained signal models: "lexical" (lexical_store.py) where built

    @property
    def generation(self) -> str:
        """What identifies this build and what it held: the manifests' checksums."""
        parts = [self.snapshot.generation if self.snapshot else ""]
        parts += [f"{name}:{getattr(s, 'generation', 'broken')}" for name, s in [("reranker", self.reranker), *sorted(self.vocabs.items())] if s is not None]
        return "|".join(parts)


def open_index(name_or_path: str | Path, verify: str = "sha256", device: str = "cpu") -> OpenIndex:
    """Open an index folder and check it (module docstring): its stores ready to search on
    ``device`` (exact stores run on a GPU only when ``device`` names one).

    The folder, its reranker and its stored vocabularies are opened together and held
    open, so a rebuild or retraining afterwards changes nothing for this reader.
    ``verify`` "sha256" (default) checks every file's content; "size" and "none" skip
    that (sizes and structure are always checked), for storage trusted otherwise.
    """
    folder = location.resolve(name_or_path)
    for _ in range(_OPEN_TRIES):
        snap = manifest.open_folder(folder, verify)
        reranker = _child(snap, manifest.RERANKER_DIR, manifest.RERANKER)
        vocabs = {name: _child(snap, f"{manifest.VOCAB_DIR}/{name}", manifest.VOCAB) for name in snap.subfolders(manifest.VOCAB_DIR)}
        if snap.is_current():  # else it was replaced while we opened its parts: again
            break
    try:
        return _read(snap, device, reranker, vocabs)
    except (KeyError, TypeError, AttributeError) as exc:  # a well-sealed manifest of an unexpected shape
        raise IndexFormatError(f"{folder}/manifest.json lacks or mangles what an index records ({type(exc).__name__}: {exc}); {snap.fix}") from None


def _child(snap: artifacts.Snapshot, sub: str, fmt: artifacts.Format):
    try:
        return snap.child(sub, fmt)
    except RtagError as exc:  # reported when the reranker or vocabulary is used
        return exc


def _read(snap: artifacts.Snapshot, device: str, reranker, vocabs: dict) -> OpenIndex:
    man, bad = snap.manifest, _Bad(snap)
    n = man["counts"]["products"]
    bad.require(isinstance(n, int) and n >= 0, "manifest.json", "its product count is not a count")
    ids = _ids(snap, n, bad)
    try:
        vocab = TagSet.from_json(man["vocabulary"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad.error("manifest.json", f"its vocabulary is malformed ({exc})") from None
    n_tags = len(vocab)
    indices = _array(snap, "tags_indices.npy", bad, ndim=1, kind="i")
    indptr = _array(snap, "tags_indptr.npy", bad, ndim=1, kind="i")
    bad.require(len(indptr) == n + 1, "tags_indptr.npy", f"it has {len(indptr)} entries for {n} products")
    bad.require(indptr[0] == 0 and indptr[-1] == len(indices) and (np.diff(indptr) >= 0).all(), "tags_indptr.npy",
                f"it does not run from 0 up to the {len(indices)} tag assignments")
    bad.require(_within(indices, n_tags), "tags_indices.npy", f"it names tags outside the vocabulary's {n_tags}")
    product_tags = sparse.csr_matrix((np.ones(len(indices), np.float32), indices.astype(np.int64), indptr.astype(np.int64)), shape=(n, n_tags))
    vocab_vectors = {}
    for space in man.get("vocab_spaces", []):
        name = f"vocab_{space}.npy"
        vectors = _array(snap, name, bad, ndim=2, kind="f")
        bad.require(len(vectors) == n_tags, name, f"it has {len(vectors)} rows for {n_tags} tags")
        bad.require(np.isfinite(vectors).all(), name, "it holds values that are not finite")
        vocab_vectors[space] = vectors
    # a store's vectors and its space's tag vectors share a dimension (the encoder's:
    # check_encoder compares the two when one is loaded)
    dims = {space: vectors.shape[1] for space, vectors in vocab_vectors.items()}
    modalities = {name: _modality(snap, name, info, n, dims.get(name), device, bad) for name, info in man["stores"].items()}
    return OpenIndex(snap.folder, man, ids, {pid: i for i, pid in enumerate(ids)}, vocab, product_tags, modalities,
                     vocab_vectors, snap, reranker, vocabs, _hierarchy(snap, man.get("hierarchy"), n_tags, bad), _models(snap, man, n, n_tags, bad))


def _models(snap: artifacts.Snapshot, man: dict, n: int, n_tags: int, bad: "_Bad") -> dict[str, object]:
    """The trained signal models the index holds, checked; an index built without them has none."""
    if not man.get("lexical"):
        return {}
    def read_array(name: str, ndim: int, kind: str) -> np.ndarray:
        return _array(snap, name, bad, ndim=ndim, kind=kind)

    return {"lexical": lexical_store.load(man["lexical"], read_array, lambda name: _json(snap, name, bad), bad.require, n, n_tags)}


def _hierarchy(snap: artifacts.Snapshot, section: dict | None, n_tags: int, bad: "_Bad") -> Hierarchy | None:
    """The stored tag tree (manifest ``hierarchy``), checked; indexes built without one have none."""
    if not section:
        return None
    arrays = [_array(snap, name, bad, ndim=1, kind="i") for name in section["files"]]
    try:
        return Hierarchy.from_arrays(*arrays, section["groups"], n_tags)
    except ValueError as exc:
        raise bad.error(", ".join(section["files"]), str(exc)) from None


class _Bad:
    """IndexFormatErrors about one opened index's files."""

    def __init__(self, snap: artifacts.Snapshot):
        self.snap = snap

    def error(self, name: str, what: str) -> IndexFormatError:
        return IndexFormatError(f"{self.snap.folder} is corrupt: {name}: {what}; {self.snap.fix}")

    def require(self, ok, name: str, what: str) -> None:
        if not ok:
            raise self.error(name, what)


def _ids(snap: artifacts.Snapshot, n: int, bad: _Bad) -> list[str]:
    ids = _json(snap, "ids.json", bad)
    bad.require(isinstance(ids, list) and all(isinstance(i, str) for i in ids), "ids.json", "it is not a list of product ids")
    bad.require(len(ids) == n, "ids.json", f"it holds {len(ids)} ids for {n} products")
    bad.require(len(set(ids)) == n, "ids.json", "it repeats product ids")
    return ids


def _json(snap: artifacts.Snapshot, name: str, bad: _Bad):
    try:
        return json.loads(snap.read(name).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad.error(name, f"it is not JSON ({exc})") from None


def _array(snap: artifacts.Snapshot, name: str, bad: _Bad, ndim: int, kind: str) -> np.ndarray:
    """A .npy file of the index: ``ndim`` dimensions of a dtype of ``kind`` (numpy kind
    letters), never pickled objects."""
    try:
        array = np.load(io.BytesIO(snap.read(name)), allow_pickle=False)
    except RtagError:
        raise
    except Exception as exc:  # numpy's reader raises several kinds on malformed bytes
        raise bad.error(name, f"it is not a readable .npy array ({type(exc).__name__}: {exc})") from None
    bad.require(array.ndim == ndim and array.dtype.kind in kind, name, f"it holds a {array.dtype} array of shape {array.shape}")
    return array


def _within(values: np.ndarray, stop: int) -> bool:
    return len(values) == 0 or (int(values.min()) >= 0 and int(values.max()) < stop)


def _modality(snap: artifacts.Snapshot, name: str, info: dict, n: int, dim: int | None, device: str, bad: _Bad) -> Modality:
    rows = _array(snap, info["rows"], bad, ndim=1, kind="i").astype(np.int64)
    bad.require(_within(rows, n) and (np.diff(rows) > 0).all(), info["rows"], f"its product rows are not increasing rows of the {n} products")
    bad.require(len(rows) == info["vectors"], info["rows"], f"it has {len(rows)} rows for the store's {info['vectors']} vectors")
    d, ntotal = _faiss_header(snap, info["file"], bad)
    bad.require(ntotal == len(rows), info["file"], f"it holds {ntotal} vectors, the manifest says {len(rows)}")
    bad.require(d > 0 and (dim is None or d == dim), info["file"], f"its vectors have {d} dimensions, the {name} tag vectors {dim}")
    try:
        index = store.load(snap.path(info["file"]), info, device)
    except RuntimeError as exc:  # faiss's reader on a file it cannot parse
        raise bad.error(info["file"], f"FAISS cannot read it ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    bad.require(index.ntotal == ntotal and index.d == d, info["file"], "FAISS reads other counts than its header says")
    return Modality(index, rows)


# faiss's index header after its 4-byte type code: d (int32), ntotal (int64), two int64
# fields, is_trained (uint8), metric (int32); a flat store then holds its n*d floats
_HEADER = struct.Struct("<iqqqBi")
_FLAT_CODES = {b"IxFI", b"IxF2", b"IxFl"}


def _faiss_header(snap: artifacts.Snapshot, name: str, bad: _Bad) -> tuple[int, int]:
    """(dimension, vectors) from a FAISS file's header, checked before FAISS reads it."""
    head = snap.read(name, 4 + _HEADER.size)
    bad.require(len(head) == 4 + _HEADER.size, name, "it is too short for a FAISS index")
    d, ntotal, _, _, _, _ = _HEADER.unpack_from(head, 4)
    bad.require(0 < d <= 1 << 16 and 0 <= ntotal < 1 << 40, name, "its FAISS header is not an index's")
    if head[:4] in _FLAT_CODES:
        expected = 4 + _HEADER.size + 8 + 4 * d * ntotal
        size = snap.manifest["files"][name]["bytes"]
        bad.require(size == expected, name, f"a flat store of {ntotal} x {d} takes {expected} bytes, not {size}")
    return d, ntotal


def check_encoder(index: OpenIndex, role: str, encoder) -> None:
    """Refuse an encoder that differs from the one recorded in the manifest."""
    recorded = index.manifest["encoders"].get(role)
    if recorded is None:
        return
    if encoder is None:
        raise EncoderMismatchError(f"index {index.folder} was built with {role} model {recorded['spec']!r} but none is loaded")
    problems = []
    if encoder.spec != recorded["spec"]:
        problems.append(f"spec {encoder.spec!r} vs {recorded['spec']!r}")
    if encoder.dim != recorded["dim"]:
        problems.append(f"dimension {encoder.dim} vs {recorded['dim']}")
    if not problems and encoder.checksum != recorded["checksum"]:
        problems.append("same name but different weights (checksum differs)")
    if problems:
        raise EncoderMismatchError(
            f"the {role} encoder does not match index {index.folder} ({'; '.join(problems)}): "
            f"query with the encoder that built it, or rebuild the index with `rtag index ... --force`"
        )
    stored = index.modalities.get(role)
    if stored is not None and stored.index.d != encoder.dim:
        raise IndexFormatError(f"{index.folder} is corrupt: its {role} store holds {stored.index.d}-dimensional vectors, "
                               f"its manifest and encoder {encoder.dim}; {manifest.fix_of(index.folder)}")
