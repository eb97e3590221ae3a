"""The GPU path, exercised on the CPU: worker and batch sizing, pixels normalised on the
device, the image stream that spans a call's chunks, and encoding one chunk ahead."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import IMAGE_SPEC, catalog_rows

from retrieval_tagger import queries as query_encoding
from retrieval_tagger.encoders import image as image_mod
from retrieval_tagger.encoders import pixels as pixels_mod
from retrieval_tagger.encoders.base import text_batch_size
from retrieval_tagger.encoders.registry import load_image_encoder
from retrieval_tagger.pipeline import Tagger
from retrieval_tagger.queries import RowStream, ahead


@pytest.mark.parametrize("cores, device, n, expected", [
    (16, "cpu", 1000, 4),  # the model needs the cores too
    (16, "cuda", 1000, 15),  # all but the core that feeds the GPU
    (16, "cuda:0", 1000, 15),
    (2, "cpu", 1000, 1),
    (2, "cuda", 1000, 1),
    (16, "cuda", 10, 0),  # too few images to pay for starting workers
])
def test_default_workers(monkeypatch, cores, device, n, expected):
    monkeypatch.setattr(pixels_mod, "cpu_cores", lambda: cores)
    assert pixels_mod.default_workers(n, device) == expected


def test_batch_sizes_follow_the_device():
    assert pixels_mod.default_batch_size("cpu", 128, 100_000, 4) == 64
    assert pixels_mod.default_batch_size("cuda", 224, 100_000, 15) == pixels_mod.GPU_BATCH_AT_224
    assert pixels_mod.default_batch_size("cuda", 128, 100_000, 15) == pixels_mod.GPU_MAX_BATCH  # small images: more per batch
    assert pixels_mod.default_batch_size("cuda", 128, 2048, 15) == 137  # every worker gets a batch
    assert pixels_mod.default_batch_size("cuda", 128, 20, 15) == 16
    assert text_batch_size("cpu") == 128 and text_batch_size("cuda") > 128


def test_pixels_are_normalised_on_the_device_as_before(catalog_dir):
    encoder = load_image_encoder(IMAGE_SPEC, device="cpu")
    paths = [str(catalog_dir / row["image"]) for row in catalog_rows()[:3]]
    (_, pixels, _, flags), = list(encoder.batches(paths, batch_size=8, workers=0))
    raw = torch.stack([image_mod.ImageFiles(paths, encoder.size)[i][0] for i in range(3)])
    assert raw.dtype == torch.uint8 and flags.all()
    mean, std = torch.tensor(encoder.mean).view(1, 3, 1, 1), torch.tensor(encoder.std).view(1, 3, 1, 1)
    assert torch.equal(pixels, (raw.float() / 255.0 - mean) / std)
    assert pixels.is_contiguous(memory_format=torch.channels_last if encoder.backend == "torch" else torch.contiguous_format)


def test_row_stream_hands_out_runs_across_batches():
    batches = [(np.full((n, 2), i, np.float32), np.full((n, 64), i, np.float32), np.ones(n, bool)) for i, n in enumerate((3, 1, 4))]
    stream = RowStream(iter(batches), 2)
    runs = [stream.take(n) for n in (2, 0, 5, 1)]
    assert [len(r[2]) for r in runs] == [2, 0, 5, 1]
    assert runs[1][0].shape == (0, 2) and runs[1][1].shape == (0, 64)
    assert runs[0][0][:, 0].tolist() == [0, 0] and runs[2][0][:, 0].tolist() == [0, 1, 2, 2, 2] and runs[3][0][:, 0].tolist() == [2]


def test_ahead_keeps_order_and_raises_the_producers_error():
    assert list(ahead(iter(range(10)), depth=2)) == list(range(10))

    def broken():
        yield 1
        raise ValueError("bad image batch")

    got = []
    with pytest.raises(ValueError, match="bad image batch"):
        for item in ahead(broken()):
            got.append(item)
    assert got == [1]


def test_ahead_stops_its_thread_when_the_consumer_stops():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stream = ahead(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    assert not any(t.name == "rtag-encode-ahead" for t in threading.enumerate())
    assert len(produced) <= 3


def test_encoding_ahead_on_a_gpu_device_scores_as_in_order(both_index, catalog_dir, monkeypatch):
    """The chunks encoded one ahead in a thread (what a GPU encoder gets) score exactly as
    chunks encoded in turn, whatever the chunk size."""
    products = [{"id": f"q{i}", "text": row["title"], "image": str(catalog_dir / row["image"])} for i, row in enumerate(catalog_rows())]
    products[4]["image"] = str(catalog_dir / "missing.png")
    products[9]["image"] = None
    tagger = Tagger.load(both_index)
    whole, present, _, warnings = tagger.score(products, chunk_size=1000)
    threaded = []
    monkeypatch.setattr(query_encoding, "ahead", lambda items: threaded.append(1) or ahead(items))
    tagger.text_encoder.device = "cuda"  # the model-free text encoder computes on the CPU whatever its device says
    try:
        ahead_scores, ahead_present, _, ahead_warnings = tagger.score(products, chunk_size=7)
    finally:
        del tagger.text_encoder.device
    assert threaded == [1]
    np.testing.assert_allclose(ahead_scores, whole, atol=1e-6)
    assert ahead_present.tolist() == present.tolist()
    assert ahead_warnings == warnings and "missing.png" in warnings[4]


def test_minilm_folder_can_be_named_by_environment(monkeypatch, tmp_path):
    """RTAG_MINILM_DIR lets a machine without the packaged MiniLM (the GPU benchmark's) use a copy."""
    from retrieval_tagger.encoders.lite import minilm_path
    from retrieval_tagger.errors import EncoderError

    monkeypatch.setenv("RTAG_MINILM_DIR", str(tmp_path))
    with pytest.raises(EncoderError, match="no config.json"):
        minilm_path()
    (tmp_path / "config.json").write_text("{}")
    assert minilm_path() == str(tmp_path.resolve())
