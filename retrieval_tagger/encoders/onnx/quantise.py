"""Int8 matrix products with activations quantised row by row: how export.py turns a
float32 text model into the ``onnx-int8`` backend.

Every MatMul whose second input is a constant 2-D weight matrix becomes an ONNX Runtime
``MatMulIntegerToFloat`` (u8 activations x s8 weights, int32 sums, float32 out):

- weights: one scale per output column, symmetric, 7 bits (|q| <= 63), fixed at export;
- activations: one scale per row, that is per token of one text, ``max|x| / 127``,
  computed at run time from that row alone and stored as uint8 around zero point 128.

So a text's embedding depends on the text only: not on the other texts of its batch nor on
how far its batch is padded (ONNX Runtime's dynamic quantisation takes one scale per
batch, which moved embeddings by up to 0.05 between a title alone and in a batch).
Why 7-bit weights: on x86 CPUs without VNNI, ONNX Runtime's u8 x s8 kernels add pairs of
products in 16 bits with saturation (VPMADDUBSW); with |w| <= 63 a pair stays under
2^15 (2 * 255 * 63 = 32130), so the integer sums are exact on every CPU, not only on
those with VNNI. Measured with all-MiniLM-L6-v2 on 2,000 fashion dev titles
(benchmarks/README.md): cosine to float32 0.9964 on average, 0.9936 at least (the
per-batch scheme: 0.9925 and 0.984); 8-bit weights would give 0.9974 on 300 titles. The
extra nodes (a max and min per row, one QuantizeLinear per activation) cost about what
ONNX Runtime's fused dynamic quantisation costs: the same texts/s in interleaved runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval_tagger.errors import EncoderError

WEIGHT_MAX = 63  # 7-bit weights: see the module docstring
ACTIVATION_MAX = 127
ZERO_POINT = 128
DESCRIPTION = ("int8 row-wise: activations scaled per row (token) at run time, symmetric around uint8 128; "
               "weights per output column, symmetric, 7 bits; MatMulIntegerToFloat")


def quantise_file(source: Path, target: Path) -> int:
    """Write ``source`` (a float32 ONNX model) to ``target`` with its constant-weight
    matrix products quantised (see the module docstring); return how many were."""
    import onnx

    model = onnx.load(str(source))
    count = quantise_model(model)
    onnx.save(model, str(target))
    return count


def quantise_model(model) -> int:
    """Rewrite an ``onnx.ModelProto`` in place; return the number of MatMuls quantised."""
    from onnx import TensorProto, helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise EncoderError(f"cannot quantise an ONNX graph of opset {opset} (13 or later needed): use --text-backend torch")
    graph = model.graph
    fed = {i.name for i in graph.input}  # an initializer that is also a graph input can be fed other values: not constant
    weights = {t.name: t for t in graph.initializer if t.name not in fed and t.data_type == TensorProto.FLOAT and len(t.dims) == 2}
    rewrite = _Rewrite(opset)
    nodes, count = [], 0
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in weights:
            nodes.extend(rewrite.matmul(node, weights[node.input[1]]))
            count += 1
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    still_used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in still_used or t.name not in rewrite.quantised]
    del graph.initializer[:]
    graph.initializer.extend(kept + rewrite.constants)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return count


def quantise_weights(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 [K, N], float32 scales [N])`` of a float [K, N] weight matrix: symmetric,
    one scale per output column, |q| <= WEIGHT_MAX."""
    weight = np.asarray(weight, dtype=np.float32)
    scales = np.abs(weight).max(axis=0) / WEIGHT_MAX
    scales[scales == 0] = 1.0  # an all-zero column: any scale gives zeros
    quantised = np.clip(np.rint(weight / scales), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return quantised, scales.astype(np.float32)


class _Rewrite:
    """The nodes and constants of the rewrite; one row quantisation per activation tensor,
    shared by the products that read it (a layer's query, key and value)."""

    def __init__(self, opset: int):
        self.opset = opset
        self.constants: list = []
        self.quantised: set[str] = set()
        self.weights: dict[str, tuple[str, str, int]] = {}
        self.rows: dict[str, tuple[str, str, str]] = {}  # activation -> (uint8 rows, row scales, leading shape)
        self.n = 0
        self.zero_point = self._constant("zero_point", np.array(ZERO_POINT, np.uint8))

    def _name(self, stem: str) -> str:
        self.n += 1
        return f"rtag_rowq/{self.n}/{stem}"

    def _constant(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self._name(stem)
        self.constants.append(numpy_helper.from_array(value, name))
        return name

    def _reduce(self, op: str, x: str, out: str):
        from onnx import helper

        if self.opset >= 18:  # axes became an input
            return helper.make_node(op, [x, self._constant("axes", np.array([1], np.int64))], [out], keepdims=0)
        return helper.make_node(op, [x], [out], axes=[1], keepdims=0)

    def matmul(self, node, weight) -> list:
        """The nodes that replace ``node`` (x @ W): x's row quantisation when this is the
        first product to read x (so nodes stay in topological order), the quantised
        product, and x's leading shape put back."""
        from onnx import helper, numpy_helper

        if weight.name not in self.weights:
            quantised, scales = quantise_weights(numpy_helper.to_array(weight))
            self.weights[weight.name] = (self._constant("weight", quantised), self._constant("weight_scale", scales), quantised.shape[1])
            self.quantised.add(weight.name)
        q_weight, weight_scale, n_out = self.weights[weight.name]
        first = [] if node.input[0] in self.rows else self._rows(node.input[0], weight.dims[0])
        rows, row_scale, lead = self.rows[node.input[0]]
        flat, shape = self._name("product"), self._name("shape")
        return first + [
            helper.make_node("MatMulIntegerToFloat", [rows, q_weight, row_scale, weight_scale, self.zero_point], [flat],
                             domain="com.microsoft", name=self._name("matmul")),
            helper.make_node("Concat", [lead, self._constant("columns", np.array([n_out], np.int64))], [shape], axis=0),
            helper.make_node("Reshape", [flat, shape], list(node.output)),
        ]

    def _rows(self, x: str, k: int) -> list:
        """The nodes that quantise activation ``x`` (..., K) as the rows of a (M, K) view;
        their outputs are recorded in ``self.rows``."""
        from onnx import helper, numpy_helper

        n = {s: self._name(s) for s in ("rows", "max", "min", "neg_min", "abs_max", "scale", "count", "zero_points", "q", "scale_col",
                                        "x_shape", "lead")}
        self.rows[x] = (n["q"], n["scale_col"], n["lead"])
        return [
            helper.make_node("Reshape", [x, self._constant("row_shape", np.array([-1, k], np.int64))], [n["rows"]]),
            # max|x| from the row's max and min: two reads, no temporary |x| array
            self._reduce("ReduceMax", n["rows"], n["max"]),
            self._reduce("ReduceMin", n["rows"], n["min"]),
            helper.make_node("Neg", [n["min"]], [n["neg_min"]]),
            helper.make_node("Max", [n["max"], n["neg_min"], self._constant("tiny", np.array(1e-30, np.float32))], [n["abs_max"]]),
            helper.make_node("Div", [n["abs_max"], self._constant("qmax", np.array(ACTIVATION_MAX, np.float32))], [n["scale"]]),
            helper.make_node("Shape", [n["scale"]], [n["count"]]),
            helper.make_node("ConstantOfShape", [n["count"]], [n["zero_points"]],
                             value=numpy_helper.from_array(np.array([ZERO_POINT], np.uint8))),
            helper.make_node("QuantizeLinear", [n["rows"], n["scale"], n["zero_points"]], [n["q"]], axis=0),
            helper.make_node("Unsqueeze", [n["scale"], self._constant("last", np.array([-1], np.int64))], [n["scale_col"]]),
            helper.make_node("Shape", [x], [n["x_shape"]]),
            helper.make_node("Slice", [n["x_shape"], self._constant("start", np.array([0], np.int64)),
                                       self._constant("end", np.array([-1], np.int64))], [n["lead"]]),
        ]
