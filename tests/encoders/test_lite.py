"""rtag-lite: the packaged EfficientNet-Lite0 weights land in the right timm slots, batch
norms fold away, the packaged MiniLM can be named by environment, and the model finds
the product of a duplicate photo.

``map_state_dict`` renames by position and only checks shapes, so tensors of equal shape
(a BN layer's weight, bias, mean and var) could be swapped unnoticed. The tests compute
the features a second way: a forward pass written with torch.nn.functional straight over
the SOURCE key names, compared with the timm trunk loaded by ``load_trunk_weights``."""

from __future__ import annotations

import math
import shutil
from collections import OrderedDict

import pytest
import timm
import torch
import torch.nn.functional as F
from toy_catalog import TEXT_SPEC, catalog_rows

from retrieval_tagger.build import BuildOptions, build_index
from retrieval_tagger.encoders.lite import (
    TRUNK_FEATURES,
    TRUNK_NAME,
    load_trunk_weights,
    map_state_dict,
    source_weights_path,
)
from retrieval_tagger.errors import EncoderError
from retrieval_tagger.pipeline import Tagger

BN_EPS = 1e-3  # TensorFlow's default, which EfficientNet-Lite was trained with


# EfficientNet-Lite0 stages as (repeats, stride); only a stage's first block strides
STAGES = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]


BLOCK_STRIDES = [stride if i == 0 else 1 for repeats, stride in STAGES for i in range(repeats)]


@pytest.fixture(scope="module")
def source() -> "OrderedDict[str, torch.Tensor]":
    return torch.load(source_weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def trunk() -> torch.nn.Module:
    model = timm.create_model(TRUNK_NAME, pretrained=False, num_classes=0)
    load_trunk_weights(model)
    return model.eval()


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding: the extra pixel of an odd total goes right/bottom."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad wants the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def conv(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, groups: int = 1) -> torch.Tensor:
    return F.conv2d(same_pad(x, weight.shape[-1], stride), weight, stride=stride, groups=groups)


def bn(x: torch.Tensor, sd: dict, prefix: str, relu6: bool = True) -> torch.Tensor:
    x = F.batch_norm(x, sd[f"{prefix}.running_mean"], sd[f"{prefix}.running_var"],
                     sd[f"{prefix}.weight"], sd[f"{prefix}.bias"], training=False, eps=BN_EPS)
    return F.relu6(x) if relu6 else x


def reference_features(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """Pooled 1280-d EfficientNet-Lite0 features, read from the source key names."""
    x = bn(conv(x, sd["_conv_stem.weight"], stride=2), sd, "_bn0")
    for i, stride in enumerate(BLOCK_STRIDES):
        p = f"_blocks.{i}."
        inp = x
        if p + "_expand_conv.weight" in sd:
            x = bn(conv(x, sd[p + "_expand_conv.weight"]), sd, p + "_bn0")
        dw = sd[p + "_depthwise_conv.weight"]
        x = bn(conv(x, dw, stride=stride, groups=dw.shape[0]), sd, p + "_bn1")
        x = bn(conv(x, sd[p + "_project_conv.weight"]), sd, p + "_bn2", relu6=False)
        if stride == 1 and x.shape == inp.shape:
            x = x + inp
    x = bn(conv(x, sd["_conv_head.weight"]), sd, "_bn1")
    return x.mean(dim=(2, 3))


def test_source_has_the_expected_blocks(source):
    blocks = {key.split(".")[1] for key in source if key.startswith("_blocks.")}
    assert len(blocks) == len(BLOCK_STRIDES)


@pytest.mark.parametrize("shape", [(1, 3, 128, 128), (1, 3, 96, 128)])
def test_trunk_matches_reference_forward(source, trunk, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    expected = reference_features(source, x)
    with torch.no_grad():
        got = trunk(x)
    assert got.shape == (1, TRUNK_FEATURES)
    scale = expected.abs().max()
    assert scale > 0.1, "reference features are degenerate"
    assert (got - expected).abs().max() / scale < 1e-4


def test_reference_catches_a_swapped_bn(source):
    """The comparison is sharp enough to see two equal-shape tensors exchanged."""
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    swapped = dict(source)
    swapped["_blocks.3._bn1.weight"] = source["_blocks.3._bn1.bias"]
    swapped["_blocks.3._bn1.bias"] = source["_blocks.3._bn1.weight"]
    expected = reference_features(source, x)
    assert (reference_features(swapped, x) - expected).abs().max() / expected.abs().max() > 1e-3


def small_source() -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict([("_conv_stem.weight", torch.zeros(32, 3, 3, 3)), ("_bn0.weight", torch.ones(32))])


def test_map_state_dict_renames_in_order():
    mapped = map_state_dict(small_source(), [("conv_stem.weight", (32, 3, 3, 3)), ("bn1.weight", (32,))])
    assert list(mapped) == ["conv_stem.weight", "bn1.weight"]
    assert torch.equal(mapped["bn1.weight"], torch.ones(32))


def test_map_state_dict_rejects_a_shape_mismatch():
    with pytest.raises(EncoderError, match=r"_bn0\.weight.*\(32,\).*bn1\.weight.*\(16,\)"):
        map_state_dict(small_source(), [("conv_stem.weight", (32, 3, 3, 3)), ("bn1.weight", (16,))])


def test_map_state_dict_rejects_a_count_mismatch():
    with pytest.raises(EncoderError, match=r"2 tensors.*expects 3"):
        map_state_dict(small_source(), [("a", (32, 3, 3, 3)), ("b", (32,)), ("c", (32,))])


def test_folding_batchnorm_keeps_the_features_and_removes_the_norms(trunk):
    from retrieval_tagger.encoders.lite import fold_batchnorm

    folded = fold_batchnorm(trunk)
    assert folded is not trunk
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in trunk.modules())  # original untouched
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(folded(x), trunk(x), rtol=1e-4, atol=1e-4)


def test_folding_gives_up_when_the_result_would_differ():
    from retrieval_tagger.encoders.lite import fold_batchnorm

    class NormBeforeConv(torch.nn.Module):  # BatchNorm listed after the conv but applied first
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 1)
            self.bn = torch.nn.BatchNorm2d(3)
            self.bn.running_mean.fill_(0.5)
            self.bn.running_var.fill_(4.0)

        def forward(self, x):
            return self.conv(torch.relu(self.bn(x)))

    model = NormBeforeConv().eval()
    assert fold_batchnorm(model) is model


def test_minilm_folder_can_be_named_by_environment(monkeypatch, tmp_path):
    """RTAG_MINILM_DIR lets a machine without the packaged MiniLM (the GPU benchmark's) use a copy."""
    from retrieval_tagger.encoders.lite import minilm_path
    from retrieval_tagger.errors import EncoderError

    monkeypatch.setenv("RTAG_MINILM_DIR", str(tmp_path))
    with pytest.raises(EncoderError, match="no config.json"):
        minilm_path()
    (tmp_path / "config.json").write_text("{}")
    assert minilm_path() == str(tmp_path.resolve())


@pytest.mark.slow  # the real packaged model
def test_rtag_lite_finds_the_product_of_a_duplicate_image(tmp_path, catalog_csv, catalog_dir, facet_spec):
    out = tmp_path / "idx"
    man = build_index(catalog_csv, out, facet_spec, BuildOptions(text_model=TEXT_SPEC, image_model="rtag-lite"))
    assert man["encoders"]["image"]["spec"] == "rtag-lite"
    assert man["counts"]["with_image"] == 30
    tagger = Tagger.load(out)

    rows = catalog_rows()
    queries = []
    for row in rows:  # byte-identical copies under new names, no text: image neighbours only
        copy = tmp_path / f"copy_of_{row['id']}.png"
        shutil.copy(catalog_dir / row["image"], copy)
        queries.append({"id": f"q{row['id']}", "image": str(copy)})

    # image neighbours alone: the solid-colour squares make colour histograms ambiguous by design
    nearest = tagger.tag(queries, k=1, weights={"image": 1.0})
    voted = tagger.tag(queries, k=20, weights={"image": 1.0})  # the duplicate must dominate the vote

    for row, one, many in zip(rows, nearest, voted):
        expected = set(row["tags"].split("|")) | {f"colour:{row['colour']}", f"article:{row['article']}"}
        assert {t["tag"] for t in one.tags} == expected, row["id"]
        assert one.tags[0]["score"] == 1.0
        facets = [t["tag"] for t in many.tags if ":" in t["tag"]]
        assert set(facets) == {f"colour:{row['colour']}", f"article:{row['article']}"}, row["id"]
