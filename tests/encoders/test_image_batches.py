"""Same photo, same vector: the torch image encoder, its ONNX tower and the encoder built
from a cached ONNX export alone embed a photo alike alone and in batches of any size and
company (photos of other shapes and sizes, an undecodable file)."""

from __future__ import annotations

import numpy as np
import pytest
from batch_checks import assert_batch_independent
from toy_catalog import IMAGE_SPEC, write_square

from retrieval_tagger.encoders.registry import load_image_encoder


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[str]:
    """Squares, a wide and a tall photo, a grey one, a large one and a file that is no image."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    paths = [write_square(folder / f"sq{i}.png", rgb, marker=i) for i, rgb in enumerate([(200, 30, 30), (30, 200, 30), (245, 245, 245)])]
    for name, size, colour in (("wide.png", (300, 60), (20, 90, 160)), ("tall.jpg", (50, 210), (160, 120, 20)),
                               ("large.png", (900, 700), (70, 20, 110))):
        Image.new("RGB", size, colour).save(folder / name)
        paths.append(folder / name)
    Image.new("L", (64, 64), 90).save(folder / "grey.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    return [str(p) for p in paths + [folder / "grey.png", folder / "broken.jpg"]]


def sizes(paths: list[str]) -> list[int]:
    from pathlib import Path

    return [Path(p).stat().st_size for p in paths]


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-from-cache"])
def test_image_embeddings_do_not_depend_on_the_batch(backend, photos, private_cache):
    if backend == "onnx-from-cache":
        built = load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx")
        encoder = load_image_encoder(IMAGE_SPEC, "cpu", backend="onnx", recorded={"checksum": built.checksum, "image_size": built.size})
        assert type(encoder).__name__ == "OnnxImageEncoder"
    else:
        encoder = load_image_encoder(IMAGE_SPEC, "cpu", backend=backend)
        assert encoder.backend == backend

    def encode(batch: list[str]) -> np.ndarray:
        return encoder.encode_images(batch, workers=0)[0]

    assert_batch_independent(encode, photos, sizes(photos))
    alone = np.concatenate([encode([p]) for p in photos])
    assert not alone[-1].any() and np.abs(np.linalg.norm(alone[:-1], axis=1) - 1).max() < 1e-5
    for batch_size in (1, 3, 4):  # the encoder's own batching
        np.testing.assert_allclose(encoder.encode_images(photos, batch_size=batch_size, workers=0)[0], alone, rtol=0, atol=1e-5)
