"""Open an index folder: manifest, FAISS stores, ids, tags, vocabulary embeddings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger.errors import EncoderMismatchError
from retrieval_tagger.index import location, manifest, store
from retrieval_tagger.tags import TagSet


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


def open_index(name_or_path: str | Path, verify: str = "size", device: str = "cpu") -> OpenIndex:
    """Open an index folder: its manifest checked (``verify``: see manifest.read_manifest)
    and its stores ready to search on ``device`` (exact stores run on a GPU only when
    ``device`` names one)."""
    folder = location.resolve(name_or_path)
    man = manifest.read_manifest(folder, verify=verify)
    ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
    vocab = TagSet.from_json(man["vocabulary"])
    indptr = np.load(folder / "tags_indptr.npy")
    indices = np.load(folder / "tags_indices.npy")
    product_tags = sparse.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(ids), len(vocab))
    )
    modalities = {
        name: Modality(store.load(folder / info["file"], info, device), np.load(folder / info["rows"]))
        for name, info in man["stores"].items()
    }
    vocab_vectors = {space: np.load(folder / f"vocab_{space}.npy") for space in man.get("vocab_spaces", [])}
    return OpenIndex(folder, man, ids, {pid: i for i, pid in enumerate(ids)}, vocab, product_tags, modalities, vocab_vectors)


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
