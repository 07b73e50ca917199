#!/usr/bin/env python3
"""Writes a large ONNX graph for bench/compile_scaling.sh: PATTERN of N nodes.

  relu:   x -> Relu -> Relu -> ... (one fusable op: fusion groups capped per kernel)
  mixed:  elementwise runs broken by a MatMul every 8 nodes (many groups, post-ops)
  fanout: one value read by N/2 Tanh nodes, summed back by a tree of Adds
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(pattern, n):
    nodes, inits = [], []
    if pattern == "relu":
        shape, prev = [1, 16], "x"
        for i in range(n):
            nodes.append(helper.make_node("Relu", [prev], [f"v{i}"], name=f"n{i}"))
            prev = f"v{i}"
    elif pattern == "mixed":
        shape, prev = [4, 8], "x"
        inits += [numpy_helper.from_array(np.eye(8, dtype=np.float32), "w"),
                  numpy_helper.from_array(np.ones(8, dtype=np.float32), "b")]
        ops = ["Tanh", "Sigmoid", "Relu", "Neg", "Abs", "Exp", "Sqrt"]
        for i in range(n):
            if i % 8 == 0:
                nodes.append(helper.make_node("MatMul", [prev, "w"], [f"v{i}"], name=f"n{i}"))
            elif i % 8 == 1:
                nodes.append(helper.make_node("Add", [prev, "b"], [f"v{i}"], name=f"n{i}"))
            else:
                nodes.append(helper.make_node(ops[i % 7], [prev], [f"v{i}"], name=f"n{i}"))
            prev = f"v{i}"
    elif pattern == "fanout":
        shape = [2, 8]
        level = []
        for i in range(n // 2):
            nodes.append(helper.make_node("Tanh", ["x"], [f"t{i}"], name=f"t{i}"))
            level.append(f"t{i}")
        k = 0
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                nodes.append(helper.make_node("Add", [level[i], level[i + 1]], [f"a{k}"], name=f"a{k}"))
                nxt.append(f"a{k}")
                k += 1
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        prev = level[0]
    else:
        sys.exit(f"make_chain.py: unknown pattern {pattern}")
    graph = helper.make_graph(nodes, f"{pattern}_{n}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: make_chain.py relu|mixed|fanout N OUT.onnx")
    onnx.save(build(sys.argv[1], int(sys.argv[2])), sys.argv[3])
