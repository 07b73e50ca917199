#!/usr/bin/env python3
"""Writes a .kiln.txt graph of N nodes for compile-time scaling (bench/compile_scaling.sh).

Shapes: relu (pure Relu chain), mixed (alternating fusable elementwise ops),
matmul (MatMul + Add every 8 nodes, elementwise between: fuses only partly),
fanout (x -> N/2 parallel Relus -> an Add tree back to one value)."""
import sys


def main():
    shape, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = ['graph {', '  name: "%s_%d"' % (shape, n),
           '  input { name: "x" dtype: DT_FLOAT dims { size: 4 } dims { size: 16 } }']
    node = lambda name, op, ins, o: out.append(
        '  node { name: "%s" op_type: "%s" %s output: "%s" }' % (name, op, " ".join('input: "%s"' % i for i in ins), o))
    if shape == "matmul":
        out.append('  initializer { name: "w" dtype: DT_FLOAT dims: 16 dims: 16 float_data: [%s] }' %
                   ", ".join(["0.01"] * 256))
        out.append('  initializer { name: "b" dtype: DT_FLOAT dims: 16 float_data: [%s] }' % ", ".join(["0.1"] * 16))
    cur = "x"
    if shape == "fanout":
        width = max(1, n // 2)
        layer = []
        for i in range(width):
            node("r%d" % i, "Relu", [cur], "r%d" % i)
            layer.append("r%d" % i)
        k = 0
        while len(layer) > 1:
            nxt = []
            for j in range(0, len(layer) - 1, 2):
                node("s%d" % k, "Add", [layer[j], layer[j + 1]], "s%d" % k)
                nxt.append("s%d" % k)
                k += 1
            if len(layer) % 2:
                nxt.append(layer[-1])
            layer = nxt
        cur = layer[0]
    else:
        ops = {"relu": ["Relu"], "mixed": ["Relu", "Sigmoid", "Neg", "Tanh", "Abs"],
               "matmul": ["MatMul", "Add", "Relu", "Sigmoid", "Tanh", "Neg", "Abs", "Relu"]}[shape]
        for i in range(n):
            op = ops[i % len(ops)]
            ins = [cur, "w"] if op == "MatMul" else [cur, "b"] if op == "Add" else [cur]
            node("n%d" % i, op, ins, "n%d" % i)
            cur = "n%d" % i
    out.append('  output { name: "%s" }' % cur)
    out.append('}')
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
