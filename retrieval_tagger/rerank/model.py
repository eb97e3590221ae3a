"""The reranker: gradient-boosted trees (LightGBM, binary objective) over candidate
features, calibrated to probabilities. Train, save, load.

A trained reranker lives in its index folder under ``reranker/``, with its own
``manifest.json`` (format version, rtag and LightGBM versions, feature list, which
index build it was trained on, training figures, sha256 of the model file). The trees
are stored in LightGBM's own text format, never pickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval_tagger import artifacts
from retrieval_tagger.errors import RerankerError
from retrieval_tagger.rerank import features
from retrieval_tagger.rerank.calibrate import Calibrator
from retrieval_tagger.signals.compute import Signals

FORMAT = "rtag-reranker"
FORMAT_VERSION = 1
RERANKER = artifacts.Format(FORMAT, FORMAT_VERSION, "a reranker", RerankerError, "retrain it with `rtag train-reranker`")
FOLDER = "reranker"
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
        return self.booster.predict(x, num_threads=os.cpu_count() or 1)

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw outputs."""
        return (self.calibrator(raw) * (1 - TIE_BREAK) + TIE_BREAK * raw).astype(np.float32)

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
    booster = lgb.train({**PARAMS, "num_threads": os.cpu_count() or 1}, train_set, rounds, valid_sets=[valid_set],
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
    """Write ``reranker/`` into the index folder: model file first, manifest last (each
    written to a temporary name and renamed), so a reader never sees a half-written one."""
    lgb = _lightgbm()
    folder = Path(index.folder) / FOLDER
    folder.mkdir(exist_ok=True)
    with artifacts.atomic_path(folder / MODEL_FILE) as tmp:
        reranker.booster.save_model(str(tmp))
    man = {
        **artifacts.header(RERANKER, versions={"lightgbm": lgb.__version__}),
        "index": index_identity(index),
        "signals": reranker.signals,
        "features": reranker.features,
        "categorical": [n for n in features.CATEGORICAL if n in reranker.features],
        "candidates": {"per_signal": features.CANDIDATES_PER_SIGNAL, "per_group": features.CANDIDATES_PER_GROUP},
        "calibration": reranker.calibrator.to_json(),
        "training": training,
        "files": {MODEL_FILE: artifacts.file_record(folder / MODEL_FILE)},
    }
    artifacts.write_json(folder / artifacts.MANIFEST, man)
    reranker.manifest = man
    return folder


def load(index) -> Reranker | None:
    """The reranker saved in ``index``'s folder, or None when it has none.

    Refuses one that is corrupt, from another rtag format, trained on another build of
    the index, or expecting other features than this rtag computes for the index.
    """
    folder = Path(index.folder) / FOLDER
    if not (folder / artifacts.MANIFEST).is_file():
        return None
    retrain = f"retrain it with `rtag train-reranker --index {index.folder}` (or delete {folder})"
    man = artifacts.read_manifest(folder, RERANKER, verify="sha256", fix=retrain)
    model = folder / MODEL_FILE
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
    booster = lgb.Booster(model_file=str(model))
    if booster.feature_name() != expected:
        raise RerankerError(f"{model} names features {booster.feature_name()} but its manifest lists {expected}: {retrain}")
    calibrator = Calibrator.from_json(man.get("calibration", {}))
    return Reranker(booster, calibrator, expected, list(man["signals"]), features.TagTable.from_index(index), index, man)
