"""The tagging pipeline: products -> encoders -> kNN per modality -> votes -> fusion -> tags.

No file I/O beyond what the encoders read; :class:`Tagger` is the Python API that the
CLI mirrors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from retrieval_tagger import answers, explain, hierarchy, mmr, precision, tag_defaults
from retrieval_tagger.catalog import Product, clean_text
from retrieval_tagger.cooccurrence import Cooccurrence
from retrieval_tagger.encoders.base import pick_device
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.errors import EncoderMismatchError, RtagError
from retrieval_tagger.index import location
from retrieval_tagger.index.reader import OpenIndex, check_encoder, open_index
from retrieval_tagger.progress import progress_bar
from retrieval_tagger.queries import Queries, encode_chunks
from retrieval_tagger.rerank import model as rerank_model
from retrieval_tagger.signals import fuse, registry
from retrieval_tagger.signals.compute import Signals, prepare
from retrieval_tagger.signals.compute import compute as compute_signals
from retrieval_tagger.signals.registry import fusion_of, inputs_of, signals_of
from retrieval_tagger.signals.settings import FusionSettings, FusionWeights
from retrieval_tagger.vocab import bridge as title_bridge
from retrieval_tagger.vocab import stored as stored_vocabs
from retrieval_tagger.vocab import tagging as vocab_tagging

DEFAULT_MIN_SCORE = tag_defaults.MIN_SCORE  # fused scores are vote shares: below 5% a tag is noise


@dataclass
class TagOptions:
    """How products are tagged. Unknown option names are refused with the valid list.

    ``k``, ``temperature`` and ``weights`` default to what the index fitted on its own
    catalog (manifest ``fusion``); setting them overrides that for every facet.
    ``k`` and ``temperature`` apply to the signals that name them in ``Signal.options``
    (the kNN signals text, image, colour); the zero-shot ``names`` signal keeps its
    fitted temperature. ``weights`` are named among the registered signals.
    """

    k: int | None = None
    temperature: float | None = None
    weights: dict | None = None
    top_n: int | None = None  # at most this many tags; None: every facet's value, and up to tag_defaults.TOP_N tags in all
    min_score: float = DEFAULT_MIN_SCORE  # free tags below it are left out; a facet's value below it is marked review
    precision: float | None = None  # tags below the score that gives this precision (the index's leave-one-out tables) are marked review
    drop_review: bool = False  # leave out the tags marked review instead of returning them
    explain: bool = False  # each tag's why: signal shares, voting neighbours, matched words, reranker change (explain.py)
    exclusive: bool = True
    exclude_self: bool = False
    rerank: bool = True  # use the index's trained reranker when it has one
    diversity: float = mmr.DEFAULT_LAMBDA  # MMR's lambda: 1 ranks by score alone, 0 by dissimilarity alone
    chunk_size: int | None = None  # products per batch; default: 2048, fewer for large vocabularies
    progress: bool | None = None
    vocab: str | None = None  # tag against this stored vocabulary (rtag vocab add) instead of the catalog's tags
    mode: str = "auto"  # with a vocab: knn (votes only), zeroshot (tag names only) or auto (few-shot blend)
    depth: int | None = None  # with a taxonomy vocab: cut the tree at this many levels
    vocab_weights: dict | None = None  # with a vocab: weight of each zero-shot space [default: vocab_scores.DEFAULT_WEIGHTS]
    vocab_calibration: str | None = None  # with a vocab: raw, centred or z (see vocab_scores.calibrate)

    @classmethod
    def from_kwargs(cls, **kwargs) -> "TagOptions":
        valid = set(cls.__dataclass_fields__)
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise RtagError(f"unknown tagging option(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
        opts = cls(**kwargs)
        if opts.k is not None and opts.k < 1:
            raise RtagError(f"k must be at least 1, got {opts.k}")
        if opts.temperature is not None and opts.temperature <= 0:
            raise RtagError(f"temperature must be positive, got {opts.temperature}")
        if not 0.0 <= opts.diversity <= 1.0:
            raise RtagError(f"diversity (MMR lambda) must lie in [0, 1], got {opts.diversity}: 1 ranks by score alone, lower values trade score for variety")
        if opts.top_n is not None and opts.top_n < 1:
            raise RtagError(f"top_n must be at least 1, got {opts.top_n}")
        if opts.precision is not None and not 0.0 < opts.precision <= 1.0:
            raise RtagError(f"precision must lie in (0, 1], got {opts.precision}: e.g. 0.95 keeps tags that are right 95% of the time")
        if opts.weights is not None:
            valid = registry.names()
            bad = sorted(set(opts.weights) - set(valid))
            if bad or any(w < 0 for w in opts.weights.values()) or not any(opts.weights.values()):
                raise RtagError(f"weights must be non-negative, not all zero, and named among {', '.join(valid)}; got {opts.weights}")
        if opts.mode not in ("auto", "knn", "zeroshot"):
            raise RtagError(f"mode must be auto, knn or zeroshot, got {opts.mode!r}")
        if opts.depth is not None and opts.depth < 1:
            raise RtagError(f"depth must be at least 1, got {opts.depth}")
        from retrieval_tagger.vocab.scores import CALIBRATIONS
        from retrieval_tagger.vocab.scores import SPACES as VOCAB_SPACES

        if opts.vocab_calibration is not None and opts.vocab_calibration not in CALIBRATIONS:
            raise RtagError(f"vocab_calibration must be one of {', '.join(CALIBRATIONS)}, got {opts.vocab_calibration!r}")
        if opts.vocab_weights is not None:
            if set(opts.vocab_weights) - set(VOCAB_SPACES) or any(w < 0 for w in opts.vocab_weights.values()):
                raise RtagError(f"vocab_weights takes non-negative weights named among {', '.join(VOCAB_SPACES)}, got {opts.vocab_weights}")
        return opts

    @property
    def limit(self) -> int:
        """The most tags a list holds before every facet is answered (``top_n`` or the default)."""
        return self.top_n or tag_defaults.TOP_N

    def fusion(self, fitted: FusionSettings) -> FusionSettings:
        """The index's fitted fusion with these options applied on top."""
        params = {name: dict(p) for name, p in fitted.params.items()}
        for signal in registry.signals():
            overrides = {key: getattr(self, key) for key in signal.options if getattr(self, key) is not None}
            if overrides:
                params[signal.name] = {**signal.params_in(fitted), **overrides}
        weights = fitted.weights if self.weights is None else FusionWeights(dict(self.weights))
        return replace(fitted, params=params, weights=weights)


@dataclass
class TagResult:
    """Tags for one product; ``error`` says why a product could not be tagged."""

    id: str
    tags: list[dict] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def as_product(item: Product | dict) -> Product:
    """Accept a :class:`Product` or a dict with id, text (or title/description), image (a
    path, the bytes of an image file, or a PIL image: uploads need no temporary file)."""
    if isinstance(item, Product):
        return item
    if not isinstance(item, dict):
        raise RtagError(f"a product must be a dict or Product, got {type(item).__name__}")
    text = item.get("text")
    if text is None:
        text = " ".join(str(item[k]) for k in ("title", "description") if item.get(k))
    product = Product(id=str(item.get("id", "")), text=clean_text(text), image=_image_source(item.get("image")))
    if not product.text and not product.image:
        product.problem = "no text and no image"
    return product


def _image_source(image) -> str | bytes | object | None:
    """A product's image as the decoder takes it: bytes and PIL images (they have
    ``getbands``) as given, anything else as a path string; None when empty."""
    if image is None or (isinstance(image, (bytes, bytearray, str)) and not image):
        return None
    return image if isinstance(image, (bytes, bytearray)) or hasattr(image, "getbands") else str(image)


def canonical_spec(spec: str) -> str:
    """Model folders are compared by their absolute path, other specs as written."""
    return str(Path(spec).resolve()) if Path(spec).is_dir() else spec


def _load_index_image_encoder(opened: OpenIndex, device: str, backend: str | None = None):
    """The image encoder an index names (from a cached ONNX export of its weights when
    there is one); ``@index/...`` is a model folder inside the index."""
    recorded = opened.manifest["encoders"]["image"]
    spec = recorded["spec"]
    if spec != location.INDEX_MODEL_SPEC:
        return load_image_encoder(spec, device, backend, recorded)
    encoder = load_image_encoder(str(opened.folder / spec.split("/", 1)[1]), device, backend, recorded)
    encoder.spec = spec
    return encoder


def _load_encoders(opened: OpenIndex, options: dict) -> tuple:
    """The (text, image) encoders an index names, checked against its manifest."""
    recorded, device = opened.manifest["encoders"], options["device"]
    text_enc = load_text_encoder(recorded["text"]["spec"], device, options["text_backend"], recorded["text"])
    image_enc = _load_index_image_encoder(opened, device, options["image_backend"]) if "image" in recorded else None
    check_encoder(opened, "text", text_enc)
    check_encoder(opened, "image", image_enc)
    return text_enc, image_enc


def reranked_columns(reranker, vocab) -> np.ndarray:
    """(tags,) which tag columns the reranker rescores: those of the facets (and free
    tags) where it helped on held-out catalog products; all for a reranker trained
    before that check; none without a reranker."""
    out = np.zeros(len(vocab), dtype=bool)
    if reranker is None:
        return out
    used = reranker.groups_used()
    for name, cols in precision.groups(vocab):
        out[cols] = used is None or used.get(name, False)
    return out


@dataclass
class _Chunk:
    """One chunk of products as tagging computed it."""

    products: list[Product]
    found: Signals
    weights: dict  # the per-tag fusion weights of the signals fused
    fusion: FusionSettings  # the parameters scored with
    signal: np.ndarray  # whether each product had any signal


class Tagger:
    """Tags products against one index. Build it with :meth:`Tagger.load`."""

    def __init__(self, index: OpenIndex, text_encoder, image_encoder, rerank: bool = True):
        # ``index`` holds its reranker and stored vocabularies as they were when it was
        # opened (reader.open_index): a rebuild or retraining since then does not reach
        # this Tagger until reload()
        self.index = index
        self.text_encoder = text_encoder
        self.image_encoder = image_encoder if "image" in index.modalities else None
        self.fusion = fusion_of(index.manifest)
        self.signals = signals_of(index)
        self.prepared = prepare(index)  # each signal's per-index state (compute.prepare)
        # the index's trained reranker (rtag train-reranker), unless asked to leave it unread
        self.reranker = rerank_model.load(index) if rerank else None
        self._rerank = rerank
        # the columns the reranker rescores: the facets where it helped on held-out catalog products
        self.reranked_columns = reranked_columns(self.reranker, index.vocab)
        # score -> precision curves of the fused scores (index) and the reranked ones (reranker)
        self.fused_curves = precision.tables_from_json(index.manifest.get("precision"))
        self.reranker_curves = self.reranker.precision_tables() if self.reranker is not None else {}
        self._load_options: dict | None = None  # how load() opened it, for reload()
        self._tag_similarity = None
        self._catalog_titles = None
        self._vocab_runs: dict[str, vocab_tagging.VocabRun] = {}  # stored vocabularies, read once each

    @classmethod
    def load(cls, index: str | Path, text_model: str | None = None, image_model: str | None = None, device: str | None = None, verify: str = "sha256", rerank: bool = True,
             text_backend: str | None = None, image_backend: str | None = None) -> "Tagger":
        """Open an index and load the encoders its manifest names.

        ``text_model``/``image_model`` may name the encoders explicitly (for example a
        local copy); they must be the same models that built the index. ``text_backend`` and
        ``image_backend`` pick how the models run (encoders/registry.py; ``auto`` by default).
        """
        device = pick_device(device)  # resolved once, handed to the stores and the encoders
        # exact stores are searched where the encoders run: --device cpu keeps them off a GPU
        opened = open_index(index, verify=verify, device=device)
        recorded = opened.manifest["encoders"]
        for role, requested in (("text", text_model), ("image", image_model)):
            if requested and role in recorded and canonical_spec(requested) != canonical_spec(recorded[role]["spec"]):
                raise EncoderMismatchError(
                    f"index {opened.folder} was built with {role} model {recorded[role]['spec']!r}, not {requested!r}: "
                    "query with the same model or rebuild the index"
                )
        options = {"verify": verify, "device": device, "text_backend": text_backend, "image_backend": image_backend}
        tagger = cls(opened, *_load_encoders(opened, options), rerank)
        tagger._load_options = options
        return tagger

    def reload(self) -> bool:
        """Open the index again when it was rebuilt, its reranker retrained or its stored
        vocabularies changed since this Tagger opened it; returns whether anything had.

        Until then the Tagger keeps tagging with what it opened (the old files are held
        open). The encoders are kept when the new build names the same ones, else loaded
        as :meth:`load` did (a Tagger built by hand then raises EncoderMismatchError)."""
        options = self._load_options or {"verify": "sha256", "device": "cpu"}
        fresh = open_index(self.index.folder, verify=options["verify"], device=options["device"])
        if fresh.generation == self.index.generation:
            return False
        same = all(fresh.manifest["encoders"].get(role) == self.index.manifest["encoders"].get(role) for role in ("text", "image"))
        if same:
            encoders = (self.text_encoder, self.image_encoder)
        elif self._load_options is None:
            raise EncoderMismatchError(f"index {fresh.folder} was rebuilt with other encoders: load a new Tagger with Tagger.load")
        else:
            encoders = _load_encoders(fresh, options)
        loaded = self._load_options
        self.__init__(fresh, *encoders, self._rerank)
        self._load_options = loaded
        return True

    # -- scoring -----------------------------------------------------------------

    def _wanted(self, opts: TagOptions, weights: dict, every: bool = False) -> tuple[set[str], dict]:
        """The signals to compute and the weights of those that have weight anywhere.

        Signals without weight anywhere are not computed (an index without tags has no
        columns) unless the reranker reads them, or ``every`` asks for all of them.
        """
        n_tags = len(self.index.vocab)
        reranker = self.reranker if self.reranks(opts) else None
        weights = {name: w for name, w in weights.items() if n_tags == 0 or (w > 0).any()}
        wanted = set(self.signals) if every else set(weights) | (set(reranker.signals) if reranker else set())
        return wanted, weights

    def _signal_chunks(self, items: list[Product], opts: TagOptions, fusion: FusionSettings, weights: dict, every: bool = False) -> Iterator[tuple[list[Product], Signals, np.ndarray, Queries, list[str | None]]]:
        """Per chunk of ``items``: the chunk, its signals, their fusion, its encoded queries
        and warnings."""
        wanted, weights = self._wanted(opts, weights, every)
        similarities = every or opts.explain or self.reranks(opts)
        for chunk, queries, warnings in encode_chunks(self.index, self.text_encoder, self.image_encoder, items, self._chunk_size(opts), inputs_of(wanted), opts.exclude_self):
            found = compute_signals(self.index, queries, wanted, fusion, self.prepared, similarities=similarities)
            yield chunk, found, found.fused(weights), queries, warnings

    def batch_signals(self, products: Iterable[Product | dict], every: bool = True, **options) -> Iterator[tuple[list[Product], Signals, np.ndarray, np.ndarray | None]]:
        """Batches of (products, their signals, fused votes, own catalog rows or None), for
        training and side-by-side evaluation: the products are encoded once, and with
        ``every`` all signals are computed with what the reranker's features need."""
        opts = TagOptions.from_kwargs(**options)
        items = [as_product(p) for p in products]
        fusion = opts.fusion(self.fusion)
        weights = fuse.column_weights(fusion.weights, self.index.vocab, self.signals)
        for chunk, found, fused, queries, _ in self._signal_chunks(items, opts, fusion, weights, every):
            yield chunk, found, fused, queries.self_rows

    def score(self, products: Iterable[Product | dict], **options) -> tuple[np.ndarray, np.ndarray, list[Product], list[str | None]]:
        """Fused scores for every product and tag, for evaluation and analysis."""
        opts = TagOptions.from_kwargs(**options)
        items = [as_product(p) for p in products]
        if opts.weights is not None and not any(opts.weights.get(name, 0) > 0 for name in self.signals):
            raise RtagError(f"weights {opts.weights} give no weight to a signal this index has: {', '.join(self.signals)}")
        chunks, signal, warnings = [], [], []
        for chunk, _, final, warn in self._scored_chunks(items, opts):
            chunks.append(final)
            signal.append(chunk.signal)
            warnings.extend(warn)
        if not chunks:
            return np.zeros((0, len(self.index.vocab)), np.float32), np.zeros(0, bool), items, []
        return np.concatenate(chunks), np.concatenate(signal), items, warnings

    def _scored_chunks(self, items: list[Product], opts: TagOptions) -> Iterator[tuple["_Chunk", np.ndarray, np.ndarray, list[str | None]]]:
        """Per chunk of ``items``: what was computed (:class:`_Chunk`), the fused scores,
        the final scores (reranked where the reranker helps) and warnings."""
        fusion = opts.fusion(self.fusion)
        weights = fuse.column_weights(fusion.weights, self.index.vocab, self.signals)
        used = self._wanted(opts, weights)[1]
        # one chunk is one step: a bar only for jobs of several
        with progress_bar(len(items), "tagging", "product", opts.progress if len(items) > self._chunk_size(opts) else False) as bar:
            for chunk, found, fused, queries, warn in self._signal_chunks(items, opts, fusion, weights):
                final = self.rerank(found, fused, queries.self_rows) if self.reranks(opts) and len(chunk) else fused
                yield _Chunk(chunk, found, used, fusion, found.any_signal(len(chunk))), fused, final, warn
                bar.update(len(chunk))

    def _chunk_size(self, opts: TagOptions, n_tags: int | None = None) -> int:
        """Large batches keep the encoders busy (measured: 2048 products per batch runs text
        tagging at 96% of the encoder's speed, 512 at 81%); the (batch x tags) score
        matrices bound it for large vocabularies (``n_tags``, default the index's)."""
        if opts.chunk_size:
            return opts.chunk_size
        n_tags = len(self.index.vocab) if n_tags is None else n_tags
        return int(min(2048, max(128, 16_000_000 // max(n_tags, 1))))

    def score_vocab(self, products: Iterable[Product | dict], **options) -> tuple[np.ndarray, np.ndarray, list[Product], list[str | None]]:
        """Scores (products x vocabulary tags) against the stored vocabulary ``vocab``,
        which products could be scored, the products, and warnings."""
        opts = TagOptions.from_kwargs(**options)
        if opts.vocab is None:
            raise RtagError("score_vocab needs vocab=NAME (see `rtag vocab list`)")
        return self._vocab_scores([as_product(p) for p in products], opts, self.vocab_run(opts.vocab))

    def catalog_titles(self) -> np.ndarray | None:
        """The catalog's title vectors (for zero-shot neighbour spaces), read on first use."""
        if self._catalog_titles is None:
            self._catalog_titles = title_bridge.catalog_titles(self.index)
        return self._catalog_titles

    def vocab_run(self, name: str) -> vocab_tagging.VocabRun:
        """Stored vocabulary ``name`` prepared for scoring: read from the index folder on
        first use, then kept in memory."""
        if name not in self._vocab_runs:
            self._vocab_runs[name] = vocab_tagging.VocabRun.prepare(self.index, name, self.catalog_titles())
        return self._vocab_runs[name]

    def add_vocab(self, vocab_file, name: str | None = None, fmt: str = "auto", templates=None, force: bool = False) -> dict:
        """Embed, calibrate and store a vocabulary file in the index (see vocab/stored.py);
        returns its manifest."""
        man = stored_vocabs.add_vocab(self.index, self.text_encoder, self.image_encoder, self.catalog_titles(),
                                      vocab_file, name, fmt, templates, force)
        self._vocab_runs.pop(man["name"], None)
        return man

    def _vocab_scores(self, items: list[Product], opts: TagOptions, run):
        vocab_tagging.check_mode(opts.mode, run)
        fusion = opts.fusion(self.fusion)
        weights = fuse.column_weights(fusion.weights, self.index.vocab, self.signals)
        votes = vocab_tagging.wanted_votes(self.index, run, opts.mode, weights)
        chunks, signal, warnings = [], [], []
        inputs = {"text", "image", "colour"} | inputs_of(votes)  # the zero-shot spaces read all three vectors
        for _, queries, warn in encode_chunks(self.index, self.text_encoder, self.image_encoder, items, self._chunk_size(opts, len(run.view)), inputs, opts.exclude_self):
            scores, present = vocab_tagging.score_chunk(self.index, self.prepared, queries, opts, run, opts.mode, fusion, weights, votes)
            chunks.append(scores)
            signal.append(present)
            warnings.extend(warn)
        if not chunks:
            return np.zeros((0, len(run.view)), np.float32), np.zeros(0, bool), items, []
        return np.concatenate(chunks), np.concatenate(signal), items, warnings

    def _tag_with_vocab(self, products, opts: TagOptions):
        run = self.vocab_run(opts.vocab)
        scores, signal, items, warnings = self._vocab_scores([as_product(p) for p in products], opts, run)
        picked = vocab_tagging.select(run, scores, replace(opts, top_n=opts.limit)) if len(items) else []
        return items, picked, signal, warnings, run.view.tags

    def tag_similarity(self) -> np.ndarray:
        """The (tags x tags) similarity MMR uses, computed on first use."""
        if self._tag_similarity is None:
            table = self.reranker.table.cooc if self.reranker is not None else Cooccurrence.from_product_tags(self.index.product_tags)
            self._tag_similarity = mmr.tag_similarity(self.index.vocab_vectors.get("text"), table)
        return self._tag_similarity

    def select(self, scores: np.ndarray, opts: TagOptions) -> list[list[tuple[int, float]]]:
        """Each product's (column, score) list: by score, or by MMR when ``diversity`` < 1."""
        scores = hierarchy.decode(scores, self.index.hierarchy)  # tags of a tree: one consistent path
        vocab = self.index.vocab
        if opts.diversity >= 1.0:
            picked = fuse.select(scores, vocab, opts.limit, opts.min_score, opts.exclusive)
        else:
            picked = mmr.select(scores, vocab, self.tag_similarity(), opts.diversity, opts.limit, opts.min_score, opts.exclusive)
        # no facet silently dropped: one that min_score or the list's length left out comes back
        return answers.every_facet(picked, scores, vocab) if opts.top_n is None else picked

    def reranks(self, opts: TagOptions) -> bool:
        """Whether tagging with ``opts`` runs the reranker: there is one, it is wanted, and
        it helped some facet on held-out catalog products."""
        return self.reranker is not None and opts.rerank and bool(self.reranked_columns.any())

    def rerank(self, found: Signals, fused: np.ndarray, self_rows: np.ndarray | None) -> np.ndarray:
        """Reranked probabilities for the facets where the reranker helped, fused scores elsewhere."""
        reranked = self.reranker.score(found, fused, self_rows)
        return reranked if self.reranked_columns.all() else np.where(self.reranked_columns, reranked, fused)

    def thresholds(self, opts: TagOptions) -> np.ndarray:
        """(tags,) the score below which a tag is marked review: ``min_score``, and with
        ``precision`` the score that gives that precision on the catalog's leave-one-out
        predictions (per facet, from the table of the scores tagging uses there)."""
        vocab = self.index.vocab
        floor = np.full(len(vocab), opts.min_score, dtype=np.float64)
        if opts.precision is None:
            return floor
        reranked = self.reranked_columns if self.reranks(opts) else np.zeros(len(vocab), bool)
        curves, missing = {}, []
        for name, cols in precision.groups(vocab):
            table = self.reranker_curves if reranked[cols].any() else self.fused_curves
            if name in table:
                curves[name] = table[name]
            else:
                missing.append(name)
        if missing:
            fix = ("retrain the reranker with `rtag train-reranker`, or add --no-rerank" if reranked.any() and not self.reranker_curves
                   else "rebuild the index with `rtag index ... --force` (built by an rtag without them)")
            raise RtagError(f"index {self.index.folder} has no precision table for {', '.join(missing)}: {fix}")
        return np.maximum(floor, precision.column_thresholds(curves, vocab, opts.precision))

    def tag(self, products: Iterable[Product | dict], **options) -> list[TagResult]:
        """Tag products; every input appears in the output, with ``error`` if untaggable.

        Options (see :class:`TagOptions`): k, temperature, weights, top_n, min_score,
        exclusive, exclude_self, rerank, diversity, chunk_size, progress; ``vocab``
        (with ``mode``, ``depth``, ``vocab_weights``, ``vocab_calibration``) tags against
        a stored vocabulary instead.
        """
        opts = TagOptions.from_kwargs(**options)
        if opts.vocab is not None:
            items, picked, signal, warnings, tags = self._tag_with_vocab(products, opts)
            # no leave-one-out table exists for tags the catalog lacks: with --precision a
            # vocabulary's scores are read as probabilities (a taxonomy's never rise with
            # depth, so an uncertain leaf leaves its deepest ancestor that reaches it)
            floor = np.full(len(tags), max(opts.min_score, opts.precision or 0.0))
        elif opts.explain:
            floor = self.thresholds(opts)
            items, picked, signal, warnings, whys = self._explained(products, opts)
            tags = self.index.vocab.tags
        else:
            floor = self.thresholds(opts)  # checked before any tagging
            scores, signal, items, warnings = self.score(products, **asdict(opts))
            picked = self.select(scores, opts) if len(items) else []
            tags = self.index.vocab.tags
        results = []
        for i, product in enumerate(items):
            if product.problem:
                results.append(TagResult(product.id, error=product.problem))
            elif not signal[i]:
                results.append(TagResult(product.id, error=warnings[i] or "nothing to tag from", warning=None))
            else:
                chosen = answers.tag_dicts(picked[i], floor, tags, opts.drop_review)
                if opts.explain and opts.vocab is None:
                    for entry in chosen:
                        entry["why"] = whys[i][self.index.vocab.index[entry["tag"]]]
                results.append(TagResult(product.id, chosen, warning=warnings[i]))
        return results

    def _explained(self, products, opts: TagOptions) -> tuple[list[Product], list, np.ndarray, list, list[dict]]:
        """As :meth:`score` and :meth:`select`, chunk by chunk, with each picked tag's
        explanation (explain.py)."""
        items = [as_product(p) for p in products]
        picked, signal, warnings, whys = [], [], [], []
        for chunk, fused, final, warn in self._scored_chunks(items, opts):
            chosen = self.select(final, opts)
            whys += explain.explain_batch(self.index, chunk.found, chunk.weights, chunk.fusion.params, fused, final,
                                          [p.text for p in chunk.products], chosen)
            picked += chosen
            signal.append(chunk.signal)
            warnings += warn
        return items, picked, np.concatenate(signal) if signal else np.zeros(0, bool), warnings, whys
