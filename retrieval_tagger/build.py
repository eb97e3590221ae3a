"""``build_index``: catalog -> encoders -> FAISS stores -> an index folder, written atomically."""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from retrieval_tagger import artifacts, hierarchy, language, leave_one_out
from retrieval_tagger.align.options import BASE, AlignOptions
from retrieval_tagger.catalog import CatalogSpec, read_catalog
from retrieval_tagger.encoders.base import device_of, pick_device, text_batch_size
from retrieval_tagger.encoders.registry import (
    default_text_spec,
    load_image_encoder,
    load_text_encoder,
)
from retrieval_tagger.encoders.registry import image_backend as image_backend_of
from retrieval_tagger.encoders.registry import text_backend as text_backend_of
from retrieval_tagger.errors import CatalogError, IndexExistsError
from retrieval_tagger.index import lexical_store, location, manifest, store
from retrieval_tagger.index.reader import Modality
from retrieval_tagger.signals import fit, lexical_train, registry
from retrieval_tagger.signals.base import IndexView
from retrieval_tagger.signals.settings import FusionSettings
from retrieval_tagger.tags import TagSet, tag_groups

log = logging.getLogger("rtag")


def encoder_record(encoder) -> dict:
    record = {"spec": encoder.spec, "dim": encoder.dim, "checksum": encoder.checksum}
    if getattr(encoder, "size", None):
        record["image_size"] = encoder.size
    if getattr(encoder, "backend", None):
        record["backend"] = encoder.backend  # informative: queries may use another backend
    return record


@dataclass
class Encoded:
    """A catalog's products and their vectors per modality (rows point into products)."""

    products: list
    vectors: dict = field(default_factory=dict)  # modality -> (n, dim) float32
    rows: dict = field(default_factory=dict)  # modality -> product row of each vector
    timings: dict = field(default_factory=dict)


def _encode_catalog(products, report, spec: CatalogSpec, text_enc, image_enc, batch_size: int | None, progress) -> Encoded:
    """Encode images (with colour histograms) and texts; drop products left with nothing."""
    timings = {}
    image_rows = np.asarray([i for i, p in enumerate(products) if p.image], dtype=np.int64)
    image_vecs = colours = None
    if image_enc is not None:
        report.check_images(spec.allow_missing_images)  # missing files: before the slow part
    if image_enc is not None and len(image_rows):
        t = time.perf_counter()
        image_vecs, colours, ok = image_enc.encode_images_and_colours(
            [products[i].image for i in image_rows], batch_size=batch_size, progress=progress
        )
        timings["encode_images_s"] = time.perf_counter() - t
        bad = image_rows[~ok]
        report.unreadable_images += len(bad)
        for i in bad[:3]:
            report.note("unreadable_images", f"{products[i].id}: {products[i].image}")
        if len(bad) and spec.strict:
            raise CatalogError(f"{len(bad)} images cannot be decoded, e.g. {products[bad[0]].image} (drop --strict to keep those products with text only)")
        for i in bad:
            products[i].image = None
        image_rows, image_vecs, colours = image_rows[ok], image_vecs[ok], colours[ok]
        report.check_images(spec.allow_missing_images)
    if image_enc is None:
        for p in products:
            p.image = None  # without an image encoder a product with only an image has nothing to index
    keep = np.asarray([bool(p.text or p.image) for p in products])
    if not keep.all():
        report.dropped_after_image_check = int((~keep).sum())
        image_rows = (np.cumsum(keep) - 1)[image_rows]
        products = [p for p, k in zip(products, keep) if k]
        report.kept = len(products)
    text_rows = np.asarray([i for i, p in enumerate(products) if p.text], dtype=np.int64)
    t = time.perf_counter()
    encoded = Encoded(products, timings=timings)
    batch = text_batch_size(device_of(text_enc))
    encoded.vectors["text"] = text_enc.encode([products[i].text for i in text_rows], batch_size=batch, progress=progress)
    encoded.rows["text"] = text_rows
    timings["encode_text_s"] = time.perf_counter() - t
    if image_vecs is not None and len(image_rows):
        encoded.vectors["image"], encoded.rows["image"] = image_vecs, image_rows
        encoded.vectors["colour"], encoded.rows["colour"] = colours, image_rows
    return encoded


def _fit(encoded: Encoded, view: IndexView) -> dict:
    """The fusion settings (JSON) of every signal the new index has, fitted by leave-one-out
    on a sample of its tagged products (see signals/fit.py)."""
    product_tags, vocab = view.product_tags, view.vocab
    tagged = np.flatnonzero(np.diff(product_tags.indptr) > 0)
    if len(tagged) < fit.MIN_FIT_PRODUCTS:
        return registry.default_fusion(reason=f"fewer than {fit.MIN_FIT_PRODUCTS} tagged products").to_json()
    # the sample's (products x tags) score matrices bound its size for large vocabularies
    size = min(fit.MAX_SAMPLE, len(tagged), max(200, int(2e7 // max(len(vocab), 1))))
    sample = tagged[artifacts.hash_sample([encoded.products[i].id for i in tagged], size)]
    vectors, has = {}, {}
    for name, rows in encoded.rows.items():
        vector_of = np.full(len(encoded.products), -1, dtype=np.int64)
        vector_of[rows] = np.arange(len(rows))
        at = vector_of[sample]
        has[name], vectors[name] = at >= 0, encoded.vectors[name][np.maximum(at, 0)]
    texts = [encoded.products[i].text for i in sample]
    has["words"] = np.asarray([bool(text) for text in texts])
    fit_sample = fit.FitSample(sample, vectors, has, texts, product_tags[sample].toarray() > 0, tag_groups(vocab))
    return fit.fit_fusion(registry.available(view), view, fit_sample).to_json()


@dataclass
class BuildOptions:
    """How :func:`build_index` builds an index (every field optional)."""

    text_model: str | None = None  # encoder spec [default: minilm; use-multilingual for a catalog not in English]
    image_model: str | None = None  # encoder spec, a model folder, or "none" [default: rtag-lite]
    index_type: str = "auto"  # store.INDEX_TYPES
    force: bool = False  # replace an existing index
    device: str | None = None  # cpu or cuda [default: cuda when available]
    image_batch: int | None = None  # images per encoder batch [default: suited to the device, encoders/image.py]
    progress: bool | None = None  # progress bars (see progress.py)
    # first train an aligned image model on the catalog, starting from image_model, kept
    # inside the index folder (image_model/)
    align: AlignOptions | None = None
    text_backend: str | None = None  # how the models run (encoders/registry.py) [default: auto]
    image_backend: str | None = None
    lexical: bool = True  # train the lexical signal's classifiers (signals/lexical_train.py)
    nested_facets: bool = True  # learn facets nested in others (hierarchy.py) and decode them as paths
    language: str = "auto"  # the catalog's language (language.py), recorded; picks the default text model


def build_index(
    catalog_path: str | Path,
    output: str | Path,
    spec: CatalogSpec | None = None,
    options: BuildOptions | None = None,
    encoders: tuple | None = None,
) -> dict:
    """Build an index folder from a tagged catalog and return its manifest.

    ``output`` is an index name (under ``indexes/``) or a folder. An existing index is
    replaced only with ``options.force``, and only when it is an rtag index (anything else
    at ``output`` is an error); the new one is built in a temporary folder beside it and
    renamed into place, so an interrupted build leaves the old index intact, and a second
    build of the same index meanwhile stops at once (artifacts.writer_lock).
    ``encoders`` may pass already-loaded ``(text, image)`` encoders.
    """
    opts = options or BuildOptions()
    out = location.resolve(output)
    if out.exists() and not opts.force:
        raise IndexExistsError(f"an index already exists at {out}: pass --force to replace it")
    artifacts.check_replaceable(out, manifest.INDEX.name, manifest.INDEX.what)
    with artifacts.writer_lock(out):  # a second build of the same index stops here, not after its work
        return _build(Path(catalog_path), out, spec or CatalogSpec(), opts, encoders)


def _build(catalog_path: Path, out: Path, spec: CatalogSpec, opts: BuildOptions, encoders: tuple | None) -> dict:
    force, device, index_type, image_model = opts.force, opts.device, opts.index_type, opts.image_model
    store.choose_type(0, index_type)  # validate before any slow work
    resolved = pick_device(device)  # once, handed to the encoders and the stores
    text_backend_of(opts.text_backend, resolved)
    image_backend_of(opts.image_backend, resolved)
    started = time.perf_counter()
    language.check_setting(opts.language)
    products, report = read_catalog(catalog_path, spec)
    if not products:
        raise CatalogError(f"{catalog_path} has no usable products ({report.summary()})")
    aligned = None
    if opts.align is not None:
        aligned = _train_alignment(catalog_path, spec, out, image_model, opts.align, device, opts.image_batch, opts.progress)
        image_model = str(aligned)
    lang = language.resolve(opts.language, [p.text for p in products])
    text_model = opts.text_model or default_text_spec(lang["code"])
    text_enc, image_enc = encoders or (load_text_encoder(text_model, resolved, opts.text_backend), load_image_encoder(image_model, resolved, opts.image_backend))
    if aligned is not None:
        image_enc.spec = location.INDEX_MODEL_SPEC
    encoded = _encode_catalog(products, report, spec, text_enc, image_enc, opts.image_batch, opts.progress)
    products, timings = encoded.products, encoded.timings

    vocab = TagSet.from_tag_lists([p.tags for p in products])
    indptr, indices = vocab.encode_lists([p.tags for p in products])
    product_tags = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(products), len(vocab)))
    tree = hierarchy.learn(vocab, product_tags, [spec.category_col] if spec.category_col else [], opts.nested_facets)
    vocab_vectors = {"text": text_enc.encode(vocab.display_texts(), progress=False)}
    if image_enc is not None:
        vocab_vectors["image"] = image_enc.encode(vocab.display_texts(), progress=False)

    existing = "replace" if force else IndexExistsError(f"an index appeared at {out} during the build: pass --force to replace it")
    with artifacts.write_folder(out, existing) as tmp:
        t = time.perf_counter()
        stores, indexes = {}, {}
        for name, vectors in encoded.vectors.items():
            kind = store.choose_type(len(vectors), index_type, resolved)
            index, params = store.build(vectors, kind)
            store.save(index, tmp / f"{name}.faiss")
            indexes[name] = store.searcher(index, params, resolved)
            np.save(tmp / f"{name}_rows.npy", encoded.rows[name].astype(np.int64))
            stores[name] = {**params, "vectors": int(len(vectors)), "file": f"{name}.faiss", "rows": f"{name}_rows.npy"}
        timings["index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        lexical = lexical_train.train([p.text for p in products], [p.id for p in products], product_tags, vocab) if opts.lexical else None
        models = {"lexical": lexical} if lexical is not None else {}
        timings["lexical_s"] = time.perf_counter() - t
        view = IndexView(vocab, product_tags, {name: Modality(index, encoded.rows[name]) for name, index in indexes.items()}, vocab_vectors, models)
        t = time.perf_counter()
        fusion = _fit(encoded, view)
        timings["fit_s"] = time.perf_counter() - t
        t = time.perf_counter()  # score -> precision tables for `rtag tag --precision` (leave_one_out.py)
        precision = leave_one_out.fused_tables(view, [p.id for p in products], [p.text for p in products], FusionSettings.from_json(fusion))
        timings["precision_s"] = time.perf_counter() - t
        (tmp / "ids.json").write_text(json.dumps([p.id for p in products], ensure_ascii=False), encoding="utf-8")
        np.save(tmp / "tags_indptr.npy", indptr)
        np.save(tmp / "tags_indices.npy", indices)
        for space, vectors in vocab_vectors.items():
            np.save(tmp / f"vocab_{space}.npy", vectors)
        encoders_section = {"text": encoder_record(text_enc)}
        if image_enc is not None:
            encoders_section["image"] = encoder_record(image_enc)
        timings["total_s"] = time.perf_counter() - started
        result = manifest.new_manifest(
            encoders=encoders_section,
            catalog={"path": str(catalog_path.resolve()), "sha256": artifacts.sha256_file(catalog_path), "columns": spec.describe()},
            counts={
                "products": len(products),
                "with_text": int(len(encoded.rows["text"])),
                "with_image": int(len(encoded.rows.get("image", ()))),
                "tags": len(vocab),
                "tag_assignments": int(len(indices)),
            },
            report={**report.to_dict(), "summary": report.summary(), "examples": report.examples},
            stores=stores,
            vocabulary=vocab.to_json(),
            vocab_spaces=sorted(vocab_vectors),
            fusion=fusion,
            precision=precision,
            build={"index_type": index_type, "batch_size": opts.image_batch or "auto", "device": device or "auto", "timings": timings},
            language=lang,
            **({"hierarchy": tree.save(tmp)} if tree is not None else {}),
            **({"lexical": lexical_store.save(models["lexical"], tmp)} if models else {}),
        )
        if aligned is not None:  # its own manifest covers it: the index lists its top-level files
            shutil.move(str(aligned), str(tmp / location.INDEX_MODEL_DIR))
        artifacts.write_manifest(tmp, result)
    log.debug("catalog %s: %s", catalog_path.name, report.summary())  # `rtag index` prints it itself
    return result


def _train_alignment(catalog_path: Path, spec: CatalogSpec, out: Path, base: str | None, options, device, batch_size, progress) -> Path:
    """Train the index's own aligned image model in a work folder beside it (an interrupted
    run resumes there); it moves into the index when the build succeeds."""
    from retrieval_tagger.align.train import align

    folder = out.parent / f".{out.name}.aligned-model"
    from retrieval_tagger.errors import AlignError

    if base == "none":
        raise AlignError("--align trains an image model: drop --image-model none, or drop --align")
    base = base or BASE
    align(catalog_path, folder, spec, base, options, force=True, device=device, batch_size=batch_size, progress=progress)
    return folder

