"""Row-wise int8 quantisation of constant-weight matrix products (quantise.py), on small
hand-built graphs run by ONNX Runtime: close to float32, each row independent of the
others, 7-bit weights, and everything else left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval_tagger.encoders.onnx import quantise
from retrieval_tagger.encoders.onnx.cache import runtime


def graph(opset: int = 17):
    """x (B, T, 8) -> h = relu(x @ W1 + b) -> h @ W2, -h @ W2 (a shared weight), h @ W3
    (a shared activation), and x @ y (a product without a constant operand)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2, w3 = (rng.normal(size=shape).astype(np.float32) for shape in ((8, 16), (16, 4), (16, 3)))
    w2[:, 3] = 0  # an all-zero column
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(w3, "w3"),
             numpy_helper.from_array(rng.normal(size=16).astype(np.float32), "b1")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["out"]),
             helper.make_node("Neg", ["h"], ["nh"]), helper.make_node("MatMul", ["nh", "w2"], ["out2"]),
             helper.make_node("MatMul", ["h", "w3"], ["out3"]), helper.make_node("MatMul", ["x", "y"], ["free"])]
    tensor = lambda name, shape: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)  # noqa: E731
    g = helper.make_graph(nodes, "g", [tensor("x", ["B", "T", 8]), tensor("y", [8, 2])],
                          [tensor("out", ["B", "T", 4]), tensor("out2", ["B", "T", 4]), tensor("out3", ["B", "T", 3]),
                           tensor("free", ["B", "T", 2])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def run(model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    ort = runtime()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x, "y": y})


@pytest.mark.parametrize("opset", [17, 18])
def test_products_are_quantised_row_by_row(opset):
    float_model = graph(opset)
    model = graph(opset)
    assert quantise.quantise_model(model) == 4
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulIntegerToFloat") == 4 and ops.count("MatMul") == 1  # x @ y has no constant operand
    assert ops.count("QuantizeLinear") == 3  # one row quantisation per activation (x, h, -h), shared by its products
    names = [t.name for t in model.graph.initializer]
    assert {"w1", "w2", "w3"}.isdisjoint(names) and "b1" in names
    assert sum(t.data_type == 3 for t in model.graph.initializer) == 3  # int8 weights: w2 quantised once

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 5, 8)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    x[2] *= 1000  # a row of another scale: per-batch scales would crush the others
    want, got = run(float_model, x, y), run(model, x, y)
    for w, g in zip(want, got):
        assert g.shape == w.shape
        assert np.abs(g - w).max() <= 0.03 * np.abs(w).max() + 1e-6
    np.testing.assert_array_equal(got[3], want[3])  # untouched
    assert not got[0][..., 3].any()  # the zero column stays zero
    # each row is quantised alone: a text beside others, or padded, gets the same numbers
    for i in range(3):
        alone = run(model, x[i:i + 1, :3], y)
        for a, g in zip(alone, got):
            np.testing.assert_allclose(a[0], g[i, :3], rtol=0, atol=1e-6)


def test_weights_are_symmetric_7_bit_per_column():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(32, 6)).astype(np.float32) * np.array([1, 10, 0.01, 100, 1, 1], np.float32)
    w[:, 5] = 0
    q, scales = quantise.quantise_weights(w)
    assert q.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (6,)
    # |q| <= 63: a pair of u8 x s8 products fits in 16 bits on CPUs without VNNI
    assert np.abs(q).max() == quantise.WEIGHT_MAX == 63
    assert (np.abs(q[:, :5]).max(axis=0) == 63).all() and not q[:, 5].any()
    assert (np.abs(q * scales - w) <= scales / 2 * (1 + 1e-5)).all()  # rounded to the nearest step


def test_old_opsets_are_refused():
    from retrieval_tagger.errors import EncoderError

    with pytest.raises(EncoderError, match="opset 12"):
        quantise.quantise_model(graph(12))


def test_the_text_export_is_quantised_row_by_row(tiny_text_model):
    """The cached export of the tiny model: no per-batch quantisation left, 7-bit weights."""
    import onnx
    from onnx import numpy_helper

    from retrieval_tagger.encoders.onnx import cache as onnx_cache
    from retrieval_tagger.encoders.onnx import text as onnx_text
    from retrieval_tagger.encoders.registry import load_text_encoder

    encoder = load_text_encoder(tiny_text_model, "cpu", backend="onnx-int8")
    folder, manifest = onnx_cache.find("onnx-text", onnx_text.export_key(encoder.checksum), onnx_text.FORMAT, onnx_text.FORMAT_VERSION)
    assert manifest["quantisation"] == quantise.DESCRIPTION
    model = onnx.load(str(folder / onnx_cache.MODEL_FILE))
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulIntegerToFloat" in ops and not ops & {"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulInteger"}
    int8 = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert len(int8) == 12 and max(np.abs(a.astype(np.int16)).max() for a in int8) <= 63  # 2 layers x 6 products
