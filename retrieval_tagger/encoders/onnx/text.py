"""Text encoder on ONNX Runtime with int8 matrix products: the CPU default (see export.py
and quantise.py). Each text's embedding depends on that text alone, whatever its batch.

It keeps the contract of text.py (a list of texts in, unit float32 rows out) and the
checksum of the source model's weights, so an index built with one backend can be queried
with the other. The export folder holds everything a query needs: the graph, the fast
tokenizer (``tokenizer.json``) and how the model's tokenizer pads and truncates, so an
encoder is built from a cached export with onnxruntime, tokenizers and numpy alone
(:meth:`OnnxTextEncoder.from_cache`), without torch or transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from retrieval_tagger.encoders.base import l2_normalise
from retrieval_tagger.encoders.onnx import cache as onnx_cache
from retrieval_tagger.progress import show_progress

FORMAT = "rtag-onnx-text"
# 4: the tokenizer and its settings travel with the export
# 5: activations quantised per row, 7-bit weights (quantise.py): batch-independent embeddings
# 6: the mean pooling's sum as a matrix product: embeddings bitwise the same in any batch
FORMAT_VERSION = 6
TOKENIZER_FILE = "tokenizer.json"
# the tokenizer's outputs that the exported graph may read, and their field in tokenizers' Encoding
INPUT_FIELDS = {"input_ids": "ids", "token_type_ids": "type_ids", "attention_mask": "attention_mask"}


def export_key(checksum: str) -> str:
    """The cache folder name of the int8 export of the weights with ``checksum``."""
    return f"{checksum[:24]}-int8"


class SavedTokenizer:
    """The fast tokenizer saved with an export, padding and truncating as the transformers
    call ``tokenizer(texts, padding=True, truncation=True, max_length=N)`` does: the same
    backend with the same settings, so it gives the same ids."""

    def __init__(self, folder: Path, record: dict, inputs: list[str]):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / record["file"]))
        truncation, padding = record["truncation"], record["padding"]
        tokenizer.enable_truncation(int(record["max_length"]), stride=int(truncation["stride"]),
                                    strategy=truncation["strategy"], direction=truncation["direction"])
        tokenizer.enable_padding(direction=padding["direction"], pad_id=int(padding["pad_id"]),
                                 pad_type_id=int(padding["pad_type_id"]), pad_token=padding["pad_token"])
        tokenizer.encode_special_tokens = bool(record["split_special_tokens"])
        self.tokenizer = tokenizer
        self.inputs = list(inputs)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        return {name: np.asarray([getattr(e, INPUT_FIELDS[name]) for e in encodings], dtype=np.int64) for name in self.inputs}


class OnnxTextEncoder:
    kind = "text"
    backend = "onnx-int8"
    # texts per run: 64 beat 32, 128 and 256 by 7-20% on 2 cores (fashion titles)
    BATCH = 64

    def __init__(self, spec: str, folder: Path, manifest: dict, tokenize: Callable[[list[str]], dict] | None = None,
                 threads: int | None = None):
        """The export in ``folder`` (with its ``manifest``). ``tokenize`` (texts -> int64
        arrays by input name) defaults to the tokenizer saved in the export; exports of
        models without a fast tokenizer have none, and need the model's own."""
        self.inputs = list(manifest["inputs"])
        self.tokenize = tokenize or SavedTokenizer(folder, manifest["tokenizer"], self.inputs)
        self.session = onnx_cache.cpu_session(folder, threads)
        self.max_length = int(manifest["max_length"])
        self.spec = spec
        self.dim = int(manifest["dim"])
        self.checksum = manifest["source_checksum"]
        self.device = "cpu"

    @classmethod
    def from_cache(cls, spec: str, checksum: str, threads: int | None = None) -> "OnnxTextEncoder | None":
        """The encoder of the cached export of the weights with ``checksum``, or None when
        the cache holds no intact one that carries its tokenizer."""
        found = onnx_cache.find("onnx-text", export_key(checksum), FORMAT, FORMAT_VERSION)
        if found is None or found[1].get("source_checksum") != checksum or not found[1].get("tokenizer"):
            return None
        return cls(spec, *found, threads=threads)

    def encode(self, texts: list[str], batch_size: int = 128, progress: bool | None = None) -> np.ndarray:
        """Unit embeddings of ``texts``; ``batch_size`` caps the texts per run."""
        texts = list(texts)
        batch_size = max(1, min(batch_size, self.BATCH))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # batches of similar length pad least
        order = np.argsort([len(t) for t in texts], kind="stable")
        bar = None
        if show_progress(len(texts), progress):
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="texts", unit="text")
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            tokens = self.tokenize([texts[i] for i in rows])
            out[rows] = self.session.run(None, {name: tokens[name] for name in self.inputs})[0]
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return l2_normalise(out)
