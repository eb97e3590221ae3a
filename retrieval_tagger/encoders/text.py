"""Text encoder: any sentence-transformers model (name or local folder)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from retrieval_tagger.encoders import hub
from retrieval_tagger.encoders.base import l2_normalise, pick_device
from retrieval_tagger.encoders.checksum import state_dict_sha256
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.progress import show_progress


class SentenceTextEncoder:
    kind = "text"

    def __init__(self, spec: str, location: str, device: str | None = None, offline: bool = False):
        """The model at ``location`` (a folder or a hub name). ``offline``: from local
        files only, never the hub (the model an index names: see hub.py)."""
        try:
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.set_verbosity_error()
            transformers.utils.logging.disable_progress_bar()
            logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
            self.device = pick_device(device)
            with hub.offline(offline):
                self.model = SentenceTransformer(location, device=self.device, local_files_only=offline)
        except (OSError, ValueError) as exc:
            if offline and not Path(location).is_dir():
                raise hub.not_cached("text", spec, exc) from exc
            raise EncoderError(
                f"cannot load text model {spec!r}: {exc}. Give a sentence-transformers model name "
                "(needs internet the first time), a local model folder, or 'minilm' for the packaged default."
            ) from exc
        self.backend = "torch"
        if self.device.startswith("cuda"):
            self.model.half()
            self.backend = "torch-fp16"
        self.spec = spec
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.checksum = state_dict_sha256(self.model)

    def encode(self, texts: list[str], batch_size: int = 128, progress: bool | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        step = 4096  # sentence-transformers sorts each call by length; large calls pad least
        bar = None
        if show_progress(len(texts), progress):
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="texts", unit="text")
        parts = []
        for start in range(0, len(texts), step):
            chunk = texts[start:start + step]
            parts.append(self.model.encode(chunk, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True, normalize_embeddings=True))
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return l2_normalise(np.concatenate(parts))
