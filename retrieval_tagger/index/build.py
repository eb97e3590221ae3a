"""``build_index``: catalog -> encoders -> FAISS stores -> an index folder, written atomically."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.errors import CatalogError, IndexExistsError
from retrieval_tagger.index import location, manifest, store
from retrieval_tagger.vocab import TagVocab

log = logging.getLogger("rtag")


def encoder_record(encoder) -> dict:
    record = {"spec": encoder.spec, "dim": encoder.dim, "checksum": encoder.checksum}
    if getattr(encoder, "size", None):
        record["image_size"] = encoder.size
    return record


def _write_store(folder: Path, name: str, vectors: np.ndarray, rows: np.ndarray, index_type: str) -> dict:
    kind = store.choose_type(len(vectors), index_type)
    index, params = store.build(vectors, kind)
    store.save(index, folder / f"{name}.faiss")
    np.save(folder / f"{name}_rows.npy", rows.astype(np.int64))
    return {**params, "vectors": int(len(vectors)), "file": f"{name}.faiss", "rows": f"{name}_rows.npy"}


def build_index(
    catalog_path: str | Path,
    output: str | Path,
    spec: CatalogSpec | None = None,
    text_model: str | None = None,
    image_model: str | None = None,
    index_type: str = "auto",
    force: bool = False,
    device: str | None = None,
    batch_size: int = 64,
    progress: bool | None = None,
    encoders: tuple | None = None,
) -> dict:
    """Build an index folder from a tagged catalog and return its manifest.

    ``output`` is an index name (under ``indexes/``) or a folder. An existing index is
    replaced only with ``force``; the new one is built in a temporary folder beside it and
    renamed into place, so an interrupted build leaves the old index intact.
    ``encoders`` may pass already-loaded ``(text, image)`` encoders.
    """
    out = location.resolve(output)
    if out.exists() and not force:
        raise IndexExistsError(f"an index already exists at {out}: pass --force to replace it")
    if out.exists() and not (out / manifest.MANIFEST).is_file():
        raise IndexExistsError(f"{out} exists and is not an rtag index (no {manifest.MANIFEST}): refusing to replace it; choose another --name")
    spec = spec or CatalogSpec()
    store.choose_type(0, index_type)  # validate before any slow work
    catalog_path = Path(catalog_path)
    started = time.perf_counter()
    products, report = read_catalog(catalog_path, spec)
    if not products:
        raise CatalogError(f"{catalog_path} has no usable products ({report.summary()})")
    text_enc, image_enc = encoders or (load_text_encoder(text_model, device), load_image_encoder(image_model, device))

    timings = {}
    image_rows = np.asarray([i for i, p in enumerate(products) if p.image], dtype=np.int64)
    image_vecs = None
    if image_enc is not None and len(image_rows):
        t = time.perf_counter()
        image_vecs, ok = image_enc.encode_images([products[i].image for i in image_rows], batch_size=batch_size, progress=progress)
        timings["encode_images_s"] = time.perf_counter() - t
        bad = image_rows[~ok]
        report.unreadable_images += len(bad)
        for i in bad[:3]:
            report.note("unreadable_images", f"{products[i].id}: {products[i].image}")
        if len(bad) and spec.strict:
            raise CatalogError(f"{len(bad)} images cannot be decoded, e.g. {products[bad[0]].image} (drop --strict to keep those products with text only)")
        for i in bad:
            products[i].image = None
        image_rows, image_vecs = image_rows[ok], image_vecs[ok]
    if image_enc is None:
        for p in products:
            p.image = None  # without an image encoder a product with only an image has nothing to index
    keep = np.asarray([bool(p.text or p.image) for p in products])
    if not keep.all():
        report.dropped_after_image_check = int((~keep).sum())
        remap = np.cumsum(keep) - 1
        if image_vecs is not None:
            image_rows = remap[image_rows]
        products = [p for p, k in zip(products, keep) if k]
        report.kept = len(products)

    text_rows = np.asarray([i for i, p in enumerate(products) if p.text], dtype=np.int64)
    t = time.perf_counter()
    text_vecs = text_enc.encode([products[i].text for i in text_rows], progress=progress)
    timings["encode_text_s"] = time.perf_counter() - t

    vocab = TagVocab.from_tag_lists([p.tags for p in products])
    indptr, indices = vocab.encode_lists([p.tags for p in products])

    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        t = time.perf_counter()
        stores = {"text": _write_store(tmp, "text", text_vecs, text_rows, index_type)}
        if image_vecs is not None:
            stores["image"] = _write_store(tmp, "image", image_vecs, image_rows, index_type)
        timings["index_s"] = time.perf_counter() - t
        (tmp / "ids.json").write_text(json.dumps([p.id for p in products], ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "tags_indptr.npy", indptr)
        np.save(tmp / "tags_indices.npy", indices)
        vocab_spaces = {"text": text_enc}
        if image_enc is not None:
            vocab_spaces["image"] = image_enc
        for space, enc in vocab_spaces.items():
            np.save(tmp / f"vocab_{space}.npy", enc.encode(vocab.display_texts(), progress=False))
        encoders_section = {"text": encoder_record(text_enc)}
        if image_enc is not None:
            encoders_section["image"] = encoder_record(image_enc)
        timings["total_s"] = time.perf_counter() - started
        result = manifest.new_manifest(
            encoders=encoders_section,
            catalog={"path": str(catalog_path.resolve()), "sha256": manifest.sha256_file(catalog_path), "columns": spec.describe()},
            counts={
                "products": len(products),
                "with_text": int(len(text_rows)),
                "with_image": int(0 if image_vecs is None else len(image_rows)),
                "tags": len(vocab),
                "tag_assignments": int(len(indices)),
            },
            report={**report.to_dict(), "summary": report.summary(), "examples": report.examples},
            stores=stores,
            vocabulary=vocab.to_json(),
            vocab_spaces=sorted(vocab_spaces),
            build={"index_type": index_type, "batch_size": batch_size, "device": device or "auto", "timings": timings},
        )
        manifest.record_files(result, tmp)
        manifest.write_manifest(tmp, result)
        _swap_into_place(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("catalog %s: %s", catalog_path.name, report.summary())
    return result


def _swap_into_place(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished build over ``out``; the old index is removed only afterwards."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if not force:
        raise IndexExistsError(f"an index appeared at {out} during the build: pass --force to replace it")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
