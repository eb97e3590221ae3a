"""The reranker: gradient-boosted trees (LightGBM, binary objective) over candidate
features, calibrated to probabilities. Train, save, load.

A trained reranker lives in its index folder under ``reranker/``, with its own
``manifest.json`` (format version, rtag and LightGBM versions, feature list, which
index build it was trained on, training figures, sha256 of the model file), written as
one folder (artifacts.write_folder). The trees are stored in LightGBM's own text format,
never pickled. It is read from the index as opened (reader.open_index holds it), so a
later retraining or rebuild does not reach a Tagger that is running.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval_tagger import artifacts, precision
from retrieval_tagger.encoders.base import cpu_threads
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.index import manifest
from retrieval_tagger.rerank import features
from retrieval_tagger.rerank.calibrate import Calibrator
from retrieval_tagger.signals.compute import Signals

RERANKER = manifest.RERANKER
FORMAT, FORMAT_VERSION, FOLDER = RERANKER.name, RERANKER.version, manifest.RERANKER_DIR
MODEL_FILE = "model.txt"
PARAMS = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 63,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "seed": 0,
    "verbose": -1,
}
MAX_ROUNDS = 500
EARLY_STOPPING = 30
# isotonic calibration is flat beyond its last knots: the raw score breaks such ties
# (moving the probability by at most 1e-6, invisible in 4-decimal output)
TIE_BREAK = 1e-6


def _lightgbm():
    try:
        import lightgbm
    except ImportError as exc:  # a dependency of rtag, so only a broken install gets here
        raise RerankerError("the reranker needs LightGBM: pip install lightgbm (or reinstall rtag)") from exc
    return lightgbm


def index_identity(index) -> dict:
    """What ties a reranker to one build of an index: its creation time and tag data."""
    files = index.manifest.get("files", {})
    return {
        "created": index.manifest.get("created"),
        "tags_indices_sha256": files.get("tags_indices.npy", {}).get("sha256"),
        "tags": len(index.vocab),
    }


def expected_features(index) -> list[str]:
    """The features this rtag computes for ``index``."""
    return features.feature_names(index)


@dataclass
class Reranker:
    """A trained, calibrated reranker bound to one index."""

    booster: object
    calibrator: Calibrator
    features: list[str]
    signals: list[str]
    table: features.TagTable
    index: object
    manifest: dict

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated outputs for (rows x features)."""
        if len(x) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.booster.predict(x, num_threads=cpu_threads())

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw outputs."""
        return (self.calibrator(raw) * (1 - TIE_BREAK) + TIE_BREAK * raw).astype(np.float32)

    def groups_used(self) -> dict[str, bool] | None:
        """Per facet (and ``precision.FREE``) whether tagging reranks it: where the
        reranked scores did at least as well as the fused ones on held-out catalog
        products (rerank/helps.py). None for a reranker trained before that check: every
        facet."""
        helps = self.manifest.get("training", {}).get("helps")
        return None if helps is None else {name: bool(row["use"]) for name, row in helps.items()}

    def precision_tables(self) -> dict:
        """The score -> precision curves of the reranked scores ({} when not recorded)."""
        return precision.tables_from_json(self.manifest.get("training", {}).get("precision"))

    def score(self, found: Signals, fused: np.ndarray, self_rows: np.ndarray | None = None) -> np.ndarray:
        """(products x tags) probabilities that each candidate tag is right; 0 for tags
        that were not candidates."""
        batch = features.build(found, fused, self.table, self.index, self.features, self_rows)
        n, size, width = batch.x.shape
        prob = self.probabilities(self.raw(batch.x.reshape(n * size, width))).reshape(n, size)
        out = np.zeros_like(fused)
        out[np.arange(n)[:, None], batch.cand] = np.where(batch.valid, prob, 0.0)
        return out


def train(examples, names: list[str], signals: list[str], index, rounds: int = MAX_ROUNDS) -> tuple[Reranker, dict]:
    """Fit the trees on the ``fit`` queries with early stopping on the ``calibrate``
    queries, then the probability map on those; returns the reranker and training info."""
    from retrieval_tagger.rerank import calibrate

    lgb = _lightgbm()
    fit_rows, cal_rows = examples.rows_of(0), examples.rows_of(1)
    for label, rows in (("fit", fit_rows), ("calibrate", cal_rows)):
        if len(rows) == 0 or examples.y[rows].min() == examples.y[rows].max():
            raise RerankerError(f"the {label} share of the training queries has no candidates with both right and wrong tags; train on more tagged products")
    categorical = [n for n in features.CATEGORICAL if n in names]
    train_set = lgb.Dataset(examples.x[fit_rows], examples.y[fit_rows], feature_name=names, categorical_feature=categorical)
    valid_set = lgb.Dataset(examples.x[cal_rows], examples.y[cal_rows], reference=train_set)
    # threads as for the encoders: OMP_NUM_THREADS when set, else (0) OpenMP's default, one per core
    booster = lgb.train({**PARAMS, "num_threads": cpu_threads()}, train_set, rounds, valid_sets=[valid_set],
                        callbacks=[lgb.early_stopping(EARLY_STOPPING, verbose=False)])
    booster.free_dataset()
    if booster.best_iteration:
        booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    calibrator = calibrate.fit_isotonic(booster.predict(examples.x[cal_rows]), examples.y[cal_rows])
    info = {
        "objective": PARAMS["objective"],
        "params": PARAMS,
        "rounds": int(booster.current_iteration()),
        "queries": {name: int((examples.split == i).sum()) for i, name in enumerate(("fit", "calibrate", "report"))},
        "candidate_rows": {"fit": int(len(fit_rows)), "calibrate": int(len(cal_rows))},
    }
    reranker = Reranker(booster, calibrator, list(names), list(signals), features.TagTable.from_index(index), index, {})
    return reranker, info


def save(reranker: Reranker, index, training: dict) -> Path:
    """Write ``reranker/`` into the index folder as one folder, manifest last, renamed into
    place (artifacts.write_folder), while no one rebuilds the index or saves another
    reranker. Refuses when the index was rebuilt, or another reranker saved, since
    ``index`` was opened (the work would be based on a state that is gone)."""
    lgb = _lightgbm()
    folder = Path(index.folder) / FOLDER
    with artifacts.writer_lock(index.folder, shared=True), artifacts.writer_lock(folder):
        _check_unchanged(index, folder)
        with artifacts.write_folder(folder) as tmp:
            reranker.booster.save_model(str(tmp / MODEL_FILE))
            man = {
                **artifacts.header(RERANKER, versions={"lightgbm": lgb.__version__}),
                "index": index_identity(index),
                "signals": reranker.signals,
                "features": reranker.features,
                "categorical": [n for n in features.CATEGORICAL if n in reranker.features],
                "candidates": {"per_signal": features.CANDIDATES_PER_SIGNAL, "per_group": features.CANDIDATES_PER_GROUP},
                "calibration": reranker.calibrator.to_json(),
                "training": training,
            }
            artifacts.write_manifest(tmp, man)
        if getattr(index, "snapshot", None) is not None:  # the opened index now holds it
            index.reranker = index.snapshot.child(FOLDER, RERANKER)
    reranker.manifest = man
    return folder


def _check_unchanged(index, folder: Path) -> None:
    """Refuse to save over a state other than the one ``index`` was opened with."""
    snap = getattr(index, "snapshot", None)
    if snap is None:
        return
    if not snap.is_current():
        raise RerankerError(f"index {index.folder} was rebuilt while the reranker trained on the old one: train it again")
    if isinstance(index.reranker, Exception):
        return  # a damaged reranker: this one replaces it
    try:  # what a reader finds now (a reranker a killed writer set aside included)
        now = _open(folder, "", verify="none")
    except RerankerError:
        return  # damaged since: this one replaces it
    if getattr(now, "generation", None) != getattr(index.reranker, "generation", None):
        raise RerankerError(f"another reranker was saved in {folder} while this one trained (last one wins is not safe): train it again, one at a time")


def load(index) -> Reranker | None:
    """The reranker the index held when it was opened (reader.open_index), or None when it
    has none.

    Refuses one that is corrupt, from another rtag format, trained on another build of
    the index, or expecting other features than this rtag computes for the index.
    """
    folder = Path(index.folder) / FOLDER
    retrain = f"retrain it with `rtag train-reranker --index {index.folder}` (or delete {folder})"
    held = index.reranker if getattr(index, "snapshot", None) is not None else _open(folder, retrain)
    if held is None:
        return None
    if isinstance(held, Exception):  # found damaged when the index was opened
        raise held
    man = held.manifest
    if MODEL_FILE not in man.get("files", {}):
        raise RerankerError(f"the manifest in {folder} does not list {MODEL_FILE}: {retrain}")
    if man.get("index") != index_identity(index):
        raise RerankerError(f"the reranker in {folder} was trained on another build of this index (index created {man.get('index', {}).get('created')}, now {index.manifest.get('created')}): {retrain}")
    expected = expected_features(index)
    if man.get("features") != expected:
        missing = [f for f in expected if f not in man.get("features", [])]
        unexpected = [f for f in man.get("features", []) if f not in expected]
        raise RerankerError(
            f"the reranker in {folder} was trained on other features than this rtag computes for the index "
            f"(missing: {', '.join(missing) or 'none'}; unexpected: {', '.join(unexpected) or 'none'}; or another order): {retrain}"
        )
    lgb = _lightgbm()
    try:
        # always hashed, whatever the verify level: LightGBM's parser aborts the process
        # on some damage, and the file is small (tens of KB)
        text = held.read(MODEL_FILE, level="sha256").decode("utf-8")
        booster = lgb.Booster(model_str=text)
    except RerankerError:
        raise
    except Exception as exc:  # LightGBM's parser on a model file it cannot read
        raise RerankerError(f"{folder / MODEL_FILE} cannot be read by LightGBM ({type(exc).__name__}): {retrain}") from None
    if booster.feature_name() != expected:
        raise RerankerError(f"{folder / MODEL_FILE} names features {booster.feature_name()} but its manifest lists {expected}: {retrain}")
    try:
        calibrator = Calibrator.from_json(man.get("calibration", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise RerankerError(f"the calibration in {folder}/manifest.json is malformed ({exc}): {retrain}") from None
    return Reranker(booster, calibrator, expected, list(man["signals"]), features.TagTable.from_index(index), index, man)


def _open(folder: Path, retrain: str, verify: str = "sha256"):
    """The reranker folder opened now (artifacts.open_snapshot), or None when there is none."""
    try:
        return artifacts.open_snapshot(folder, RERANKER, retrain, verify, missing=FileNotFoundError())
    except FileNotFoundError:
        return None
